"""Trained networks for the experiments: load a cached checkpoint, or train it first with ``python -m golden.train``.

Checkpoints live in ``build/checkpoints/`` (git ignores ``build/``) under the
names that ``docs/conversion.md`` uses, so a network trained by hand is
reused. A missing one is trained with the recipe below by calling the
training command's ``main``, which shows progress bars; a quantised network
first needs its float network, which is trained too if missing.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib

from torch import nn

from golden.checkpoint import load_checkpoint, model_from_checkpoint
from golden.data import DATASETS
from golden.models import ARCHITECTURES

__all__ = ["CHECKPOINT_DIR", "Recipe", "checkpoint_path", "load_model", "recipe"]

logger = logging.getLogger("golden.experiments")

CHECKPOINT_DIR = pathlib.Path(__file__).resolve().parents[2] / "build" / "checkpoints"

_PREFIX = {"fashion-mnist": "fmnist", "digits": "digits"}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Training command line of one checkpoint: epochs, and the T of the quantised activation (None: float)."""

    dataset: str
    arch: str
    epochs: int
    quantise: int | None = None


def recipe(dataset: str, arch: str, quantise: int | None = None) -> Recipe:
    """Return the training recipe of the ``arch`` network on ``dataset``, quantised for T = ``quantise`` steps.

    Float networks train for 8 (CNN) or 10 (MLP) epochs on Fashion-MNIST and
    3 on digits; quantised ones fine-tune their float network for 1 (CNN) or
    3 (MLP) epochs on Fashion-MNIST and 3 on digits.
    """
    if dataset not in DATASETS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, not {dataset!r}")
    if arch not in ARCHITECTURES:
        raise ValueError(f"arch must be one of {', '.join(ARCHITECTURES)}, not {arch!r}")
    if quantise is not None and (isinstance(quantise, bool) or not isinstance(quantise, int) or quantise < 1):
        raise ValueError(f"quantise must be None or an integer >= 1 (timesteps), not {quantise!r}")
    if dataset == "digits":
        return Recipe(dataset, arch, 3, quantise)
    if quantise is None:
        return Recipe(dataset, arch, 8 if arch == "cnn" else 10)
    # NOTE: one epoch of fine-tuning for the CNN keeps a fresh regeneration within about an hour on two cores.
    return Recipe(dataset, arch, 1 if arch == "cnn" else 3, quantise)


def checkpoint_path(dataset: str, arch: str, quantise: int | None = None) -> pathlib.Path:
    """Return where the checkpoint of ``recipe(dataset, arch, quantise)`` is cached."""
    recipe(dataset, arch, quantise)
    suffix = "" if quantise is None else f"_q{quantise}"
    return CHECKPOINT_DIR / f"{_PREFIX[dataset]}_{arch}{suffix}.pt"


def _train(path: pathlib.Path, plan: Recipe) -> None:
    from golden.train import main as train_main

    arguments = ["--dataset", plan.dataset, "--out", str(path), "--epochs", str(plan.epochs), "--seed", "0"]
    if plan.quantise is None:
        arguments += ["--arch", plan.arch]
    else:
        arguments += ["--quantise", str(plan.quantise), "--init", str(ensure_checkpoint(plan.dataset, plan.arch))]
    logger.info("training %s: python -m golden.train %s", path.name, " ".join(arguments))
    train_main(arguments)


def ensure_checkpoint(dataset: str, arch: str, quantise: int | None = None) -> pathlib.Path:
    """Return the checkpoint path, training the network first if the file does not exist."""
    path = checkpoint_path(dataset, arch, quantise)
    if not path.is_file():
        _train(path, recipe(dataset, arch, quantise))
    return path


def load_model(dataset: str, arch: str, quantise: int | None = None) -> tuple[nn.Module, dict]:
    """Return the trained model in eval mode and its checkpoint metadata, training it first if needed."""
    payload = load_checkpoint(ensure_checkpoint(dataset, arch, quantise))
    meta = payload["meta"]
    if meta["dataset"] != dataset or meta["arch"] != arch or meta["quantise_timesteps"] != quantise:
        raise ValueError(
            f"{checkpoint_path(dataset, arch, quantise)} contains a {meta['arch']} on {meta['dataset']} quantised for "
            f"{meta['quantise_timesteps']}, not a {arch} on {dataset} quantised for {quantise}; delete it to retrain"
        )
    return model_from_checkpoint(payload), meta
