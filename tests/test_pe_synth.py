"""Yosys synthesis of the PEs: the doubling and the threshold scaling are wiring, with no multiplier or shifter.

Each design is checked twice with Yosys ``stat -json``: after ``proc; opt``,
before any technology mapping, where a ``*`` or a variable shift would still
be a ``$mul`` or ``$shl`` cell, and after ``synth``.
"""

import json
import subprocess

import pytest
from amaranth import Module, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from tmn_hw.if_pe import IFProcessingElement, minimum_if_membrane_width
from tmn_hw.pe import TMNProcessingElement, minimum_membrane_width
from tmn_hw.verilog import write_verilog

FORBIDDEN_CELLS = {"$mul", "$shl", "$sshl", "$shr", "$sshr", "$shift", "$shiftx"}


def cell_types(component, name: str, directory) -> tuple[dict, dict]:
    """Return the cell counts of ``component`` after ``proc; opt`` and after ``synth``."""
    source = write_verilog(component, name, directory / f"{name}.v")
    before, after = directory / "before.json", directory / "after.json"
    script = "; ".join(
        [
            f"read_verilog {source}",
            f"hierarchy -top {name}",
            "proc",
            "opt",
            f"tee -q -o {before} stat -json",
            f"synth -top {name}",
            f"tee -q -o {after} stat -json",
        ]
    )
    result = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    counts = []
    for path in (before, after):
        modules = json.loads(path.read_text())["modules"]
        counts.append(modules[f"\\{name}"]["num_cells_by_type"])
    return counts[0], counts[1]


def tmn_pe(threshold, max_timesteps, max_precharge, input_width, gate=True):
    width = minimum_membrane_width(max_timesteps, max_precharge, threshold)
    return TMNProcessingElement(
        input_width=input_width,
        membrane_width=width,
        threshold=threshold,
        max_timesteps=max_timesteps,
        max_precharge=max_precharge,
        gate=gate,
    )


DESIGNS = {
    "tmn-pow2": lambda: tmn_pe(64, 8, 4, 8),
    "tmn-odd": lambda: tmn_pe(5, 6, 2, 5, gate=False),
    "tmn-even-long-precharge": lambda: tmn_pe(12, 5, 5, 9),
    "if": lambda: IFProcessingElement(
        input_width=8, membrane_width=minimum_if_membrane_width(8, 64), threshold=64, max_timesteps=8
    ),
}


@pytest.mark.parametrize("design", DESIGNS.values(), ids=DESIGNS.keys())
def test_pe_has_no_multiplier_or_shifter(design, tmp_path):
    before, after = cell_types(design(), "dut", tmp_path)
    assert "$add" in before or "$sub" in before
    assert FORBIDDEN_CELLS.isdisjoint(before), before
    assert FORBIDDEN_CELLS.isdisjoint(after), after


class MultiplyShift(wiring.Component):
    """A multiplier and a variable shift, which the check above must find."""

    a: In(unsigned(4))
    b: In(unsigned(3))
    product: Out(unsigned(8))
    shifted: Out(unsigned(12))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.product.eq(self.a * self.b), self.shifted.eq(self.a << self.b)]
        return m


def test_cell_check_finds_multiplier_and_shifter(tmp_path):
    before, _ = cell_types(MultiplyShift(), "dut", tmp_path)
    assert "$mul" in before
    assert "$shl" in before or "$sshl" in before
