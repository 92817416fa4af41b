"""Bit-exact integer TMN neuron: the specification the RTL implements.

Every quantity is a signed two's-complement integer. One sample runs for
n = 1 .. T + P steps (T input steps, P pre-charge steps). For each neuron::

    z_n     = z[n] if n <= T else 0          input current, input_width bits
    u_hat   = 2 u + z_n                      exact, no rounding (the 2 u is wiring)
    theta   = threshold * 2^P                full threshold of this sample
    firing  = n > P
    s_raw   = +1 if firing and 2 u_hat >=  theta
              -1 if firing and 2 u_hat <= -theta
               0 otherwise
    u_next  = u_hat - theta * s_raw          soft reset by the full threshold
    u       = clamp(u_next, -2^(W-1), 2^(W-1) - 1)   W = membrane_width
    overflow_n = (u != u_next)               saturation, never wrap-around

``2 u_hat >= theta`` is the exact form of ``u_hat >= theta / 2`` for any
integer threshold, odd ones included. The ReLU gate has three states,
UNDECIDED at the start of a sample, then PASS or BLOCK at the first firing
step whose raw spike is non-zero (PASS for +1, BLOCK for -1). The output
digit of a firing step is ``s_raw`` if the gate is off or in PASS after that
step's update, else 0. Output digit k = 1..T is the one of step n = P + k.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

__all__ = [
    "GateState",
    "IntegerNeuronConfig",
    "IntegerTrace",
    "in_range_input_max",
    "NeuronState",
    "membrane_bound",
    "required_membrane_width",
    "signed_range",
    "simulate",
    "step",
]


class GateState(enum.IntEnum):
    """State of the ReLU gate of one neuron; the values are the RTL encoding."""

    UNDECIDED = 0
    PASS = 1
    BLOCK = 2


def signed_range(width: int) -> tuple[int, int]:
    """Return the (minimum, maximum) of a signed two's-complement integer of ``width`` bits."""
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _signed_bits(magnitude: int) -> int:
    """Return the smallest signed width that holds every integer in [-magnitude, magnitude]."""
    return int(magnitude).bit_length() + 1


