"""Tests of the bit-exact integer TMN neuron, ``golden.integer``.

Each property is a ``check_*`` function of the module under test. The tests
run every check on ``golden.integer`` itself and on deliberately broken
copies of it (see ``mutation.py``), where the check must fail.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import golden.integer
from golden.neuron import TMN
from mutation import Mutant, assert_check_fails

THRESHOLDS = (1, 3, 5, 16, 64)
WIDEST_MEMBRANE = 62


def weighted_sum(rows: np.ndarray) -> np.ndarray:
    """Return ``sum_k 2^(R-k) rows[k]`` over axis 0 (R rows) as exact Python integers."""
    total = np.zeros(rows.shape[1:], dtype=object)
    for row in rows:
        total = 2 * total + row.astype(object)
    return total


def padded_inputs(z: np.ndarray, precharge: int) -> np.ndarray:
    """Return ``z`` followed by P rows of zeros: the current of every step n = 1..T+P."""
    return np.concatenate([z, np.zeros((precharge,) + z.shape[1:], dtype=z.dtype)])


def make_config(integer, timesteps, precharge, threshold, input_max, *, gate=False, predictive=True):
    """Return a config whose membrane is just wide enough for ``|z| <= input_max``."""
    input_max = max(input_max, threshold)
    width = integer.required_membrane_width(timesteps, precharge, threshold, input_max, predictive)
    return integer.IntegerNeuronConfig(
        timesteps=timesteps,
        precharge=precharge,
        threshold=threshold,
        input_width=int(input_max).bit_length() + 1,
        membrane_width=width,
        gate=gate,
        predictive=predictive,
    )


def check_doubling_equals_direct_weighting(integer):
    """After every step n the membrane equals sum_t 2^(n-t) (z[t] - theta s_raw[t])."""
    rng = np.random.default_rng(1)
    for timesteps in range(1, 7):
        for precharge in range(4):
            for threshold in THRESHOLDS:
                input_max = 2 * threshold
                config = make_config(integer, timesteps, precharge, threshold, input_max)
                z = rng.integers(-input_max, input_max + 1, size=(timesteps, 32))
                trace = integer.simulate(config, z)
                assert not trace.overflow.any()
                charge = padded_inputs(z, precharge) - config.reset_amount * trace.raw_spikes.astype(np.int64)
                for n in range(1, config.steps + 1):
                    direct = weighted_sum(charge[:n])
                    assert np.array_equal(trace.membrane[n - 1], direct.astype(np.int64)), (timesteps, precharge, n)


def check_residual_identity(integer):
    """Without saturation the final membrane is 2^P (Z - V S) exactly."""
    rng = np.random.default_rng(2)
    for predictive in (True, False):
        for timesteps in range(1, 9):
            for precharge in range(5):
                for threshold in THRESHOLDS:
                    input_max = 3 * threshold
                    config = make_config(
                        integer, timesteps, precharge, threshold, input_max, predictive=predictive
                    )
                    z = rng.integers(-input_max, input_max + 1, size=(timesteps, 64))
                    trace = integer.simulate(config, z)
                    assert not trace.overflow.any()
                    total_input = weighted_sum(z)
                    total_output = weighted_sum(trace.spikes)
                    expected = (1 << precharge) * (total_input - threshold * total_output)
                    assert np.array_equal(trace.residual, expected.astype(np.int64)), (timesteps, precharge)


def check_constant_inputs_within_half_step(integer):
    """Every constant in-range current decodes within half a step, V / (2^T - 1) / 2.

    Exhaustive over all integer currents in range; in integers the bound
    reads ``2 |z (2^T - 1) - V S| <= V``.
    """
    for timesteps in range(1, 8):
        for precharge in range(4):
            for threshold in THRESHOLDS:
                input_max = integer.in_range_input_max(precharge, threshold)
                config = make_config(integer, timesteps, precharge, threshold, input_max)
                currents = np.arange(-input_max, input_max + 1)
                trace = integer.simulate(config, np.broadcast_to(currents, (timesteps,) + currents.shape))
                assert not trace.overflow.any()
                error = currents.astype(object) * (2**timesteps - 1) - threshold * weighted_sum(trace.spikes)
                worst = int(np.abs(error).max())
                assert 2 * worst <= threshold, (timesteps, precharge, threshold, worst)


def check_out_of_range_extreme_code(integer):
    """Currents beyond +-V give all +1 or all -1 and saturate instead of wrapping.

    The membrane is only as wide as in-range inputs need. The overflow flag
    rises exactly when the same sample on a wide membrane leaves the narrow range.
    """
    for timesteps in range(1, 7):
        for precharge in range(4):
            for threshold in (4, 16, 64):
                config = integer.IntegerNeuronConfig(
                    timesteps=timesteps,
                    precharge=precharge,
                    threshold=threshold,
                    input_width=16,
                    membrane_width=integer.required_membrane_width(
                        timesteps, precharge, threshold, integer.in_range_input_max(precharge, threshold)
                    ),
                    gate=False,
                )
                largest = integer.signed_range(config.input_width)[1]
                magnitudes = np.array([threshold + 1, 2 * threshold, 4 * threshold, 16 * threshold, largest])
                currents = np.concatenate([magnitudes, -magnitudes])
                z = np.broadcast_to(currents, (timesteps,) + currents.shape)
                trace = integer.simulate(config, z)
                expected_digits = np.broadcast_to(np.sign(currents), trace.spikes.shape)
                assert np.array_equal(trace.spikes, expected_digits), (timesteps, precharge, threshold)
                low, high = integer.signed_range(config.membrane_width)
                assert trace.membrane.min() >= low
                assert trace.membrane.max() <= high

                wide = integer.simulate(dataclasses.replace(config, membrane_width=WIDEST_MEMBRANE), z)
                leaves_range = ((wide.membrane < low) | (wide.membrane > high)).any(axis=0)
                assert np.array_equal(trace.any_overflow, leaves_range), (timesteps, precharge, threshold)
                assert trace.any_overflow[currents == largest].all()
                assert trace.any_overflow[currents == -largest].all()


def check_membrane_within_half_threshold(integer):
    """With P = 1 and every per-step current in [-V, V], |u| <= theta / 2 after every step.

    Induction: |u| <= V = theta / 2 gives |u_hat| <= 3 theta / 2, and a
    neuron with 2 |u_hat| >= theta fires and moves u_hat by theta towards 0.
    """
    rng = np.random.default_rng(6)
    for timesteps in range(1, 9):
        for threshold in THRESHOLDS:
            config = make_config(integer, timesteps, 1, threshold, threshold)
            z = rng.integers(-threshold, threshold + 1, size=(timesteps, 512))
            trace = integer.simulate(config, z)
            assert not trace.overflow.any()
            assert (2 * np.abs(trace.membrane) <= config.reset_amount).all(), (timesteps, threshold)


def check_gate(integer):
    """The gate passes a train whose first non-zero spike is +1 unchanged and silences the others."""
    rng = np.random.default_rng(3)
    for timesteps in range(1, 7):
        for precharge in range(3):
            threshold = 16
            open_config = make_config(integer, timesteps, precharge, threshold, 2 * threshold)
            gated_config = dataclasses.replace(open_config, gate=True)
            z = rng.integers(-2 * threshold, 2 * threshold + 1, size=(timesteps, 256))
            ungated = integer.simulate(open_config, z).spikes
            gated = integer.simulate(gated_config, z).spikes
            nonzero = ungated != 0
            first = np.where(nonzero.any(axis=0), ungated[nonzero.argmax(axis=0), np.arange(z.shape[1])], 0)
            assert np.array_equal(gated[:, first > 0], ungated[:, first > 0])
            assert not gated[:, first <= 0].any()

            input_max = integer.in_range_input_max(precharge, threshold)
            currents = np.arange(-input_max, input_max + 1)
            constant = np.broadcast_to(currents, (timesteps,) + currents.shape)
            relu = integer.simulate(gated_config, constant).spikes
            plain = integer.simulate(open_config, constant).spikes
            assert np.array_equal(relu[:, currents > 0], plain[:, currents > 0])
            assert not relu[:, currents <= 0].any()


def check_float_integer_agreement(integer):
    """The float TMN and the integer neuron give equal digits and residuals on integer inputs."""
    rng = np.random.default_rng(4)
    for timesteps in range(1, 7):
        for precharge in range(4):
            for threshold in (1, 3, 16):
                for gate in (False, True):
                    for predictive in (True, False):
                        input_max = 2 * threshold
                        config = make_config(
                            integer, timesteps, precharge, threshold, input_max, gate=gate, predictive=predictive
                        )
                        z = rng.integers(-input_max, input_max + 1, size=(timesteps, 64))
                        trace = integer.simulate(config, z)
                        neuron = TMN(float(threshold), timesteps, precharge, gate=gate, predictive=predictive)
                        digits = neuron(torch.as_tensor(z, dtype=torch.float64))
                        case = (timesteps, precharge, threshold, gate, predictive)
                        assert np.array_equal(digits.numpy(), trace.spikes.astype(np.float64)), case
                        assert np.array_equal(neuron.residual.numpy(), trace.residual.astype(np.float64)), case


def valid_config_arguments(integer) -> dict:
    return dict(
        timesteps=4,
        precharge=1,
        threshold=16,
        input_width=6,
        membrane_width=integer.required_membrane_width(4, 1, 16, 16),
    )


def invalid_parameter_cases(integer):
    """Return (overrides, message pattern) pairs that IntegerNeuronConfig must reject."""
    minimum_width = integer.required_membrane_width(4, 1, 16, 16)
    binary_width = integer.required_membrane_width(4, 1, 16, 16, predictive=False)
    return [
        (dict(timesteps=0), r"timesteps must be an integer in \[1, 62\], not 0"),
        (dict(timesteps=63), r"timesteps must be an integer in \[1, 62\], not 63"),
        (dict(timesteps=4.0), r"timesteps must be an integer in \[1, 62\], not 4\.0"),
        (dict(timesteps=True), r"timesteps must be an integer in \[1, 62\], not True"),
        (dict(precharge=-1), r"precharge must be an integer in \[0, 62\], not -1"),
        (dict(precharge="1"), r"precharge must be an integer in \[0, 62\], not '1'"),
        (dict(threshold=0), r"threshold must be an integer >= 1, not 0"),
        (dict(threshold=-16), r"threshold must be an integer >= 1, not -16"),
        (dict(threshold=16.0), r"threshold must be an integer >= 1, not 16\.0"),
        (dict(input_width=5), r"input_width = 5 cannot hold the threshold 16; use input_width >= 6"),
        (dict(input_width=1), r"input_width must be an integer in \[2, 64\], not 1"),
        (
            dict(membrane_width=minimum_width - 1),
            rf"membrane_width = {minimum_width - 1} is too small for T = 4, P = 1, threshold = 16 "
            rf"and in-range inputs; use membrane_width >= {minimum_width}",
        ),
        (
            dict(membrane_width=binary_width - 1, predictive=False),
            rf"membrane_width = {binary_width - 1} is too small .* use membrane_width >= {binary_width}",
        ),
        (
            dict(timesteps=8, membrane_width=minimum_width - 1),
            rf"membrane_width = {minimum_width - 1} is too small for T = 8",
        ),
        (
            dict(precharge=3, membrane_width=minimum_width),
            rf"membrane_width = {minimum_width} is too small for T = 4, P = 3, .* use membrane_width >= "
            rf"{integer.required_membrane_width(4, 3, 16, 16)}",
        ),
        (dict(membrane_width=63), r"membrane_width must be <= 62 so that u_hat fits in int64, not 63"),
        (dict(gate=1), r"gate must be True or False, not 1"),
        (dict(predictive="yes"), r"predictive must be True or False, not 'yes'"),
    ]


def check_parameter_errors(integer):
    """Invalid parameters and inputs raise ValueError naming the parameter, value and allowed range."""
    for overrides, pattern in invalid_parameter_cases(integer):
        arguments = valid_config_arguments(integer) | overrides
        with pytest.raises(ValueError, match=pattern):
            integer.IntegerNeuronConfig(**arguments)

    config = integer.IntegerNeuronConfig(**valid_config_arguments(integer))
    with pytest.raises(ValueError, match=r"input currents must be integers, not dtype float64"):
        integer.simulate(config, np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"input current out of the 6-bit range \[-32, 31\]: min 0, max 32"):
        integer.simulate(config, np.array([[0, 32]] * 4))
    with pytest.raises(ValueError, match=r"input must have shape \[T, \.\.\.\] with T = 4, not \(3, 2\)"):
        integer.simulate(config, np.zeros((3, 2), dtype=np.int64))
    state = integer.NeuronState.reset((2,))
    for _ in range(config.steps):
        integer.step(config, state, np.zeros(2, dtype=np.int64))
    with pytest.raises(ValueError, match=r"the sample has ended after 5 steps; call NeuronState.reset"):
        integer.step(config, state, np.zeros(2, dtype=np.int64))


FULL_THRESHOLD_FIRING = Mutant(
    "full-threshold-firing",
    (("2 * u_hat >= theta", "u_hat >= theta"), ("2 * u_hat <= -theta", "u_hat <= -theta")),
)
HALF_RESET = Mutant("half-reset", (("u_next = u_hat - theta * raw", "u_next = u_hat - (theta // 2) * raw"),))
NO_DOUBLING = Mutant("no-doubling", (("u_hat = 2 * state.membrane + current", "u_hat = state.membrane + current"),))
NO_SATURATION = Mutant("no-saturation", (("state.membrane = np.clip(u_next, low, high)", "state.membrane = u_next"),))
WRAP_AROUND = Mutant(
    "wrap-around",
    (("state.membrane = np.clip(u_next, low, high)", "state.membrane = (u_next - low) % (high - low + 1) + low"),),
)
NO_GATE = Mutant(
    "no-gate", (("spike = np.where(state.gate == GateState.PASS, raw, 0).astype(np.int8)", "spike = raw"),)
)
PRECHARGE_FIRES = Mutant("precharge-fires", (("firing = n > config.precharge", "firing = n > 0"),))
NO_WIDTH_CHECK = Mutant("no-width-check", (("if self.membrane_width < needed:", "if False:"),))

CHECKS_AND_MUTANTS = [
    (check_doubling_equals_direct_weighting, NO_DOUBLING),
    (check_doubling_equals_direct_weighting, HALF_RESET),
    (check_residual_identity, HALF_RESET),
    (check_residual_identity, NO_DOUBLING),
    (check_constant_inputs_within_half_step, FULL_THRESHOLD_FIRING),
    (check_constant_inputs_within_half_step, PRECHARGE_FIRES),
    (check_out_of_range_extreme_code, NO_SATURATION),
    (check_out_of_range_extreme_code, WRAP_AROUND),
    (check_membrane_within_half_threshold, FULL_THRESHOLD_FIRING),
    (check_gate, NO_GATE),
    (check_float_integer_agreement, FULL_THRESHOLD_FIRING),
    (check_float_integer_agreement, HALF_RESET),
    (check_parameter_errors, NO_WIDTH_CHECK),
]
CHECKS = sorted({check for check, _ in CHECKS_AND_MUTANTS}, key=lambda check: check.__name__)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_integer_neuron(check):
    check(golden.integer)


@pytest.mark.parametrize(
    ("check", "mutant"),
    CHECKS_AND_MUTANTS,
    ids=[f"{check.__name__.removeprefix('check_')}-{mutant.name}" for check, mutant in CHECKS_AND_MUTANTS],
)
def test_check_detects_mutant(check, mutant):
    assert_check_fails(check, golden.integer, mutant)

