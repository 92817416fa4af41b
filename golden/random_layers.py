"""Stacks of random fully connected ReLU layers, run as an ANN and as a spiking network.

The coding experiments and tests measure how closely spike codes carry
activations through several layers. Both spiking neurons (``TMN`` and
``IF``) run through the same function, :func:`snn_layers`, so that the only
difference between the two results is the spike code.

Layer ``l`` of the spiking network receives, at input step ``t``, the current
``z[t] = W (v_{l-1} s_{l-1}[t]) + b``: the previous layer's digits scaled by
its threshold, through the same weights and bias as the ANN. The first layer
receives ``W x + b`` as a constant current. Summed with the neuron's step
weights, ``z`` gives ``W a_{l-1} + b``, the ANN pre-activation of the decoded
inputs, for both codes.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import torch

from golden.neuron import SpikingNeuron

__all__ = ["Layer", "ann_forward", "layer_thresholds", "random_layers", "snn_forward", "snn_layers"]


@dataclasses.dataclass(frozen=True)
class Layer:
    """One fully connected layer: ``weight`` [out, in] and ``bias`` [out], float64."""

    weight: torch.Tensor
    bias: torch.Tensor


def random_layers(depth: int, width: int, generator: torch.Generator, bias_std: float = 0.05) -> list[Layer]:
    """Draw ``depth`` square layers of ``width`` neurons with He-normal weights and small normal biases.

    He-normal weights (standard deviation ``sqrt(2 / width)``) keep the
    activation scale roughly constant from layer to layer under ReLU.
    """
    if not isinstance(depth, int) or isinstance(depth, bool) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, not {depth!r}")
    if not isinstance(width, int) or isinstance(width, bool) or width < 1:
        raise ValueError(f"width must be an integer >= 1, not {width!r}")
    layers = []
    for _ in range(depth):
        weight = torch.randn((width, width), generator=generator, dtype=torch.float64) * (2.0 / width) ** 0.5
        bias = torch.randn((width,), generator=generator, dtype=torch.float64) * bias_std
        layers.append(Layer(weight, bias))
    return layers


def ann_forward(x: torch.Tensor, layers: list[Layer]) -> list[torch.Tensor]:
    """Return the ReLU activations of every layer for inputs ``x`` of shape [batch, width]."""
    activations = []
    a = x
    for layer in layers:
        a = torch.relu(a @ layer.weight.T + layer.bias)
        activations.append(a)
    return activations


def layer_thresholds(activations: list[torch.Tensor]) -> list[float]:
    """Return one threshold per layer: the largest ANN activation, so that every activation is in range."""
    thresholds = []
    for index, a in enumerate(activations):
        peak = float(a.max())
        if not peak > 0:
            raise ValueError(f"layer {index} has no positive activation; draw other weights or inputs")
        thresholds.append(peak)
    return thresholds


def snn_layers(
    x: torch.Tensor,
    layers: list[Layer],
    thresholds: list[float],
    make_neuron: Callable[[float], SpikingNeuron],
) -> list[tuple[SpikingNeuron, torch.Tensor]]:
    """Run the layers as a spiking network and return each layer's neuron and output digits.

    ``make_neuron(threshold)`` builds the neuron of one layer; all layers use
    its number of time steps. The first layer receives ``W x + b`` as a
    constant current, for inputs ``x`` of shape [batch, width]. Each neuron
    keeps its final membrane in ``neuron.residual``.
    """
    if len(thresholds) != len(layers):
        raise ValueError(f"thresholds must have one entry per layer ({len(layers)}), not {len(thresholds)}")
    results = []
    for layer, threshold in zip(layers, thresholds):
        neuron = make_neuron(threshold)
        if not results:
            current = (x @ layer.weight.T + layer.bias).expand((neuron.timesteps,) + tuple(x.shape))
        else:
            previous_neuron, previous_digits = results[-1]
            current = (previous_digits * previous_neuron.threshold) @ layer.weight.T + layer.bias
        digits = neuron(current.contiguous())
        results.append((neuron, digits))
    return results


def snn_forward(
    x: torch.Tensor,
    layers: list[Layer],
    thresholds: list[float],
    make_neuron: Callable[[float], SpikingNeuron],
) -> list[torch.Tensor]:
    """Run the layers as a spiking network and return the decoded activations of every layer.

    The arguments are those of :func:`snn_layers`.
    """
    return [neuron.decode(digits) for neuron, digits in snn_layers(x, layers, thresholds, make_neuron)]
