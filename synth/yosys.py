"""Yosys flows: generic gate-level synthesis and iCE40 synthesis, read back from ``stat -json``.

Each flow writes a Yosys script into a work directory, runs it, and parses the
JSON that ``tee -q -o stat.json stat -json`` writes, never the text log.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

from synth.tool import ToolError, run_tool, tool_version

__all__ = [
    "Port",
    "TARGETS",
    "parse_stat",
    "read_ports",
    "synthesize",
    "synthesis_script",
    "yosys_version",
]

STAT_FILE = "stat.json"
NETLIST_FILE = "netlist.json"
SCRIPT_FILE = "synth.ys"

# Synthesis target -> Yosys command that maps the design. Both flatten the
# hierarchy, so that the cell counts are totals over every submodule.
TARGETS = {
    "generic": "synth -flatten -top {top}",
    "ice40": f"synth_ice40 -top {{top}} -json {NETLIST_FILE}",
}


def yosys_version() -> str:
    """Return the version line of the Yosys on PATH, e.g. ``"Yosys 0.23 (git sha1 7ce5011c24b)"``."""
    return tool_version("yosys", "-V")


def synthesis_script(verilog_file: str, top: str, target: str) -> str:
    """Return the Yosys script that synthesises ``verilog_file`` with top module ``top`` for ``target``."""
    if target not in TARGETS:
        raise ValueError(f"target must be one of {sorted(TARGETS)}, not {target!r}")
    return "\n".join(
        [
            f"read_verilog -sv {verilog_file}",
            TARGETS[target].format(top=top),
            f"tee -q -o {STAT_FILE} stat -json",
            "",
        ]
    )


def parse_stat(stat, top: str) -> dict:
    """Return the cell counts of module ``top`` from the output of Yosys ``stat -json``.

    ``stat`` is the JSON text or the parsed object. The result has ``cells``
    (total) and ``cells_by_type`` (cell type -> count, sorted by type), plus
    ``wires``, ``wire_bits``, ``memories`` and ``memory_bits``.

    Raises
    ------
    ValueError
        The JSON holds no module named ``top``.
    """
    if isinstance(stat, str):
        stat = json.loads(stat)
    modules = stat.get("modules", {})
    entry = modules.get(f"\\{top}", modules.get(top))
    if entry is None:
        raise ValueError(f"Yosys stat output has no module {top!r}; modules: {sorted(modules)}")
    return {
        "cells": int(entry["num_cells"]),
        "cells_by_type": dict(sorted((str(k), int(v)) for k, v in entry.get("num_cells_by_type", {}).items())),
        "wires": int(entry["num_wires"]),
        "wire_bits": int(entry["num_wire_bits"]),
        "memories": int(entry["num_memories"]),
        "memory_bits": int(entry["num_memory_bits"]),
    }


def synthesize(verilog_file: Path, top: str, target: str, workdir: Path) -> dict:
    """Synthesise ``verilog_file`` for ``target`` (``"generic"`` or ``"ice40"``) in ``workdir``.

    Returns a dict with ``tool``, ``version``, ``target``, ``top``, ``script``
    (the exact Yosys script) and the counts of :func:`parse_stat`. The iCE40
    target also writes the netlist for nextpnr to ``workdir / "netlist.json"``
    and returns its path as ``netlist``.

    Raises
    ------
    ToolError
        Yosys is missing, fails (a syntax error, an unknown top module) or
        writes no statistics.
    ValueError
        ``target`` is not one of :data:`TARGETS`.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    verilog_name = os.path.relpath(Path(verilog_file).resolve(), workdir.resolve())
    script = synthesis_script(verilog_name, top, target)
    (workdir / SCRIPT_FILE).write_text(script)
    command = ["yosys", "-q", "-s", SCRIPT_FILE]
    run_tool(command, cwd=workdir)
    stat_path = workdir / STAT_FILE
    if not stat_path.is_file():
        raise ToolError("yosys", f"wrote no {STAT_FILE} in {workdir}", command=command)
    result = {
        "tool": "yosys",
        "version": yosys_version(),
        "target": target,
        "top": top,
        "command": " ".join(command),
        "script": script,
        **parse_stat(stat_path.read_text(), top),
    }
    if target == "ice40":
        result["netlist"] = str(workdir / NETLIST_FILE)
    return result


@dataclasses.dataclass(frozen=True)
class Port:
    """A port of a Verilog module: name, direction (``input``/``output``/``inout``) and width in bits."""

    name: str
    direction: str
    width: int


def read_ports(verilog_file: Path, top: str, workdir: Path) -> list[Port]:
    """Return the ports of module ``top`` in ``verilog_file``, in the order Yosys lists them.

    Yosys elaborates the module and writes it with ``write_json``; the ports
    are read from that JSON.

    Raises
    ------
    ToolError
        Yosys is missing or cannot read the file or find ``top``.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    verilog_name = os.path.relpath(Path(verilog_file).resolve(), workdir.resolve())
    script = f"read_verilog -sv {verilog_name}\nhierarchy -top {top}\nproc\nwrite_json ports.json\n"
    (workdir / "ports.ys").write_text(script)
    run_tool(["yosys", "-q", "-s", "ports.ys"], cwd=workdir)
    design = json.loads((workdir / "ports.json").read_text())
    module = design["modules"].get(top)
    if module is None:
        raise ToolError("yosys", f"module {top!r} not found in {verilog_file}")
    return [Port(name, port["direction"], len(port["bits"])) for name, port in module["ports"].items()]
