"""cocotb benches of the TMN and IF PEs on Icarus Verilog and Verilator, compared cycle by cycle with the golden model.

Each case builds in its own directory under ``build/sim/pe/``. The number of
random steps per case comes from the environment variable ``TMN_SIM_STEPS``
(default 20000, enough to reach every coverage bin); ``make sim`` sets it to
100000. ``TMN_WAVES=1`` writes waveforms into each case's build directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sim.pe_model import PEKind
from sim.runner import SIMULATORS, run_pe_bench
from tmn_hw.if_pe import minimum_if_membrane_width
from tmn_hw.pe import FAULTS, minimum_membrane_width

BUILD = Path(__file__).resolve().parents[1] / "build" / "sim" / "pe"
STEPS = int(os.environ.get("TMN_SIM_STEPS", "20000"))
# Steps for the faulty PEs: each fault shows up within the directed cases already.
FAULT_STEPS = 2000

TMN_CASES = {
    "pow2": dict(input_width=6, threshold=16, max_timesteps=8, max_precharge=3, gate=True),
    "odd": dict(input_width=5, threshold=5, max_timesteps=6, max_precharge=2, gate=False),
    "even-wide-input": dict(input_width=9, threshold=12, max_timesteps=5, max_precharge=5, gate=True),
    "threshold1-no-precharge": dict(input_width=3, threshold=1, max_timesteps=4, max_precharge=0, gate=True),
    "long": dict(input_width=8, threshold=64, max_timesteps=16, max_precharge=8, gate=True),
}
IF_CASES = {
    "if-pow2": dict(input_width=6, threshold=16, max_timesteps=8),
    "if-odd": dict(input_width=6, threshold=7, max_timesteps=5),
}


def tmn_params(case: dict) -> dict:
    width = minimum_membrane_width(case["max_timesteps"], case["max_precharge"], case["threshold"])
    return dict(case, membrane_width=width)


def if_params(case: dict) -> dict:
    return dict(case, membrane_width=minimum_if_membrane_width(case["max_timesteps"], case["threshold"]))


CASES = [(name, PEKind.TMN, tmn_params(case)) for name, case in TMN_CASES.items()]
CASES += [(name, PEKind.IF, if_params(case)) for name, case in IF_CASES.items()]


def check(result) -> None:
    summary = result.summary
    assert summary, f"the bench wrote no summary; see {result.build_dir}"
    assert summary["mismatches"] == 0, f"{summary['mismatches']} mismatches; log in {result.build_dir}"
    assert summary["missing_coverage"] == []
    assert summary["steps"] >= STEPS
    assert result.passed, f"cocotb reports a failure; log in {result.build_dir}"


# A fresh Verilator build compiles C++ for about 25 seconds.
SIMULATOR_PARAMS = [pytest.param(name, marks=pytest.mark.slow if name == "verilator" else ()) for name in SIMULATORS]


@pytest.mark.parametrize("simulator", SIMULATOR_PARAMS)
@pytest.mark.parametrize("name, kind, params", CASES, ids=[case[0] for case in CASES])
def test_pe_bench(name, kind, params, simulator):
    result = run_pe_bench(kind, params, simulator=simulator, build_dir=BUILD / f"{name}-{simulator}", steps=STEPS)
    check(result)


@pytest.mark.parametrize("name", ["pow2", "odd", "if-pow2"])
def test_pe_bench_synthesised_netlist(name):
    _, kind, params = next(case for case in CASES if case[0] == name)
    result = run_pe_bench(kind, params, simulator="icarus", build_dir=BUILD / f"{name}-netlist", steps=STEPS, netlist=True)
    check(result)


@pytest.mark.parametrize("fault", FAULTS)
def test_pe_bench_detects_fault(fault):
    params = tmn_params(TMN_CASES["pow2"])
    result = run_pe_bench(
        PEKind.TMN, params, simulator="icarus", build_dir=BUILD / f"fault-{fault}", steps=FAULT_STEPS, fault=fault
    )
    assert not result.passed
    assert result.summary["mismatches"] > 0
