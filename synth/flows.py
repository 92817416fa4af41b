"""Synthesis flows for a Verilog design: generic gate counts and iCE40 resources with Fmax.

Both flows take the Verilog text and the name of its top module and run in a
work directory of their own. They return a plain, JSON-serialisable dict in
which every figure sits beside the tool, its version and the exact script or
command line that produced it. Results are cached under ``build/synth/`` by a
hash of the Verilog, the top module, the options and the tool versions.

The iCE40 flow runs three tool steps:

1. Yosys ``synth_ice40`` on the design: cells by type, from which come the
   LUT4, SB_CARRY, flip-flop (SB_DFF*) and RAM (SB_RAM40_4K) counts;
2. nextpnr-ice40 ``--pack-only`` on that netlist: packed logic cells
   (ICESTORM_LC, one LUT4 with its carry and flip-flop), with no pin
   assignment, so any port count fits;
3. Yosys and nextpnr-ice40 place and route of the design inside the
   registered I/O harness of :mod:`synth.harness`: the maximum clock
   frequency of register-to-register paths.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path

from synth.harness import HARNESS_TOP, harness_verilog
from synth.nextpnr import DEVICES, nextpnr_version, place_and_route
from synth.yosys import read_ports, synthesize, yosys_version

__all__ = [
    "DEFAULT_CACHE_DIR",
    "Ice40Options",
    "component_verilog",
    "generic_flow",
    "ice40_flow",
    "ice40_resources",
]

logger = logging.getLogger("tmn_hw.synth")

# build/synth/ of the repository (the package is installed editable), whatever the working directory.
DEFAULT_CACHE_DIR = Path(__file__).resolve().parent.parent / "build" / "synth"
DESIGN_FILE = "design.v"


def component_verilog(component, name: str) -> str:
    """Return the Verilog of an Amaranth ``wiring.Component``, deterministic and without source locations.

    The text is that of ``tmn_hw.verilog.convert``, the writer of
    ``python -m tmn_hw.gen``, so a synthesised design is byte for byte the
    generated one.
    """
    from amaranth.lib import wiring

    from tmn_hw.verilog import convert

    if not isinstance(component, wiring.Component):
        raise TypeError(f"component must be an amaranth.lib.wiring.Component, not {type(component).__name__}")
    return convert(component, name)


@dataclasses.dataclass(frozen=True)
class Ice40Options:
    """Options of the iCE40 flow.

    Attributes
    ----------
    device : str
        ``"up5k"`` (iCE40UP5K, package sg48) or ``"hx8k"`` (iCE40HX8K, package ct256).
    seed : int
        Seed of nextpnr's placer; Fmax varies with it (up to about 8 % over seeds 1-5 for the PEs).
    freq_mhz : float
        Target frequency of timing-driven placement, in MHz. Set it above the
        expected Fmax so that the placer optimises the critical path.
    clock : str
        Name of the clock input port of the design (``clk`` in Amaranth output).
    """

    device: str = "up5k"
    seed: int = 1
    freq_mhz: float = 100.0
    clock: str = "clk"

    def __post_init__(self):
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {sorted(DEVICES)}, not {self.device!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be an integer >= 0, not {self.seed!r}")
        if isinstance(self.freq_mhz, bool) or not isinstance(self.freq_mhz, (int, float)) or not self.freq_mhz > 0:
            raise ValueError(f"freq_mhz must be a number > 0 (MHz), not {self.freq_mhz!r}")


def _check_design(verilog: str, top: str) -> None:
    if not isinstance(verilog, str) or not verilog.strip():
        raise ValueError("verilog must be the non-empty text of a Verilog design")
    if not isinstance(top, str) or not top:
        raise ValueError(f"top must be the name of the top module, not {top!r}")


def _cache_key(flow: str, verilog: str, top: str, options: dict, versions: dict) -> str:
    text = json.dumps(
        {"flow": flow, "verilog": verilog, "top": top, "options": options, "versions": versions}, sort_keys=True
    )
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _run_cached(flow: str, verilog: str, top: str, options: dict, versions: dict, cache_dir, body) -> dict:
    """Return ``body(workdir)``, from ``cache_dir`` when an identical run is stored there.

    Without a cache directory the run uses a temporary directory that is then
    deleted. With one, the run works in a temporary sibling directory that is
    renamed to its hash when the run succeeds, so a stored run is always whole.
    """
    if cache_dir is None:
        with tempfile.TemporaryDirectory(prefix=f"synth-{flow}-") as workdir:
            return body(Path(workdir))

    cache_dir = Path(cache_dir)
    key = _cache_key(flow, verilog, top, options, versions)
    final = cache_dir / f"{flow}-{top}-{key}"
    stored = final / "result.json"
    if stored.is_file():
        logger.debug("cached %s flow of %s: %s", flow, top, final)
        return json.loads(stored.read_text())

    cache_dir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix=f".{flow}-{top}-", dir=cache_dir))
    try:
        result = body(workdir)
        (workdir / "result.json").write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
        if final.exists():  # another process finished the same run meanwhile
            shutil.rmtree(workdir)
        else:
            os.replace(workdir, final)
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return result


def _strip_paths(tool_result: dict) -> dict:
    return {k: v for k, v in tool_result.items() if k != "netlist"}


def generic_flow(verilog: str, top: str, *, cache_dir=DEFAULT_CACHE_DIR) -> dict:
    """Synthesise with Yosys' generic ``synth -flatten`` and return the cell counts by type.

    Returns ``{"flow": "generic", "top", "verilog_sha256", "cells",
    "cells_by_type", "flip_flops", "yosys": {...}}``; ``flip_flops`` sums the
    cell types whose name contains ``DFF`` and ``yosys`` holds the tool,
    version, command and script.

    Raises
    ------
    ToolError
        Yosys is missing or fails.
    """
    _check_design(verilog, top)
    versions = {"yosys": yosys_version()}

    def body(workdir: Path) -> dict:
        (workdir / DESIGN_FILE).write_text(verilog)
        yosys = synthesize(workdir / DESIGN_FILE, top, "generic", workdir)
        return {
            "flow": "generic",
            "top": top,
            "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
            "cells": yosys["cells"],
            "cells_by_type": yosys["cells_by_type"],
            "flip_flops": sum(n for kind, n in yosys["cells_by_type"].items() if "DFF" in kind),
            "yosys": yosys,
        }

    return _run_cached("generic", verilog, top, {}, versions, cache_dir, body)


def ice40_resources(cells_by_type: dict) -> dict:
    """Return the iCE40 primitive counts of a ``synth_ice40`` result.

    ``lut4`` (SB_LUT4), ``carry`` (SB_CARRY), ``dff`` (every SB_DFF* variant),
    ``ram`` (SB_RAM40_4K*), ``dsp`` (SB_MAC16) and ``spram`` (SB_SPRAM256KA).
    """

    def total(prefix: str) -> int:
        return sum(n for kind, n in cells_by_type.items() if kind.startswith(prefix))

    return {
        "lut4": total("SB_LUT4"),
        "carry": total("SB_CARRY"),
        "dff": total("SB_DFF"),
        "ram": total("SB_RAM40_4K"),
        "dsp": total("SB_MAC16"),
        "spram": total("SB_SPRAM256KA"),
    }


def ice40_flow(verilog: str, top: str, options: Ice40Options | None = None, *, cache_dir=DEFAULT_CACHE_DIR) -> dict:
    """Synthesise, pack, place and route a design for an iCE40 device; return resources and Fmax.

    Returns a dict with

    - ``flow`` (``"ice40"``), ``top``, ``device``, ``package``, ``verilog_sha256``;
    - ``resources``: ``lut4``, ``carry``, ``dff``, ``ram``, ``dsp``, ``spram``
      (Yosys cell counts of the design alone) and ``logic_cells`` (nextpnr
      packed ICESTORM_LC of the design alone);
    - ``fmax_mhz``: the achieved maximum frequency of the clock inside the
      I/O harness, whose registers also time a design without flip-flops;
    - ``yosys``, ``pack``, ``harness_yosys``, ``place_and_route``: each tool
      step with its tool, version, command or script and full results;
    - ``harness``: input and output bits that the harness serialises.

    Raises
    ------
    ToolError
        Yosys or nextpnr-ice40 is missing or fails, for example when the
        design does not fit the device.
    ValueError
        Invalid options, or a design the harness cannot wrap (inout ports,
        no outputs).
    """
    _check_design(verilog, top)
    options = Ice40Options() if options is None else options
    if not isinstance(options, Ice40Options):
        raise TypeError(f"options must be an Ice40Options, not {type(options).__name__}")
    if top == HARNESS_TOP:
        raise ValueError(f"top must not be named {HARNESS_TOP!r}, the name of the I/O harness module")
    versions = {"yosys": yosys_version(), "nextpnr-ice40": nextpnr_version()}

    def body(workdir: Path) -> dict:
        design_dir = workdir / "design"
        design_dir.mkdir()
        (design_dir / DESIGN_FILE).write_text(verilog)
        yosys = synthesize(design_dir / DESIGN_FILE, top, "ice40", design_dir)
        pack = place_and_route(Path(yosys["netlist"]), options.device, design_dir, seed=options.seed, pack_only=True)

        harness_dir = workdir / "harness"
        harness_dir.mkdir()
        ports = read_ports(design_dir / DESIGN_FILE, top, harness_dir)
        wrapper = harness_verilog(ports, top, clock=options.clock)
        (harness_dir / DESIGN_FILE).write_text(verilog + "\n" + wrapper)
        harness_yosys = synthesize(harness_dir / DESIGN_FILE, HARNESS_TOP, "ice40", harness_dir)
        routed = place_and_route(
            Path(harness_yosys["netlist"]),
            options.device,
            harness_dir,
            seed=options.seed,
            freq_mhz=options.freq_mhz,
        )
        in_bits = sum(p.width for p in ports if p.direction == "input" and p.name != options.clock)
        out_bits = sum(p.width for p in ports if p.direction == "output")
        return {
            "flow": "ice40",
            "top": top,
            "device": options.device,
            "package": DEVICES[options.device][1],
            "verilog_sha256": hashlib.sha256(verilog.encode()).hexdigest(),
            "resources": {**ice40_resources(yosys["cells_by_type"]), "logic_cells": pack["logic_cells"]},
            "fmax_mhz": routed["fmax_min_mhz"],
            "harness": {"input_bits": in_bits, "output_bits": out_bits, "top": HARNESS_TOP},
            "yosys": _strip_paths(yosys),
            "pack": pack,
            "harness_yosys": _strip_paths(harness_yosys),
            "place_and_route": routed,
        }

    return _run_cached("ice40", verilog, top, dataclasses.asdict(options), versions, cache_dir, body)
