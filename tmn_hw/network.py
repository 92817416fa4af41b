"""Network top: a chain of layer arrays for a fully connected network, read out by argmax.

The top runs an integer network of ``L`` spiking layers and a classifier::

    currents of layer 1 --> NeuronArray 1 --> SpikeSerializer --> SpikingLayer 2 --> ...
        --> SpikingLayer L --> SpikeSerializer --> ClassifierReadout --> predicted class

The host computes the first layer's integer currents from the image (direct
input coding: the same ``W_1 x + b_1`` at each of the T input steps) and
streams them in, one current vector per input step. Every later layer takes
the previous layer's spikes as events, so its cycles follow the non-zero
spikes. The layers work as a pipeline: while layer 2 accumulates the
spikes of step ``t``, layer 1 may already compute step ``t + 1``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from amaranth import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.integer import IntegerNeuronConfig
from tmn_hw.layer import (
    NeuronArray,
    SpikeSerializer,
    SpikingLayer,
    current_vector_layout,
    spiking_output_layout,
)
from tmn_hw.params import check_bool, check_int
from tmn_hw.readout import ClassifierReadout, prediction_layout

__all__ = [
    "ClassifierSpec",
    "FirstLayerSpec",
    "NetworkSpec",
    "NetworkTop",
    "SpikingLayerSpec",
    "monitor_signature",
    "network_spec",
    "write_description",
]


@dataclasses.dataclass(frozen=True)
class FirstLayerSpec:
    """First spiking layer, fed with integer currents from the host: ``neurons`` PEs."""

    neurons: int
    threshold: int
    input_width: int
    membrane_width: int


@dataclasses.dataclass(frozen=True)
class SpikingLayerSpec:
    """Later spiking layer: integer ``weight`` [N, M], ``bias`` [N], threshold and membrane width.

    The widths of the stored weights, biases and currents default (None) to
    the smallest that hold the values; see :class:`tmn_hw.layer.SynapticAccumulator`.
    """

    weight: np.ndarray
    bias: np.ndarray
    threshold: int
    membrane_width: int
    weight_width: int | None = None
    bias_width: int | None = None
    current_width: int | None = None


@dataclasses.dataclass(frozen=True)
class ClassifierSpec:
    """Classifier layer: integer ``weight`` [C, M] and ``bias`` [C], widths as in :class:`SpikingLayerSpec`."""

    weight: np.ndarray
    bias: np.ndarray
    weight_width: int | None = None
    bias_width: int | None = None
    current_width: int | None = None


@dataclasses.dataclass(frozen=True)
class NetworkSpec:
    """Everything the network top is built from: the layers, T, P and the gate."""

    first: FirstLayerSpec
    hidden: tuple[SpikingLayerSpec, ...]
    classifier: ClassifierSpec
    timesteps: int
    precharge: int
    gate: bool = True


def _widths(layer) -> dict:
    return {"weight_width": layer.weight_width, "bias_width": layer.bias_width, "current_width": layer.input_width}


def _check_dense(layer, index: int) -> None:
    if layer.kind != "dense":
        raise ValueError(
            f"layer {index} ({layer.name!r}) is a {layer.kind} layer; the network top runs fully connected "
            f"(dense) layers only"
        )
    for op in layer.pre_ops:
        if op.get("op") != "flatten":
            raise ValueError(
                f"layer {index} ({layer.name!r}) has pre-operation {op.get('op')!r}; the network top "
                f"supports only 'flatten' before a dense layer"
            )


def network_spec(network) -> NetworkSpec:
    """Return the :class:`NetworkSpec` of an exported integer network (``golden.network_format.IntegerNetwork``).

    The first layer's map ``W_1 p + b_1`` stays on the host
    (``golden.integer_network.input_currents``). Its neurons, every later
    layer and the classifier become hardware, with the widths the file states.

    Raises
    ------
    ValueError
        If a layer is not a dense layer, or has a pre-operation other than flatten.
    """
    layers = network.layers
    for index, layer in enumerate(layers):
        _check_dense(layer, index)
    first_layer = layers[0]
    first = FirstLayerSpec(
        neurons=int(first_layer.weight.shape[0]),
        threshold=int(first_layer.threshold),
        input_width=int(first_layer.input_width),
        membrane_width=int(first_layer.membrane_width),
    )
    hidden = tuple(
        SpikingLayerSpec(
            weight=layer.weight,
            bias=layer.bias,
            threshold=int(layer.threshold),
            membrane_width=int(layer.membrane_width),
            **_widths(layer),
        )
        for layer in layers[1:-1]
    )
    classifier = ClassifierSpec(weight=layers[-1].weight, bias=layers[-1].bias, **_widths(layers[-1]))
    return NetworkSpec(
        first=first,
        hidden=hidden,
        classifier=classifier,
        timesteps=int(network.timesteps),
        precharge=int(network.precharge),
    )


def monitor_signature(neurons: int) -> wiring.Signature:
    """Signature of an observation port: ``valid`` (a transfer happens) and ``payload``, without ``ready``."""
    return wiring.Signature({"valid": Out(1), "payload": Out(spiking_output_layout(neurons))})


class NetworkTop(wiring.Component):
    """Fully connected integer TMN network with the doubling-accumulator classifier readout.

    Parameters
    ----------
    first : FirstLayerSpec
        The layer whose currents the host computes.
    hidden : sequence of SpikingLayerSpec
        The later spiking layers, in order; may be empty.
    classifier : ClassifierSpec
        The non-spiking output layer.
    timesteps : int
        Input steps and output digits per sample ``T``.
    precharge : int
        Pre-charge steps ``P`` of every spiking layer.
    gate : bool
        ReLU gate of every spiking neuron.

    Members
    -------
    i : ``In(stream.Signature(current_vector_layout(N_1, first.input_width)))``
        Currents of the first layer, one vector per input step, ``T`` per image.
    o : ``Out(stream.Signature(prediction_layout(C, score_width)))``
        One result per image: the predicted class and the classifier scores.
    spikes<l> : ``Out(monitor_signature(N_l))``
        Observation port of spiking layer ``l`` (from 0): ``valid`` is high in
        each cycle in which that layer's output vector moves to the next
        layer, with the vector as payload. It exists for verification and has
        no effect on the flow.

    Raises
    ------
    TypeError, ValueError
        If a layer's shape does not match its predecessor, or from the checks
        of the layer arrays, naming the parameter.
    """

    def __init__(
        self,
        *,
        first: FirstLayerSpec,
        hidden: Sequence[SpikingLayerSpec],
        classifier: ClassifierSpec,
        timesteps: int,
        precharge: int,
        gate: bool = True,
    ):
        self._timesteps = check_int("timesteps", timesteps, 1)
        self._precharge = check_int("precharge", precharge, 0)
        self._gate = check_bool("gate", gate)
        self._first = NeuronArray(
            neurons=first.neurons,
            timesteps=timesteps,
            precharge=precharge,
            threshold=first.threshold,
            input_width=first.input_width,
            membrane_width=first.membrane_width,
            gate=gate,
        )
        self._hidden = []
        width = first.neurons
        for index, spec in enumerate(hidden, start=1):
            layer = SpikingLayer(
                spec.weight,
                spec.bias,
                timesteps=timesteps,
                precharge=precharge,
                threshold=spec.threshold,
                membrane_width=spec.membrane_width,
                gate=gate,
                weight_width=spec.weight_width,
                bias_width=spec.bias_width,
                current_width=spec.current_width,
            )
            if layer.inputs != width:
                raise ValueError(
                    f"spiking layer {index} has {layer.inputs} inputs but layer {index - 1} has {width} neurons; "
                    f"its weight must have shape [N, {width}]"
                )
            self._hidden.append(layer)
            width = layer.neurons
        self._readout = ClassifierReadout(
            classifier.weight,
            classifier.bias,
            timesteps=timesteps,
            weight_width=classifier.weight_width,
            bias_width=classifier.bias_width,
            current_width=classifier.current_width,
        )
        if self._readout.inputs != width:
            raise ValueError(
                f"the classifier has {self._readout.inputs} inputs but the last spiking layer has {width} "
                f"neurons; its weight must have shape [C, {width}]"
            )

        members = {
            "i": In(stream.Signature(current_vector_layout(first.neurons, first.input_width))),
            "o": Out(stream.Signature(prediction_layout(self._readout.classes, self._readout.score_width))),
        }
        for index, neurons in enumerate(self.layer_sizes[:-1]):
            members[f"spikes{index}"] = Out(monitor_signature(neurons))
        super().__init__(members)

    @classmethod
    def from_spec(cls, spec: NetworkSpec) -> "NetworkTop":
        """Build the top described by ``spec``."""
        return cls(
            first=spec.first,
            hidden=spec.hidden,
            classifier=spec.classifier,
            timesteps=spec.timesteps,
            precharge=spec.precharge,
            gate=spec.gate,
        )

    @classmethod
    def from_network(cls, network) -> "NetworkTop":
        """Build the top of an exported integer network (see :func:`network_spec`)."""
        return cls.from_spec(network_spec(network))

    @property
    def timesteps(self) -> int:
        return self._timesteps

    @property
    def precharge(self) -> int:
        return self._precharge

    @property
    def layer_sizes(self) -> list[int]:
        """Neurons of each spiking layer, then the number of classes."""
        return [self._first.neurons, *(layer.neurons for layer in self._hidden), self._readout.classes]

    @property
    def spiking_configs(self) -> list[IntegerNeuronConfig]:
        """Integer neuron configuration of each spiking layer, as the golden model runs it."""
        return [self._first.config, *(layer.config for layer in self._hidden)]

    @property
    def readout(self) -> ClassifierReadout:
        return self._readout

    def elaborate(self, platform):
        m = Module()
        m.submodules.layer0 = self._first
        wiring.connect(m, wiring.flipped(self.i), self._first.i)

        outputs = [self._first.o]
        consumers = [*self._hidden, self._readout]
        for index, consumer in enumerate(consumers, start=1):
            name = f"layer{index}" if consumer is not self._readout else "readout"
            m.submodules[name] = consumer
            serializer = SpikeSerializer(consumer.inputs)
            m.submodules[f"serializer{index}"] = serializer
            producer = outputs[-1]
            m.d.comb += [
                serializer.i.valid.eq(producer.valid),
                serializer.i.p.eq(producer.p.spikes),
                producer.ready.eq(serializer.i.ready),
            ]
            wiring.connect(m, serializer.o, consumer.i)
            if consumer is not self._readout:
                outputs.append(consumer.o)

        for index, producer in enumerate(outputs):
            monitor = getattr(self, f"spikes{index}")
            m.d.comb += [
                monitor.valid.eq(producer.valid & producer.ready),
                monitor.payload.eq(producer.p),
            ]
        wiring.connect(m, self._readout.o, wiring.flipped(self.o))
        return m


def describe(top: NetworkTop, name: str, source: str | None = None) -> dict:
    """Return what a user of the generated Verilog needs: T, P, layer sizes and the port payload fields.

    Payload fields are listed least significant first, as Amaranth packs them.
    """
    first = top.spiking_configs[0]
    classes = top.layer_sizes[-1]
    prediction_width = prediction_layout(classes, top.readout.score_width)["prediction"].shape.width
    return {
        "module": name,
        "source": source,
        "timesteps": top.timesteps,
        "precharge": top.precharge,
        "layer_sizes": top.layer_sizes,
        "thresholds": [config.threshold for config in top.spiking_configs],
        "membrane_widths": [config.membrane_width for config in top.spiking_configs],
        "ports": {
            "i": {
                "transfers_per_image": top.timesteps,
                "payload": f"{top.layer_sizes[0]} signed currents of {first.input_width} bits, neuron 0 first",
            },
            "o": {
                "payload": [
                    {"field": "prediction", "width": prediction_width},
                    {"field": "scores", "count": classes, "width": top.readout.score_width, "signed": True},
                ]
            },
            **{
                f"spikes{index}": {
                    "payload": [
                        {"field": "spikes", "count": neurons, "width": 2, "signed": True},
                        {"field": "overflow", "width": 1},
                    ]
                }
                for index, neurons in enumerate(top.layer_sizes[:-1])
            },
        },
    }


def write_description(top: NetworkTop, name: str, path, source: str | None = None) -> Path:
    """Write :func:`describe` of ``top`` as JSON to ``path``, whole or not at all."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(describe(top, name, source), file, indent=2)
            file.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
    return path
