"""Build and run the PE benches (``sim.pe_bench``) on Icarus Verilog or Verilator.

``run_pe_bench`` elaborates the PE, writes its Verilog (or, with
``netlist=True``, the Yosys ``synth`` netlist of it), wraps it in a test
harness, builds it in its own directory and runs the cocotb bench there. The
bench configuration travels in the environment variable ``TMN_BENCH`` as
JSON, and the bench writes a JSON summary next to the results file.
Waveforms are written into the build directory only when ``TMN_WAVES=1``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

from sim.launch import SIMULATORS, run_sources
from sim.pe_model import FIELDS, PEKind
from tmn_hw.if_pe import IFProcessingElement
from tmn_hw.pe import TMNProcessingElement
from tmn_hw.verilog import write_verilog

__all__ = ["SIMULATORS", "BenchResult", "drive_fields", "harness_verilog", "run_pe_bench"]

HARNESS = "pe_tb"
SUMMARY_FILE = "summary.json"
MODULE_NAMES = {PEKind.TMN: "tmn_pe", PEKind.IF: "if_pe"}


@dataclasses.dataclass(frozen=True)
class BenchResult:
    """Outcome of one bench run: pass/fail from cocotb, and the bench's own summary."""

    passed: bool
    summary: dict
    build_dir: Path


def drive_fields(kind: PEKind, params: dict) -> list[tuple[str, str, int]]:
    """Return the input ports packed into the harness ``drive`` vector: (bench name, port, width), LSB first."""
    fields = [
        ("start", "start", 1),
        ("valid", "i__valid", 1),
        ("z", "i__payload", params["input_width"]),
        ("timesteps", "timesteps", params["max_timesteps"].bit_length()),
    ]
    if kind is PEKind.TMN:
        fields.append(("precharge", "precharge", max(1, params["max_precharge"].bit_length())))
    return fields


# Output port of the PE behind each observation field.
OBSERVED_PORTS = {
    "ready": "i__ready",
    "valid": "o__valid",
    "spike": "o__payload",
    "last": "last",
    "overflow": "overflow",
    "error": "error",
    "membrane": "membrane",
}


def harness_verilog(kind: PEKind, params: dict) -> str:
    """Return the Verilog harness that packs the PE inputs into ``drive`` and its outputs into ``observe``.

    One wide input and one wide output let the bench write and read each
    cycle with a single access. ``i.ready`` is registered at the rising edge,
    so that ``observe`` shows it as the PE saw it when it took the input.
    """
    width = params["membrane_width"]
    inputs = drive_fields(kind, params)
    drive_width = sum(field_width for _, _, field_width in inputs)
    outputs = [(name, width if field_width is None else field_width) for name, field_width in FIELDS]
    observe_width = sum(field_width for _, field_width in outputs)
    lines = [
        f"module {HARNESS}(clk, rst, drive, observe);",
        "  input clk;",
        "  input rst;",
        f"  input [{drive_width - 1}:0] drive;",
        f"  output [{observe_width - 1}:0] observe;",
    ]
    for name, field_width in outputs:
        lines.append(f"  wire [{field_width - 1}:0] {name};")
    lines += [
        "  reg ready_at_edge = 1'b0;",
        "  always @(posedge clk) ready_at_edge <= ready;",
        f"  {MODULE_NAMES[kind]} dut (",
        "    .clk(clk),",
        "    .rst(rst),",
    ]
    offset = 0
    for _, port, field_width in inputs:
        lines.append(f"    .{port}(drive[{offset + field_width - 1}:{offset}]),")
        offset += field_width
    lines += [f"    .{OBSERVED_PORTS[name]}({name})," for name, _ in outputs]
    lines[-1] = lines[-1].rstrip(",")
    packed = ", ".join("ready_at_edge" if name == "ready" else name for name, _ in reversed(outputs))
    lines += ["  );", f"  assign observe = {{{packed}}};", "endmodule", ""]
    return "\n".join(lines)


def synthesize_netlist(source: Path, top: str, netlist: Path) -> Path:
    """Write the Yosys ``synth`` netlist of module ``top`` in ``source`` to ``netlist``."""
    script = f"read_verilog {source}; synth -flatten -top {top}; write_verilog -noattr {netlist}"
    result = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"yosys failed to synthesise {source} (exit {result.returncode}):\n{result.stderr[-2000:]}")
    return netlist


def build_pe(kind: PEKind, params: dict, fault: str | None = None):
    """Return the PE component of ``kind`` with elaboration parameters ``params``."""
    if kind is PEKind.TMN:
        return TMNProcessingElement(**params, _fault=fault)
    if fault is not None:
        raise ValueError(f"fault injection exists for the TMN PE only, not for {kind.value!r}")
    return IFProcessingElement(**params)


def run_pe_bench(
    kind: PEKind,
    params: dict,
    *,
    simulator: str,
    build_dir,
    steps: int,
    seed: int = 1,
    idle: float = 0.2,
    netlist: bool = False,
    fault: str | None = None,
    waves: bool | None = None,
) -> BenchResult:
    """Run the PE bench with at least ``steps`` accepted steps on ``simulator`` in ``build_dir``."""
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    top = MODULE_NAMES[kind]
    source = write_verilog(build_pe(kind, params, fault), top, build_dir / f"{top}.v")
    if netlist:
        source = synthesize_netlist(source, top, build_dir / f"{top}_netlist.v")
    harness = build_dir / f"{HARNESS}.v"
    harness.write_text(harness_verilog(kind, params))

    summary_path = build_dir / SUMMARY_FILE
    summary_path.unlink(missing_ok=True)
    config = dict(kind=kind.value, params=params, steps=steps, seed=seed, idle=idle, summary=str(summary_path))
    tests, failed, _ = run_sources(
        [source, harness], toplevel=HARNESS, test_module="sim.pe_bench", simulator=simulator, build_dir=build_dir,
        extra_env={"TMN_BENCH": json.dumps(config)}, waves=waves,
    )
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return BenchResult(passed=tests > 0 and failed == 0, summary=summary, build_dir=build_dir)
