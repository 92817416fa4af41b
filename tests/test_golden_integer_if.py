"""The integer IF reference: closed-form spike counts, the membrane width bound and parameter checks."""

from __future__ import annotations

import numpy as np
import pytest

from golden.integer import signed_range
from golden.integer_if import IFState, IntegerIFConfig, if_membrane_bound, if_step, required_if_membrane_width


def run_sample(config: IntegerIFConfig, currents) -> tuple[list[int], int, bool]:
    """Return the spikes, the final membrane and whether any step saturated."""
    state = IFState.reset(config, ())
    spikes, saturated = [], False
    for z in currents:
        result = if_step(config, state, np.int64(z))
        spikes.append(int(result.spike))
        saturated |= bool(result.overflow)
    return spikes, int(state.membrane), saturated


@pytest.mark.parametrize("threshold", [1, 7, 16])
@pytest.mark.parametrize("timesteps", [1, 5, 8])
def test_if_constant_input_closed_form(threshold, timesteps):
    width = required_if_membrane_width(timesteps, threshold, threshold)
    config = IntegerIFConfig(timesteps, threshold, threshold.bit_length() + 1, width)
    for z in range(-threshold, threshold + 1):
        spikes, membrane, saturated = run_sample(config, [z] * timesteps)
        charge = threshold // 2 + timesteps * z
        assert not saturated
        if z >= 0:
            # With 0 <= z <= V the membrane stays in [0, V), so each step fires at most once.
            assert sum(spikes) == charge // threshold
            assert membrane == charge % threshold
        else:
            assert sum(spikes) == 0
            assert membrane == charge


def test_if_width_bound_is_tight():
    timesteps, threshold = 6, 7
    width = required_if_membrane_width(timesteps, threshold, threshold)
    config = IntegerIFConfig(timesteps, threshold, 5, width)
    rng = np.random.default_rng(3)
    for _ in range(200):
        currents = rng.integers(-threshold, threshold + 1, size=timesteps)
        assert not run_sample(config, currents)[2]
    # The lowest input at every step reaches the bound, which one bit less cannot hold.
    bound = if_membrane_bound(timesteps, threshold, threshold)
    assert run_sample(config, [-threshold] * timesteps)[1] == -bound
    assert signed_range(width - 1)[0] > -bound


def test_if_saturates_instead_of_wrapping():
    config = IntegerIFConfig(4, 4, 8, required_if_membrane_width(4, 4, 4))
    low, high = signed_range(config.membrane_width)
    assert run_sample(config, [127] * 4)[1] == high
    assert run_sample(config, [-128] * 4)[1] == low


def test_if_rejects_narrow_membrane():
    needed = required_if_membrane_width(8, 16, 16)
    with pytest.raises(ValueError, match=f"use membrane_width >= {needed}"):
        IntegerIFConfig(8, 16, 6, needed - 1)


def test_if_rejects_narrow_input():
    with pytest.raises(ValueError, match="input_width = 5 cannot hold the threshold 16; use input_width >= 6"):
        IntegerIFConfig(8, 16, 5, 12)


def test_if_step_after_sample_end_raises():
    config = IntegerIFConfig(1, 4, 4, 8)
    state = IFState.reset(config, ())
    if_step(config, state, np.int64(1))
    with pytest.raises(ValueError, match="the sample has ended after 1 steps"):
        if_step(config, state, np.int64(1))
