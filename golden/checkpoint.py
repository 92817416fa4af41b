"""Checkpoints: a state dict plus plain metadata, loadable with ``torch.load(..., weights_only=True)``.

A checkpoint is a dict ``{"format": "tmn-hw-checkpoint", "version": 1,
"state_dict": ..., "meta": {...}}``. The metadata holds only strings,
numbers, lists and ``None``: ``arch``, ``dataset``, ``input_shape``,
``num_classes``, ``pixel_max`` (the input is ``pixels / pixel_max``),
``accuracy`` (test set, percent), ``epochs``, ``seed`` and
``quantise_timesteps`` (``None`` for a float ReLU network, else the T of the
quantised activation).
"""

from __future__ import annotations

import os
import pickle
import tempfile
import warnings
import zipfile
from pathlib import Path

import torch
from torch import nn

from golden.models import build_model

__all__ = ["CHECKPOINT_FORMAT", "load_checkpoint", "model_from_checkpoint", "save_checkpoint"]

CHECKPOINT_FORMAT = "tmn-hw-checkpoint"
CHECKPOINT_VERSION = 1
_REQUIRED_META = ("arch", "dataset", "input_shape", "num_classes", "pixel_max", "accuracy", "quantise_timesteps")


def save_checkpoint(path: Path | str, model: nn.Module, meta: dict) -> None:
    """Write ``model``'s state dict and ``meta`` to ``path`` atomically."""
    missing = [key for key in _REQUIRED_META if key not in meta]
    if missing:
        raise ValueError(f"checkpoint metadata is missing {', '.join(missing)}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        "state_dict": {key: value.detach().cpu() for key, value in model.state_dict().items()},
        "meta": dict(meta),
    }
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    os.close(handle)
    try:
        torch.save(payload, temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def load_checkpoint(path: Path | str) -> dict:
    """Load and check a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found; train one with 'python -m golden.train'")
    try:
        with warnings.catch_warnings():
            # torch warns about the pickle protocol of files it then fails to read.
            warnings.simplefilter("ignore", UserWarning)
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, KeyError, EOFError, ValueError, IndexError, TypeError):
        # torch's own message suggests weights_only=False, which would run code from an untrusted file.
        raise ValueError(_not_a_checkpoint(path)) from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(_not_a_checkpoint(path))
    if payload.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} has checkpoint version {payload.get('version')!r}; this code reads {CHECKPOINT_VERSION}")
    return payload


def _not_a_checkpoint(path: Path) -> str:
    """Return the error message for a file that is not a checkpoint, naming what the file is when known."""
    message = f"{path}: not a checkpoint written by python -m golden.train"
    if _is_network_file(path):
        return (
            f"{message}; it is an integer network file written by python -m golden.export, the input of "
            f"python -m tmn_hw.gen network and python -m sim.network_bench"
        )
    return f"{message}; pass the .pt file that golden.train wrote with --out"


def _is_network_file(path: Path) -> bool:
    """Return whether ``path`` is a zip archive with the ``header.npy`` array of an integer network file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "header.npy" in archive.namelist()
    except (zipfile.BadZipFile, OSError):
        return False


def model_from_checkpoint(payload: dict) -> nn.Module:
    """Build the checkpoint's architecture, load its weights and return it in eval mode."""
    from golden.quant import quantised_activation_factory

    meta = payload["meta"]
    activation = nn.ReLU
    if meta["quantise_timesteps"] is not None:
        activation = quantised_activation_factory(int(meta["quantise_timesteps"]))
    model = build_model(meta["arch"], tuple(meta["input_shape"]), int(meta["num_classes"]), activation)
    model.load_state_dict(payload["state_dict"])
    return model.eval()
