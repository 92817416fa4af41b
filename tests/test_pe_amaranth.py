"""Amaranth-simulator checks of the TMN and IF PEs against the cycle model of the golden integer neurons."""

from __future__ import annotations

import gc
import warnings

import pytest
from amaranth.hdl import UnusedElaboratable
from amaranth.sim import Simulator

from sim.pe_model import Observation, PEKind
from sim.pe_stimulus import build_schedule
from tmn_hw.if_pe import IFProcessingElement, minimum_if_membrane_width
from tmn_hw.pe import TMNProcessingElement, minimum_membrane_width

STEPS = 3000

TMN_CASES = {
    "power-of-two": dict(input_width=6, threshold=16, max_timesteps=8, max_precharge=3, gate=True),
    "odd threshold": dict(input_width=5, threshold=5, max_timesteps=6, max_precharge=2, gate=False),
    "threshold 1, no pre-charge": dict(input_width=3, threshold=1, max_timesteps=4, max_precharge=0, gate=True),
    "wide input": dict(input_width=9, threshold=12, max_timesteps=5, max_precharge=5, gate=True),
}
IF_CASES = {
    "power-of-two": dict(input_width=6, threshold=16, max_timesteps=8),
    "odd threshold": dict(input_width=6, threshold=7, max_timesteps=5),
}


def tmn_params(case: dict) -> dict:
    width = minimum_membrane_width(case["max_timesteps"], case["max_precharge"], case["threshold"])
    return dict(case, membrane_width=width)


def if_params(case: dict) -> dict:
    return dict(case, membrane_width=minimum_if_membrane_width(case["max_timesteps"], case["threshold"]))


def run_schedule(dut, schedule) -> list[str]:
    """Drive ``schedule`` into ``dut`` in the Amaranth simulator and return the mismatches found."""
    mismatches = []
    has_precharge = hasattr(dut, "precharge")

    async def testbench(ctx):
        for cycle, expected in enumerate(schedule.expected):
            ctx.set(dut.start, schedule.start[cycle])
            ctx.set(dut.i.valid, schedule.valid[cycle])
            ctx.set(dut.i.payload, schedule.z[cycle])
            ctx.set(dut.timesteps, schedule.timesteps[cycle])
            if has_precharge:
                ctx.set(dut.precharge, schedule.precharge[cycle])
            ready = ctx.get(dut.i.ready)
            await ctx.tick()
            observed = Observation(
                ready=ready,
                valid=ctx.get(dut.o.valid),
                spike=ctx.get(dut.o.payload),
                last=ctx.get(dut.last),
                overflow=ctx.get(dut.overflow),
                error=ctx.get(dut.error),
                membrane=ctx.get(dut.membrane),
            )
            if observed != expected:
                mismatches.append(f"cycle {cycle}: expected {expected}, observed {observed}")

    simulator = Simulator(dut)
    simulator.add_clock(1e-6)
    simulator.add_testbench(testbench)
    simulator.run()
    return mismatches


@pytest.mark.parametrize("case", TMN_CASES.values(), ids=TMN_CASES.keys())
def test_tmn_pe_matches_golden(case):
    params = tmn_params(case)
    schedule = build_schedule(PEKind.TMN, params, STEPS, seed=7)
    assert schedule.missing_coverage(PEKind.TMN, params) == []
    assert run_schedule(TMNProcessingElement(**params), schedule) == []


@pytest.mark.parametrize("case", IF_CASES.values(), ids=IF_CASES.keys())
def test_if_pe_matches_golden(case):
    params = if_params(case)
    schedule = build_schedule(PEKind.IF, params, STEPS, seed=11)
    assert schedule.missing_coverage(PEKind.IF, params) == []
    assert run_schedule(IFProcessingElement(**params), schedule) == []


@pytest.mark.parametrize("fault", ["threshold_off_by_one", "no_saturation", "wrong_reset"])
def test_tmn_pe_fault_detected(fault):
    params = tmn_params(TMN_CASES["power-of-two"])
    schedule = build_schedule(PEKind.TMN, params, STEPS, seed=7)
    assert run_schedule(TMNProcessingElement(**params, _fault=fault), schedule) != []


def assert_rejects(component, params: dict, error: type, message: str) -> None:
    """Assert that constructing ``component(**params)`` raises ``error`` matching ``message``."""
    # The half-built component is never elaborated; Amaranth warns about that when it is collected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnusedElaboratable)
        with pytest.raises(error, match=message) as info:
            component(**params)
        del info
        gc.collect()


VALID = dict(input_width=6, membrane_width=9, threshold=16, max_timesteps=8, max_precharge=3)


@pytest.mark.parametrize(
    "override, error, message",
    [
        (dict(threshold=0), ValueError, "threshold must be an integer >= 1, not 0"),
        (dict(threshold=2.0), TypeError, "threshold must be an integer >= 1, not 2.0"),
        (dict(max_timesteps=0), ValueError, r"max_timesteps must be an integer in \[1, 62\], not 0"),
        (dict(max_timesteps=63), ValueError, r"max_timesteps must be an integer in \[1, 62\], not 63"),
        (dict(max_precharge=-1), ValueError, r"max_precharge must be an integer in \[0, 62\], not -1"),
        (dict(max_precharge=True), TypeError, r"max_precharge must be an integer in \[0, 62\], not True"),
        (dict(input_width=1), ValueError, r"input_width must be an integer in \[2, 64\], not 1"),
        (dict(input_width=5), ValueError, "input_width must hold the threshold 16, not 5; use input_width >= 6"),
        (
            dict(membrane_width=8),
            ValueError,
            r"membrane_width must be in \[9, 62\] so that in-range inputs never saturate for T <= 8, "
            r"P <= 3 and threshold 16, not 8",
        ),
        (
            dict(membrane_width=63),
            ValueError,
            r"membrane_width must be in \[9, 62\] so that in-range inputs never saturate .*, not 63",
        ),
        (dict(membrane_width=12.0), TypeError, r"membrane_width must be an integer in \[9, 62\] .*, not 12.0"),
        (
            dict(max_timesteps=62, max_precharge=62),
            ValueError,
            r"in-range inputs need a membrane of \d+ bits for T <= 62, P <= 62 and threshold 16, more than the "
            r"largest supported width 62; lower these limits",
        ),
        (dict(gate=1), TypeError, "gate must be True or False, not 1"),
        (dict(_fault="slow"), ValueError, "_fault must be None or one of"),
    ],
)
def test_tmn_pe_rejects_parameter(override, error, message):
    assert_rejects(TMNProcessingElement, dict(VALID, **override), error, message)


def test_if_pe_rejects_membrane_width():
    assert_rejects(
        IFProcessingElement,
        dict(input_width=6, membrane_width=7, threshold=16, max_timesteps=8),
        ValueError,
        r"membrane_width must be in \[8, 62\] .* for T <= 8 and threshold 16, not 7",
    )


def test_minimum_membrane_width_covers_every_runtime_config():
    from golden.integer import IntegerNeuronConfig

    width = minimum_membrane_width(8, 3, 16)
    for timesteps in range(1, 9):
        for precharge in range(4):
            IntegerNeuronConfig(timesteps, precharge, 16, 6, width)
    with pytest.raises(ValueError, match="membrane_width"):
        IntegerNeuronConfig(8, 3, 16, 6, width - 1)
