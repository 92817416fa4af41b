"""Bit-exact integer integrate-and-fire (IF) neuron: the specification of the rate-coding PE.

Every quantity is a signed two's-complement integer. One sample runs for
n = 1 .. T steps, each with an input current and an output spike::

    u       = threshold // 2 at the start of a sample
    u_hat   = u + z_n
    s       = 1 if u_hat >= threshold else 0      binary spike
    u_next  = u_hat - threshold * s                soft reset by the threshold
    u       = clamp(u_next, -2^(W-1), 2^(W-1) - 1)   W = membrane_width
    overflow_n = (u != u_next)                     saturation, never wrap-around

The spike train decodes as ``threshold * mean(s)``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from golden.integer import _check_input, _check_int, _signed_bits, signed_range

__all__ = ["IFState", "IntegerIFConfig", "if_membrane_bound", "required_if_membrane_width", "if_step"]


def if_membrane_bound(timesteps: int, threshold: int, input_max: int) -> int:
    """Return an upper bound on ``|u|`` over a sample when ``|z| <= input_max`` and nothing saturates.

    The bound follows the lowest and highest membrane step by step: a step adds
    at most ``input_max`` in either direction, and a membrane at or above the
    threshold loses it. The lowest membrane never reaches the threshold, so it
    only falls.
    """
    low = high = threshold // 2
    for _ in range(timesteps):
        low, high = low - input_max, high + input_max
        if high >= threshold:
            high = max(threshold - 1, high - threshold)
    return max(-low, high)


def required_if_membrane_width(timesteps: int, threshold: int, input_max: int) -> int:
    """Return the membrane width at which no input with ``|z| <= input_max`` can saturate."""
    return _signed_bits(if_membrane_bound(timesteps, threshold, input_max))


@dataclasses.dataclass(frozen=True)
class IntegerIFConfig:
    """Parameters of the integer IF neuron, checked on construction.

    Attributes
    ----------
    timesteps : int
        Steps and output spikes per sample, ``T >= 1``.
    threshold : int
        Threshold ``V >= 1``.
    input_width : int
        Signed width of the input current ``z``; it must hold ``V``.
    membrane_width : int
        Signed width of the membrane register, at least
        ``required_if_membrane_width(T, V, V)`` so that inputs ``|z| <= V``
        never saturate.
    """

    timesteps: int
    threshold: int
    input_width: int
    membrane_width: int

    def __post_init__(self):
        _check_int("timesteps", self.timesteps, 1, 62)
        _check_int("threshold", self.threshold, 1)
        _check_int("input_width", self.input_width, 2, 64)
        _check_int("membrane_width", self.membrane_width, 2, 62)
        if signed_range(self.input_width)[1] < self.threshold:
            raise ValueError(
                f"input_width = {self.input_width} cannot hold the threshold {self.threshold}; "
                f"use input_width >= {_signed_bits(self.threshold)}"
            )
        needed = required_if_membrane_width(self.timesteps, self.threshold, self.threshold)
        if self.membrane_width < needed:
            raise ValueError(
                f"membrane_width = {self.membrane_width} is too small for T = {self.timesteps}, "
                f"threshold = {self.threshold} and inputs |z| <= threshold; use membrane_width >= {needed}"
            )


@dataclasses.dataclass
class IFState:
    """State of a group of IF neurons between steps: membrane and step count."""

    membrane: np.ndarray
    step: int = 0

    @classmethod
    def reset(cls, config: IntegerIFConfig, shape) -> "IFState":
        """Return the state at the start of a sample: membrane at half the threshold (rounded down)."""
        return cls(membrane=np.full(shape, config.threshold // 2, dtype=np.int64))


@dataclasses.dataclass(frozen=True)
class IFStepResult:
    """Outputs of one IF step: binary spike and overflow."""

    spike: np.ndarray
    overflow: np.ndarray


def if_step(config: IntegerIFConfig, state: IFState, z) -> IFStepResult:
    """Advance ``state`` by one step with input ``z`` and return that step's outputs."""
    if state.step >= config.timesteps:
        raise ValueError(f"the sample has ended after {config.timesteps} steps; call IFState.reset")
    z = _check_input(config, z)
    u_hat = state.membrane + z
    spike = (u_hat >= config.threshold).astype(np.int8)
    u_next = u_hat - config.threshold * spike.astype(np.int64)
    low, high = signed_range(config.membrane_width)
    state.membrane = np.clip(u_next, low, high)
    state.step += 1
    return IFStepResult(spike=spike, overflow=state.membrane != u_next)
