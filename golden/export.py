"""Integer export: ``python -m golden.export CKPT --timesteps T --precharge P --out NET``.

Turns a converted TMN network into the integer network the hardware runs
(format in ``docs/network-format.md``). Per neuron layer l with float
threshold ``v_l``:

- the integer threshold ``V_l`` is the largest power of two for which every
  integer weight fits ``weight_width`` bits;
- weights ``W_l = round(W_float * u_{l-1} / (d v_l) * V_l)`` where ``u_{l-1}``
  is the float value of one input unit (``v_{l-1}`` for spikes,
  ``1 / pixel_max`` for pixels) and ``d`` the divisor of the average pools
  before the layer, which become integer window sums;
- biases ``b_l = round(b_float / v_l * V_l)``;
- ``input_width`` contains the exact bound ``max_i sum_j |W_ij| x_max + |b_i|``;
- ``membrane_width`` is the smallest width holding the largest ``|u|`` seen
  on calibration images, at least the width in-range inputs need, and at
  most the width whose saturation sits at ``saturation * V_l * 2^P``.

The output layer has no neurons; its weights use the largest power-of-two
scale that fits ``weight_width`` bits and the classifier takes
``argmax_c sum_t 2^(T-t) z_L[t]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys

import numpy as np
import torch
from torch import fx, nn

from golden.coding import Coding
from golden.conversion.simulate import SpikingNetwork, SpikingSite
from golden.conversion.trace import LINEAR_METHODS, node_description
from golden.integer import in_range_input_max, required_membrane_width, signed_range
from golden.integer_network import LayerStatistics, run
from golden.network_format import (
    MAX_PRECHARGE,
    MAX_TIMESTEPS,
    IntegerLayer,
    IntegerNetwork,
    current_bound,
    signed_width,
    timing_error,
)

__all__ = ["ExportError", "export_network", "main"]

logger = logging.getLogger("golden.export")

_SHAPE_FUNCTIONS = (getattr,)


class ExportError(ValueError):
    """The converted network has a structure the integer format cannot express; the message names the node."""


def _chain(network: SpikingNetwork) -> list[dict]:
    """Split the graph into stages: ``{"map": module, "pre_ops": [...], "pool_divisor": d, "site": site or None}``."""
    gm = network.graph_module
    stages: list[dict] = []
    pending: dict = {"pre_ops": [], "pool_divisor": 1, "map": None, "site": None, "name": None}
    current: fx.Node | None = None
    for node in gm.graph.nodes:
        if node.op == "placeholder":
            current = node
            continue
        if node.op == "output":
            if pending["map"] is None or pending["site"] is not None:
                raise ExportError("the network must end with a conv or linear output layer without ReLU")
            stages.append(pending)
            return stages
        if node.op == "call_method" and node.target == "size" or node.op == "call_function" and node.target in _SHAPE_FUNCTIONS:
            continue
        inputs = [arg for arg in node.all_input_nodes if not _is_shape_node(arg)]
        if inputs != [current]:
            raise ExportError(f"export supports chains of layers only; {node_description(node)} has other inputs")
        module = gm.get_submodule(node.target) if node.op == "call_module" else None
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            if pending["map"] is not None:
                raise ExportError(f"two conv/linear layers without a ReLU between them at {node_description(node)}")
            if isinstance(module, nn.Conv2d) and (
                module.groups != 1 or module.dilation != (1, 1) or module.padding_mode != "zeros"
                or module.stride[0] != module.stride[1] or module.padding[0] != module.padding[1]
                or isinstance(module.padding, str)
            ):
                raise ExportError(f"export supports square, ungrouped, undilated convs only: {node_description(node, module)}")
            pending["map"] = module
            pending["name"] = str(node.meta.get("original_target", node.target))
        elif isinstance(module, SpikingSite):
            if pending["map"] is None:
                raise ExportError(f"a ReLU must follow a conv or linear layer: {node_description(node, module)}")
            pending["site"] = module
            stages.append(pending)
            pending = {"pre_ops": [], "pool_divisor": 1, "map": None, "site": None, "name": None}
        elif isinstance(module, nn.AvgPool2d) and pending["map"] is None:
            kernel, stride = _pool_geometry(node, module)
            pending["pre_ops"].append({"op": "sum_pool2d", "kernel": kernel, "stride": stride})
            pending["pool_divisor"] *= kernel * kernel
        elif pending["map"] is None and _is_flatten(node, module):
            pending["pre_ops"].append({"op": "flatten"})
        elif isinstance(module, nn.Identity):
            pass
        else:
            raise ExportError(
                f"cannot export {node_description(node, module)}; the integer format supports chains of "
                f"[average pool, flatten] -> conv/linear -> ReLU, ending in a conv/linear output layer"
            )
        current = node
    raise ExportError("the graph has no output node")


def _is_shape_node(node: fx.Node) -> bool:
    return (node.op == "call_method" and node.target == "size") or (
        node.op == "call_function" and node.target in _SHAPE_FUNCTIONS
    )


def _is_flatten(node: fx.Node, module) -> bool:
    if isinstance(module, nn.Flatten):
        return module.start_dim == 1 and module.end_dim == -1
    if node.op == "call_function" and node.target is torch.flatten:
        return (node.args[1:2] or (node.kwargs.get("start_dim", 0),))[0] == 1
    if node.op == "call_method" and node.target in LINEAR_METHODS and node.target in ("view", "reshape", "flatten"):
        return True
    return False


def _pool_geometry(node: fx.Node, module: nn.AvgPool2d) -> tuple[int, int]:
    kernel = _square(module.kernel_size)
    stride = _square(module.stride)
    if kernel is None or stride is None or module.padding not in (0, (0, 0)) or module.ceil_mode:
        raise ExportError(f"export supports square average pools without padding only: {node_description(node, module)}")
    return kernel, stride


def _square(size) -> int | None:
    """Return ``size`` as one int if it is an int or a pair of equal ints, else None."""
    if isinstance(size, int):
        return size
    if size[0] == size[1]:
        return size[0]
    return None


def _power_of_two_scale(largest: float, weight_width: int) -> int:
    """Return the exponent k of the largest scale 2^k with ``round(largest * 2^k)`` inside ``weight_width`` bits."""
    limit = signed_range(weight_width)[1]
    if largest == 0:
        return 0
    k = math.floor(math.log2(limit / largest))
    while round(largest * 2.0 ** (k + 1)) <= limit:
        k += 1
    while round(largest * 2.0**k) > limit:
        k -= 1
    return k


def export_network(
    network: SpikingNetwork,
    *,
    input_shape: tuple[int, int, int],
    pixel_max: int,
    num_classes: int,
    calibration_pixels: np.ndarray | None = None,
    weight_width: int = 8,
    saturation: float = 4.0,
    source: dict | None = None,
) -> IntegerNetwork:
    """Export a converted TMN network to an :class:`IntegerNetwork`.

    Parameters
    ----------
    network : SpikingNetwork
        Output of :func:`golden.convert.convert` with ``coding=Coding.TMN``.
    input_shape, pixel_max, num_classes
        Image shape ``(1, H, W)``, the largest raw pixel value (the ANN input is
        ``pixels / pixel_max``) and the number of classes.
    calibration_pixels : np.ndarray or None
        Raw pixel images ``[N, H, W]`` used to size the membranes; without
        them every membrane gets the saturation-capped width.
    weight_width : int
        Signed width of every stored weight (2..16).
    saturation : float
        Largest membrane magnitude kept, in full thresholds ``V 2^P`` (>= 1).
    """
    if network.coding is not Coding.TMN:
        raise ValueError(f"export needs a TMN network, not coding {network.coding.value!r}")
    if isinstance(weight_width, bool) or not isinstance(weight_width, int) or not 2 <= weight_width <= 16:
        raise ValueError(f"weight_width must be an integer in [2, 16], not {weight_width!r}")
    if not saturation >= 1:
        raise ValueError(f"saturation must be >= 1 full threshold, not {saturation!r}")
    timesteps, precharge = network.timesteps, network.precharge
    stages = _chain(network)
    layers: list[IntegerLayer] = []
    in_unit = 1.0 / pixel_max
    shape = tuple(input_shape)
    for index, stage in enumerate(stages):
        module, site = stage["map"], stage["site"]
        if index == 0:
            role = "input"
        elif site is None:
            role = "output"
        else:
            role = "hidden"
        if role == "input" and any(op["op"] != "flatten" for op in stage["pre_ops"]):
            raise ExportError("the first layer must take the image directly (an optional flatten, no pooling)")
        weight = module.weight.detach().to(torch.float64).numpy()
        bias = (module.bias.detach().to(torch.float64).numpy() if module.bias is not None
                else np.zeros(weight.shape[0]))
        v = site.threshold if site is not None else 1.0
        scaled_weight = weight * in_unit / stage["pool_divisor"] / v
        exponent = _power_of_two_scale(float(np.abs(scaled_weight).max()), weight_width)
        if site is not None and exponent < 0:
            raise ExportError(
                f"layer {stage['name']!r}: weights scaled by the thresholds reach {np.abs(scaled_weight).max():.3g}, "
                f"more than {weight_width}-bit weights hold at threshold 1; raise weight_width"
            )
        scale = 2.0**exponent
        int_weight = np.rint(scaled_weight * scale).astype(np.int64)
        int_bias = np.rint(bias / v * scale).astype(np.int64)
        threshold = (1 << exponent) if site is not None else None
        for op in stage["pre_ops"]:
            shape = _shape_after(op, shape)
        if isinstance(module, nn.Conv2d):
            kind, stride, padding = "conv2d", module.stride[0], module.padding[0]
            kh, kw = module.kernel_size
            out_shape = (module.out_channels, (shape[1] + 2 * padding - kh) // stride + 1,
                         (shape[2] + 2 * padding - kw) // stride + 1)
        else:
            kind, stride, padding = "dense", 0, 0
            out_shape = (module.out_features,)
        bias_width = max(signed_width(int(np.abs(int_bias).max(initial=0))), 2)
        draft = IntegerLayer(
            name=stage["name"], kind=kind, role=role, weight=int_weight.astype(_dtype(weight_width)),
            bias=int_bias.astype(_dtype(bias_width)), pre_ops=tuple(stage["pre_ops"]), in_shape=shape,
            out_shape=out_shape, stride=stride, padding=padding, threshold=threshold, input_width=2,
            membrane_width=None, weight_width=weight_width, bias_width=bias_width, scale=scale / v,
            float_threshold=site.threshold if site is not None else None,
        )
        input_max = pixel_max if role == "input" else stage["pool_divisor"]
        bound = current_bound(draft, input_max)
        input_width = signed_width(max(bound, threshold or 0))
        membrane_width = None
        if threshold is not None:
            membrane_width = _saturation_width(threshold, precharge, saturation)
        layers.append(_replace(draft, input_width=input_width, membrane_width=membrane_width))
        shape = out_shape
        in_unit = v
    integer = IntegerNetwork(
        timesteps=timesteps, precharge=precharge, input_shape=tuple(input_shape), pixel_max=pixel_max,
        num_classes=num_classes, layers=tuple(layers), source=dict(source or {}),
    )
    if calibration_pixels is not None and len(calibration_pixels):
        integer = _size_membranes(integer, calibration_pixels, saturation)
    integer.validate()
    return integer


def _dtype(width: int):
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        if width <= np.iinfo(dtype).bits:
            return dtype
    raise ValueError(f"width {width} exceeds 64 bits")


def _shape_after(op: dict, shape: tuple) -> tuple:
    if op["op"] == "flatten":
        return (int(np.prod(shape)),)
    c, h, w = shape
    k, s = op["kernel"], op["stride"]
    return (c, (h - k) // s + 1, (w - k) // s + 1)


def _replace(layer: IntegerLayer, **changes) -> IntegerLayer:
    return dataclasses.replace(layer, **changes)


def _saturation_width(threshold: int, precharge: int, saturation: float) -> int:
    """Return the membrane width whose largest value is about ``saturation`` full thresholds."""
    return signed_width(max(int(saturation * (threshold << precharge)) - 1, 1))


def _in_range_width(network: IntegerNetwork, layer: IntegerLayer) -> int:
    return required_membrane_width(
        network.timesteps, network.precharge, layer.threshold, in_range_input_max(network.precharge, layer.threshold)
    )


def _size_membranes(network: IntegerNetwork, pixels: np.ndarray, saturation: float) -> IntegerNetwork:
    """Set each membrane width from the largest ``|u|`` seen on ``pixels`` with unsaturated (wide) membranes."""
    neuron_layers = [layer for layer in network.layers if layer.threshold is not None]
    wide = []
    for layer in neuron_layers:
        width = required_membrane_width(
            network.timesteps, network.precharge, layer.threshold, (1 << (layer.input_width - 1)) - 1
        )
        wide.append(min(width, 62))
    statistics = [LayerStatistics(layer.name, w) for layer, w in zip(neuron_layers, wide)]
    for start in range(0, len(pixels), 200):
        run(network, pixels[start : start + 200], membrane_widths=wide, statistics=statistics)
    sized = {}
    for layer, stat in zip(neuron_layers, statistics):
        seen = signed_width(max(stat.max_membrane, 1))
        cap = _saturation_width(layer.threshold, network.precharge, saturation)
        in_range = _in_range_width(network, layer)
        sized[layer.name] = max(min(seen, cap), in_range)
        logger.info(
            "layer %s: largest |u| %d on calibration with wide membranes, membrane width %d bits "
            "(at most %d to saturate at %g full thresholds, at least %d for in-range inputs)",
            layer.name, stat.max_membrane, sized[layer.name], cap, saturation, in_range,
        )
    layers = tuple(
        _replace(layer, membrane_width=sized[layer.name]) if layer.threshold is not None else layer
        for layer in network.layers
    )
    return _replace_network(network, layers)


def _replace_network(network: IntegerNetwork, layers) -> IntegerNetwork:
    return dataclasses.replace(network, layers=tuple(layers))


def _parse_args(argv) -> tuple[argparse.ArgumentParser, argparse.Namespace]:
    parser = argparse.ArgumentParser(
        prog="python -m golden.export",
        description="Convert a checkpoint to TMN, export the integer network file and compare it with the float SNN.",
        epilog="--json prints float_snn_accuracy, integer_accuracy and ann_accuracy (percent), "
        "integer_minus_float_pp, images, the network file and a layers list with membrane statistics.",
    )
    parser.add_argument("checkpoint", help="checkpoint written by python -m golden.train")
    parser.add_argument("--timesteps", "-T", type=int, required=True,
                        help=f"input steps T, 1..{MAX_TIMESTEPS}")
    parser.add_argument("--precharge", "-P", type=int, default=1,
                        help=f"pre-charge steps P, 0..{MAX_PRECHARGE} (default 1)")
    parser.add_argument("--out", required=True, help="network file to write (.npz)")
    parser.add_argument("--weight-width", type=int, default=8, help="signed weight width in bits, 2..16 (default 8)")
    parser.add_argument("--saturation", type=float, default=4.0,
                        help="membrane saturation level in full thresholds V 2^P, >= 1 (default 4)")
    parser.add_argument("--calibration-images", type=int, default=2000,
                        help="training images that size the membranes (default 2000)")
    parser.add_argument("--calibration-batches", type=int, default=10,
                        help="training batches of 256 for the float thresholds (default 10)")
    parser.add_argument("--percentile", type=float, default=99.99, help="threshold percentile (default 99.99)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test images (default: all)")
    parser.add_argument("--no-evaluate", action="store_true", help="write the file without evaluating it")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    args = parser.parse_args(argv)
    _check_args(parser, args)
    return parser, args


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Reject invalid options before any conversion work starts."""
    message = timing_error(args.timesteps, args.precharge)
    if message is not None:
        parser.error(message)
    if not 2 <= args.weight_width <= 16:
        parser.error(f"--weight-width must be in [2, 16] bits, not {args.weight_width}")
    if not args.saturation >= 1:
        parser.error(f"--saturation must be >= 1 full threshold, not {args.saturation:g}")
    if not 0 < args.percentile <= 100:
        parser.error(f"--percentile must be in (0, 100], not {args.percentile:g}")
    for option in ("calibration_images", "calibration_batches", "limit"):
        value = getattr(args, option)
        if value is not None and value < 1:
            parser.error(f"--{option.replace('_', '-')} must be >= 1, not {value}")


