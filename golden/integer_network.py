"""Golden integer network simulator: runs an exported network bit-exactly, and the host-side input step.

Every layer with neurons follows :mod:`golden.integer` exactly: this module
calls ``golden.integer.step`` on whole layers (the step function is
vectorised over neurons and images). PyTorch computes the integer maps (dense and
conv) in float64, and the result is converted back to int64. This is exact
because every product and partial sum is an integer below 2^53: the format
limits ``input_width`` to 52 bits.

``python -m golden.integer_network NET --dataset fashion-mnist`` runs a
network file on a test set and prints its accuracy, the largest membrane
magnitude per layer and the saturation (overflow) counts.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys

import numpy as np
import torch
import torch.nn.functional as F
from golden.progress import progress_bar

from golden.integer import IntegerNeuronConfig, NeuronState, step
from golden.network_format import IntegerLayer, IntegerNetwork, load_network

__all__ = ["IntegerRun", "LayerStatistics", "check_dataset", "input_currents", "load_with_test_set", "run"]


def _apply_pre_ops(layer: IntegerLayer, x: np.ndarray) -> np.ndarray:
    """Apply ``layer.pre_ops`` to ``x`` of shape [N, ...] (integers); sums are exact in int64."""
    for op in layer.pre_ops:
        if op["op"] == "flatten":
            x = x.reshape(len(x), -1)
        else:
            kernel, stride = op["kernel"], op["stride"]
            pooled = F.avg_pool2d(torch.from_numpy(x.astype(np.float64)), kernel, stride) * (kernel * kernel)
            x = np.rint(pooled.numpy()).astype(np.int64)
    return x


def _integer_map(layer: IntegerLayer, x: np.ndarray) -> np.ndarray:
    """Return ``W x + b`` for integer inputs ``x`` [N, *in_shape] as int64 [N, *out_shape]."""
    inputs = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float64))
    weight = torch.from_numpy(layer.weight.astype(np.float64))
    bias = torch.from_numpy(layer.bias.astype(np.float64))
    if layer.kind == "dense":
        out = F.linear(inputs, weight, bias)
    else:
        out = F.conv2d(inputs, weight, bias, stride=layer.stride, padding=layer.padding)
    return np.rint(out.numpy()).astype(np.int64)


def input_currents(network: IntegerNetwork, pixels) -> np.ndarray:
    """Return the first layer's integer currents for images of raw pixels (the host-side step).

    ``pixels`` is an integer array ``[N, H, W]`` or ``[N, 1, H, W]`` with
    values in ``[0, pixel_max]`` (8-bit pixels for Fashion-MNIST). The result
    ``z_1 = W_1 p + b_1`` has shape ``[N, *out_shape]`` and is the current of
    every one of the T input steps.
    """
    pixels = np.asarray(pixels)
    if not np.issubdtype(pixels.dtype, np.integer):
        raise ValueError(f"pixels must be an integer array, not dtype {pixels.dtype}")
    shape = tuple(network.input_shape)
    if pixels.shape[1:] == shape[1:] and len(shape) == 3 and shape[0] == 1:
        pixels = pixels[:, None]
    if pixels.shape[1:] != shape:
        raise ValueError(f"pixels must have shape [N, {', '.join(map(str, shape))}], not {pixels.shape}")
    if pixels.size and (pixels.min() < 0 or pixels.max() > network.pixel_max):
        raise ValueError(
            f"pixel values must lie in [0, {network.pixel_max}], not [{pixels.min()}, {pixels.max()}]"
        )
    layer = network.layers[0]
    return _integer_map(layer, _apply_pre_ops(layer, pixels.astype(np.int64)))


@dataclasses.dataclass
class LayerStatistics:
    """Membrane and spike figures of one neuron layer over a run.

    ``max_membrane`` is the largest ``|u|`` before saturation; ``overflows``
    counts neuron-steps that saturated; ``saturated_neurons`` counts
    (image, neuron) pairs that saturated at least once.
    """

    name: str
    membrane_width: int
    max_membrane: int = 0
    overflows: int = 0
    saturated_neurons: int = 0
    positive_spikes: int = 0
    negative_spikes: int = 0


@dataclasses.dataclass
class IntegerRun:
    """Result of running images through an integer network."""

    scores: np.ndarray
    statistics: list[LayerStatistics]

    @property
    def predictions(self) -> np.ndarray:
        """Class of each image: ``argmax`` of the accumulated scores, the first index on ties."""
        return self.scores.argmax(1)


def _run_neurons(config: IntegerNeuronConfig, currents: np.ndarray, stats: LayerStatistics) -> np.ndarray:
    """Run one layer for T + P steps on currents ``[T, N, ...]``; return its output digits ``[T, N, ...]``."""
    state = NeuronState.reset(currents.shape[1:])
    digits = []
    any_overflow = np.zeros(currents.shape[1:], dtype=bool)
    for n in range(config.steps):
        result = step(config, state, currents[n] if n < config.timesteps else 0)
        unsaturated = result.u_hat - config.reset_amount * result.raw_spike.astype(np.int64)
        stats.max_membrane = max(stats.max_membrane, int(np.abs(unsaturated).max(initial=0)))
        stats.overflows += int(result.overflow.sum())
        any_overflow |= result.overflow
        if result.firing:
            digits.append(result.spike)
    stats.saturated_neurons += int(any_overflow.sum())
    out = np.stack(digits)
    stats.positive_spikes += int((out > 0).sum())
    stats.negative_spikes += int((out < 0).sum())
    return out


def run(
    network: IntegerNetwork,
    pixels,
    *,
    membrane_widths: list[int] | None = None,
    statistics: list[LayerStatistics] | None = None,
) -> IntegerRun:
    """Run images of raw pixels through ``network`` and return the output scores ``A`` and layer statistics.

    The output layer accumulates ``A = sum_t 2^(T-t) z_L[t]`` over the T steps.
    ``membrane_widths`` overrides each neuron layer's membrane width (export
    calibration runs with wide membranes); ``statistics`` accumulates over
    several calls when given.
    """
    steps = network.timesteps
    neuron_layers = [layer for layer in network.layers if layer.threshold is not None]
    if membrane_widths is not None and len(membrane_widths) != len(neuron_layers):
        raise ValueError(f"membrane_widths needs {len(neuron_layers)} entries, not {len(membrane_widths)}")
    if statistics is None:
        statistics = [
            LayerStatistics(layer.name, membrane_widths[i] if membrane_widths else layer.membrane_width)
            for i, layer in enumerate(neuron_layers)
        ]
    first = input_currents(network, pixels)
    images = len(first)
    currents = np.broadcast_to(first, (steps,) + first.shape)
    neuron_index = 0
    for layer in network.layers:
        if layer is not network.layers[0]:
            flat = digits.reshape((steps * images,) + digits.shape[2:]).astype(np.int64)
            mapped = _integer_map(layer, _apply_pre_ops(layer, flat))
            currents = mapped.reshape((steps, images) + mapped.shape[1:])
        if layer.threshold is None:
            weights = np.left_shift(np.int64(1), np.arange(steps - 1, -1, -1, dtype=np.int64))
            scores = np.tensordot(weights, currents, axes=(0, 0))
            return IntegerRun(scores=scores, statistics=statistics)
        config = layer.neuron_config(steps, network.precharge)
        if membrane_widths is not None:
            config = dataclasses.replace(config, membrane_width=membrane_widths[neuron_index])
        digits = _run_neurons(config, np.ascontiguousarray(currents), statistics[neuron_index])
        neuron_index += 1
    raise ValueError("the network has no output layer")


def evaluate(network: IntegerNetwork, pixels: np.ndarray, labels: np.ndarray, *, batch_size: int = 200,
             progress: bool = True) -> tuple[float, list[LayerStatistics]]:
    """Return the accuracy in percent of ``network`` on ``pixels``/``labels`` and the layer statistics."""
    statistics = None
    correct = 0
    bar = progress_bar(range(0, len(labels), batch_size), desc="integer network", disable=not progress)
    for start in bar:
        result = run(network, pixels[start : start + batch_size], statistics=statistics)
        statistics = result.statistics
        correct += int((result.predictions == labels[start : start + batch_size]).sum())
        bar.set_postfix(acc=f"{100 * correct / min(start + batch_size, len(labels)):.2f}", refresh=False)
    return 100.0 * correct / len(labels), statistics


def statistics_table(statistics: list[LayerStatistics], images: int) -> list[dict]:
    """Return the layer statistics as plain dicts, spikes per image."""
    rows = []
    for stat in statistics:
        row = dataclasses.asdict(stat)
        row["positive_spikes"] = stat.positive_spikes / images
        row["negative_spikes"] = stat.negative_spikes / images
        rows.append(row)
    return rows


def print_statistics(statistics: list[LayerStatistics], images: int, out=sys.stdout) -> None:
    """Print one line per neuron layer: width, largest membrane, overflows and spikes per image."""
    print(f"{'layer':<12} {'width':>5} {'max |u|':>9} {'overflows':>10} {'saturated':>10} {'spikes/img':>11}", file=out)
    for stat in statistics:
        spikes = (stat.positive_spikes + stat.negative_spikes) / images
        print(f"{stat.name:<12} {stat.membrane_width:>5} {stat.max_membrane:>9} {stat.overflows:>10} "
              f"{stat.saturated_neurons:>10} {spikes:>11.1f}", file=out)


def check_dataset(path, network: IntegerNetwork, dataset) -> None:
    """Raise ``ValueError`` if the images of ``dataset`` (a :class:`golden.data.Dataset`) do not fit ``network``.

    ``path`` is the network file, named in the message together with the data set the network was exported for.
    """
    expected = tuple(network.input_shape)
    found = (1,) + tuple(dataset.pixels.shape[1:])
    if found == expected and dataset.pixel_max == network.pixel_max:
        return
    size = f"{expected[-2]}x{expected[-1]}"
    exported = network.source.get("dataset")
    images = f"{size} {exported} images" if exported else f"{size} images"
    fix = f"use --dataset {exported}" if exported else f"use a data set of {size} images"
    raise ValueError(
        f"{path}: the network was exported for {images} (pixels 0..{network.pixel_max}), but the "
        f"{dataset.name} {dataset.split} set has {found[-2]}x{found[-1]} images (pixels 0..{dataset.pixel_max}); {fix}"
    )


def load_with_test_set(path, dataset: str | None = None):
    """Return the network in file ``path`` and the test split of ``dataset`` (default: the file's data set).

    Raises ``ValueError`` when the file names no data set and ``dataset`` is
    None, or when the test images do not fit the network (``check_dataset``).
    """
    from golden.data import load_dataset

    network = load_network(path)
    dataset = dataset or network.source.get("dataset")
    if dataset is None:
        raise ValueError(f"{path}: the network file names no data set; pass --dataset")
    test = load_dataset(dataset, "test")
    check_dataset(path, network, test)
    return network, test


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m golden.integer_network",
        description="Run an integer network file on a test set: accuracy, largest membrane per layer, overflows.",
        epilog="--json prints integer_accuracy (percent), images and a layers list (name, membrane_width, "
        "max_membrane, overflows, saturated_neurons, positive_spikes and negative_spikes per image).",
    )
    parser.add_argument("network", help="network file written by python -m golden.export")
    parser.add_argument("--dataset", choices=("fashion-mnist", "digits"), help="data set (default: the network's)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test images (default: all)")
    parser.add_argument("--batch-size", type=int, default=200, help="images per batch (default 200)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, not {args.limit}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be >= 1, not {args.batch_size}")
    torch.set_num_threads(2)
    try:
        _run(parser, args)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Run the network file on the test set and print the report of the parsed command line."""
    network, test = load_with_test_set(args.network, args.dataset)
    pixels, labels = test.pixels[: args.limit], test.labels[: args.limit]
    accuracy, statistics = evaluate(network, pixels, labels, batch_size=args.batch_size)
    if args.json:
        json.dump({"integer_accuracy": accuracy, "images": len(labels),
                   "layers": statistics_table(statistics, len(labels))}, sys.stdout, indent=2)
        print()
        return
    print(f"{args.network}: T = {network.timesteps}, P = {network.precharge}, latency {network.latency} steps")
    print(f"integer network accuracy {accuracy:.2f}% on {len(labels)} {test.name} test images")
    print_statistics(statistics, len(labels))


if __name__ == "__main__":
    main()
