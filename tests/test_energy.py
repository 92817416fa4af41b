"""Energy model: the 45 nm convention and the fixed-point estimate on hand-made operation counts."""

from __future__ import annotations

import math

import pytest

from tmn_hw.energy import (
    ACCUMULATE_PJ,
    CONSTANTS,
    MAC_PJ,
    FixedPointWidths,
    add_energy_pj,
    conventional_energy,
    fixed_point_energy,
    multiply_energy_pj,
    weight_read_energy_pj,
)


def tiny_network_counts() -> list[dict]:
    """Counts of a 3-2-2 network on one image: 6 analog MACs, 3 hidden spikes that each reach 2 outputs."""
    return [
        {"name": "fc1", "kind": "analog", "neurons": 2, "spikes": 0.0, "synaptic_ops": 0.0, "macs": 6.0},
        {"name": "relu1", "kind": "spiking", "neurons": 2, "spikes": 3.0, "synaptic_ops": 0.0, "macs": 0.0},
        {"name": "fc2", "kind": "synaptic", "neurons": 2, "spikes": 0.0, "synaptic_ops": 6.0, "macs": 0.0},
    ]


def test_convention_constants():
    assert ACCUMULATE_PJ == 0.9
    assert MAC_PJ == pytest.approx(4.6)


def test_conventional_energy_tiny_network():
    energy = conventional_energy(tiny_network_counts())

    assert [row["name"] for row in energy["layers"]] == ["fc1", "fc2"]
    assert energy["accumulates"] == 6.0
    assert energy["macs"] == 6.0
    assert energy["energy_pj"] == pytest.approx(6 * 0.9 + 6 * 4.6)
    assert energy["layers"][0]["energy_pj"] == pytest.approx(6 * 4.6)


def test_add_energy_hits_horowitz_points():
    assert add_energy_pj(8) == pytest.approx(CONSTANTS["add_int8"].picojoules)
    assert add_energy_pj(32) == pytest.approx(CONSTANTS["add_int32"].picojoules)
    assert add_energy_pj(20) == pytest.approx((0.03 + 0.1) / 2)
    assert add_energy_pj(4) > 0


def test_multiply_energy_scales_with_widths():
    assert multiply_energy_pj(8, 8) == pytest.approx(CONSTANTS["mult_int8"].picojoules)
    assert multiply_energy_pj(32, 32) == pytest.approx(3.2)
    assert math.isclose(multiply_energy_pj(32, 32), CONSTANTS["mult_int32"].picojoules, rel_tol=0.05)


def test_weight_read_is_share_of_word():
    assert weight_read_energy_pj(64) == pytest.approx(10.0)
    assert weight_read_energy_pj(8) == pytest.approx(10.0 / 8)


def test_fixed_point_energy_tiny_network():
    widths = FixedPointWidths(weight_bits=8, input_bits=8, accumulator_bits=16, membrane_bits=12)
    steps = 3  # T = 2 input steps plus P = 1 pre-charge step
    energy = fixed_point_energy(tiny_network_counts(), widths, steps)
    rows = {row["name"]: row for row in energy["layers"]}

    add16 = 0.03 + 8 * 0.07 / 24
    add12 = 0.03 + 4 * 0.07 / 24
    assert rows["fc1"]["arithmetic_pj"] == pytest.approx(6 * (0.2 + add16))
    assert rows["fc1"]["weight_reads_pj"] == pytest.approx(6 * 10 / 8)
    assert rows["fc2"]["arithmetic_pj"] == pytest.approx(6 * add16)
    assert rows["fc2"]["weight_reads_pj"] == pytest.approx(6 * 10 / 8)
    assert rows["relu1"]["membrane_pj"] == pytest.approx((2 * steps + 3) * add12)
    assert energy["energy_pj"] == pytest.approx(sum(row["energy_pj"] for row in energy["layers"]))


def test_widths_reject_bad_values():
    with pytest.raises(ValueError, match=r"weight_bits must be an integer in \[1, 64\] bits, not 0"):
        FixedPointWidths(weight_bits=0)
    with pytest.raises(TypeError, match=r"membrane_bits must be an integer in \[1, 64\] bits, not 12.5"):
        FixedPointWidths(membrane_bits=12.5)


def test_layers_reject_bad_counts():
    layers = tiny_network_counts()
    layers[2] = {**layers[2], "synaptic_ops": -1.0}
    with pytest.raises(ValueError, match="layer 'fc2': synaptic_ops must be a number >= 0, not -1.0"):
        conventional_energy(layers)
    with pytest.raises(ValueError, match=r"layer 0 \(fc1\) lacks the keys \['macs'\]"):
        conventional_energy([{k: v for k, v in tiny_network_counts()[0].items() if k != "macs"}])
    with pytest.raises(ValueError, match="has kind 'pool'"):
        conventional_energy([{**tiny_network_counts()[0], "kind": "pool"}])
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        fixed_point_energy(tiny_network_counts(), FixedPointWidths(), -1)


def test_fixed_point_energy_per_layer_widths():
    narrow = FixedPointWidths(accumulator_bits=8)
    wide = FixedPointWidths(accumulator_bits=32)
    widths = {"fc1": narrow, "relu1": narrow, "fc2": wide}
    energy = fixed_point_energy(tiny_network_counts(), widths, 3)
    rows = {row["name"]: row for row in energy["layers"]}

    assert rows["fc2"]["arithmetic_pj"] == pytest.approx(6 * 0.1)
    assert rows["fc1"]["arithmetic_pj"] == pytest.approx(6 * (0.2 + 0.03))
    with pytest.raises(ValueError, match=r"widths has no entry for the layers \['fc2'\]"):
        fixed_point_energy(tiny_network_counts(), {"fc1": narrow, "relu1": narrow}, 3)
    with pytest.raises(TypeError, match="widths must be a FixedPointWidths or a dict of them by layer, not int"):
        fixed_point_energy(tiny_network_counts(), 8, 3)
