"""Stimulus schedules for the PE benches: directed cases, then random samples, with coverage counts.

A schedule lists the inputs of every clock cycle and, from the cycle model,
the observation expected in that cycle. It is built before the simulation
starts, so that the bench does little Python work per cycle. The stimulus
steers some inputs from the model state (for example to put ``u_hat``
exactly at a predictive threshold), which is why the model runs here.
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np

from golden.integer import in_range_input_max, signed_range
from sim.pe_model import Observation, PEKind, model_for

__all__ = ["REQUIRED_COVERAGE", "Schedule", "ScheduleBuilder", "build_schedule"]

# Coverage bins that every bench schedule must reach, per PE kind.
REQUIRED_COVERAGE = {
    PEKind.TMN: (
        "u_hat at +threshold",
        "u_hat one below +threshold",
        "u_hat one above +threshold",
        "u_hat at -threshold",
        "u_hat one above -threshold",
        "u_hat one below -threshold",
        "saturated high",
        "saturated low",
        "start mid-sample",
        "start with first step",
        "start alone",
        "back-to-back samples",
        "sample P = 0",
        "sample P >= T",
        "sample T = 1",
        "invalid start",
        "input while idle",
    ),
    PEKind.IF: (
        "u_hat at threshold",
        "u_hat one below threshold",
        "u_hat one above threshold",
        "saturated high",
        "saturated low",
        "start mid-sample",
        "start with first step",
        "start alone",
        "back-to-back samples",
        "sample T = 1",
        "invalid start",
        "input while idle",
    ),
}


@dataclasses.dataclass
class Schedule:
    """Inputs of each cycle, the observation expected in it, and coverage counts."""

    start: list[int] = dataclasses.field(default_factory=list)
    valid: list[int] = dataclasses.field(default_factory=list)
    z: list[int] = dataclasses.field(default_factory=list)
    timesteps: list[int] = dataclasses.field(default_factory=list)
    precharge: list[int] = dataclasses.field(default_factory=list)
    expected: list[Observation] = dataclasses.field(default_factory=list)
    coverage: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    steps: int = 0

    def __len__(self) -> int:
        return len(self.expected)

    def missing_coverage(self, kind: PEKind, params: dict) -> list[str]:
        """Return the required coverage bins that this schedule never reached.

        ``P >= T`` is required only when the PE allows ``P >= 1``.
        """
        required = [name for name in REQUIRED_COVERAGE[kind] if name != "sample P >= T" or params.get("max_precharge")]
        return [name for name in required if self.coverage[name] == 0]


class ScheduleBuilder:
    """Append cycles to a Schedule while the cycle model computes what each one should show."""

    def __init__(self, kind: PEKind, params: dict, seed: int):
        self.kind = kind
        self.params = params
        self.model = model_for(kind, params)
        self.rng = np.random.default_rng(seed)
        self.schedule = Schedule()
        self.z_min, self.z_max = signed_range(params["input_width"])
        self.membrane_min, self.membrane_max = signed_range(params["membrane_width"])
        self.timesteps_limit = 1 << params["max_timesteps"].bit_length()
        self.precharge_limit = 1 << max(1, params.get("max_precharge", 0).bit_length())
        self._previous_last = False

    # Single cycles.

    def cycle(self, start=0, valid=0, z=None, timesteps=None, precharge=None) -> Observation:
        """Append one cycle; inputs left as None get random values that the PE must ignore."""
        rng = self.rng
        z = int(rng.integers(self.z_min, self.z_max + 1)) if z is None else z
        timesteps = int(rng.integers(0, self.timesteps_limit)) if timesteps is None else timesteps
        precharge = int(rng.integers(0, self.precharge_limit)) if precharge is None else precharge
        model = self.model
        coverage = self.schedule.coverage
        if start and model.running and model.step_index > 0:
            coverage["start mid-sample"] += 1
        if start and valid and self._previous_last:
            coverage["back-to-back samples"] += 1
        if valid and not start and not model.running:
            coverage["input while idle"] += 1
        observation = model.cycle(start, valid, z, timesteps, precharge)
        if start and observation.error:
            coverage["invalid start"] += 1
        elif start and valid:
            coverage["start with first step"] += 1
        elif start:
            coverage["start alone"] += 1
        if valid and observation.ready:
            self.schedule.steps += 1
            self._cover_step(observation)
        self._previous_last = bool(observation.last)
        for name, value in (("start", start), ("valid", valid), ("z", z), ("timesteps", timesteps), ("precharge", precharge)):
            getattr(self.schedule, name).append(int(value))
        self.schedule.expected.append(observation)
        return observation

    def _cover_step(self, observation: Observation) -> None:
        coverage = self.schedule.coverage
        if observation.overflow:
            coverage["saturated high" if observation.membrane == self.membrane_max else "saturated low"] += 1
        if not observation.valid:
            return
        if self.kind is PEKind.IF:
            offset = self.model.last_u_hat - self.params["threshold"]
            names = {0: "u_hat at threshold", -1: "u_hat one below threshold", 1: "u_hat one above threshold"}
            if offset in names:
                coverage[names[offset]] += 1
            return
        u_hat = self.model.last_u_hat
        half = -(-self.model.config.reset_amount // 2)
        # The bins may overlap (threshold 1 has u_hat = 0 next to both thresholds), so each is checked alone.
        bins = (
            (half, "u_hat at +threshold"),
            (half - 1, "u_hat one below +threshold"),
            (half + 1, "u_hat one above +threshold"),
            (-half, "u_hat at -threshold"),
            (-half + 1, "u_hat one above -threshold"),
            (-half - 1, "u_hat one below -threshold"),
        )
        for value, name in bins:
            coverage[name] += u_hat == value

    # Whole samples.

    def _input_max(self, precharge: int) -> int:
        if self.kind is PEKind.IF:
            return self.params["threshold"]
        return in_range_input_max(precharge, self.params["threshold"])

    def _targets(self, precharge: int) -> list[int]:
        """Return the values of u_hat at and next to the thresholds of a sample with ``precharge``."""
        threshold = self.params["threshold"]
        if self.kind is PEKind.IF:
            return [threshold - 1, threshold, threshold + 1]
        half = -(-(threshold << precharge) // 2)
        return [half - 1, half, half + 1, -half + 1, -half, -half - 1]

    def _aimed_input(self, timesteps: int, precharge: int, first: bool) -> int | None:
        """Return an input that steers u_hat towards a threshold target, or None when none is in range."""
        n = 1 if first else self.model.step_index + 1
        if n > timesteps:
            return None
        target = int(self.rng.choice(self._targets(precharge)))
        membrane = self.model.initial_membrane if first else self.model.membrane
        if self.kind is PEKind.IF:
            z = target - membrane
        elif n <= precharge:
            # Pre-charge steps only double the membrane: aim at target / 2^(P + 1 - n) now.
            z = round(target / 2 ** (precharge + 1 - n)) - 2 * membrane
        else:
            z = target - 2 * membrane
        return z if self.z_min <= z <= self.z_max else None

    def sample(self, timesteps, precharge=0, mode="in_range", together=True, stop_after=None, idle=0.0, constant=None):
        """Append one sample: start, then up to ``T + P`` steps with random idle cycles between them."""
        total = timesteps + (precharge if self.kind is PEKind.TMN else 0)
        steps = total if stop_after is None else stop_after
        limit = self._input_max(precharge)
        sign = 1 if self.rng.random() < 0.5 else -1
        for index in range(steps):
            first = index == 0
            if mode == "aim":
                z = self._aimed_input(timesteps, precharge, first)
            elif mode == "in_range":
                z = int(self.rng.integers(-limit, limit + 1))
            elif mode == "extreme":
                z = self.z_max if sign > 0 else self.z_min
            elif mode == "constant":
                z = constant
            else:
                z = None
            if first and not together:
                self.cycle(start=1, valid=0, timesteps=timesteps, precharge=precharge)
            while idle and self.rng.random() < idle:
                self.cycle(valid=0)
            if first and together:
                self.cycle(start=1, valid=1, z=z, timesteps=timesteps, precharge=precharge)
            else:
                self.cycle(valid=1, z=z)
        if stop_after is None:
            self.schedule.coverage["sample T = 1"] += timesteps == 1
            if self.kind is PEKind.TMN:
                self.schedule.coverage["sample P = 0"] += precharge == 0
                self.schedule.coverage["sample P >= T"] += precharge >= timesteps

    def invalid_start(self) -> None:
        """Append a start with an out-of-range T (or P), then inputs that the PE must not accept."""
        max_timesteps = self.params["max_timesteps"]
        max_precharge = self.params.get("max_precharge", 0)
        choices = [(0, 0)]
        if max_timesteps + 1 < self.timesteps_limit:
            choices.append((max_timesteps + 1, 0))
        if self.kind is PEKind.TMN and max_precharge + 1 < self.precharge_limit:
            choices.append((1, max_precharge + 1))
        timesteps, precharge = choices[int(self.rng.integers(len(choices)))]
        self.cycle(start=1, valid=1, timesteps=timesteps, precharge=precharge)
        self.cycle(valid=1)

    # Whole schedules.

    def directed(self) -> None:
        """Append the directed cases: edges of T and P, restarts, thresholds and saturation."""
        max_timesteps = self.params["max_timesteps"]
        max_precharge = self.params.get("max_precharge", 0)
        self.sample(1, 0)
        self.sample(1, max_precharge, together=False)
        self.sample(max_timesteps, 0)
        self.sample(max_timesteps, max_precharge)
        self.sample(min(max_precharge, max_timesteps) or 1, max_precharge)
        # Back-to-back samples, then new samples started in the middle of a sample.
        for _ in range(3):
            self.sample(max_timesteps, max_precharge, mode="aim")
        self.sample(max_timesteps, max_precharge, stop_after=1)
        self.sample(max_timesteps, max_precharge, stop_after=max(1, (max_timesteps + max_precharge) // 2))
        self.sample(max_timesteps, max_precharge, together=False)
        self.cycle(valid=1)
        self.invalid_start()
        for extreme in (self.z_max, self.z_min):
            self.sample(max_timesteps, max_precharge, mode="constant", constant=extreme)
            self.sample(max_timesteps, 0, mode="constant", constant=extreme)

    def random(self, steps: int, idle: float) -> None:
        """Append random samples until at least ``steps`` more steps are accepted."""
        rng = self.rng
        max_timesteps = self.params["max_timesteps"]
        max_precharge = self.params.get("max_precharge", 0)
        goal = self.schedule.steps + steps
        modes = ["in_range", "aim", "full", "extreme"]
        mode_weights = [0.45, 0.3, 0.15, 0.1]
        while self.schedule.steps < goal:
            timesteps = 1 if rng.random() < 0.1 else int(rng.integers(1, max_timesteps + 1))
            # P = 0 and P = max_precharge get 15 % each, so that both edges occur often.
            draw = rng.random()
            if draw < 0.15:
                precharge = 0
            elif draw < 0.3:
                precharge = max_precharge
            else:
                precharge = int(rng.integers(0, max_precharge + 1))
            total = timesteps + (precharge if self.kind is PEKind.TMN else 0)
            stop_after = int(rng.integers(1, total)) if total > 1 and rng.random() < 0.05 else None
            mode = modes[int(rng.choice(len(modes), p=mode_weights))]
            self.sample(timesteps, precharge, mode, rng.random() < 0.5, stop_after, idle if rng.random() < 0.7 else 0.0)
            draw = rng.random()
            if draw < 0.02:
                self.invalid_start()
            elif draw < 0.1:
                self.cycle(valid=1)


def build_schedule(kind: PEKind, params: dict, steps: int, seed: int, idle: float = 0.2) -> Schedule:
    """Return the directed cases followed by random samples with at least ``steps`` accepted steps in all."""
    builder = ScheduleBuilder(kind, params, seed)
    builder.directed()
    builder.random(max(0, steps - builder.schedule.steps), idle)
    return builder.schedule