def membrane_bound(
    timesteps: int, precharge: int, threshold: int, input_max: int, predictive: bool = True
) -> int:
    """Return an upper bound on ``|u|`` over a sample when ``|z| <= input_max`` and nothing saturates.

    The bound follows the worst case step by step: a pre-charge step gives
    ``|u| <= 2 B + input_max``, a firing step ``|u| <= max(2 B + input_max - theta, theta / 2)``
    because a neuron that does not fire has ``|u_hat| < theta / 2``. Without
    predictive spiking (binary spikes at ``theta``) a negative membrane never
    fires, so every step gives ``|u| <= 2 B + input_max``.
    """
    theta = threshold << precharge
    bound = 0
    for n in range(1, timesteps + precharge + 1):
        current = input_max if n <= timesteps else 0
        widest = 2 * bound + current
        if n > precharge and predictive:
            widest = max(widest - theta, theta // 2)
        bound = widest
    return bound


def required_membrane_width(
    timesteps: int, precharge: int, threshold: int, input_max: int, predictive: bool = True
) -> int:
    """Return the membrane width at which no input with ``|z| <= input_max`` can saturate.

    The width also holds the full threshold ``threshold * 2^P``, which the
    reset subtracts. ``predictive`` selects the spiking rule as in
    :class:`IntegerNeuronConfig`.
    """
    bound = membrane_bound(timesteps, precharge, threshold, input_max, predictive)
    return _signed_bits(max(bound, threshold << precharge))


def in_range_input_max(precharge: int, threshold: int) -> int:
    """Return the largest input magnitude that the neuron encodes without error growth.

    With ``P >= 1`` every ``|z| <= threshold`` decodes within half a step. With
    ``P = 0`` the predictive threshold is reached on the first step, so only
    ``|z| <= threshold / 2`` is in range.
    """
    return threshold if precharge >= 1 else threshold // 2


def _check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be an integer {allowed}, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {allowed}, not {value!r}")
    return int(value)


@dataclasses.dataclass(frozen=True)
class IntegerNeuronConfig:
    """Parameters of the integer TMN neuron, checked on construction.

    Attributes
    ----------
    timesteps : int
        Input steps and output digits per sample, ``T >= 1``.
    precharge : int
        Pre-charge steps, ``P >= 0``.
    threshold : int
        Full threshold ``V >= 1``; a power of two makes the comparators and
        the reset constants single bits and is recommended.
    input_width : int
        Signed width of the input current ``z``; it must hold ``V``.
    membrane_width : int
        Signed width of the membrane register ``u``. It must be at least
        ``required_membrane_width(T, P, V, in_range_input_max(P, V))``, so that
        in-range inputs never saturate.
    gate : bool
        ReLU gate on (the output decodes to ``max(0, value)``) or off.
    predictive : bool
        Ternary spikes at ``+-theta/2`` (True) or binary spikes at ``theta``.
    """

    timesteps: int
    precharge: int
    threshold: int
    input_width: int
    membrane_width: int
    gate: bool = True
    predictive: bool = True

    def __post_init__(self):
        _check_int("timesteps", self.timesteps, 1, 62)
        _check_int("precharge", self.precharge, 0, 62)
        _check_int("threshold", self.threshold, 1)
        _check_int("input_width", self.input_width, 2, 64)
        _check_int("membrane_width", self.membrane_width, 2, 64)
        if not isinstance(self.gate, bool):
            raise ValueError(f"gate must be True or False, not {self.gate!r}")
        if not isinstance(self.predictive, bool):
            raise ValueError(f"predictive must be True or False, not {self.predictive!r}")
        if signed_range(self.input_width)[1] < self.threshold:
            raise ValueError(
                f"input_width = {self.input_width} cannot hold the threshold {self.threshold}; "
                f"use input_width >= {_signed_bits(self.threshold)}"
            )
        needed = required_membrane_width(
            self.timesteps,
            self.precharge,
            self.threshold,
            in_range_input_max(self.precharge, self.threshold),
            self.predictive,
        )
        if self.membrane_width < needed:
            raise ValueError(
                f"membrane_width = {self.membrane_width} is too small for T = {self.timesteps}, "
                f"P = {self.precharge}, threshold = {self.threshold} and in-range inputs; "
                f"use membrane_width >= {needed}"
            )
        if self.membrane_width + 2 > 64:
            raise ValueError(f"membrane_width must be <= 62 so that u_hat fits in int64, not {self.membrane_width}")

    @property
    def reset_amount(self) -> int:
        """Full threshold of the firing steps, ``threshold * 2^P``."""
        return self.threshold << self.precharge

    @property
    def steps(self) -> int:
        """Steps per sample, ``T + P``."""
        return self.timesteps + self.precharge


@dataclasses.dataclass
class NeuronState:
    """State of a group of neurons between steps: membrane, step count and gate."""

    membrane: np.ndarray
    gate: np.ndarray
    step: int = 0

    @classmethod
    def reset(cls, shape) -> "NeuronState":
        """Return the state at the start of a sample: zero membrane, gate undecided."""
        return cls(
            membrane=np.zeros(shape, dtype=np.int64),
            gate=np.full(shape, GateState.UNDECIDED, dtype=np.int8),
        )


@dataclasses.dataclass(frozen=True)
class StepResult:
    """Outputs of one step: pre-reset membrane, raw and output spikes, overflow."""

    u_hat: np.ndarray
    raw_spike: np.ndarray
    spike: np.ndarray
    overflow: np.ndarray
    firing: bool


def _check_input(config: IntegerNeuronConfig, z: np.ndarray) -> np.ndarray:
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.integer):
        raise ValueError(f"input currents must be integers, not dtype {z.dtype}")
    low, high = signed_range(config.input_width)
    if z.size and (z.min() < low or z.max() > high):
        raise ValueError(
            f"input current out of the {config.input_width}-bit range [{low}, {high}]: "
            f"min {z.min()}, max {z.max()}; widen input_width or saturate the input"
        )
    return z.astype(np.int64)


