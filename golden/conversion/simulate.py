"""The converted network: ReLU sites replaced by spiking layers, run as an ANN, for calibration or as an SNN.

Simulation runs layer by layer with time folded into the batch: a tensor
``[T * B, ...]`` holds step t of image b at row ``t * B + b``. Every linear
operation (conv, linear, pooling, flattening, residual addition) then acts on
each step's spike trains ``v s[t]`` at once, and adds its bias at each of the
T input steps. The image drives the first layer directly: the same analog
input at every step. The analog part of the network (the layers before the
first spiking layer) therefore runs once per image, ``[B, ...]``, unless its
result meets spikes elsewhere (``step_invariant_input``). A spiking layer
reshapes its input currents to ``[T, B, ...]`` (or repeats the ``[B, ...]``
currents of the analog part at every step), runs the neurons (TMN with the
ReLU gate, or IF for rate coding) and passes on ``v`` times the output
digits. The TMN neurons run on the compiled kernel of
:mod:`golden.conversion.native`; without a C compiler,
:mod:`golden.conversion.dynamics` computes the same digits in PyTorch, and
:mod:`golden.neuron` is the readable reference of both.
The network output is the last layer's input currents read out with the
neuron's step weights, ``2^(T-k) / (2^T - 1)`` for TMN and ``1 / T`` for IF.

Each TMN layer's output starts P steps after its input, so a network with L
spiking layers on its longest path answers after ``T + L P`` steps; this
layer-by-layer simulation assumes that residual branches of different depth
are delayed to line up.

Max pooling runs on each step's spike values ``v s[t]``: the maximum of the
digits of one step is not the digit of the maximum value, so this is an
approximation whose cost ``python -m golden.convert`` measures as part of the
conversion loss; :attr:`SpikingNetwork.approximations` lists it.
"""

from __future__ import annotations

import dataclasses
import enum

import torch
import torch.nn.functional as F
from torch import fx, nn

from golden.coding import Coding
from golden.conversion import native
from golden.conversion.calibrate import MSE_SAMPLES_PER_BATCH, percentile, sample_positive
from golden.conversion.dynamics import if_digits, tmn_digits
from golden.conversion.ops import OperationCounter, OperationCounts
from golden.neuron import IF, TMN
from golden.quant import QuantisedReLU

__all__ = ["Mode", "SIMULATION_ELEMENTS", "SimulationResult", "SpikingNetwork", "SpikingSite"]

# Neurons of the largest spiking layer, summed over the folded rows (steps times images), per forward pass of a
# simulation: 64 rows of the reference CNN's 25 088-neuron layers, the fastest chunk measured on 2 CPU threads.
SIMULATION_ELEMENTS = 64 * 25_088


class Mode(enum.Enum):
    """What the sites of a converted network compute in a forward pass."""

    ANN = "ann"
    CALIBRATE = "calibrate"
    SNN = "snn"


class _Context:
    """State shared by the sites and hooks of one forward pass."""

    def __init__(self):
        self.mode = Mode.ANN
        self.timesteps = 1
        self.precharge = 0
        self.predictive = True
        self.coding = Coding.TMN
        self.batch = 0
        self.counter: OperationCounter | None = None


