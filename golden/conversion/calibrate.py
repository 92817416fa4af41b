"""Activation statistics for thresholds: a percentile that works on tensors of any size."""

from __future__ import annotations

import math

import torch

__all__ = ["percentile"]


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
