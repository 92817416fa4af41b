"""The integer network file: an ``.npz`` of integer arrays plus a JSON header, checked on load.

``docs/network-format.md`` defines the semantics; this module reads, writes
and validates the files. Array ``header`` contains the UTF-8 JSON header as
uint8; every other array is a layer's weights or biases, named in the header.
Files load with ``allow_pickle=False``.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from golden.integer import IntegerNeuronConfig, signed_range

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "IntegerLayer",
    "IntegerNetwork",
    "InvalidNetworkError",
    "MAX_PRECHARGE",
    "MAX_TIMESTEPS",
    "load_network",
    "save_network",
    "timing_error",
]

FORMAT_NAME = "tmn-hw-network"
FORMAT_VERSION = 1
LAYER_KINDS = ("dense", "conv2d")
LAYER_ROLES = ("input", "hidden", "output")
PRE_OPS = ("sum_pool2d", "flatten")
MAX_TIMESTEPS = 30
"""Largest T that a network file stores: T is in [1, MAX_TIMESTEPS]."""
MAX_PRECHARGE = 30
"""Largest P that a network file stores: P is in [0, MAX_PRECHARGE]."""


def timing_error(timesteps: int, precharge: int) -> str | None:
    """Return the command-line error for a ``--timesteps`` or ``--precharge`` a network file cannot store, else None."""
    if not 1 <= timesteps <= MAX_TIMESTEPS:
        return (f"--timesteps must be in [1, {MAX_TIMESTEPS}], not {timesteps}: the network file format stores T in "
                f"[1, {MAX_TIMESTEPS}]")
    if not 0 <= precharge <= MAX_PRECHARGE:
        return (f"--precharge must be in [0, {MAX_PRECHARGE}], not {precharge}: the network file format stores P in "
                f"[0, {MAX_PRECHARGE}]")
    return None


class InvalidNetworkError(ValueError):
    """An integer network file or object breaks the format; the message names the file, layer and field."""


def signed_width(magnitude: int) -> int:
    """Return the smallest two's-complement width that holds every integer in [-magnitude, magnitude]."""
    return int(magnitude).bit_length() + 1


@dataclasses.dataclass(frozen=True)
class IntegerLayer:
    """One layer of the integer network: an integer conv or dense map, then TMN neurons or the output accumulator.

    Attributes
    ----------
    name : str
        Name of the layer in the source model.
    kind : str
        ``"dense"`` (weight ``[out, in]``) or ``"conv2d"`` (weight ``[out, in, kh, kw]``).
    role : str
        ``"input"`` (fed by the image pixels, host-side), ``"hidden"`` (fed by
        spikes) or ``"output"`` (fed by spikes, no neurons: the accumulator).
    weight, bias : np.ndarray
        Integer weights and biases.
    pre_ops : tuple of dict
        Operations on the incoming spikes before the map: ``{"op": "sum_pool2d",
        "kernel": k, "stride": s}`` (sum over each k x k window) or ``{"op": "flatten"}``.
    in_shape, out_shape : tuple of int
        Per-image shape of the map's input (after ``pre_ops``) and output.
    stride, padding : int
        Conv stride and zero padding (0 for dense layers).
    threshold : int or None
        Neuron threshold ``V`` (a power of two); None for the output layer.
    input_width : int
        Signed width that holds every input current ``z`` exactly.
    membrane_width : int or None
        Signed width of the membrane register; None for the output layer.
    weight_width, bias_width : int
        Signed widths of the stored weights and biases.
    scale : float
        Integer units per float unit of this layer's currents (``V / v``).
    float_threshold : float or None
        Threshold ``v`` of the float SNN this layer came from.
    """

    name: str
    kind: str
    role: str
    weight: np.ndarray
    bias: np.ndarray
    pre_ops: tuple
    in_shape: tuple
    out_shape: tuple
    stride: int
    padding: int
    threshold: int | None
    input_width: int
    membrane_width: int | None
    weight_width: int
    bias_width: int
    scale: float
    float_threshold: float | None

    def neuron_config(self, timesteps: int, precharge: int) -> IntegerNeuronConfig:
        """Return the integer neuron configuration of this layer (hidden and input layers only)."""
        if self.threshold is None:
            raise ValueError(f"layer {self.name!r} is the output accumulator and has no neurons")
        return IntegerNeuronConfig(
            timesteps=timesteps,
            precharge=precharge,
            threshold=self.threshold,
            input_width=self.input_width,
            membrane_width=self.membrane_width,
            gate=True,
        )

    def header(self, index: int) -> dict:
        """Return the JSON description of this layer; its arrays are ``layer{index}.weight`` and ``.bias``."""
        return {
            "name": self.name,
            "kind": self.kind,
            "role": self.role,
            "weight": f"layer{index}.weight",
            "bias": f"layer{index}.bias",
            "pre_ops": [dict(op) for op in self.pre_ops],
            "in_shape": list(self.in_shape),
            "out_shape": list(self.out_shape),
            "stride": self.stride,
            "padding": self.padding,
            "threshold": self.threshold,
            "input_width": self.input_width,
            "membrane_width": self.membrane_width,
            "weight_width": self.weight_width,
            "bias_width": self.bias_width,
            "scale": self.scale,
            "float_threshold": self.float_threshold,
        }


