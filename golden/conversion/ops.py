"""Operation counts of a spiking network: spikes, synaptic accumulates and analog multiply-accumulates.

The simulation records counts per time step and layer, summed over the
images of a run, so that counts of any prefix of a rate-coded run come from
the same record. :class:`OperationCounts` is the per-image view that reports
and energy tables consume; ``OperationCounts.to_dict()`` gives plain numbers.

Definitions, per image:

- ``spikes`` of a spiking layer: its non-zero output digits over the T output
  steps, ``positive_spikes`` and ``negative_spikes`` separately (rate-coded IF
  neurons emit positive spikes only);
- ``synaptic_ops`` of a conv or linear layer fed by spikes: at each step, the
  number of its non-zero input entries times each entry's fan-out (the output
  neurons it reaches), summed over the T steps. Negative spikes count like
  positive ones. A conv's fan-out is its output channels times the kernel
  positions that reach the input pixel, so border pixels reach fewer; the
  count is exact because it is computed as a convolution of the non-zero
  mask with a kernel of ones. Inputs that went through an average pool or a
  residual addition count once per non-zero entry of the conv's input;
- ``macs`` of a conv or linear layer fed by the analog image (direct input
  coding): the dense multiply-accumulates of one forward pass, counted once
  per image because the current is the same at every step.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["LayerOperations", "OperationCounter", "OperationCounts", "synaptic_ops_per_sample"]


@dataclasses.dataclass(frozen=True)
class LayerOperations:
    """Operation counts of one layer, per image.

    ``kind`` is ``"spiking"`` (a ReLU site, now TMN or IF neurons), ``"synaptic"``
    (a conv or linear layer fed by spikes) or ``"analog"`` (a conv or linear
    layer fed by the image). ``neurons`` is the number of output neurons (or
    output elements) per image.
    """

    name: str
    kind: str
    neurons: int
    spikes: float = 0.0
    positive_spikes: float = 0.0
    negative_spikes: float = 0.0
    synaptic_ops: float = 0.0
    macs: float = 0.0


@dataclasses.dataclass(frozen=True)
class OperationCounts:
    """Per-image operation counts of a simulation, per layer in graph order, with totals."""

    coding: str
    timesteps: int
    precharge: int
    images: int
    layers: tuple[LayerOperations, ...]

    @property
    def spikes(self) -> float:
        return sum(layer.spikes for layer in self.layers)

    @property
    def positive_spikes(self) -> float:
        return sum(layer.positive_spikes for layer in self.layers)

    @property
    def negative_spikes(self) -> float:
        return sum(layer.negative_spikes for layer in self.layers)

    @property
    def synaptic_ops(self) -> float:
        return sum(layer.synaptic_ops for layer in self.layers)

    @property
    def macs(self) -> float:
        return sum(layer.macs for layer in self.layers)

    def to_dict(self) -> dict:
        """Return the counts as plain numbers: totals per image plus a ``layers`` list."""
        return {
            "coding": self.coding,
            "timesteps": self.timesteps,
            "precharge": self.precharge,
            "images": self.images,
            "spikes": self.spikes,
            "positive_spikes": self.positive_spikes,
            "negative_spikes": self.negative_spikes,
            "synaptic_ops": self.synaptic_ops,
            "macs": self.macs,
            "layers": [dataclasses.asdict(layer) for layer in self.layers],
        }


def synaptic_ops_per_sample(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Return, for each sample of ``x`` (axis 0), the non-zero inputs of ``layer`` times their fan-out.

    For a conv the count is ``sum(conv(mask, ones))``; because the ones kernel
    is the same for every output channel, the mask is summed over the input
    channels of each group first and the convolution runs on one channel per
    group. The mask is float32 and its sums are exact integers while a
    sample has fewer than 2^24 inputs; the convolution runs in float64.
    """
    mask = torch.ne(x, 0, out=torch.empty(x.shape, dtype=torch.float32))
    if isinstance(layer, nn.Linear):
        return mask.reshape(len(x), -1).sum(1).to(torch.float64) * layer.out_features
    if isinstance(layer, nn.Conv2d):
        if layer.padding_mode != "zeros":
            raise ValueError(f"operation counts support zero padding only, not padding_mode={layer.padding_mode!r}")
        groups = layer.groups
        n, channels, height, width = x.shape
        # A product with a ones vector sums the channels of each group; it reads the mask once, contiguously.
        grouped = mask.reshape(n * groups, channels // groups, height * width)
        per_group = torch.matmul(torch.ones(1, channels // groups), grouped).to(torch.float64)
        per_group = per_group.reshape(n, groups, height, width)
        ones = torch.ones((groups, 1) + tuple(layer.kernel_size), dtype=torch.float64)
        reached = F.conv2d(
            per_group, ones, stride=layer.stride, padding=layer.padding, dilation=layer.dilation, groups=groups
        )
        return reached.sum((1, 2, 3)) * (layer.out_channels // groups)
    raise TypeError(f"operation counts support Conv2d and Linear, not {type(layer).__name__}")


def dense_macs_per_sample(layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Return the multiply-accumulates of one sample through conv or linear ``layer`` (input ``x``, output ``y``)."""
    if isinstance(layer, nn.Linear):
        return layer.in_features * (y[0].numel())
    if isinstance(layer, nn.Conv2d):
        kernel = layer.kernel_size[0] * layer.kernel_size[1]
        return y[0].numel() * (layer.in_channels // layer.groups) * kernel
    raise TypeError(f"operation counts support Conv2d and Linear, not {type(layer).__name__}")


class OperationCounter:
    """Running per-step sums of one simulation; :meth:`counts` turns them into per-image figures."""

    def __init__(self, coding: str, timesteps: int, precharge: int):
        self.coding = coding
        self.timesteps = timesteps
        self.precharge = precharge
        self.images = 0
        self._kinds: dict[str, str] = {}
        self._neurons: dict[str, int] = {}
        self._per_step: dict[str, dict[str, torch.Tensor]] = {}
        self._macs: dict[str, float] = {}

    def _entry(self, name: str, kind: str, neurons: int) -> dict[str, torch.Tensor]:
        if name not in self._kinds:
            self._kinds[name] = kind
            self._neurons[name] = neurons
            self._per_step[name] = {}
            self._macs[name] = 0.0
        return self._per_step[name]

    def _add(self, entry: dict, key: str, per_step: torch.Tensor) -> None:
        per_step = per_step.to(torch.float64).cpu()
        entry[key] = entry[key] + per_step if key in entry else per_step

    def add_spikes(self, name: str, digits: torch.Tensor) -> None:
        """Record output digits ``[T, B, ...]`` of spiking layer ``name``."""
        # Digits are 0 and +-1, so the sum of absolute values counts the spikes and the plain sum is positive
        # minus negative ones. Per sample and step both are exact in float32 below 2^24 neurons.
        steps, batch = digits.shape[:2]
        rows = digits.reshape(steps * batch, -1)
        spikes = torch.linalg.vector_norm(rows, ord=1, dim=1).reshape(steps, batch).sum(1, dtype=torch.float64)
        signed = rows.sum(1).reshape(steps, batch).sum(1, dtype=torch.float64)
        self.add_spike_counts(name, digits[0, 0].numel(), (spikes + signed) / 2, (spikes - signed) / 2)

    def add_spike_counts(self, name: str, neurons: int, positive: Sequence[float], negative: Sequence[float]) -> None:
        """Record the positive and negative digits of each step of spiking layer ``name`` (``neurons`` per image)."""
        entry = self._entry(name, "spiking", neurons)
        self._add(entry, "positive_spikes", torch.as_tensor(positive, dtype=torch.float64))
        self._add(entry, "negative_spikes", torch.as_tensor(negative, dtype=torch.float64))

    def add_synaptic(self, name: str, layer: nn.Module, x: torch.Tensor, y: torch.Tensor) -> None:
        """Record the spike-driven input ``x`` ``[T*B, ...]`` of conv or linear ``layer``."""
        entry = self._entry(name, "synaptic", y[0].numel())
        per_sample = synaptic_ops_per_sample(layer, x)
        self._add(entry, "synaptic_ops", per_sample.reshape(self.timesteps, -1).sum(1))

    def add_analog(self, name: str, layer: nn.Module, x: torch.Tensor, y: torch.Tensor, images: int) -> None:
        """Record one dense pass of ``layer`` per image (the analog first layer)."""
        self._entry(name, "analog", y[0].numel())
        self._macs[name] += float(dense_macs_per_sample(layer, x, y)) * images

    def counts(self, timesteps: int | None = None) -> OperationCounts:
        """Return per-image counts over the first ``timesteps`` steps (all of them by default)."""
        steps = self.timesteps if timesteps is None else timesteps
        if not 1 <= steps <= self.timesteps:
            raise ValueError(f"timesteps must be in [1, {self.timesteps}], not {steps}")
        if self.images == 0:
            raise ValueError("no images were simulated")
        layers = []
        for name, kind in self._kinds.items():
            entry = self._per_step[name]
            total = {key: float(value[:steps].sum()) / self.images for key, value in entry.items()}
            positive = total.get("positive_spikes", 0.0)
            negative = total.get("negative_spikes", 0.0)
            layers.append(
                LayerOperations(
                    name=name,
                    kind=kind,
                    neurons=self._neurons[name],
                    spikes=positive + negative,
                    positive_spikes=positive,
                    negative_spikes=negative,
                    synaptic_ops=total.get("synaptic_ops", 0.0),
                    macs=self._macs[name] / self.images,
                )
            )
        return OperationCounts(self.coding, steps, self.precharge, self.images, tuple(layers))
