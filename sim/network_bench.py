"""cocotb bench of a whole network top against the golden integer layers, image by image.

The launcher :func:`run_network_bench` writes the network's Verilog (weights
embedded) and the first-layer currents of each image into its own build
directory and runs the cocotb test below on Icarus Verilog or Verilator. The
test streams T current vectors per image (with random idle cycles), accepts
the results with random backpressure, and compares, in order:

- every spike vector of every spiking layer (observation ports ``spikes<l>``),
  with its sample overflow flag;
- the classifier scores and the predicted class of every image,

with the chain of ``golden.integer.simulate``, ``golden.integer_layer.spiking_layer``
and ``golden.integer_layer.readout_scores``. It writes the accuracy against
the labels, the cycles per image and the wall time to ``result.json``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
import time
from pathlib import Path

import numpy as np

from golden.integer import IntegerNeuronConfig, simulate
from golden.integer_layer import predicted_class, readout_scores, spiking_layer
from sim.codec import decode_signed_vector, decode_spike_output, describe_spike_output, encode_signed_vector

__all__ = ["NetworkBenchResult", "golden_network", "network_arrays", "network_spec_from_arrays", "run_network_bench"]

DATA_ENV = "TMN_NETWORK_BENCH_DATA"


@dataclasses.dataclass(frozen=True)
class NetworkBenchResult:
    """Outcome of one network bench run on one simulator."""

    simulator: str
    images: int
    correct: int
    cycles: int
    cycles_per_image: float
    wall_seconds: float
    build_dir: str

    @property
    def accuracy(self) -> float:
        """Accuracy of the RTL network on the bench images, in percent."""
        return 100.0 * self.correct / self.images


def golden_network(arrays: dict[str, np.ndarray], currents: np.ndarray):
    """Run one image through the golden integer layers.

    ``currents`` [T, N_1] are the first layer's input currents. Returns
    ``(spikes, overflow, scores, prediction)``: per spiking layer the output
    digits [T, N_l] and the sample overflow flag of each output step [T].
    """
    timesteps, precharge, gate = int(arrays["timesteps"]), int(arrays["precharge"]), bool(arrays["gate"])

    def config(threshold, input_width, membrane_width):
        return IntegerNeuronConfig(
            timesteps=timesteps,
            precharge=precharge,
            threshold=int(threshold),
            input_width=int(input_width),
            membrane_width=int(membrane_width),
            gate=gate,
        )

    def sample_overflow(trace):
        return np.cumsum(trace.overflow.any(axis=1))[precharge:] > 0

    first = config(arrays["first_threshold"], arrays["first_input_width"], arrays["first_membrane_width"])
    trace = simulate(first, currents)
    spikes, overflow = [trace.spikes], [sample_overflow(trace)]
    for index in range(int(arrays["hidden_count"])):
        prefix = f"hidden{index}_"
        layer = config(arrays[prefix + "threshold"], 62, arrays[prefix + "membrane_width"])
        trace = spiking_layer(layer, arrays[prefix + "weight"], arrays[prefix + "bias"], spikes[-1])
        spikes.append(trace.spikes)
        overflow.append(sample_overflow(trace))
    scores = readout_scores(arrays["classifier_weight"], arrays["classifier_bias"], spikes[-1])
    return spikes, overflow, scores, predicted_class(scores)


_WIDTHS = ("weight_width", "bias_width", "current_width")


def _store_widths(arrays: dict, prefix: str, layer) -> None:
    for name in _WIDTHS:
        value = getattr(layer, name)
        arrays[prefix + name] = np.int64(-1 if value is None else value)


def _load_widths(arrays: dict, prefix: str) -> dict:
    return {name: None if int(arrays[prefix + name]) < 0 else int(arrays[prefix + name]) for name in _WIDTHS}


def network_arrays(spec) -> dict[str, np.ndarray]:
    """Return a :class:`tmn_hw.network.NetworkSpec` as a flat dict of arrays for an ``.npz`` file."""
    first, classifier = spec.first, spec.classifier
    arrays = {
        "timesteps": np.int64(spec.timesteps),
        "precharge": np.int64(spec.precharge),
        "gate": np.bool_(spec.gate),
        "first_neurons": np.int64(first.neurons),
        "first_threshold": np.int64(first.threshold),
        "first_input_width": np.int64(first.input_width),
        "first_membrane_width": np.int64(first.membrane_width),
        "hidden_count": np.int64(len(spec.hidden)),
        "classifier_weight": np.asarray(classifier.weight, dtype=np.int64),
        "classifier_bias": np.asarray(classifier.bias, dtype=np.int64),
    }
    _store_widths(arrays, "classifier_", classifier)
    for index, layer in enumerate(spec.hidden):
        prefix = f"hidden{index}_"
        arrays[prefix + "weight"] = np.asarray(layer.weight, dtype=np.int64)
        arrays[prefix + "bias"] = np.asarray(layer.bias, dtype=np.int64)
        arrays[prefix + "threshold"] = np.int64(layer.threshold)
        arrays[prefix + "membrane_width"] = np.int64(layer.membrane_width)
        _store_widths(arrays, prefix, layer)
    return arrays


def network_spec_from_arrays(arrays: dict[str, np.ndarray]):
    """Return the :class:`tmn_hw.network.NetworkSpec` that :func:`network_arrays` stored."""
    from tmn_hw.network import ClassifierSpec, FirstLayerSpec, NetworkSpec, SpikingLayerSpec

    first = FirstLayerSpec(
        neurons=int(arrays["first_neurons"]),
        threshold=int(arrays["first_threshold"]),
        input_width=int(arrays["first_input_width"]),
        membrane_width=int(arrays["first_membrane_width"]),
    )
    hidden = tuple(
        SpikingLayerSpec(
            weight=arrays[f"hidden{index}_weight"],
            bias=arrays[f"hidden{index}_bias"],
            threshold=int(arrays[f"hidden{index}_threshold"]),
            membrane_width=int(arrays[f"hidden{index}_membrane_width"]),
            **_load_widths(arrays, f"hidden{index}_"),
        )
        for index in range(int(arrays["hidden_count"]))
    )
    classifier = ClassifierSpec(
        weight=arrays["classifier_weight"], bias=arrays["classifier_bias"], **_load_widths(arrays, "classifier_")
    )
    return NetworkSpec(
        first=first,
        hidden=hidden,
        classifier=classifier,
        timesteps=int(arrays["timesteps"]),
        precharge=int(arrays["precharge"]),
        gate=bool(arrays["gate"]),
    )


def run_network_bench(
    spec,
    currents: np.ndarray,
    labels: np.ndarray,
    *,
    simulator: str,
    build_dir: Path,
    idle_probability: float = 0.2,
    stall_probability: float = 0.2,
    seed: int = 1,
    waves: bool | None = None,
) -> NetworkBenchResult:
    """Build the network top of ``spec`` and check it on ``currents`` [images, T, N_1] on ``simulator``.

    ``spec`` is a :class:`tmn_hw.network.NetworkSpec`; ``currents`` are the
    first layer's input currents of each image and input step.

    Raises ``AssertionError`` if any spike, score or prediction differs from the golden model.
    """
    from sim.launch import run_cocotb
    from tmn_hw.network import NetworkTop

    arrays = network_arrays(spec)
    currents = np.asarray(currents, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    timesteps = int(arrays["timesteps"])
    if currents.ndim != 3 or currents.shape[1] != timesteps or currents.shape[2] != int(arrays["first_neurons"]):
        raise ValueError(
            f"currents must have shape [images, T = {timesteps}, N_1 = {int(arrays['first_neurons'])}], "
            f"not {currents.shape}"
        )
    if labels.shape != (currents.shape[0],):
        raise ValueError(f"labels must have shape ({currents.shape[0]},), not {labels.shape}")
    top = NetworkTop.from_spec(spec)
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    data = build_dir / "stimulus.npz"
    np.savez(data, currents=currents, labels=labels, **arrays)
    settings = {
        "idle_probability": idle_probability,
        "stall_probability": stall_probability,
        "seed": seed,
        "layer_sizes": top.layer_sizes,
        "score_width": top.readout.score_width,
    }
    (build_dir / "settings.json").write_text(json.dumps(settings, indent=2))
    result_file = build_dir / "result.json"
    result_file.unlink(missing_ok=True)
    start = time.perf_counter()
    run_cocotb(
        top,
        toplevel="network",
        test_module="sim.network_bench",
        simulator=simulator,
        build_dir=build_dir,
        extra_env={DATA_ENV: str(data)},
        waves=waves,
    )
    wall = time.perf_counter() - start
    measured = json.loads(result_file.read_text())
    return NetworkBenchResult(
        simulator=simulator,
        images=measured["images"],
        correct=measured["correct"],
        cycles=measured["cycles"],
        cycles_per_image=measured["cycles"] / measured["images"],
        wall_seconds=wall,
        build_dir=str(build_dir),
    )


try:
    import cocotb
except ImportError:  # the launcher runs without cocotb's simulator-side modules
    cocotb = None

if cocotb is not None:
    from sim.stream_tb import CycleBench, Scoreboard, StreamSink, StreamSource

    def _describe(name, value):
        if name.startswith("spikes"):
            return describe_spike_output(name, value)
        prediction, scores = value
        return f"class {prediction}, scores {list(scores)}"

    @cocotb.test()
    async def network_matches_golden(dut):
        """Every spike of every layer, every score and every predicted class equal the golden model."""
        log = logging.getLogger("tmn_hw.bench.network")
        data = Path(os.environ[DATA_ENV])
        settings = json.loads((data.parent / "settings.json").read_text())
        with np.load(data) as stored:
            arrays = {key: stored[key] for key in stored.files}
        currents, labels = arrays.pop("currents"), arrays.pop("labels")
        sizes = settings["layer_sizes"]
        classes, score_width = sizes[-1], settings["score_width"]
        prediction_width = max(1, (classes - 1).bit_length())
        input_width = int(arrays["first_input_width"])

        rng = random.Random(settings["seed"])
        bench = CycleBench(dut)
        source = StreamSource(dut, "i", rng, settings["idle_probability"])
        sink = StreamSink(dut, "o", rng, settings["stall_probability"])
        monitors = [StreamSink(dut, f"spikes{index}", rng) for index in range(len(sizes) - 1)]
        scoreboard = Scoreboard(log, _describe)

        for image in currents:
            spikes, overflow, scores, prediction = golden_network(arrays, image)
            for index, (digits, flags) in enumerate(zip(spikes, overflow)):
                for row, flag in zip(digits, flags):
                    scoreboard.expect(f"spikes{index}", (tuple(int(d) for d in row), bool(flag)))
            scoreboard.expect("o", (prediction, tuple(int(s) for s in scores)))
            for step in image:
                source.queue.append(encode_signed_vector(step, input_width))

        correct = 0

        def on_transfer(name, cycle, payload):
            nonlocal correct
            if name == "o":
                prediction = payload & ((1 << prediction_width) - 1)
                scores = decode_signed_vector(payload >> prediction_width, classes, score_width)
                item = scoreboard.received["o"]
                correct += int(prediction == int(labels[item]))
                scoreboard.compare("o", cycle, (prediction, scores))
            elif name.startswith("spikes"):
                index = int(name.removeprefix("spikes"))
                scoreboard.compare(name, cycle, decode_spike_output(payload, sizes[index]))

        await bench.start()
        budget = 200 * len(currents) * (sum(sizes) + 10) + 1000
        await bench.run([source], [sink, *monitors], on_transfer, lambda: scoreboard.pending == 0, budget)
        cycles = bench.cycle
        settle_end = bench.cycle + 50
        await bench.run([source], [sink, *monitors], on_transfer, lambda: bench.cycle >= settle_end, settle_end)
        assert source.idle, f"{len(source.queue)} current vectors were never accepted"
        scoreboard.check()
        images = len(currents)
        log.info(
            "%d images, RTL accuracy %.2f %%, %d cycles (%.1f per image)",
            images,
            100.0 * correct / images,
            cycles,
            cycles / images,
        )
        result = {"images": images, "correct": correct, "cycles": cycles}
        temporary = data.parent / "result.json.tmp"
        temporary.write_text(json.dumps(result))
        os.replace(temporary, data.parent / "result.json")