class SpikingSite(nn.Module):
    """One ReLU call site: a ReLU (or quantised activation) in the ANN, a layer of spiking neurons in the SNN.

    Attributes
    ----------
    name : str
        Name of the fx node the site replaces.
    source : str
        Line of model code that called the activation.
    threshold : float or None
        Full threshold ``v`` of the neurons, set by calibration (or the learned clip value).
    quantiser : QuantisedReLU or None
        The quantised activation the site replaces, if any.
    """

    def __init__(self, name: str, source: str, context: _Context, quantiser: QuantisedReLU | None = None):
        super().__init__()
        self.name = name
        self.source = source
        self.quantiser = quantiser
        self.threshold: float | None = float(quantiser.clip.detach()) if quantiser is not None else None
        self.calibration: list[float] = []
        self.calibration_max = 0.0
        self.samples: list[torch.Tensor] = []
        self.statistic = ("percentile", 99.99)
        self.neurons: int | None = None
        self._context = context

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mode = self._context.mode
        if mode is Mode.SNN:
            return self._spike(x)
        y = self.quantiser(x) if self.quantiser is not None else F.relu(x)
        self.neurons = y[0].numel()  # neurons per image, for the chunk size of simulations
        if mode is Mode.CALIBRATE and self.quantiser is None:
            kind, q = self.statistic
            largest = y.detach().max().item()
            self.calibration_max = max(self.calibration_max, largest)
            if kind == "mse":
                self.samples.append(sample_positive(y, MSE_SAMPLES_PER_BATCH, len(self.samples)))
            else:
                self.calibration.append(largest if kind == "max" else percentile(y, q))
        return y

    def neuron(self, timesteps: int) -> nn.Module:
        """Return the float neuron of this site for ``timesteps`` steps and the context's coding."""
        context = self._context
        if self.threshold is None:
            raise ValueError(f"spiking site {self.name!r} has no threshold; calibrate the network first")
        if context.coding is Coding.TMN:
            return TMN(self.threshold, timesteps, context.precharge, predictive=context.predictive)
        return IF(self.threshold, timesteps)

    def _spike(self, x: torch.Tensor) -> torch.Tensor:
        context = self._context
        steps, batch = context.timesteps, context.batch
        if self.threshold is None:
            raise ValueError(f"spiking site {self.name!r} has no threshold; calibrate the network first")
        # Rows [T * B, ...] contain one row per step and image. Rows [B, ...] come from the analog part of the
        # network, which ran once per image because its currents are the same at every step.
        step_invariant = x.shape[0] != steps * batch
        if step_invariant and x.shape[0] != batch:
            raise ValueError(f"spiking site {self.name!r} got {x.shape[0]} rows, not T * B = {steps * batch} or B = "
                             f"{batch}; operations between spiking layers must act on each row alone")
        step_shape = tuple(x.shape[1:])
        if context.coding is Coding.TMN and x.dtype == torch.float32 and x.device.type == "cpu" and native.available():
            values, counts = native.tmn_layer(
                x if step_invariant else x.reshape((steps, batch) + step_shape), self.threshold, steps,
                context.precharge, predictive=context.predictive, step_invariant=step_invariant,
            )
            if context.counter is not None:
                context.counter.add_spike_counts(self.name, values[0, 0].numel(), counts.positive, counts.negative)
            return values.reshape((steps * batch,) + step_shape)
        if step_invariant:
            currents = x.unsqueeze(0).expand((steps,) + tuple(x.shape))
        else:
            currents = x.reshape((steps, batch) + step_shape)
        if context.coding is Coding.TMN:
            digits = tmn_digits(currents, self.threshold, steps, context.precharge, predictive=context.predictive)
        else:
            digits = if_digits(currents, self.threshold, steps)
        if context.counter is not None:
            context.counter.add_spikes(self.name, digits)
        # The digits tensor is this call's own, so scaling it in place saves allocating a second one.
        return digits.mul_(self.threshold).reshape((steps * batch,) + step_shape)

    def extra_repr(self) -> str:
        return f"name={self.name!r}, threshold={self.threshold}"


@dataclasses.dataclass
class SimulationResult:
    """Outputs of one SNN run: readout per evaluated number of steps, and the operation counter."""

    outputs: dict[int, torch.Tensor]
    counter: OperationCounter


