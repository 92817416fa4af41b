"""nextpnr-ice40: packing, placement and routing, read back from its JSON report (``--report``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from synth.tool import ToolError, run_tool, tool_version

__all__ = ["DEVICES", "nextpnr_version", "parse_report", "place_and_route"]

REPORT_FILE = "report.json"

# Device name -> (nextpnr device flag, package). UP5K in the 48-pin QFN of the
# usual low-cost boards; HX8K in the 256-ball BGA of the iCE40-HX8K breakout board.
DEVICES = {
    "up5k": ("--up5k", "sg48"),
    "hx8k": ("--hx8k", "ct256"),
}


def nextpnr_version() -> str:
    """Return the version line of nextpnr-ice40, e.g. ``"nextpnr-ice40 -- Next Generation ... (Version 0.4-1+b1)"``."""
    return tool_version("nextpnr-ice40", "--version")


def parse_report(report) -> dict:
    """Return utilisation and maximum clock frequencies from a nextpnr ``--report`` JSON.

    ``report`` is the JSON text or the parsed object. The result has

    - ``utilization``: bel type -> ``{"used", "available"}``, as nextpnr writes it;
    - ``logic_cells``, ``ram_blocks``, ``io_cells``, ``global_buffers``, ``dsp_blocks``:
      used counts of ``ICESTORM_LC``, ``ICESTORM_RAM``, ``SB_IO``, ``SB_GB`` and
      ``ICESTORM_DSP`` (0 where the device has none);
    - ``fmax_mhz``: clock net -> achieved maximum frequency in MHz (empty after
      ``--pack-only`` or for a design without clock);
    - ``fmax_min_mhz``: the lowest of those, or ``None``.
    """
    if isinstance(report, str):
        report = json.loads(report)
    utilization = {
        str(bel): {"used": int(v["used"]), "available": int(v["available"])}
        for bel, v in sorted(report.get("utilization", {}).items())
    }

    def used(bel: str) -> int:
        return utilization.get(bel, {}).get("used", 0)

    fmax = {str(clock): float(v["achieved"]) for clock, v in sorted(report.get("fmax", {}).items())}
    return {
        "utilization": utilization,
        "logic_cells": used("ICESTORM_LC"),
        "ram_blocks": used("ICESTORM_RAM"),
        "io_cells": used("SB_IO"),
        "global_buffers": used("SB_GB"),
        "dsp_blocks": used("ICESTORM_DSP"),
        "fmax_mhz": fmax,
        "fmax_min_mhz": min(fmax.values()) if fmax else None,
    }


def place_and_route(
    netlist: Path,
    device: str,
    workdir: Path,
    *,
    seed: int = 1,
    freq_mhz: float = 100.0,
    pack_only: bool = False,
) -> dict:
    """Run nextpnr-ice40 on a Yosys ``synth_ice40 -json`` netlist and return the parsed report.

    ``freq_mhz`` is the target of timing-driven placement; the run passes
    ``--timing-allow-fail``, so the reported Fmax is what the router achieved
    whether or not it meets the target. ``pack_only`` stops after packing:
    utilisation without placement, so I/O pins are not assigned and the
    design may have more ports than the package has pins.

    Returns the dict of :func:`parse_report` plus ``tool``, ``version``,
    ``device``, ``package``, ``seed`` and ``command`` (the exact command line).

    Raises
    ------
    ToolError
        nextpnr-ice40 is missing or fails (the design does not fit, or its
        ports outnumber the package pins), or it writes no report.
    ValueError
        ``device`` is not one of :data:`DEVICES`.
    """
    if device not in DEVICES:
        raise ValueError(f"device must be one of {sorted(DEVICES)}, not {device!r}")
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    device_flag, package = DEVICES[device]
    command = [
        "nextpnr-ice40",
        device_flag,
        "--package",
        package,
        "--json",
        os.path.relpath(Path(netlist).resolve(), workdir.resolve()),
        "--report",
        REPORT_FILE,
        "--seed",
        str(seed),
        "-q",
    ]
    if pack_only:
        command.append("--pack-only")
    else:
        command += ["--freq", f"{freq_mhz:g}", "--timing-allow-fail"]
    report_path = workdir / REPORT_FILE
    report_path.unlink(missing_ok=True)
    run_tool(command, cwd=workdir)
    if not report_path.is_file():
        raise ToolError("nextpnr-ice40", f"wrote no {REPORT_FILE} in {workdir}", command=command)
    return {
        "tool": "nextpnr-ice40",
        "version": nextpnr_version(),
        "device": device,
        "package": package,
        "seed": seed,
        "command": " ".join(command),
        **parse_report(report_path.read_text()),
    }
