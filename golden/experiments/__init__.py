"""Experiments that regenerate the figures and tables of docs/results.md.

Run them with ``python -m golden.experiments NAME`` (``--list`` shows the
names, ``all`` runs every one). Each experiment is a module with

- ``DESCRIPTION``: one line for ``--list``;
- ``run(output_dir: pathlib.Path, quick: bool = False) -> list[pathlib.Path]``:
  write the CSV, PNG and Markdown files into ``output_dir`` (created if
  missing) and return their paths. ``quick`` runs a tiny size for tests.
  Experiments on trained networks also take ``dataset`` (``"fashion-mnist"``
  by default, ``"digits"`` for tests); the networks are trained on first use.

To add an experiment, write such a module and add its name to ``EXPERIMENTS``.
"""

from __future__ import annotations

import importlib
import types

__all__ = ["EXPERIMENTS", "load"]

# Experiment name (also the directory under results/) -> module that runs it.
EXPERIMENTS: dict[str, str] = {
    "encoding-error": "golden.experiments.encoding_error",
    "predictive-threshold": "golden.experiments.predictive_threshold",
    "ablation": "golden.experiments.ablation",
    "conversion-table": "golden.experiments.conversion_table",
    "energy-table": "golden.experiments.energy_table",
}


def load(name: str) -> types.ModuleType:
    """Import and return the module of experiment ``name``."""
    if name not in EXPERIMENTS:
        raise ValueError(f"unknown experiment {name!r}; choose one of {', '.join(sorted(EXPERIMENTS))}")
    return importlib.import_module(EXPERIMENTS[name])
