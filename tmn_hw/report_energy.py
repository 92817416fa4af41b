"""Energy section of ``python -m tmn_hw.report``: a converted network's operations and energy per image.

The ANN, its TMN conversion and its rate-coded (IF) conversion run on the
test set of the checkpoint's data set with :mod:`golden.convert`, which
counts spikes, synaptic accumulates and the analog first layer's MACs per
image. :mod:`tmn_hw.energy` turns the counts into energy, by the 45 nm
convention and as a fixed-point estimate at the network's integer widths.

Without a checkpoint, a small MLP is trained on scikit-learn's digits in a
few seconds (seeded) and cached under ``build/report/``.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import torch
from torch import fx, nn

from golden.integer import required_membrane_width
from golden.integer_if import required_if_membrane_width
from tmn_hw.energy import (
    ACCUMULATE_PJ,
    CONSTANTS,
    MAC_PJ,
    FixedPointWidths,
    conventional_energy,
    fixed_point_energy,
)

__all__ = [
    "DEFAULT_CHECKPOINT_DIR",
    "ann_operation_counts",
    "compare_networks",
    "default_checkpoint",
    "default_checkpoint_path",
    "energy_section",
    "integer_widths",
]

logger = logging.getLogger("tmn_hw.report")

DEFAULT_CHECKPOINT_DIR = Path(__file__).resolve().parent.parent / "build" / "report"
DEFAULT_SEED = 0
DEFAULT_EPOCHS = 30
# Rate coding is accepted at the first tried T whose accuracy is within this many points of the ANN.
RATE_TOLERANCE_PP = 0.5
# Activation width of the fixed-point ANN estimate (8-bit integer inference).
ANN_ACTIVATION_BITS = 8


def default_checkpoint_path() -> Path:
    """Return the cache path of the default network, named after its architecture and training settings.

    A change of ``golden.models.MLP`` changes the name, so that a stale
    checkpoint of another architecture is never loaded.
    """
    from golden.models import build_model

    architecture = repr(build_model("mlp", (1, 8, 8), 10))
    digest = hashlib.sha256(f"{architecture} epochs={DEFAULT_EPOCHS}".encode()).hexdigest()[:8]
    return DEFAULT_CHECKPOINT_DIR / f"digits-mlp-seed{DEFAULT_SEED}-{digest}.pt"


def default_checkpoint(path: Path | None = None) -> Path:
    """Return ``path``, first training the quick default network there if it does not exist.

    The network is the reference MLP (64-256-128-10 with BatchNorm) trained
    for 30 epochs on the training split of scikit-learn's digits, seed 0.
    ``path`` defaults to :func:`default_checkpoint_path`.
    """
    from golden.checkpoint import save_checkpoint
    from golden.data import load_dataset
    from golden.models import build_model
    from golden.train import train

    path = default_checkpoint_path() if path is None else Path(path)
    if path.is_file():
        return path

    logger.info("training the default MLP on digits into %s", path)
    torch.manual_seed(DEFAULT_SEED)
    train_set = load_dataset("digits", "train")
    test_set = load_dataset("digits", "test")
    model = build_model("mlp", train_set.input_shape, train_set.num_classes)
    accuracy = train(
        model,
        train_set.loader(64, shuffle=True, seed=DEFAULT_SEED),
        test_set.loader(1000),
        epochs=DEFAULT_EPOCHS,
        lr=2e-3,
        weight_decay=1e-4,
        flip=False,
    )
    meta = {
        "arch": "mlp",
        "dataset": "digits",
        "input_shape": list(train_set.input_shape),
        "num_classes": train_set.num_classes,
        "pixel_max": train_set.pixel_max,
        "accuracy": accuracy,
        "epochs": DEFAULT_EPOCHS,
        "seed": DEFAULT_SEED,
        "quantise_timesteps": None,
    }
    save_checkpoint(path, model.eval(), meta)
    return path


def ann_operation_counts(model: nn.Module, x: torch.Tensor) -> list[dict]:
    """Return the per-image MACs of every conv and linear layer of ``model`` on a batch ``x``.

    Each layer is a dict of the form :mod:`tmn_hw.energy` reads, with kind
    ``"analog"``: in an ANN every layer multiplies real-valued activations.
    """
    from golden.conversion.ops import dense_macs_per_sample

    layers: list[dict] = []
    hooks = []

    def hook_for(name):
        def hook(module, args, output):
            macs = dense_macs_per_sample(module, args[0], output)
            layers.append(
                {"name": name, "kind": "analog", "neurons": output[0].numel(), "spikes": 0.0,
                 "synaptic_ops": 0.0, "macs": float(macs)}
            )

        return hook

    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            hooks.append(module.register_forward_hook(hook_for(name)))
    try:
        with torch.no_grad():
            model.eval()(x)
    finally:
        for handle in hooks:
            handle.remove()
    return layers


def _signed_bits(magnitude: float) -> int:
    return max(2, int(magnitude).bit_length() + 1)


def _previous(gm: fx.GraphModule, node: fx.Node, kinds: tuple) -> nn.Module | None:
    """Return the nearest module of one of ``kinds`` upstream of ``node`` (first inputs first)."""
    pending = list(node.all_input_nodes)
    while pending:
        current = pending.pop(0)
        if current.op == "call_module" and isinstance(gm.get_submodule(current.target), kinds):
            return gm.get_submodule(current.target)
        pending.extend(current.all_input_nodes)
    return None


def _layer_label(network, target: str) -> tuple[str, str]:
    """Return the name under which operation counts list conv/linear module ``target``, and its kind."""
    label, kind = network.layer_kinds[target]
    return str(label), kind


def integer_widths(network, pixel_max: int, weight_bits: int) -> dict:
    """Return the fixed-point widths of each layer of a converted network, by layer name.

    Each conv or linear layer gets symmetric ``weight_bits`` weights (scale
    ``max|W| / (2^(b-1) - 1)``). Its accumulator is wide enough for the largest current
    of one step, ``max_j sum_i |w_ij|`` times the largest input (the pixel
    maximum for the analog layer, 1 for spike digits). Each spiking layer's
    threshold in those integer units sets its membrane width: the width at
    which in-range inputs never saturate (``golden.integer`` for TMN,
    ``golden.integer_if`` for IF neurons). The analog layer's input width is
    that of the raw pixels.
    """
    from golden.coding import Coding
    from golden.conversion.simulate import SpikingSite

    gm = network.graph_module
    largest_weight = (1 << (weight_bits - 1)) - 1
    pixel_bits = max(1, int(pixel_max).bit_length())
    widths: dict[str, FixedPointWidths] = {}
    scale_of: dict[int, tuple[float, float]] = {}  # id(layer) -> (weight scale, input scale)

    for node in gm.graph.nodes:
        if node.op != "call_module":
            continue
        module = gm.get_submodule(node.target)
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            weight = module.weight.detach().to(torch.float64)
            scale = float(weight.abs().max()) / largest_weight or 1.0
            quantised = torch.round(weight / scale).abs()
            row_sums = quantised.reshape(quantised.shape[0], -1).sum(1)
            label, kind = _layer_label(network, node.target)
            site = _previous(gm, node, (SpikingSite,))
            analog = kind == "analog" or site is None
            input_max = pixel_max if analog else 1
            input_scale = 1.0 / pixel_max if analog else site.threshold
            scale_of[id(module)] = (scale, input_scale, label)
            widths[label] = FixedPointWidths(
                weight_bits=weight_bits,
                input_bits=pixel_bits,
                accumulator_bits=min(64, _signed_bits(float(row_sums.max()) * input_max)),
                membrane_bits=min(64, _signed_bits(float(row_sums.max()) * input_max)),
            )
        elif isinstance(module, SpikingSite):
            layer = _previous(gm, node, (nn.Conv2d, nn.Linear))
            scale, input_scale, label = scale_of[id(layer)]
            threshold = max(1, round(module.threshold / (scale * input_scale)))
            if network.coding is Coding.TMN:
                membrane = required_membrane_width(network.timesteps, network.precharge, threshold, threshold)
            else:
                membrane = required_if_membrane_width(network.timesteps, threshold, threshold)
            upstream = widths[label]
            widths[module.name] = FixedPointWidths(
                weight_bits=weight_bits,
                input_bits=pixel_bits,
                accumulator_bits=upstream.accumulator_bits,
                membrane_bits=min(64, membrane),
            )
    return widths


def _ann_widths(model: nn.Module, pixel_max: int, weight_bits: int) -> dict:
    """Return fixed-point widths of an integer ANN: ``weight_bits`` weights, 8-bit activations."""
    largest_weight = (1 << (weight_bits - 1)) - 1
    widths = {}
    first = True
    for name, module in model.named_modules():
        if not isinstance(module, (nn.Conv2d, nn.Linear)):
            continue
        weight = module.weight.detach().to(torch.float64)
        scale = float(weight.abs().max()) / largest_weight or 1.0
        row_sums = torch.round(weight / scale).abs().reshape(weight.shape[0], -1).sum(1)
        input_bits = max(1, int(pixel_max).bit_length()) if first else ANN_ACTIVATION_BITS
        input_max = pixel_max if first else (1 << ANN_ACTIVATION_BITS) - 1
        accumulator = min(64, _signed_bits(float(row_sums.max()) * input_max))
        widths[name] = FixedPointWidths(weight_bits, input_bits, accumulator, accumulator)
        first = False
    return widths


def _layer_rows(layers: list[dict], conventional: dict, fixed: dict, widths: dict) -> list[dict]:
    energy_of = {row["name"]: row["energy_pj"] for row in conventional["layers"]}
    fixed_of = {row["name"]: row for row in fixed["layers"]}
    rows = []
    for layer in layers:
        width = widths[layer["name"]]
        rows.append(
            {
                "name": layer["name"],
                "kind": layer["kind"],
                "neurons": layer["neurons"],
                "spikes": layer["spikes"],
                "negative_spikes": layer.get("negative_spikes", 0.0),
                "accumulates": layer["synaptic_ops"],
                "macs": layer["macs"],
                "energy_pj": energy_of.get(layer["name"], 0.0),
                "fixed_point_pj": fixed_of[layer["name"]]["energy_pj"],
                "widths": {
                    "weight_bits": width.weight_bits,
                    "input_bits": width.input_bits,
                    "accumulator_bits": width.accumulator_bits,
                    "membrane_bits": width.membrane_bits,
                },
            }
        )
    return rows


def _network_entry(name, coding, timesteps, precharge, accuracy, layers, widths, steps, note) -> dict:
    conventional = conventional_energy(layers)
    fixed = fixed_point_energy(layers, widths, steps)
    return {
        "name": name,
        "coding": coding,
        "timesteps": timesteps,
        "precharge": precharge,
        "accuracy": accuracy,
        "note": note,
        "spikes": sum(layer["spikes"] for layer in layers),
        "accumulates": conventional["accumulates"],
        "macs": conventional["macs"],
        "energy_pj": conventional["energy_pj"],
        "fixed_point_pj": fixed["energy_pj"],
        "fixed_point_breakdown_pj": {
            "arithmetic": fixed["arithmetic_pj"],
            "weight_reads": fixed["weight_reads_pj"],
            "membrane": fixed["membrane_pj"],
        },
        "layers": _layer_rows(layers, conventional, fixed, widths),
    }


def _rate_prefixes(largest: int) -> list[int]:
    prefixes, t = [], 1
    while t < largest:
        prefixes.append(t)
        t *= 2
    return prefixes + [largest]


def energy_section(
    checkpoint=None,
    dataset: str | None = None,
    *,
    timesteps: int = 6,
    precharge: int = 1,
    rate_timesteps: int = 256,
    limit: int | None = None,
    weight_bits: int = 8,
    progress: bool = True,
) -> dict:
    """Convert the checkpoint's network, run ANN, TMN SNN and rate-coded SNN, and return the energy section.

    ``timesteps`` and ``precharge`` are the TMN's T and P; the rate-coded SNN
    runs up to ``rate_timesteps`` steps and is reported at the first power of
    two (or ``rate_timesteps``) whose accuracy is within 0.5 points of the
    ANN, else at ``rate_timesteps``. ``limit`` evaluates only the first test
    images. Returns a dict with ``dataset``, ``checkpoint``, ``images``,
    ``constants`` and ``networks`` (ANN, TMN SNN, rate SNN; see docs/report.md).

    Raises
    ------
    ValueError
        ``dataset`` differs from the checkpoint's, or a parameter is out of range.
    FileNotFoundError
        The checkpoint or the data set is missing.
    """
    from golden.checkpoint import load_checkpoint, model_from_checkpoint
    from golden.data import load_dataset

    for name, value, minimum in (("timesteps", timesteps, 1), ("precharge", precharge, 0),
                                 ("rate_timesteps", rate_timesteps, 1), ("weight_bits", weight_bits, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"limit must be None or an integer >= 1 (test images), not {limit!r}")

    path = default_checkpoint() if checkpoint is None else Path(checkpoint)
    payload = load_checkpoint(path)
    meta = payload["meta"]
    if dataset is not None and dataset != meta["dataset"]:
        raise ValueError(f"checkpoint {path} was trained on {meta['dataset']!r}, not dataset {dataset!r}")
    dataset = meta["dataset"]
    model = model_from_checkpoint(payload)
    pixel_max = int(meta["pixel_max"])

    train_set = load_dataset(dataset, "train")
    test_set = load_dataset(dataset, "test")

    def calibration():
        return train_set.loader(256, shuffle=True, seed=DEFAULT_SEED)

    def test_loader():
        return test_set.loader(100, limit=limit)

    section = compare_networks(
        model,
        calibration,
        test_loader,
        test_set.tensors(limit=1)[0],
        pixel_max,
        timesteps=timesteps,
        precharge=precharge,
        rate_timesteps=rate_timesteps,
        weight_bits=weight_bits,
        progress=progress,
    )
    return {"dataset": dataset, "checkpoint": _display_path(path), **section}


def _display_path(path: Path) -> str:
    """Return ``path`` relative to the repository when it lies inside it, else absolute."""
    root = Path(__file__).resolve().parent.parent
    try:
        return str(Path(path).resolve().relative_to(root))
    except ValueError:
        return str(Path(path).resolve())


def compare_networks(
    model: nn.Module,
    calibration,
    test_loader,
    sample: torch.Tensor,
    pixel_max: int,
    *,
    timesteps: int,
    precharge: int,
    rate_timesteps: int,
    weight_bits: int = 8,
    progress: bool = True,
) -> dict:
    """Convert ``model`` to a TMN SNN and a rate-coded SNN, evaluate both and the ANN, and return their energy.

    ``calibration()`` and ``test_loader()`` return fresh loaders of calibration
    inputs and of ``(x, y)`` test batches. ``sample`` is one input batch for
    the ANN's MAC count. ``pixel_max`` is the largest raw pixel value, because
    the inputs are ``pixels / pixel_max``. Returns the energy section without
    ``dataset`` and ``checkpoint``.
    """
    from golden.coding import Coding
    from golden.convert import convert, evaluate

    tmn = convert(model, calibration(), timesteps=timesteps, precharge=precharge, coding=Coding.TMN, progress=progress)
    tmn_result = evaluate(tmn, test_loader(), progress=progress)
    rate = convert(model, calibration(), timesteps=rate_timesteps, coding=Coding.RATE, progress=progress)
    rate_result = evaluate(rate, test_loader(), prefixes=_rate_prefixes(rate_timesteps), progress=progress)

    ann_accuracy = tmn_result.ann_accuracy
    within = [t for t, acc in sorted(rate_result.snn_accuracy_by_timesteps.items())
              if ann_accuracy - acc <= RATE_TOLERANCE_PP]
    rate_t = within[0] if within else rate_timesteps
    rate_note = (f"first T tried within {RATE_TOLERANCE_PP} points of the ANN" if within
                 else f"largest T tried; no T up to {rate_timesteps} came within {RATE_TOLERANCE_PP} points of the ANN")

    ann_layers = ann_operation_counts(model, sample)
    tmn_layers = tmn_result.counts.to_dict()["layers"]
    rate_layers = rate_result.counts_by_timesteps[rate_t].to_dict()["layers"]
    networks = [
        _network_entry("ANN", "ann", None, None, ann_accuracy, ann_layers,
                       _ann_widths(model, pixel_max, weight_bits), 0, "every layer multiply-accumulates"),
        _network_entry("TMN SNN", "tmn", timesteps, precharge, tmn_result.snn_accuracy, tmn_layers,
                       integer_widths(tmn, pixel_max, weight_bits), timesteps + precharge, "CSS-coded TMN neurons"),
        _network_entry("rate SNN", "rate", rate_t, 0, rate_result.snn_accuracy_by_timesteps[rate_t], rate_layers,
                       integer_widths(rate, pixel_max, weight_bits), rate_t, rate_note),
    ]
    return {
        "images": tmn_result.images,
        "weight_bits": weight_bits,
        "rate_accuracy_by_timesteps": {str(t): acc for t, acc in sorted(rate_result.snn_accuracy_by_timesteps.items())},
        "constants": {
            "accumulate_pj": ACCUMULATE_PJ,
            "mac_pj": MAC_PJ,
            "horowitz_45nm": {
                key: {"pj": c.picojoules, "meaning": c.meaning, "source": c.source} for key, c in CONSTANTS.items()
            },
        },
        "networks": networks,
    }
