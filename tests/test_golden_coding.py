"""Tests of the CSS and rate code helpers, ``golden.coding``.

Each property is a ``check_*`` function of the module under test; the tests
run it on ``golden.coding`` and require it to fail on broken copies (see
``mutation.py``).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

import golden.coding
from mutation import Mutant, assert_check_fails

# css_encode runs the float TMN; its membrane sums in float64 round by a few
# units in the last place of the threshold, so the half-step bound gets this slack.
FLOAT64_SLACK = 1e-12


def all_trains(timesteps: int) -> np.ndarray:
    """Return every ternary train of length T, shape [T, 3^T]."""
    return np.array(list(itertools.product((-1, 0, 1), repeat=timesteps)), dtype=np.int64).T


def check_weights(coding):
    """css_weights(T) is 2^(T-k) for k = 1..T, as int64."""
    for timesteps in range(1, 63):
        weights = coding.css_weights(timesteps)
        assert weights.dtype == np.int64
        assert weights.tolist() == [2 ** (timesteps - k) for k in range(1, timesteps + 1)]


def check_weight_errors(coding):
    """css_weights rejects T < 1, T > 62 and non-integers, naming the value."""
    for timesteps in (0, -3, 2.0, True, "4"):
        with pytest.raises(ValueError, match=rf"timesteps must be an integer >= 1, not {timesteps!r}"):
            coding.css_weights(timesteps)
    with pytest.raises(ValueError, match=r"timesteps must be <= 62 so that 2\^T fits in int64, not 63"):
        coding.css_weights(63)


def check_decode_definition(coding):
    """css_decode is threshold * sum_k 2^(T-k) d[k] / (2^T - 1), for NumPy and PyTorch inputs.

    With threshold 2^T - 1 the scale factor is exactly 1, so the decoded value
    is the integer weighted sum itself.
    """
    for timesteps in range(1, 7):
        trains = all_trains(timesteps)
        weighted = np.zeros(trains.shape[1], dtype=np.int64)
        for k in range(timesteps):
            weighted = weighted + trains[k] * 2 ** (timesteps - 1 - k)
        scale = 2**timesteps - 1
        assert np.array_equal(coding.css_decode(trains, threshold=scale), weighted.astype(np.float64))
        from_torch = coding.css_decode(torch.as_tensor(trains, dtype=torch.float32), threshold=scale)
        assert np.array_equal(from_torch.numpy(), weighted.astype(np.float64))
        levels = np.unique(weighted)
        assert levels.tolist() == list(range(-scale, scale + 1))


def check_sign_of_first_nonzero_digit(coding):
    """The sign of a decoded train is the sign of its first non-zero digit (0 for an all-zero train)."""
    for timesteps in range(1, 8):
        trains = all_trains(timesteps)
        nonzero = trains != 0
        first = np.where(nonzero.any(axis=0), trains[nonzero.argmax(axis=0), np.arange(trains.shape[1])], 0)
        assert np.array_equal(np.sign(coding.css_decode(trains)), first), timesteps


def check_round_trip(coding):
    """Decoding css_encode(x) returns x within half a step for every in-range x."""
    for timesteps in range(1, 9):
        for precharge in range(4):
            for threshold in (1.0, 0.37, 8.0):
                limit = threshold if precharge >= 1 else threshold / 2
                values = torch.linspace(-limit, limit, 1001, dtype=torch.float64)
                digits = coding.css_encode(values, timesteps, threshold, precharge)
                decoded = coding.css_decode(digits, threshold)
                half_step = threshold / (2**timesteps - 1) / 2
                worst = float((decoded - values).abs().max())
                assert worst <= half_step + FLOAT64_SLACK * threshold, (timesteps, precharge, threshold, worst)


def check_rate_decode(coding):
    """rate_decode is threshold times the mean spike count, for NumPy and PyTorch inputs."""
    rng = np.random.default_rng(5)
    spikes = rng.integers(0, 2, size=(32, 100))
    for threshold in (1.0, 2.5):
        expected = threshold * spikes.sum(axis=0) / 32
        assert np.allclose(coding.rate_decode(spikes, threshold), expected, rtol=0, atol=1e-15)
        from_torch = coding.rate_decode(torch.as_tensor(spikes), threshold).numpy()
        assert np.allclose(from_torch, expected, rtol=0, atol=1e-15)


def check_spike_train_str(coding):
    """spike_train_str writes + for +1, - for -1 and 0 for 0, and rejects other digits."""
    assert coding.spike_train_str([1, 0, -1, 1, 0, 0]) == "+0-+00"
    assert coding.spike_train_str(torch.tensor([-1.0, -1.0, 1.0])) == "--+"
    assert coding.spike_train_str(np.zeros(3, dtype=np.int8)) == "000"
    for digit in (2, 0.5, -2):
        with pytest.raises(ValueError, match=rf"spike digits must be -1, 0 or \+1, not {digit!r}"):
            coding.spike_train_str([0, digit])


REVERSED_WEIGHTS = Mutant(
    "reversed-weights",
    (("np.arange(timesteps - 1, -1, -1, dtype=np.int64)", "np.arange(timesteps, dtype=np.int64)"),),
)
SCALE_2_POWER_T = Mutant("scale-2-power-t", (("scale = float(2**timesteps - 1)", "scale = float(2**timesteps)"),))
ENCODE_WITHOUT_PRECHARGE = Mutant(
    "encode-without-precharge", (("precharge=precharge, gate=gate)", "precharge=0, gate=gate)"),)
)
NO_UPPER_LIMIT = Mutant("no-upper-limit", (("if timesteps > 62:", "if timesteps > 63:"),))
SWAPPED_SYMBOLS = Mutant("swapped-symbols", (('{1: "+", 0: "0", -1: "-"}', '{1: "-", 0: "0", -1: "+"}'),))
RATE_SUM = Mutant(
    "rate-sum",
    (("return spikes.to(torch.float64).sum(0) * (threshold / timesteps)", "return spikes.to(torch.float64).sum(0)"),),
)

CHECKS_AND_MUTANTS = [
    (check_weights, REVERSED_WEIGHTS),
    (check_weight_errors, NO_UPPER_LIMIT),
    (check_decode_definition, REVERSED_WEIGHTS),
    (check_decode_definition, SCALE_2_POWER_T),
    (check_sign_of_first_nonzero_digit, REVERSED_WEIGHTS),
    (check_round_trip, SCALE_2_POWER_T),
    (check_round_trip, ENCODE_WITHOUT_PRECHARGE),
    (check_rate_decode, RATE_SUM),
    (check_spike_train_str, SWAPPED_SYMBOLS),
]
CHECKS = sorted({check for check, _ in CHECKS_AND_MUTANTS}, key=lambda check: check.__name__)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_coding(check):
    check(golden.coding)


@pytest.mark.parametrize(
    ("check", "mutant"),
    CHECKS_AND_MUTANTS,
    ids=[f"{check.__name__.removeprefix('check_')}-{mutant.name}" for check, mutant in CHECKS_AND_MUTANTS],
)
def test_check_detects_mutant(check, mutant):
    assert_check_fails(check, golden.coding, mutant)
