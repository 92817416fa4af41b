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

import argparse
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

__all__ = [
    "NetworkBenchResult",
    "ann_accuracy",
    "bench_network_file",
    "golden_network",
    "image_currents",
    "main",
    "network_arrays",
    "network_spec_from_arrays",
    "run_network_bench",
]

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
        cxx_optimisation="-O0",
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


def image_currents(network, pixels) -> np.ndarray:
    """Return the first layer's currents [images, T, N_1] of raw ``pixels``, the same at each input step.

    This is the host-side step of direct input coding,
    ``golden.integer_network.input_currents``, repeated for the T input steps.
    """
    from golden.integer_network import input_currents

    first = input_currents(network, pixels)
    return np.repeat(first[:, None, :], network.timesteps, axis=1)


def ann_accuracy(network, pixels, labels) -> float | None:
    """Return the accuracy in percent of the float ANN the network was exported from, or None.

    The ANN comes from the checkpoint named in the network file's ``source``;
    None when the file names none or the checkpoint is missing.
    """
    import torch

    from golden.checkpoint import load_checkpoint, model_from_checkpoint

    checkpoint = network.source.get("checkpoint")
    if not checkpoint or not Path(checkpoint).is_file():
        return None
    model = model_from_checkpoint(load_checkpoint(checkpoint))
    x = torch.from_numpy(np.asarray(pixels, dtype=np.float32) / network.pixel_max).unsqueeze(1)
    with torch.no_grad():
        predictions = model(x).argmax(1).numpy()
    return 100.0 * float((predictions == np.asarray(labels)).mean())


def bench_network_file(
    path,
    *,
    dataset: str,
    images: int,
    simulators,
    build_root: Path,
    idle_probability: float = 0.2,
    stall_probability: float = 0.2,
    seed: int = 1,
) -> dict:
    """Run the network bench of network file ``path`` on the first ``images`` test images of ``dataset``.

    Returns a dict with the golden integer and ANN accuracies on the same
    images and, per simulator, the RTL accuracy, cycles per image and wall time.
    Raises ``AssertionError`` on any mismatch between the RTL and the golden model.
    """
    from golden.integer_network import load_with_test_set, run
    from tmn_hw.network import network_spec

    network, test = load_with_test_set(path, dataset)
    if not 1 <= images <= len(test):
        raise ValueError(f"images must be in [1, {len(test)}] for the {dataset} test set, not {images}")
    pixels, labels = test.pixels[:images], test.labels[:images]
    golden = run(network, pixels)
    summary = {
        "network": str(path),
        "dataset": dataset,
        "images": images,
        "timesteps": network.timesteps,
        "precharge": network.precharge,
        "layer_sizes": [int(layer.weight.shape[0]) for layer in network.layers],
        "golden_accuracy": 100.0 * float((golden.predictions == labels).mean()),
        "ann_accuracy": ann_accuracy(network, pixels, labels),
        "ann_accuracy_full_test_set": network.source.get("ann_accuracy"),
        "simulators": {},
    }
    spec = network_spec(network)
    currents = image_currents(network, pixels)
    for simulator in simulators:
        result = run_network_bench(
            spec,
            currents,
            labels,
            simulator=simulator,
            build_dir=Path(build_root) / f"{Path(path).stem}-{images}-{simulator}",
            idle_probability=idle_probability,
            stall_probability=stall_probability,
            seed=seed,
        )
        summary["simulators"][simulator] = {
            "accuracy": result.accuracy,
            "mismatches": 0,
            "cycles": result.cycles,
            "cycles_per_image": result.cycles_per_image,
            "wall_seconds": result.wall_seconds,
        }
    return summary


def _probability(text: str) -> float:
    """Parse a probability in [0, 1) for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1), not {text}")
    return value


def _parse_args(argv) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    from golden.data import DATASETS
    from sim.launch import SIMULATORS

    parser = argparse.ArgumentParser(
        prog="python -m sim.network_bench",
        description="Check the RTL network top of an integer network file against the golden model on "
        "test images, on Icarus Verilog and Verilator, and print accuracy and cycles per image.",
    )
    parser.add_argument("network", type=Path, help="integer network file written by python -m golden.export")
    parser.add_argument(
        "--dataset", choices=DATASETS, default=None, help="test set (default: the one the network file names)"
    )
    parser.add_argument("--images", type=int, default=200, help="test images to run (default: 200)")
    parser.add_argument(
        "--simulators",
        nargs="+",
        choices=SIMULATORS,
        default=list(SIMULATORS),
        help=f"simulators (default: {' '.join(SIMULATORS)})",
    )
    parser.add_argument(
        "--idle", type=_probability, default=0.2, help="chance of an idle input cycle, in [0, 1) (default: 0.2)"
    )
    parser.add_argument(
        "--stall", type=_probability, default=0.2, help="chance of a stalled output cycle, in [0, 1) (default: 0.2)"
    )
    parser.add_argument("--build-dir", type=Path, default=Path("build/sim/network"), help="build directory root")
    parser.add_argument("--out", type=Path, default=None, help="also write the summary to this JSON file")
    args = parser.parse_args(argv)
    if args.images < 1:
        parser.error(f"--images must be >= 1, not {args.images}")
    return parser, args


def main(argv=None) -> None:
    from golden.integer_network import load_with_test_set

    parser, args = _parse_args(argv)
    try:
        _, test = load_with_test_set(args.network, args.dataset)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    dataset = test.name
    if args.images > len(test):
        parser.error(f"--images must be at most {len(test)}, the size of the {dataset} test set, not {args.images}")

    try:
        summary = bench_network_file(
            args.network,
            dataset=dataset,
            images=args.images,
            simulators=args.simulators,
            build_root=args.build_dir,
            idle_probability=args.idle,
            stall_probability=args.stall,
        )
    except ValueError as error:
        # For example a network the hardware top cannot build (tmn_hw.network.network_spec).
        parser.error(str(error))
    text = json.dumps(summary, indent=2)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        temporary = args.out.with_name(args.out.name + ".tmp")
        temporary.write_text(text + "\n")
        os.replace(temporary, args.out)


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
        """Check that every spike of every layer, every score and every predicted class equal the golden model."""
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


if __name__ == "__main__":
    main()
