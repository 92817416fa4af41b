"""Cycle model of the TMN and IF processing elements, built on the integer golden models.

The golden models (``golden.integer.step``, ``golden.integer_if.if_step``)
define the arithmetic of one step; this model adds the port protocol of the
PEs: ``start``, the input handshake, registered outputs and ``error``. One
call of ``cycle`` is one clock cycle: it takes the inputs applied before the
rising edge and returns what the PE shows, namely ``i.ready`` before the
edge and the registered outputs after it.
"""

from __future__ import annotations

import dataclasses
import enum

import numpy as np

from golden.integer import IntegerNeuronConfig, NeuronState, step
from golden.integer_if import IFState, IntegerIFConfig, if_step

__all__ = ["FIELDS", "IFModel", "Observation", "PEKind", "TMNModel", "model_for"]


class PEKind(enum.Enum):
    """Processing element under test."""

    TMN = "pe"
    IF = "if-pe"


@dataclasses.dataclass(frozen=True)
class Observation:
    """Outputs of a PE in one cycle; ``ready`` is ``i.ready`` at the rising edge."""

    ready: int
    valid: int
    spike: int
    last: int
    overflow: int
    error: int
    membrane: int


# Packing of an Observation into one integer, least significant field first:
# (name, width), with membrane_width for the width None.
FIELDS = (
    ("ready", 1),
    ("valid", 1),
    ("spike", 2),
    ("last", 1),
    ("overflow", 1),
    ("error", 1),
    ("membrane", None),
)


def _field_widths(membrane_width: int) -> list[tuple[str, int]]:
    return [(name, membrane_width if width is None else width) for name, width in FIELDS]


def pack(observation: Observation, membrane_width: int) -> int:
    """Return ``observation`` packed into one unsigned integer in the order of ``FIELDS``."""
    word, offset = 0, 0
    for name, width in _field_widths(membrane_width):
        word |= (getattr(observation, name) & ((1 << width) - 1)) << offset
        offset += width
    return word


def unpack(word: int, membrane_width: int) -> Observation:
    """Return the Observation packed in ``word``; ``spike`` and ``membrane`` are signed."""
    values, offset = {}, 0
    for name, width in _field_widths(membrane_width):
        value = (word >> offset) & ((1 << width) - 1)
        if name in ("spike", "membrane") and value >> (width - 1):
            value -= 1 << width
        values[name] = value
        offset += width
    return Observation(**values)


class TMNModel:
    """Cycle model of ``TMNProcessingElement`` with the given elaboration parameters."""

    def __init__(self, *, input_width, membrane_width, threshold, max_timesteps, max_precharge, gate=True):
        self.input_width = input_width
        self.membrane_width = membrane_width
        self.threshold = threshold
        self.max_timesteps = max_timesteps
        self.max_precharge = max_precharge
        self.gate = gate
        self.config = None
        self.state = None
        self.spike = self.overflow = self.error = self.membrane = 0
        self.initial_membrane = 0
        self.last_u_hat = 0
        self._configs = {}

    def config_valid(self, timesteps: int, precharge: int) -> bool:
        return 1 <= timesteps <= self.max_timesteps and 0 <= precharge <= self.max_precharge

    def _start(self, timesteps: int, precharge: int) -> None:
        key = (timesteps, precharge)
        if key not in self._configs:
            self._configs[key] = IntegerNeuronConfig(
                timesteps, precharge, self.threshold, self.input_width, self.membrane_width, gate=self.gate
            )
        self.config = self._configs[key]
        self.state = NeuronState.reset(())
        self.membrane = 0

    @property
    def running(self) -> bool:
        return self.config is not None and self.state.step < self.config.steps

    @property
    def step_index(self) -> int:
        """Steps of the current sample run so far (0 when no sample runs)."""
        return self.state.step if self.config is not None else 0

    def cycle(self, start: int, valid: int, z: int, timesteps: int, precharge: int = 0) -> Observation:
        """Apply one clock cycle of inputs and return the observation of that cycle."""
        if start:
            ready = self.config_valid(timesteps, precharge)
            self.error = int(not ready)
            self.spike = self.overflow = self.membrane = 0
            if ready:
                self._start(timesteps, precharge)
            else:
                self.config = None
        else:
            ready = self.running
        out_valid = last = 0
        if valid and ready:
            result = step(self.config, self.state, np.int64(z))
            self.last_u_hat = int(result.u_hat)
            self.spike = int(result.spike)
            self.overflow = int(result.overflow)
            self.membrane = int(self.state.membrane)
            out_valid = int(result.firing)
            last = int(self.state.step == self.config.steps)
        return Observation(int(ready), out_valid, self.spike, last, self.overflow, self.error, self.membrane)


class IFModel:
    """Cycle model of ``IFProcessingElement`` with the given elaboration parameters."""

    def __init__(self, *, input_width, membrane_width, threshold, max_timesteps):
        self.input_width = input_width
        self.membrane_width = membrane_width
        self.threshold = threshold
        self.max_timesteps = max_timesteps
        self.max_precharge = 0
        self.config = None
        self.state = None
        self.spike = self.overflow = self.error = 0
        self.membrane = self.initial_membrane = threshold // 2
        self.last_u_hat = 0
        self._configs = {}

    def config_valid(self, timesteps: int, precharge: int = 0) -> bool:
        return 1 <= timesteps <= self.max_timesteps

    @property
    def running(self) -> bool:
        return self.config is not None and self.state.step < self.config.timesteps

    @property
    def step_index(self) -> int:
        return self.state.step if self.config is not None else 0

    def cycle(self, start: int, valid: int, z: int, timesteps: int, precharge: int = 0) -> Observation:
        """Apply one clock cycle of inputs and return the observation of that cycle."""
        if start:
            ready = self.config_valid(timesteps)
            self.error = int(not ready)
            self.spike = self.overflow = 0
            self.membrane = self.threshold // 2
            if ready:
                if timesteps not in self._configs:
                    self._configs[timesteps] = IntegerIFConfig(
                        timesteps, self.threshold, self.input_width, self.membrane_width
                    )
                self.config = self._configs[timesteps]
                self.state = IFState.reset(self.config, ())
            else:
                self.config = None
        else:
            ready = self.running
        out_valid = last = 0
        if valid and ready:
            membrane_before = self.state.membrane
            result = if_step(self.config, self.state, np.int64(z))
            self.last_u_hat = int(membrane_before + z)
            self.spike = int(result.spike)
            self.overflow = int(result.overflow)
            self.membrane = int(self.state.membrane)
            out_valid = 1
            last = int(self.state.step == self.config.timesteps)
        return Observation(int(ready), out_valid, self.spike, last, self.overflow, self.error, self.membrane)


def model_for(kind: PEKind, params: dict):
    """Return a fresh cycle model of the PE ``kind`` with elaboration parameters ``params``."""
    if kind is PEKind.TMN:
        return TMNModel(**params)
    return IFModel(**params)
