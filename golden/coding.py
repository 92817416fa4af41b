"""Canonical signed spike (CSS) and rate codes: weights, decoding and printing.

A TMN spike train of T ternary digits s[1..T] (each -1, 0 or +1) with full
threshold v encodes the value

    a = v * sum_k 2^(T-k) s[k] / (2^T - 1),

so T steps resolve 2^(T+1) - 1 levels in [-v, v]. The sign of a non-zero CSS
value is the sign of its first non-zero digit, because that digit's weight
2^m exceeds the sum 2^m - 1 of all later weights. A rate-coded train of T
binary spikes encodes a = v * sum_k s[k] / T, in [0, v].
"""

from __future__ import annotations

import enum

import numpy as np
import torch

__all__ = [
    "Coding",
    "css_weights",
    "css_decode",
    "css_encode",
    "rate_decode",
    "spike_train_str",
]


class Coding(enum.Enum):
    """Spike code of a converted network: TMN neurons (CSS) or integrate-and-fire (rate)."""

    TMN = "tmn"
    RATE = "rate"


def css_weights(timesteps: int) -> np.ndarray:
    """Return the CSS digit weights 2^(T-k) for k = 1..T as an int64 array."""
    if not isinstance(timesteps, int) or isinstance(timesteps, bool) or timesteps < 1:
        raise ValueError(f"timesteps must be an integer >= 1, not {timesteps!r}")
    if timesteps > 62:
        raise ValueError(f"timesteps must be <= 62 so that 2^T fits in int64, not {timesteps}")
    return np.left_shift(np.int64(1), np.arange(timesteps - 1, -1, -1, dtype=np.int64))


def css_decode(digits, threshold=1.0):
    """Decode CSS digit trains of shape [T, ...] into values of shape [...].

    Works on NumPy arrays and PyTorch tensors. The result is
    ``threshold * sum_k 2^(T-k) digits[k] / (2^T - 1)``.
    """
    timesteps = digits.shape[0]
    weights = css_weights(timesteps)
    scale = float(2**timesteps - 1)
    if isinstance(digits, torch.Tensor):
        w = torch.as_tensor(weights, dtype=torch.float64, device=digits.device)
        w = w.reshape((timesteps,) + (1,) * (digits.dim() - 1))
        return (digits.to(torch.float64) * w).sum(0) * (threshold / scale)
    w = weights.reshape((timesteps,) + (1,) * (np.ndim(digits) - 1))
    return (np.asarray(digits, dtype=np.int64) * w).sum(0) * (threshold / scale)


def css_encode(values, timesteps: int, threshold=1.0, precharge: int = 1, gate: bool = False):
    """Encode values as CSS digit trains by driving float TMN neurons with constant currents.

    Returns a tensor of shape [T, *values.shape] with digits in {-1, 0, +1}.
    With ``precharge >= 1`` every value in [-threshold, threshold] decodes to
    within half a step, ``threshold / (2^T - 1) / 2``.
    """
    from golden.neuron import TMN

    x = torch.as_tensor(values, dtype=torch.float64)
    current = x.unsqueeze(0).expand((timesteps,) + tuple(x.shape))
    neuron = TMN(threshold=threshold, timesteps=timesteps, precharge=precharge, gate=gate)
    return neuron(current)


def rate_decode(spikes, threshold=1.0):
    """Decode rate-coded spike trains of shape [T, ...] as ``threshold * mean(spikes)``."""
    timesteps = spikes.shape[0]
    if isinstance(spikes, torch.Tensor):
        return spikes.to(torch.float64).sum(0) * (threshold / timesteps)
    return np.asarray(spikes, dtype=np.float64).sum(0) * (threshold / timesteps)


def spike_train_str(digits) -> str:
    """Render one ternary spike train as text, for example ``+0-+00``."""
    symbols = {1: "+", 0: "0", -1: "-"}
    text = []
    for digit in np.asarray(digits).reshape(-1):
        if digit not in symbols:
            raise ValueError(f"spike digits must be -1, 0 or +1, not {digit.item()!r}")
        text.append(symbols[int(digit)])
    return "".join(text)