def main(argv=None) -> None:
    parser, args = _parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    torch.set_num_threads(2)
    try:
        _run(args)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))


def _run(args: argparse.Namespace) -> None:
    """Convert, export, evaluate and print the report of the parsed command line."""
    from golden.checkpoint import load_checkpoint, model_from_checkpoint
    from golden.convert import convert, evaluate
    from golden.data import load_dataset
    from golden.integer_network import evaluate as evaluate_integer
    from golden.integer_network import print_statistics, statistics_table
    from golden.network_format import save_network

    payload = load_checkpoint(args.checkpoint)
    meta = payload["meta"]
    model = model_from_checkpoint(payload)
    train = load_dataset(meta["dataset"], "train")
    network = convert(
        model, train.loader(256, shuffle=True, seed=0), timesteps=args.timesteps, precharge=args.precharge,
        percentile=args.percentile, calibration_batches=args.calibration_batches,
    )
    calibration = train.pixels[np.random.default_rng(0).permutation(len(train))[: args.calibration_images]]
    integer = export_network(
        network, input_shape=tuple(meta["input_shape"]), pixel_max=int(meta["pixel_max"]),
        num_classes=int(meta["num_classes"]), calibration_pixels=calibration, weight_width=args.weight_width,
        saturation=args.saturation,
        source={"checkpoint": str(args.checkpoint), "arch": meta["arch"], "dataset": meta["dataset"],
                "ann_accuracy": meta["accuracy"], "percentile": args.percentile},
    )
    save_network(args.out, integer)
    logger.info("wrote %s", args.out)
    if args.no_evaluate:
        return
    test = load_dataset(meta["dataset"], "test")
    result = evaluate(network, test.loader(100, limit=args.limit))
    pixels, labels = test.pixels[: args.limit], test.labels[: args.limit]
    accuracy, statistics = evaluate_integer(integer, pixels, labels)
    report = {
        "network": str(args.out),
        "images": len(labels),
        "timesteps": integer.timesteps,
        "precharge": integer.precharge,
        "latency": integer.latency,
        "ann_accuracy": result.ann_accuracy,
        "float_snn_accuracy": result.snn_accuracy,
        "integer_accuracy": accuracy,
        "integer_minus_float_pp": accuracy - result.snn_accuracy,
        "layers": statistics_table(statistics, len(labels)),
        "thresholds": [layer.threshold for layer in integer.layers],
        "input_widths": [layer.input_width for layer in integer.layers],
    }
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
        return
    print(f"wrote {args.out}: T = {integer.timesteps}, P = {integer.precharge}, latency {integer.latency} steps")
    print(f"ANN accuracy             {result.ann_accuracy:.2f}%")
    print(f"float SNN accuracy       {result.snn_accuracy:.2f}%")
    print(f"integer network accuracy {accuracy:.2f}% ({accuracy - result.snn_accuracy:+.2f} points)")
    # The output layer accumulates scores and has no threshold.
    thresholds = ("output" if layer.threshold is None else str(layer.threshold) for layer in integer.layers)
    print("layer thresholds V: " + ", ".join(thresholds))
    print("input widths: " + ", ".join(str(layer.input_width) for layer in integer.layers))
    print_statistics(statistics, len(labels))


if __name__ == "__main__":
    main()
