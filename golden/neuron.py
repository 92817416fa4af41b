"""Float spiking neurons in PyTorch: the TMN and the rate-coding IF baseline.

Both take a sequence of input currents ``z`` of shape [T, ...] (any shape
after the time axis, so whole layers run at once) and return output spike
digits of the same shape. They share one interface so that every comparison
runs TMN and rate coding through the same code:

- ``forward(z)``: output digits, ``[T, ...]``;
- ``decode(digits)``: the value the train encodes;
- ``readout(z)``: the value a non-spiking accumulator reads from the inputs
  (the classifier layer of a converted network);
- ``weights()``: the weight of each step in ``decode`` and ``readout``.

TMN dynamics for one sample of T input steps and P pre-charge steps, run for
n = 1 .. T + P with input ``z[n]`` for n <= T and 0 afterwards::

    u_hat = 2 u + z                      momentum: the doubling is a shift
    theta = 2^P v                        full threshold, scaled for pre-charge
    s     = +1 if u_hat >= ratio theta   only at firing steps n > P
            -1 if u_hat <= -ratio theta  (ternary predictive spiking, ratio 1/2)
             0 otherwise
    u     = u_hat - theta s              soft reset by the full threshold

The output digit k = 1..T is the spike of step P + k, so the output starts P
steps after the input and ends P steps after it. After the last step
``u = 2^P (Z - S)`` exactly, with ``Z = sum_t 2^(T-t) z[t]`` and
``S = v sum_k 2^(T-k) s[k]``.
"""

from __future__ import annotations

import torch
from torch import nn

from golden.coding import Coding

__all__ = ["TMN", "IF", "SpikingNeuron"]


