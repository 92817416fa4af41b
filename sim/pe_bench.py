"""cocotb bench of the TMN and IF PEs: every cycle compared with the cycle model of the golden neurons.

The bench runs on the harness of ``sim.runner.harness_verilog``: the PE's
inputs are one vector ``drive`` and its outputs one vector ``observe``. The
schedule (directed cases, then random samples with random idle cycles) and
the observation expected in each cycle are computed before the clock starts,
so per cycle the bench only writes one integer and compares one integer. Inputs
change at the falling clock edge, and outputs are sampled at the next falling
edge, after the rising edge that registered them.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from sim.pe_model import PEKind, pack, unpack
from sim.pe_stimulus import build_schedule

# Mismatches logged in full; later ones are only counted.
LOGGED_MISMATCHES = 20


class Scoreboard:
    """In-order scoreboard: the model's expected observations, compared with what the PE shows each cycle."""

    def __init__(self, expected, membrane_width: int, log: logging.Logger):
        self.expected = collections.deque(expected)
        self.membrane_width = membrane_width
        self.log = log
        self.compared = 0
        self.mismatches = 0

    def compare(self, cycle: int, observed) -> None:
        expected = self.expected.popleft()
        self.compared += 1
        try:
            word = observed.to_unsigned()
        except ValueError:
            word = None
        if word == expected:
            return
        self.mismatches += 1
        if self.mismatches > LOGGED_MISMATCHES:
            return
        expected_fields = unpack(expected, self.membrane_width)
        if word is None:
            self.log.error("cycle %d: observed %s with X or Z bits, expected %s", cycle, observed, expected_fields)
            return
        seen = unpack(word, self.membrane_width)
        for field, value in vars(expected_fields).items():
            if getattr(seen, field) != value:
                self.log.error("cycle %d: %s is %d, expected %d", cycle, field, getattr(seen, field), value)

    def check(self) -> None:
        if self.mismatches > LOGGED_MISMATCHES:
            self.log.error("%d more mismatches not logged", self.mismatches - LOGGED_MISMATCHES)
        assert self.mismatches == 0, f"{self.mismatches} mismatching cycles of {self.compared}"
        assert not self.expected, f"{len(self.expected)} expected observations never compared"


def pack_drive(schedule, fields) -> list[int]:
    """Return the ``drive`` vector of every cycle of ``schedule``, packed as the harness expects."""
    words = []
    columns = [(getattr(schedule, name), width) for name, _, width in fields]
    for cycle in range(len(schedule)):
        word, offset = 0, 0
        for column, width in columns:
            word |= (column[cycle] & ((1 << width) - 1)) << offset
            offset += width
        words.append(word)
    return words


@cocotb.test()
async def pe_matches_golden(dut):
    """Drive directed and random samples; the PE must match the golden model in every cycle."""
    from sim.runner import drive_fields

    config = json.loads(os.environ["TMN_BENCH"])
    kind, params = PEKind(config["kind"]), config["params"]
    log = logging.getLogger(f"tmn_hw.sim.{kind.value}")
    log.setLevel(logging.INFO)
    log.info("configuration %s", config)

    began = time.perf_counter()
    schedule = build_schedule(kind, params, config["steps"], config["seed"], config["idle"])
    missing = schedule.missing_coverage(kind, params)
    drive = pack_drive(schedule, drive_fields(kind, params))
    width = params["membrane_width"]
    scoreboard = Scoreboard((pack(observation, width) for observation in schedule.expected), width, log)
    prepared = time.perf_counter()

    Clock(dut.clk, 10, unit="ns").start()
    falling = FallingEdge(dut.clk)
    dut.rst.value = 1
    dut.drive.value = 0
    for _ in range(2):
        await falling
    dut.rst.value = 0
    dut.drive.value = drive[0]
    last_cycle = len(drive) - 1
    for cycle in range(len(drive)):
        await falling
        scoreboard.compare(cycle, dut.observe.value)
        if cycle < last_cycle:
            dut.drive.value = drive[cycle + 1]
    finished = time.perf_counter()

    seconds = finished - prepared
    summary = dict(
        simulator=cocotb.SIM_NAME,
        kind=kind.value,
        params=params,
        steps=schedule.steps,
        cycles=len(drive),
        mismatches=scoreboard.mismatches,
        schedule_seconds=round(prepared - began, 3),
        simulation_seconds=round(seconds, 3),
        steps_per_second=round(schedule.steps / seconds),
        coverage=dict(sorted(schedule.coverage.items())),
        missing_coverage=missing,
    )
    with open(config["summary"], "w") as file:
        json.dump(summary, file, indent=2)
    log.info(
        "%d steps in %d cycles, %.1f s (%d steps/s), %d mismatches",
        schedule.steps,
        len(drive),
        seconds,
        summary["steps_per_second"],
        scoreboard.mismatches,
    )
    scoreboard.check()
    assert not missing, f"the schedule never reached the coverage bins {missing}"
