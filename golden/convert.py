"""ANN-to-SNN conversion: one call, and the ``python -m golden.convert`` command.

``convert(model, calibration_loader, timesteps=T, precharge=P, coding=Coding.TMN)``
traces any model torch.fx can trace, folds BatchNorm, turns every ReLU call
site into a spiking layer and sets each layer's threshold from calibration
data: by default the 99.99th percentile of the layer's activations on each
calibration batch, averaged over the batches. Quantised activations
(:class:`golden.quant.QuantisedReLU`) keep their learned clip value as
threshold. :func:`evaluate` runs the ANN and the SNN on a data set and
counts operations.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import logging
import sys
import warnings

import torch
from torch import fx, nn
from golden.progress import progress_bar

from golden.coding import Coding
from golden.conversion.calibrate import mse_threshold
from golden.conversion.fold import fold_batchnorm, remove_dropout
from golden.conversion.ops import OperationCounter, OperationCounts
from golden.conversion.simulate import Mode, SpikingNetwork, SpikingSite, _Context
from golden.conversion.trace import (
    UnsupportedOperationError,
    classify,
    node_description,
    source_line,
    trace,
)
from golden.quant import QuantisedReLU

__all__ = ["Evaluation", "UnsupportedOperationError", "convert", "evaluate", "main"]

logger = logging.getLogger("golden.convert")

THRESHOLD_STATISTICS = ("percentile", "max", "mse")


def _check_int(name: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return value


def _as_coding(coding) -> Coding:
    if isinstance(coding, Coding):
        return coding
    try:
        return Coding(coding)
    except ValueError:
        raise ValueError(f"coding must be a Coding or one of {[c.value for c in Coding]}, not {coding!r}") from None


def _replace_relu_sites(gm: fx.GraphModule, context: _Context) -> tuple[list[SpikingSite], list[str]]:
    """Replace every ReLU call site of ``gm`` by its own :class:`SpikingSite`; return the sites and approximations."""
    sites: list[SpikingSite] = []
    approximations: list[str] = []
    for node in list(gm.graph.nodes):
        kind = classify(gm, node)
        if kind == "maxpool":
            approximations.append(f"max pooling on per-step spike values at {node_description(node)}")
            continue
        if kind != "relu":
            continue
        quantiser = None
        if node.op == "call_module":
            module = gm.get_submodule(node.target)
            quantiser = module if isinstance(module, QuantisedReLU) else None
        # A module called at several sites gives each site the fx node name after the first.
        label = node.target if node.op == "call_module" else node.name
        if any(site.name == label for site in sites):
            label = f"{label} ({node.name})"
        site = SpikingSite(label, source_line(node), context, quantiser)
        name = f"spiking_{len(sites)}"
        gm.add_submodule(name, site)
        with gm.graph.inserting_after(node):
            replacement = gm.graph.call_module(name, (node.args[0],))
        replacement.meta = dict(node.meta)
        node.replace_all_uses_with(replacement)
        gm.graph.erase_node(node)
        sites.append(site)
    gm.graph.lint()
    gm.delete_all_unused_submodules()
    gm.recompile()
    return sites, approximations


def _analyse_layers(gm: fx.GraphModule) -> tuple[dict[str, tuple[str, str]], int, bool]:
    """Return the name and kind ("analog" or "synaptic") of each conv/linear module, the graph's spiking depth, and
    whether the analog part of the network may run once per image rather than once per step.

    A layer is analog when a path from the input reaches it without crossing
    a spiking site. The depth is the largest number of spiking sites on any
    path from the input to the output. The analog part computes the same
    currents at every step. So it may run once per image, unless an
    operation combines its result with spikes or the output depends on it
    directly.
    """
    analog: dict[fx.Node, bool] = {}
    varying: dict[fx.Node, bool] = {}  # depends on the input at all, through spikes or not
    depth: dict[fx.Node, int] = {}
    kinds: dict[str, tuple[str, str]] = {}
    result_depth = 0
    step_invariant = True
    for node in gm.graph.nodes:
        inputs = node.all_input_nodes
        is_site = node.op == "call_module" and isinstance(gm.get_submodule(node.target), SpikingSite)
        analog[node] = node.op == "placeholder" or (not is_site and any(analog[i] for i in inputs))
        varying[node] = node.op == "placeholder" or any(varying[i] for i in inputs)
        if not is_site and analog[node] and any(varying[i] and not analog[i] for i in inputs):
            step_invariant = False  # analog currents meet spikes, as in a residual addition that skips a site
        depth[node] = max((depth[i] for i in inputs), default=0) + (1 if is_site else 0)
        if node.op == "call_module" and isinstance(gm.get_submodule(node.target), (nn.Conv2d, nn.Linear)):
            upstream_analog = any(analog[i] for i in inputs)
            label = str(node.meta.get("original_target", node.target))
            if kinds.get(node.target, ("", ""))[1] != "analog":
                kinds[node.target] = (label, "analog" if upstream_analog else "synaptic")
        if node.op == "output":
            result_depth = depth[node]
            step_invariant = step_invariant and not analog[node]
    return kinds, result_depth, step_invariant


def _calibrate(network: SpikingNetwork, loader, statistic: tuple[str, float], batches: int | None, progress: bool):
    levels = 2**network.timesteps - 1 if network.coding is Coding.TMN else network.timesteps
    sites = [site for site in network.sites if site.quantiser is None]
    if not sites:
        return
    for site in sites:
        site.statistic = statistic
        site.calibration = []
        site.calibration_max = 0.0
        site.samples = []
    network.set_mode(Mode.CALIBRATE)
    seen = 0
    with torch.no_grad():
        for batch in progress_bar(loader, desc="calibrate", total=batches, leave=False, disable=not progress):
            x = batch[0] if isinstance(batch, (tuple, list)) else batch
            network.graph_module(x)
            seen += 1
            if batches is not None and seen >= batches:
                break
    network.set_mode(Mode.ANN)
    if seen == 0:
        raise ValueError("calibration_loader yielded no batches")
    for site in sites:
        if statistic[0] == "mse":
            samples = torch.cat(site.samples)
            site.samples = []
            value = mse_threshold(samples, levels) if samples.numel() else 0.0
        else:
            value = sum(site.calibration) / len(site.calibration)
        if not value > 0:
            # A layer that is silent at this percentile falls back to its largest activation.
            value = site.calibration_max
        if not value > 0:
            warnings.warn(f"spiking layer {site.name!r} ({site.source}) never activated in calibration; threshold 1.0")
            value = 1.0
        site.threshold = float(value)


def convert(
    model: nn.Module,
    calibration_loader,
    *,
    timesteps: int,
    precharge: int = 1,
    coding: Coding | str = Coding.TMN,
    threshold: str = "percentile",
    percentile: float = 99.99,
    calibration_batches: int | None = 10,
    progress: bool = False,
) -> SpikingNetwork:
    """Convert ``model`` into a spiking network of TMN (or rate-coded IF) layers.

    Parameters
    ----------
    model : nn.Module
        Any module torch.fx can trace, made of the operations listed in
        :mod:`golden.conversion.trace`; it is copied, not changed.
    calibration_loader : iterable
        Batches ``x`` or ``(x, y)`` of ANN inputs for the thresholds.
    timesteps, precharge : int
        T input steps and output digits, P pre-charge steps (TMN only).
    coding : Coding or str
        ``Coding.TMN`` (ternary momentum neurons) or ``Coding.RATE`` (IF neurons).
    threshold : str
        ``"percentile"``: the ``percentile``-th percentile of each layer's
        activations per batch, averaged over batches; ``"max"``: the batch
        maximum, averaged the same way; ``"mse"``: the threshold that
        minimises the mean squared error of rounding the layer's activations
        to the layer's output levels (``2^T - 1`` for TMN, ``T`` for rate).
    calibration_batches : int or None
        Number of calibration batches used; ``None`` for all.

    Raises
    ------
    UnsupportedOperationError
        For a node with no spiking equivalent; the message names the node and its source line.
    ValueError
        For invalid parameters.
    """
    _check_int("timesteps", timesteps, 1)
    _check_int("precharge", precharge, 0)
    coding = _as_coding(coding)
    if threshold not in THRESHOLD_STATISTICS:
        raise ValueError(f"threshold must be one of {THRESHOLD_STATISTICS}, not {threshold!r}")
    if isinstance(percentile, bool) or not isinstance(percentile, (int, float)) or not 0 < percentile <= 100:
        raise ValueError(f"percentile must be a number in (0, 100], not {percentile!r}")
    if calibration_batches is not None:
        _check_int("calibration_batches", calibration_batches, 1)

    model = copy.deepcopy(model).eval()
    gm = trace(model)
    for node in gm.graph.nodes:
        classify(gm, node)
    fold_batchnorm(gm)
    remove_dropout(gm)
    context = _Context()
    sites, approximations = _replace_relu_sites(gm, context)
    for text in approximations:
        warnings.warn(f"approximate conversion: {text}")
    layer_kinds, depth, step_invariant = _analyse_layers(gm)
    network = SpikingNetwork(
        gm,
        sites,
        context,
        timesteps=timesteps,
        precharge=precharge if coding is Coding.TMN else 0,
        coding=coding,
        approximations=approximations,
        layer_kinds=layer_kinds,
        depth=depth,
        step_invariant_input=step_invariant,
    )
    _calibrate(network, calibration_loader, (threshold, percentile), calibration_batches, progress)
    return network


@dataclasses.dataclass
class Evaluation:
    """Accuracies (percent) of the ANN and the SNN on one data set, and the SNN's operation counts.

    ``snn_accuracy_by_timesteps`` maps each evaluated step count to the SNN
    accuracy. For rate coding it contains every prefix of the run, for TMN only T.
    """

    images: int
    ann_accuracy: float
    snn_accuracy: float
    snn_accuracy_by_timesteps: dict[int, float]
    counts: OperationCounts
    counts_by_timesteps: dict[int, OperationCounts]

    @property
    def conversion_loss(self) -> float:
        """ANN minus SNN accuracy, in percentage points."""
        return self.ann_accuracy - self.snn_accuracy


def evaluate(network: SpikingNetwork, loader, *, prefixes: list[int] | None = None, progress: bool = True) -> Evaluation:
    """Run the ANN and the SNN on every batch of ``loader`` (``(x, y)`` pairs) and return the accuracies."""
    steps = network.timesteps
    prefixes = sorted(set(prefixes or []) | {steps})
    counter = OperationCounter(network.coding.value, steps, network.precharge)
    images = ann_correct = 0
    snn_correct = {prefix: 0 for prefix in prefixes}
    # One rate-coded run of T steps also evaluates every shorter prefix, so its label gives the range.
    label = f"T={steps}" if len(prefixes) == 1 else f"T={prefixes[0]}..{steps}"
    bar = progress_bar(loader, desc=f"{network.coding.value} {label}", disable=not progress)
    for x, y in bar:
        ann_correct += int((network.ann(x).argmax(1) == y).sum())
        result = network.simulate(x, prefixes=prefixes if network.coding is Coding.RATE else None, counter=counter)
        for prefix in prefixes:
            snn_correct[prefix] += int((result.outputs[prefix].argmax(1) == y).sum())
        images += len(y)
        bar.set_postfix(
            ann=f"{100 * ann_correct / images:.2f}", snn=f"{100 * snn_correct[steps] / images:.2f}", refresh=False
        )
    if images == 0:
        raise ValueError("the evaluation loader yielded no images")
    by_steps = {prefix: 100.0 * snn_correct[prefix] / images for prefix in prefixes}
    return Evaluation(
        images=images,
        ann_accuracy=100.0 * ann_correct / images,
        snn_accuracy=by_steps[steps],
        snn_accuracy_by_timesteps=by_steps,
        counts=counter.counts(),
        counts_by_timesteps={prefix: counter.counts(prefix) for prefix in prefixes},
    )


def _rate_prefixes(timesteps: int) -> list[int]:
    prefixes, t = [], 1
    while t < timesteps:
        prefixes.append(t)
        t *= 2
    return prefixes + [timesteps]


def _plot_rate(result: Evaluation, path: str, title: str) -> None:
    """Write the rate-coded SNN accuracy against T, with the ANN accuracy as a line, to ``path``."""
    import os
    import tempfile

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = sorted(result.snn_accuracy_by_timesteps)
    figure, axes = plt.subplots(figsize=(6, 4))
    accuracies = [result.snn_accuracy_by_timesteps[t] for t in steps]
    axes.plot(steps, accuracies, "o-", label="rate-coded IF SNN")
    axes.axhline(result.ann_accuracy, color="black", linestyle="--", label="ANN")
    axes.set_xscale("log", base=2)
    axes.set_xlabel("time steps T")
    axes.set_ylabel("test accuracy (%)")
    axes.set_ylim(max(0.0, min(accuracies) - 5), 100)
    axes.set_title(title, fontsize=9)
    axes.legend()
    figure.tight_layout()
    suffix = os.path.splitext(path)[1] or ".png"
    handle, temporary = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=suffix)
    os.close(handle)
    try:
        figure.savefig(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    finally:
        plt.close(figure)
        if os.path.exists(temporary):
            os.unlink(temporary)


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m golden.convert",
        description="Convert a trained checkpoint to a spiking network and report ANN and SNN accuracy, "
        "conversion loss and operations per image.",
        epilog="--json prints one object: ann_accuracy and snn_accuracy (percent), conversion_loss_pp "
        "(ANN minus SNN, percentage points), images, coding, timesteps, precharge, latency (steps), "
        "thresholds, approximations, operations (per-image spikes, positive_spikes, negative_spikes, "
        "synaptic_ops, macs and a layers list) and snn_accuracy_by_timesteps (every prefix for rate coding; "
        "with rate coding also timesteps_within_0.5pp).",
    )
    parser.add_argument("checkpoint", help="checkpoint written by python -m golden.train")
    parser.add_argument("--dataset", choices=("fashion-mnist", "digits"), help="data set (default: the checkpoint's)")
    parser.add_argument("--timesteps", "-T", type=int, default=6, help="input steps T (default 6)")
    parser.add_argument("--precharge", "-P", type=int, default=1, help="pre-charge steps P of TMN layers (default 1)")
    parser.add_argument("--coding", choices=[c.value for c in Coding], default="tmn", help="neuron code (default tmn)")
    parser.add_argument("--threshold", choices=THRESHOLD_STATISTICS, default="percentile",
                        help="threshold of each layer: percentile (per batch, averaged), max (per batch, averaged) "
                        "or mse (least squared error of rounding to the layer's output levels); default percentile")
    parser.add_argument("--percentile", type=float, default=99.99, help="percentile for the thresholds (default 99.99)")
    parser.add_argument("--calibration-batches", type=int, default=10,
                        help="training-set batches used for calibration (default 10)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test images (default: all)")
    parser.add_argument("--batch-size", type=int, default=100, help="evaluation batch size (default 100)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    parser.add_argument("--seed", type=int, default=0, help="seed of the calibration batch order (default 0)")
    parser.add_argument("--plot", help="with --coding rate: write SNN accuracy against T to this image file")
    return parser, parser.parse_args(argv)


def main(argv=None) -> None:
    parser, args = _parse_args(argv)
    for name in ("timesteps", "batch_size", "calibration_batches"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, not {getattr(args, name)}")
    if args.precharge < 0:
        parser.error(f"--precharge must be >= 0, not {args.precharge}")
    if not 0 < args.percentile <= 100:
        parser.error(f"--percentile must be in (0, 100], not {args.percentile:g}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be >= 1, not {args.limit}")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(2)
    try:
        _run(parser, args)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Convert, evaluate and print the report of the parsed command line."""
    from golden.checkpoint import load_checkpoint, model_from_checkpoint
    from golden.data import load_dataset

    payload = load_checkpoint(args.checkpoint)
    dataset = args.dataset or payload["meta"]["dataset"]
    if dataset != payload["meta"]["dataset"]:
        parser.error(f"{args.checkpoint} was trained on {payload['meta']['dataset']}, not {dataset}")
    model = model_from_checkpoint(payload)
    calibration = load_dataset(dataset, "train").loader(256, shuffle=True, seed=args.seed)
    network = convert(
        model, calibration, timesteps=args.timesteps, precharge=args.precharge, coding=args.coding,
        threshold=args.threshold, percentile=args.percentile, calibration_batches=args.calibration_batches,
        progress=not args.json,
    )
    test = load_dataset(dataset, "test").loader(args.batch_size, limit=args.limit)
    prefixes = _rate_prefixes(args.timesteps) if network.coding is Coding.RATE else None
    result = evaluate(network, test, prefixes=prefixes, progress=True)

    report = {
        "checkpoint": str(args.checkpoint),
        "dataset": dataset,
        "images": result.images,
        "coding": network.coding.value,
        "timesteps": network.timesteps,
        "precharge": network.precharge,
        "latency": network.latency,
        "ann_accuracy": result.ann_accuracy,
        "snn_accuracy": result.snn_accuracy,
        "conversion_loss_pp": result.conversion_loss,
        "thresholds": network.thresholds,
        "approximations": network.approximations,
        "operations": result.counts.to_dict(),
        "snn_accuracy_by_timesteps": {str(k): v for k, v in result.snn_accuracy_by_timesteps.items()},
    }
    if network.coding is Coding.RATE:
        within = [t for t, acc in sorted(result.snn_accuracy_by_timesteps.items()) if result.ann_accuracy - acc <= 0.5]
        report["timesteps_within_0.5pp"] = within[0] if within else None
        report["operations_by_timesteps"] = {str(t): c.to_dict() for t, c in result.counts_by_timesteps.items()}
    if args.plot:
        if network.coding is not Coding.RATE:
            parser.error("--plot needs --coding rate: a TMN run evaluates one T")
        _plot_rate(result, args.plot, f"{args.checkpoint}, {result.images} {dataset} test images")
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print(f"{args.checkpoint} on {dataset} test ({result.images} images), {network.coding.value} coding, "
          f"T = {network.timesteps}, P = {network.precharge}, latency {network.latency} steps")
    print(f"ANN accuracy     {result.ann_accuracy:.2f}%")
    print(f"SNN accuracy     {result.snn_accuracy:.2f}%")
    print(f"conversion loss  {result.conversion_loss:.2f} percentage points")
    counts = result.counts
    print(f"per image: {counts.spikes:.0f} spikes ({counts.positive_spikes:.0f} positive, "
          f"{counts.negative_spikes:.0f} negative), {counts.synaptic_ops:.0f} synaptic accumulates, "
          f"{counts.macs:.0f} analog MACs")
    print(f"{'layer':<24} {'kind':<9} {'neurons':>8} {'spikes':>10} {'negative':>10} {'synaptic':>12} {'MACs':>10}")
    for layer in counts.layers:
        print(f"{layer.name:<24} {layer.kind:<9} {layer.neurons:>8} {layer.spikes:>10.1f} "
              f"{layer.negative_spikes:>10.1f} {layer.synaptic_ops:>12.0f} {layer.macs:>10.0f}")
    if network.coding is Coding.RATE:
        print("rate coding accuracy by T: " + ", ".join(
            f"T={t}: {acc:.2f}%" for t, acc in sorted(result.snn_accuracy_by_timesteps.items())))
        print(f"first T within 0.5 points of the ANN: {report['timesteps_within_0.5pp']}")
    for text in network.approximations:
        print(f"approximation: {text}")


if __name__ == "__main__":
    main()
