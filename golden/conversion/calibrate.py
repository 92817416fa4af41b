"""Activation statistics for thresholds: a percentile that works on tensors of any size, and MSE thresholds."""

from __future__ import annotations

import math

import torch

__all__ = ["MSE_SAMPLES_PER_BATCH", "mse_threshold", "percentile", "sample_positive"]

MSE_SAMPLES_PER_BATCH = 1 << 16
"""Positive activations kept per calibration batch and layer for the MSE threshold search."""

MSE_CANDIDATES = 161
"""Candidate thresholds tried by :func:`mse_threshold`, spread evenly over (0, max]."""


def percentile(values: torch.Tensor, q: float) -> float:
    """Return the ``q``-th percentile (0..100) of all elements of ``values``, linear interpolation.

    Matches ``torch.quantile(values.flatten(), q / 100)`` but has no size
    limit, because it selects with ``torch.kthvalue`` on the flattened tensor
    instead of sorting a copy inside ``torch.quantile``.
    """
    if isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 <= q <= 100:
        raise ValueError(f"percentile must be a number in [0, 100], not {q!r}")
    flat = values.detach().reshape(-1)
    if flat.numel() == 0:
        raise ValueError("percentile of an empty tensor is undefined")
    flat = flat.to(torch.float64) if not flat.is_floating_point() else flat
    position = (flat.numel() - 1) * q / 100.0
    lower = math.floor(position)
    upper = min(lower + 1, flat.numel() - 1)
    low_value = torch.kthvalue(flat, lower + 1).values.item()
    if upper == lower or position == lower:
        return float(low_value)
    high_value = torch.kthvalue(flat, upper + 1).values.item()
    return float(low_value + (high_value - low_value) * (position - lower))


def sample_positive(values: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """Return up to ``count`` positive elements of ``values``, drawn without replacement with ``seed``."""
    positive = values.detach().reshape(-1)
    positive = positive[positive > 0]
    if positive.numel() <= count:
        return positive.clone()
    generator = torch.Generator().manual_seed(seed)
    return positive[torch.randperm(positive.numel(), generator=generator)[:count]]


def mse_threshold(samples: torch.Tensor, levels: int) -> float:
    """Return the threshold v that minimises the mean squared quantisation error of ``samples``.

    A spiking layer with ``levels`` non-zero output levels (``2^T - 1`` for TMN,
    ``T`` for rate coding) outputs ``v n / levels``: activations are rounded to
    the nearest level and clipped at ``v``. A low ``v`` gives fine levels but
    clips large activations, a high one the reverse; the search tries
    ``MSE_CANDIDATES`` values of ``v`` between 0 and the largest sample.
    """
    if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
        raise ValueError(f"levels must be an integer >= 1, not {levels!r}")
    samples = samples.to(torch.float64)
    if samples.numel() == 0:
        raise ValueError("mse_threshold needs at least one positive sample")
    largest = float(samples.max())
    best_error, best_threshold = math.inf, largest
    for i in range(1, MSE_CANDIDATES + 1):
        threshold = largest * i / MSE_CANDIDATES
        quantised = torch.clamp(torch.floor(samples * (levels / threshold) + 0.5), 0, levels) * (threshold / levels)
        error = float(((quantised - samples) ** 2).mean())
        if error < best_error:
            best_error, best_threshold = error, threshold
    return best_threshold