def step(config: IntegerNeuronConfig, state: NeuronState, z) -> StepResult:
    """Advance ``state`` by one step with input ``z`` and return that step's outputs.

    ``z`` is ignored (taken as 0) after the T input steps. The state is
    updated in place; one call is one clock-enable of the hardware PE.
    """
    if state.step >= config.steps:
        raise ValueError(f"the sample has ended after {config.steps} steps; call NeuronState.reset")
    n = state.step + 1
    z = _check_input(config, z)
    current = z if n <= config.timesteps else np.zeros_like(state.membrane)
    u_hat = 2 * state.membrane + current
    firing = n > config.precharge
    theta = config.reset_amount
    if firing and config.predictive:
        raw = (2 * u_hat >= theta).astype(np.int8) - (2 * u_hat <= -theta).astype(np.int8)
    elif firing:
        raw = (u_hat >= theta).astype(np.int8)
    else:
        raw = np.zeros(u_hat.shape, dtype=np.int8)
    u_next = u_hat - theta * raw.astype(np.int64)
    low, high = signed_range(config.membrane_width)
    state.membrane = np.clip(u_next, low, high)
    overflow = state.membrane != u_next
    if config.gate and firing:
        undecided = state.gate == GateState.UNDECIDED
        state.gate = np.where(undecided & (raw > 0), GateState.PASS, state.gate).astype(np.int8)
        state.gate = np.where(undecided & (raw < 0), GateState.BLOCK, state.gate).astype(np.int8)
        spike = np.where(state.gate == GateState.PASS, raw, 0).astype(np.int8)
    else:
        spike = raw
    state.step = n
    return StepResult(u_hat=u_hat, raw_spike=raw, spike=spike, overflow=overflow, firing=firing)


@dataclasses.dataclass(frozen=True)
class IntegerTrace:
    """Result of one sample, for every step ``n = 1..T+P`` (axis 0) and every neuron.

    ``spikes`` holds only the T output digits (steps P+1..P+T); the other
    arrays have ``T + P`` rows, row ``n - 1`` for step n.
    """

    spikes: np.ndarray
    step_spikes: np.ndarray
    raw_spikes: np.ndarray
    u_hat: np.ndarray
    membrane: np.ndarray
    overflow: np.ndarray
    gate: np.ndarray

    @property
    def residual(self) -> np.ndarray:
        """Membrane after the last step."""
        return self.membrane[-1]

    @property
    def any_overflow(self) -> np.ndarray:
        """Whether a neuron saturated at any step of the sample."""
        return self.overflow.any(axis=0)


def simulate(config: IntegerNeuronConfig, z) -> IntegerTrace:
    """Run one sample: ``z`` has shape [T, ...] (one current per input step and neuron)."""
    z = _check_input(config, z)
    if z.ndim < 1 or z.shape[0] != config.timesteps:
        raise ValueError(f"input must have shape [T, ...] with T = {config.timesteps}, not {z.shape}")
    state = NeuronState.reset(z.shape[1:])
    rows = {"step_spikes": [], "raw_spikes": [], "u_hat": [], "membrane": [], "overflow": [], "gate": []}
    for n in range(config.steps):
        result = step(config, state, z[n] if n < config.timesteps else 0)
        rows["step_spikes"].append(result.spike)
        rows["raw_spikes"].append(result.raw_spike)
        rows["u_hat"].append(result.u_hat)
        rows["membrane"].append(state.membrane.copy())
        rows["overflow"].append(result.overflow)
        rows["gate"].append(state.gate.copy())
    arrays = {key: np.stack(value) for key, value in rows.items()}
    return IntegerTrace(spikes=arrays["step_spikes"][config.precharge :], **arrays)