@dataclasses.dataclass(frozen=True)
class IntegerNetwork:
    """An exported integer network: T, P, the input description and the layers in order."""

    timesteps: int
    precharge: int
    input_shape: tuple
    pixel_max: int
    num_classes: int
    layers: tuple[IntegerLayer, ...]
    source: dict = dataclasses.field(default_factory=dict)

    @property
    def latency(self) -> int:
        """Steps from the first input current to the last output-layer current: ``T + L P``."""
        return self.timesteps + self.precharge * sum(layer.threshold is not None for layer in self.layers)

    def header(self) -> dict:
        """Return the JSON header of this network."""
        return {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "timesteps": self.timesteps,
            "precharge": self.precharge,
            "input": {"shape": list(self.input_shape), "pixel_max": self.pixel_max},
            "num_classes": self.num_classes,
            "source": self.source,
            "layers": [layer.header(i) for i, layer in enumerate(self.layers)],
        }

    def validate(self, where: str = "network") -> None:
        """Check every rule of the format; raise :class:`InvalidNetworkError` naming the first broken one."""
        _validate(self, where)


def _fail(where: str, message: str):
    raise InvalidNetworkError(f"{where}: {message}")


def _check_int_field(where: str, name: str, value, minimum: int, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        _fail(where, f"{name} must be an integer, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        _fail(where, f"{name} must be {allowed}, not {value}")
    return int(value)


def _apply_pre_ops_shape(where: str, shape: tuple, pre_ops) -> tuple:
    for op in pre_ops:
        if op.get("op") == "flatten":
            shape = (int(np.prod(shape)),)
        elif op.get("op") == "sum_pool2d":
            kernel = _check_int_field(where, "sum_pool2d kernel", op.get("kernel"), 1)
            stride = _check_int_field(where, "sum_pool2d stride", op.get("stride"), 1)
            if len(shape) != 3:
                _fail(where, f"sum_pool2d needs a [C, H, W] input, not shape {shape}")
            c, h, w = shape
            shape = (c, (h - kernel) // stride + 1, (w - kernel) // stride + 1)
        else:
            _fail(where, f"pre_ops entry {op!r} is not one of {PRE_OPS}")
    return shape


def _pre_op_gain(pre_ops) -> int:
    """Return the largest factor by which ``pre_ops`` can grow one input magnitude (a k x k sum: k^2)."""
    gain = 1
    for op in pre_ops:
        if op["op"] == "sum_pool2d":
            gain *= op["kernel"] ** 2
    return gain


def current_bound(layer: IntegerLayer, input_max: int) -> int:
    """Return the largest ``|z|`` of ``layer`` when each map input has magnitude <= ``input_max``."""
    weight = np.abs(layer.weight.astype(np.int64)).reshape(len(layer.weight), -1).sum(1)
    return int((weight * input_max + np.abs(layer.bias.astype(np.int64))).max())


def layer_input_max(network: IntegerNetwork, index: int) -> int:
    """Return the largest magnitude of one map input of layer ``index``: pixels or pooled spikes."""
    layer = network.layers[index]
    if layer.role == "input":
        return network.pixel_max
    return _pre_op_gain(layer.pre_ops)


def _validate(network: IntegerNetwork, where: str) -> None:
    timesteps = _check_int_field(where, "timesteps", network.timesteps, 1, MAX_TIMESTEPS)
    precharge = _check_int_field(where, "precharge", network.precharge, 0, MAX_PRECHARGE)
    _check_int_field(where, "pixel_max", network.pixel_max, 1)
    _check_int_field(where, "num_classes", network.num_classes, 1)
    if not network.layers:
        _fail(where, "the network has no layers")
    if len(network.layers) < 2:
        _fail(where, f"the network needs an input layer and an output layer, not {len(network.layers)} layer")
    shape = tuple(network.input_shape)
    for index, layer in enumerate(network.layers):
        at = f"{where}, layer {index} ({layer.name!r})"
        if index == 0:
            expected_role = "input"
        elif index == len(network.layers) - 1:
            expected_role = "output"
        else:
            expected_role = "hidden"
        if layer.role != expected_role:
            _fail(at, f"role must be {expected_role!r} at this position, not {layer.role!r}")
        if layer.kind not in LAYER_KINDS:
            _fail(at, f"kind must be one of {LAYER_KINDS}, not {layer.kind!r}")
        if layer.role == "input" and any(op.get("op") != "flatten" for op in layer.pre_ops):
            _fail(at, "the input layer takes the pixels directly: its only allowed pre_op is flatten")
        shape = _apply_pre_ops_shape(at, shape, layer.pre_ops)
        if tuple(layer.in_shape) != shape:
            _fail(at, f"in_shape {tuple(layer.in_shape)} does not match the incoming shape {shape}")
        for name in ("weight", "bias"):
            array = getattr(layer, name)
            if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.integer):
                _fail(at, f"{name} must be an integer array, not {getattr(array, 'dtype', type(array))}")
        weight_width = _check_int_field(at, "weight_width", layer.weight_width, 2, 32)
        bias_width = _check_int_field(at, "bias_width", layer.bias_width, 2, 62)
        for name, width in (("weight", weight_width), ("bias", bias_width)):
            array = getattr(layer, name)
            low, high = signed_range(width)
            if array.size and (array.min() < low or array.max() > high):
                _fail(at, f"{name} values [{array.min()}, {array.max()}] exceed the {width}-bit range [{low}, {high}]")
        out_channels = layer.weight.shape[0] if layer.weight.ndim else 0
        if layer.bias.shape != (out_channels,):
            _fail(at, f"bias shape {layer.bias.shape} must be ({out_channels},) to match weight {layer.weight.shape}")
        if layer.kind == "dense":
            if layer.weight.ndim != 2 or len(shape) != 1 or layer.weight.shape[1] != shape[0]:
                _fail(at, f"dense weight {layer.weight.shape} does not fit the input shape {shape}")
            out_shape = (layer.weight.shape[0],)
        else:
            stride = _check_int_field(at, "stride", layer.stride, 1)
            padding = _check_int_field(at, "padding", layer.padding, 0)
            if layer.weight.ndim != 4 or len(shape) != 3 or layer.weight.shape[1] != shape[0]:
                _fail(at, f"conv2d weight {layer.weight.shape} does not fit the input shape {shape}")
            kh, kw = layer.weight.shape[2:]
            out_shape = (
                layer.weight.shape[0],
                (shape[1] + 2 * padding - kh) // stride + 1,
                (shape[2] + 2 * padding - kw) // stride + 1,
            )
        if tuple(layer.out_shape) != out_shape:
            _fail(at, f"out_shape {tuple(layer.out_shape)} does not match the computed {out_shape}")
        input_width = _check_int_field(at, "input_width", layer.input_width, 2, 52)
        bound = current_bound(layer, layer_input_max(network, index))
        if signed_range(input_width)[1] < bound:
            _fail(at, f"input_width {input_width} cannot hold the current bound {bound}; need {signed_width(bound)}")
        if layer.role == "output":
            if layer.threshold is not None or layer.membrane_width is not None:
                _fail(at, "the output layer is an accumulator: threshold and membrane_width must be null")
            if out_shape != (network.num_classes,):
                _fail(at, f"the output layer must produce num_classes = {network.num_classes} values, not {out_shape}")
        else:
            threshold = _check_int_field(at, "threshold", layer.threshold, 1)
            if threshold & (threshold - 1):
                _fail(at, f"threshold must be a power of two, not {threshold}")
            _check_int_field(at, "membrane_width", layer.membrane_width, 2, 62)
            try:
                layer.neuron_config(timesteps, precharge)
            except ValueError as error:
                _fail(at, str(error))
        shape = out_shape


def save_network(path: Path | str, network: IntegerNetwork) -> None:
    """Validate ``network`` and write it to ``path`` atomically."""
    network.validate()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"header": np.frombuffer(json.dumps(network.header(), indent=1).encode(), dtype=np.uint8)}
    for index, layer in enumerate(network.layers):
        arrays[f"layer{index}.weight"] = layer.weight
        arrays[f"layer{index}.bias"] = layer.bias
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def _layer_from_header(where: str, entry: dict, arrays) -> IntegerLayer:
    required = (
        "name", "kind", "role", "weight", "bias", "pre_ops", "in_shape", "out_shape", "stride", "padding",
        "threshold", "input_width", "membrane_width", "weight_width", "bias_width", "scale", "float_threshold",
    )
    missing = [key for key in required if key not in entry]
    if missing:
        _fail(where, f"missing header fields {', '.join(missing)}")
    for key in ("weight", "bias"):
        if entry[key] not in arrays:
            _fail(where, f"array {entry[key]!r} named by field {key!r} is missing from the file")
    return IntegerLayer(
        name=str(entry["name"]),
        kind=entry["kind"],
        role=entry["role"],
        weight=arrays[entry["weight"]],
        bias=arrays[entry["bias"]],
        pre_ops=tuple(dict(op) for op in entry["pre_ops"]),
        in_shape=tuple(entry["in_shape"]),
        out_shape=tuple(entry["out_shape"]),
        stride=entry["stride"],
        padding=entry["padding"],
        threshold=entry["threshold"],
        input_width=entry["input_width"],
        membrane_width=entry["membrane_width"],
        weight_width=entry["weight_width"],
        bias_width=entry["bias_width"],
        scale=float(entry["scale"]),
        float_threshold=entry["float_threshold"],
    )


def _is_torch_checkpoint(path: Path) -> bool:
    """Return whether ``path`` is a zip archive in torch.save's layout (a ``data.pkl`` in one folder)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return any(name.endswith("/data.pkl") for name in archive.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def load_network(path: Path | str) -> IntegerNetwork:
    """Load and validate an integer network file.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    InvalidNetworkError
        If the file is not a valid network of this format version; the message names the broken rule.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"network file {path} not found; write one with 'python -m golden.export'")
    not_a_network = f"{path}: not a .npz network file written by python -m golden.export"
    try:
        data = np.load(path, allow_pickle=False)
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        # numpy's message for a file that is no archive suggests allow_pickle, which would run code from the file.
        raise InvalidNetworkError(not_a_network) from None
    if not isinstance(data, np.lib.npyio.NpzFile):
        raise InvalidNetworkError(f"{not_a_network}; it is a single .npy array")
    try:
        with data:
            arrays = {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError):
        raise InvalidNetworkError(f"{not_a_network}; its arrays cannot be read") from None
    if "header" not in arrays:
        if _is_torch_checkpoint(path):
            raise InvalidNetworkError(
                f"{not_a_network}; it is a PyTorch checkpoint, so export it first: "
                f"python -m golden.export {path} --timesteps T --out NET.npz"
            )
        raise InvalidNetworkError(f"{not_a_network}; the array 'header' is missing")
    try:
        header = json.load(io.BytesIO(arrays.pop("header").tobytes()))
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise InvalidNetworkError(f"{path}: the header is not valid JSON ({error})") from error
    if not isinstance(header, dict) or header.get("format") != FORMAT_NAME:
        _fail(str(path), f"format must be {FORMAT_NAME!r}, not {header.get('format') if isinstance(header, dict) else header!r}")
    if header.get("version") != FORMAT_VERSION:
        _fail(str(path), f"format version {header.get('version')!r} is not supported; this code reads version {FORMAT_VERSION}")
    missing = [key for key in ("timesteps", "precharge", "input", "num_classes", "layers") if key not in header]
    if missing:
        _fail(str(path), f"missing header fields {', '.join(missing)}")
    if not isinstance(header["layers"], list):
        _fail(str(path), "header field 'layers' must be a list")
    layers = tuple(
        _layer_from_header(f"{path}, layer {i}", entry, arrays) for i, entry in enumerate(header["layers"])
    )
    network = IntegerNetwork(
        timesteps=header["timesteps"],
        precharge=header["precharge"],
        input_shape=tuple(header["input"].get("shape", ())),
        pixel_max=header["input"].get("pixel_max"),
        num_classes=header["num_classes"],
        layers=layers,
        source=header.get("source", {}),
    )
    network.validate(str(path))
    return network