class SpikingNetwork:
    """A converted network: the traced model with its ReLU sites replaced by :class:`SpikingSite` modules.

    Build it with :func:`golden.convert.convert`. ``ann(x)`` runs the folded
    ANN (ReLU or quantised activations), ``simulate(x)`` the SNN.
    ``predictive`` (TMN only) set to False makes the neurons fire binary
    spikes at the full threshold ``2^P v``, the ablation without ternary
    predictive spiking. ``step_invariant_input`` (set by the conversion's
    graph analysis) lets the analog layers run once per image.
    """

    def __init__(
        self,
        graph_module: fx.GraphModule,
        sites: list[SpikingSite],
        context: _Context,
        *,
        timesteps: int,
        precharge: int,
        coding: Coding,
        approximations: list[str],
        layer_kinds: dict[str, tuple[str, str]],
        depth: int,
        predictive: bool = True,
        step_invariant_input: bool = False,
    ):
        self.graph_module = graph_module
        self.sites = sites
        self._context = context
        self.timesteps = timesteps
        self.precharge = precharge
        self.predictive = predictive
        self.coding = coding
        self.approximations = approximations
        self.layer_kinds = layer_kinds
        self.depth = depth
        self.step_invariant_input = step_invariant_input
        self._install_hooks()

    @property
    def thresholds(self) -> list[float]:
        """Threshold ``v`` of each spiking layer, in graph order."""
        return [site.threshold for site in self.sites]

    @property
    def latency(self) -> int:
        """Steps from the first input to the last output digit: ``T + L P`` with L spiking layers in depth."""
        return self.timesteps + self.depth * (self.precharge if self.coding is Coding.TMN else 0)

    def _install_hooks(self) -> None:
        for target, (name, kind) in self.layer_kinds.items():
            module = self.graph_module.get_submodule(target)
            module.register_forward_hook(self._count_hook(name, kind))

    def _count_hook(self, name: str, kind: str):
        def hook(module, args, output):
            context = self._context
            if context.mode is not Mode.SNN or context.counter is None:
                return
            (x,) = args
            if kind == "analog":
                context.counter.add_analog(name, module, x, output, context.batch)
            else:
                context.counter.add_synaptic(name, module, x, output)

        return hook

    def set_mode(self, mode: Mode) -> None:
        self._context.mode = mode

    def ann(self, x: torch.Tensor) -> torch.Tensor:
        """Return the folded ANN's output for a batch ``x``."""
        self._context.mode = Mode.ANN
        with torch.no_grad():
            return self.graph_module(x)

    def simulate(
        self, x: torch.Tensor, *, prefixes: list[int] | None = None, counter: OperationCounter | None = None
    ) -> SimulationResult:
        """Run the SNN on a batch ``x`` and return the readout.

        ``prefixes`` (rate coding only) lists step counts T' <= T at which the
        readout is also taken; IF neurons are causal, so the first T' steps of
        a T-step run equal a T'-step run. Counts go to ``counter`` (a new one
        if not given).
        """
        context = self._context
        steps = self.timesteps
        if prefixes and self.coding is not Coding.RATE:
            raise ValueError("prefixes apply to rate coding only: TMN digit weights depend on T")
        prefixes = sorted(set(prefixes or []) | {steps})
        if prefixes[0] < 1 or prefixes[-1] > steps:
            raise ValueError(f"prefixes must lie in [1, {steps}], not {prefixes}")
        if counter is None:
            counter = OperationCounter(self.coding.value, steps, self.precharge if self.coding is Coding.TMN else 0)
        context.mode = Mode.SNN
        context.timesteps = steps
        context.precharge = self.precharge
        context.predictive = self.predictive
        context.coding = self.coding
        context.counter = counter
        # Images are independent, so the batch runs in chunks of about SIMULATION_ELEMENTS neurons per layer. A
        # conv on a few hundred rows of 28x28 maps costs 2 to 3 times more per row than on 100 (PyTorch 2.13, 2 CPU
        # threads). Small layers run fastest in one pass.
        largest = max((site.neurons or 0 for site in self.sites), default=0)
        chunk = max(1, SIMULATION_ELEMENTS // (steps * largest)) if largest else len(x)
        parts = []
        try:
            with torch.no_grad():
                for images in x.split(chunk):
                    context.batch = len(images)
                    # NOTE: the analog layers' float32 sums may round differently on B rows than on T * B rows, so
                    # a current within an ulp of a fire level may fire otherwise than with one row per step.
                    rows = images
                    if not self.step_invariant_input:
                        shape = (steps * len(images),) + tuple(images.shape[1:])
                        rows = images.unsqueeze(0).expand((steps,) + tuple(images.shape)).reshape(shape)
                    out = self.graph_module(rows)
                    if not isinstance(out, torch.Tensor):
                        raise TypeError(f"the converted network must return one tensor, not {type(out).__name__}")
                    parts.append(out.reshape((steps, len(images)) + tuple(out.shape[1:])))
        finally:
            context.mode = Mode.ANN
            context.counter = None
        counter.images += len(x)
        currents = torch.cat(parts, dim=1).to(torch.float64)
        outputs = {}
        for prefix in prefixes:
            if self.coding is Coding.TMN:
                outputs[prefix] = TMN(1.0, prefix, self.precharge).readout(currents)
            else:
                outputs[prefix] = IF(1.0, prefix).readout(currents[:prefix])
        return SimulationResult(outputs, counter)

    def counts(self, counter: OperationCounter, timesteps: int | None = None) -> OperationCounts:
        """Return the per-image counts of ``counter``, optionally for its first ``timesteps`` steps."""
        return counter.counts(timesteps)