def _check_int(name: str, value, minimum: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _check_threshold(threshold):
    if isinstance(threshold, torch.Tensor):
        if not bool((threshold > 0).all()):
            raise ValueError(f"threshold must be > 0 everywhere, not {threshold!r}")
        return threshold
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not threshold > 0:
        raise ValueError(f"threshold must be a number > 0 or a tensor of them, not {threshold!r}")
    return float(threshold)


class SpikingNeuron(nn.Module):
    """Base class: the shared interface of the float neurons."""

    coding: Coding

    def __init__(self, threshold, timesteps: int):
        super().__init__()
        self.threshold = _check_threshold(threshold)
        self.timesteps = _check_int("timesteps", timesteps, 1)

    def weights(self, device=None) -> torch.Tensor:
        raise NotImplementedError

    def _check_input(self, z: torch.Tensor) -> None:
        if z.dim() < 1 or z.shape[0] != self.timesteps:
            raise ValueError(
                f"input must have shape [T, ...] with T = timesteps = {self.timesteps}, "
                f"not {tuple(z.shape)}"
            )

    def _broadcast(self, weights: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return weights.to(like.dtype).reshape((-1,) + (1,) * (like.dim() - 1))

    def decode(self, digits: torch.Tensor) -> torch.Tensor:
        """Return the value encoded by output digits of shape [T, ...]."""
        w = self._broadcast(self.weights(digits.device), digits)
        return (digits * w).sum(0) * self.threshold

    def readout(self, z: torch.Tensor) -> torch.Tensor:
        """Return the weighted input sum that a non-spiking output layer accumulates."""
        self._check_input(z)
        w = self._broadcast(self.weights(z.device), z)
        return (z * w).sum(0)


class TMN(SpikingNeuron):
    """Ternary Momentum Neuron, float model.

    Parameters
    ----------
    threshold : float or Tensor
        Full threshold ``v`` (> 0); a tensor broadcasts against the input's
        per-step shape, one threshold per channel for example.
    timesteps : int
        Number of input steps and of output digits, ``T >= 1``.
    precharge : int
        Pre-charge steps ``P >= 0`` before the first spike.
    predictive : bool
        Ternary predictive spiking at ``+-ratio * 2^P v``. When False, binary
        spikes at the full threshold ``2^P v`` (the ablation without it).
    gate : bool
        ReLU gate: a neuron whose first non-zero spike is negative stays
        silent for the rest of the sample, so the output decodes to
        ``max(0, value)``.
    threshold_ratio : float
        Firing threshold over reset amount, 1/2 by default; only for
        experiments on the predictive threshold, and only with ``predictive``.
    """

    coding = Coding.TMN

    def __init__(
        self,
        threshold=1.0,
        timesteps: int = 4,
        precharge: int = 1,
        *,
        predictive: bool = True,
        gate: bool = True,
        threshold_ratio: float = 0.5,
    ):
        super().__init__(threshold, timesteps)
        self.precharge = _check_int("precharge", precharge, 0)
        self.predictive = bool(predictive)
        self.gate = bool(gate)
        if not isinstance(threshold_ratio, (int, float)) or not 0 < threshold_ratio <= 1:
            raise ValueError(f"threshold_ratio must be in (0, 1], not {threshold_ratio!r}")
        if not self.predictive and threshold_ratio != 0.5:
            raise ValueError("threshold_ratio applies to predictive spiking only; leave it at 0.5")
        self.threshold_ratio = float(threshold_ratio)
        self.residual = None

    def weights(self, device=None) -> torch.Tensor:
        """Return the step weights ``2^(T-k) / (2^T - 1)``, k = 1..T."""
        t = self.timesteps
        k = torch.arange(t - 1, -1, -1, device=device, dtype=torch.float64)
        return torch.pow(2.0, k) / (2.0**t - 1.0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return output digits ``[T, ...]``; the final membrane is kept in ``self.residual``."""
        self._check_input(z)
        steps = self.timesteps + self.precharge
        reset = self.threshold * (2.0**self.precharge)
        fire_level = reset * (self.threshold_ratio if self.predictive else 1.0)
        u = torch.zeros_like(z[0])
        gate_open = torch.zeros_like(z[0], dtype=torch.bool)
        gate_closed = torch.zeros_like(z[0], dtype=torch.bool)
        digits = []
        for n in range(steps):
            u = 2 * u + (z[n] if n < self.timesteps else 0)
            if n < self.precharge:
                continue
            s = (u >= fire_level).to(z.dtype)
            if self.predictive:
                s = s - (u <= -fire_level).to(z.dtype)
            u = u - reset * s
            if self.gate:
                undecided = ~(gate_open | gate_closed)
                gate_open = gate_open | (undecided & (s > 0))
                gate_closed = gate_closed | (undecided & (s < 0))
                s = s * gate_open.to(z.dtype)
            digits.append(s)
        self.residual = u
        return torch.stack(digits)


class IF(SpikingNeuron):
    """Integrate-and-fire neuron for rate coding, float model.

    The membrane starts at ``v/2``, integrates ``u = u + z`` and fires a
    binary spike when ``u >= v``, then resets softly by ``v``. Digits decode
    as ``v * mean(s)``; there is no pre-charge, so the output is aligned
    with the input.
    """

    coding = Coding.RATE

    def __init__(self, threshold=1.0, timesteps: int = 32):
        super().__init__(threshold, timesteps)
        self.precharge = 0
        self.residual = None

    def weights(self, device=None) -> torch.Tensor:
        """Return the step weights ``1 / T``."""
        return torch.full((self.timesteps,), 1.0 / self.timesteps, device=device, dtype=torch.float64)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        """Return binary output spikes ``[T, ...]``; the final membrane is kept in ``self.residual``."""
        self._check_input(z)
        u = torch.zeros_like(z[0]) + self.threshold * 0.5
        spikes = []
        for n in range(self.timesteps):
            u = u + z[n]
            s = (u >= self.threshold).to(z.dtype)
            u = u - self.threshold * s
            spikes.append(s)
        self.residual = u
        return torch.stack(spikes)
