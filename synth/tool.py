"""Run the external synthesis tools and turn their failures into one documented error."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

__all__ = ["INSTALL_HINT", "ToolError", "run_tool", "tool_version"]

INSTALL_HINT = (
    "install it with 'make install' (which runs scripts/install.sh), "
    "or with 'sudo apt-get install yosys nextpnr-ice40 fpga-icestorm'"
)

# Lines of stderr kept in a ToolError: enough for Yosys' and nextpnr's error block.
STDERR_TAIL_LINES = 20


class ToolError(RuntimeError):
    """An external tool (Yosys, nextpnr) is missing, failed or wrote no result.

    Attributes
    ----------
    tool : str
        Name of the executable, ``"yosys"`` for example.
    command : list of str
        The command line that was run, or would have been run.
    returncode : int or None
        Exit status, ``None`` when the tool was not found or timed out.
    stderr_tail : str
        The last lines of the tool's error output (stdout when stderr is empty).
    """

    def __init__(self, tool: str, message: str, command=(), returncode=None, stderr_tail: str = ""):
        self.tool = tool
        self.command = list(command)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        text = f"{tool}: {message}"
        if stderr_tail:
            text += f"\n--- last lines of {tool} output ---\n{stderr_tail}"
        super().__init__(text)


def _tail(text: str, lines: int = STDERR_TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _find(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolError(tool, f"executable '{tool}' not found on PATH; {INSTALL_HINT}", command=[tool])
    return path


def run_tool(args, cwd: Path, timeout: float = 3600.0) -> subprocess.CompletedProcess:
    """Run ``args`` (the tool name first) in ``cwd`` and return the completed process.

    Raises
    ------
    ToolError
        The executable is not on PATH, it exits with a non-zero status, or it
        does not finish within ``timeout`` seconds.
    """
    args = [str(a) for a in args]
    tool = args[0]
    executable = _find(tool)
    try:
        done = subprocess.run(
            [executable, *args[1:]],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "LC_ALL": "C"},
        )
    except subprocess.TimeoutExpired as error:
        raise ToolError(tool, f"timed out after {timeout:g} s", command=args) from error
    if done.returncode != 0:
        raise ToolError(
            tool,
            f"failed with exit status {done.returncode}",
            command=args,
            returncode=done.returncode,
            stderr_tail=_tail(done.stderr or done.stdout),
        )
    return done


@functools.cache
def _version_of(executable: str, flag: str) -> str:
    done = subprocess.run([executable, flag], capture_output=True, text=True, timeout=60)
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0].strip() if lines else "unknown"


def tool_version(tool: str, flag: str = "--version") -> str:
    """Return the first line that ``tool flag`` prints, e.g. ``"Yosys 0.23 (git sha1 7ce5011c24b)"``.

    Raises
    ------
    ToolError
        The executable is not on PATH.
    """
    return _version_of(_find(tool), flag)
