"""The conversion simulation's layer dynamics give the digits of the reference neurons, bit for bit."""

import pytest
import torch

import golden.conversion.dynamics as dynamics
from golden.conversion.dynamics import if_digits, tmn_digits
from golden.neuron import IF, TMN


def _currents(timesteps: int, neurons: int, seed: int) -> torch.Tensor:
    # Currents up to 1.5 v drive neurons beyond the encodable range too, so every branch fires.
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((timesteps, neurons), generator=generator) * 3.0 - 1.5) * 0.8


@pytest.mark.parametrize("precharge", [0, 1, 2, 3])
@pytest.mark.parametrize("predictive", [True, False])
@pytest.mark.parametrize("gate", [True, False])
def test_tmn_digits_equal_reference(precharge, predictive, gate):
    z = _currents(5, 3000, seed=precharge)
    reference = TMN(0.8, 5, precharge, predictive=predictive, gate=gate)(z)
    assert torch.equal(tmn_digits(z, 0.8, 5, precharge, predictive=predictive, gate=gate), reference)


def test_tmn_digits_across_blocks(monkeypatch):
    # A block size that does not divide the neuron count checks the block boundaries and the last partial block.
    monkeypatch.setattr(dynamics, "BLOCK", 7)
    z = _currents(4, 2 * 3 * 5, seed=9).reshape(4, 2, 3, 5)
    reference = TMN(0.8, 4, 1)(z)
    result = tmn_digits(z, 0.8, 4, 1)
    assert result.shape == z.shape
    assert torch.equal(result, reference)


def test_tmn_digits_negative_spikes_occur():
    # The equality checks above mean something only if the inputs make negative digits and close gates.
    z = _currents(5, 3000, seed=1)
    digits = tmn_digits(z, 0.8, 5, 1)
    assert int((digits < 0).sum()) > 0
    assert int((digits > 0).sum()) > 0


@pytest.mark.parametrize("block", [7, dynamics.BLOCK])
def test_if_digits_equal_reference(monkeypatch, block):
    monkeypatch.setattr(dynamics, "BLOCK", block)
    z = _currents(16, 500, seed=3).reshape(16, 20, 25)
    reference = IF(0.8, 16)(z)
    result = if_digits(z, 0.8, 16)
    assert torch.equal(result, reference)
    assert int(result.sum()) > 0


def test_dynamics_reject_bad_threshold():
    with pytest.raises(ValueError, match="threshold must be a finite number > 0, not -1.0"):
        tmn_digits(torch.zeros(2, 3), -1.0, 2, 1)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0, not 0"):
        if_digits(torch.zeros(2, 3), 0, 2)


def test_dynamics_reject_wrong_step_count():
    with pytest.raises(ValueError, match=r"input must have shape \[T, \.\.\.\] with T = 3, not \(2, 3\)"):
        tmn_digits(torch.zeros(2, 3), 1.0, 3, 1)


def test_tmn_digits_reject_negative_precharge():
    with pytest.raises(ValueError, match="precharge must be an integer >= 0, not -1"):
        tmn_digits(torch.zeros(2, 3), 1.0, 2, -1)


@pytest.mark.parametrize("threshold, precharge, message", [
    (float("inf"), 1, "threshold must be a finite number > 0, not inf"),
    (float("nan"), 1, "threshold must be a finite number > 0, not nan"),
    (1.0, 200, r"the reset 2\^precharge \* threshold = 2\^200 \* 1.0 exceeds the largest float32, 3.403e\+38"),
    (1.0, 2000, r"the reset 2\^precharge \* threshold = 2\^2000 \* 1.0 exceeds the largest float32"),
])
def test_tmn_digits_reject_reset_out_of_range(threshold, precharge, message):
    with pytest.raises(ValueError, match=message):
        tmn_digits(torch.zeros(2, 3), threshold, 2, precharge)


@pytest.mark.parametrize("precharge", [0, 1, 2])
@pytest.mark.parametrize("predictive", [True, False])
def test_tmn_digits_ties_at_fire_level(precharge, predictive):
    # Multiples of v / 4 put the membrane exactly on the fire levels, where >= and > differ.
    generator = torch.Generator().manual_seed(precharge)
    z = torch.randint(-6, 7, (5, 4000), generator=generator).float() * 0.25
    assert torch.equal(tmn_digits(z, 1.0, 5, precharge, predictive=predictive),
                       TMN(1.0, 5, precharge, predictive=predictive)(z))
