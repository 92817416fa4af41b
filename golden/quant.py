"""Quantised-ANN path: a trainable clipped activation with ``2^T - 1`` levels.

A TMN layer with threshold ``v``, T digits and the ReLU gate outputs the
values ``v n / (2^T - 1)`` for ``n = 0 .. 2^T - 1``, and encodes a constant
current to the nearest of them. An ANN trained with exactly this activation
(clip at a learned ``v``, round to ``2^T - 1`` steps) therefore converts with
almost no loss at very few steps. Conversion takes the learned clip values as
thresholds.

The activation follows the quantisation-clip-floor-shift idea::

    y = v * clamp(floor(x L / v + 1/2) / L, 0, 1),   L = 2^T - 1 levels,

trained with a straight-through gradient for the rounding, so both the
weights and ``v`` learn.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["QuantisedReLU", "levels_for_timesteps", "quantised_activation_factory"]


def levels_for_timesteps(timesteps: int) -> int:
    """Return ``2^T - 1``, the number of non-zero levels a gated TMN layer of T digits outputs."""
    if isinstance(timesteps, bool) or not isinstance(timesteps, int) or not 1 <= timesteps <= 30:
        raise ValueError(f"timesteps must be an integer in [1, 30], not {timesteps!r}")
    return (1 << timesteps) - 1


class QuantisedReLU(nn.Module):
    """Clipped, rounded ReLU with a trainable clip value ``clip`` (the converted threshold).

    Parameters
    ----------
    levels : int
        Number of non-zero output levels ``L``; ``2^T - 1`` for a TMN of T digits.
    clip : float
        Initial clip value (> 0); replace it with a calibrated one before fine-tuning.
    """

    def __init__(self, levels: int, clip: float = 1.0):
        super().__init__()
        if isinstance(levels, bool) or not isinstance(levels, int) or levels < 1:
            raise ValueError(f"levels must be an integer >= 1, not {levels!r}")
        if not clip > 0:
            raise ValueError(f"clip must be > 0, not {clip!r}")
        self.levels = levels
        self.clip = nn.Parameter(torch.tensor(float(clip)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scaled = torch.clamp(x / self.clip, 0.0, 1.0)
        rounded = torch.floor(scaled * self.levels + 0.5) / self.levels
        # Straight-through estimator: the forward pass rounds, the gradient passes as if it did not.
        return (scaled + (rounded - scaled).detach()) * self.clip

    def extra_repr(self) -> str:
        return f"levels={self.levels}, clip={self.clip.item():.4g}"


def quantised_activation_factory(timesteps: int):
    """Return a zero-argument factory of ``QuantisedReLU`` for T-digit TMN layers, for ``build_model``."""
    levels = levels_for_timesteps(timesteps)
    return lambda: QuantisedReLU(levels)
