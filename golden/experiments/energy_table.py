"""Energy table: operations and energy per image of the ANN, the rate-coded SNN and the TMN SNN, CNN and MLP.

``tmn_hw.report_energy.compare_networks`` converts each reference network
(``golden.experiments._checkpoints``) to a TMN SNN (T = 5, P = 1) and to a
rate-coded IF SNN, runs both and the ANN on test images, and counts per image
the accumulates (ACs: one per non-zero spike input and fan-out), the
multiply-accumulates (MACs: the ANN's layers and the SNNs' analog first
layer) and the spikes. ``tmn_hw.energy`` turns the counts into energy:

- the 45 nm convention of the conversion literature: 0.9 pJ per AC (32-bit
  float add) and 4.6 pJ per MAC (32-bit float multiply plus add);
- a fixed-point estimate at the network's integer widths (8-bit weights),
  with weight reads and membrane updates (``docs/report.md``).

The rate-coded SNN is reported at the first power of two T (up to 256)
whose accuracy is within 0.5 points of the ANN on the same images.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch
from matplotlib.figure import Figure
from golden.progress import progress_bar

from golden.data import load_dataset
from golden.experiments._checkpoints import load_model
from golden.experiments.files import save_figure, write_csv, write_text
from tmn_hw.report_energy import compare_networks

DESCRIPTION = "ACs, MACs and energy per image (45 nm convention, fixed-point estimate) of ANN, rate and TMN SNNs"
COMMAND = "python -m golden.experiments energy-table"
TIMESTEPS = 5
PRECHARGE = 1
SEED = 0
ARCHITECTURES = ("cnn", "mlp")
MODEL_NAMES = {"ANN": "ANN", "rate SNN": "rate coding (IF)", "TMN SNN": "TMN"}
COLUMNS = [
    "architecture", "model", "images", "timesteps", "precharge", "accuracy", "spikes", "accumulates", "macs",
    "energy_uj", "fixed_point_uj", "energy_vs_ann", "fixed_point_vs_ann", "note",
]


@dataclasses.dataclass(frozen=True)
class Size:
    """Test images per architecture (``None``: the whole test set) and the longest rate-coded run."""

    images: dict[str, int | None]
    rate_timesteps: int


FULL = Size(images={"cnn": None, "mlp": None}, rate_timesteps=256)
QUICK = Size(images={"cnn": 120, "mlp": 120}, rate_timesteps=32)


def measure(size: Size, dataset: str) -> list[dict]:
    """Return one row per architecture and model (ANN, rate SNN, TMN SNN), energies in microjoules per image."""
    torch.manual_seed(SEED)
    train = load_dataset(dataset, "train")
    test = load_dataset(dataset, "test")
    rows = []
    for arch in progress_bar(ARCHITECTURES, desc="energy-table", unit="network"):
        model, meta = load_model(dataset, arch)
        limit = size.images[arch]
        section = compare_networks(
            model,
            lambda: train.loader(256, shuffle=True, seed=SEED),
            lambda: test.loader(100, limit=limit),
            test.tensors(limit=1)[0],
            int(meta["pixel_max"]),
            timesteps=TIMESTEPS,
            precharge=PRECHARGE,
            rate_timesteps=size.rate_timesteps,
            progress=False,
        )
        networks = {network["name"]: network for network in section["networks"]}
        ann = networks["ANN"]
        for name in ("ANN", "rate SNN", "TMN SNN"):
            network = networks[name]
            rows.append(
                {
                    "architecture": arch.upper(),
                    "model": MODEL_NAMES[name],
                    "images": section["images"],
                    "timesteps": network["timesteps"],
                    "precharge": network["precharge"],
                    "accuracy": network["accuracy"],
                    "spikes": network["spikes"],
                    "accumulates": network["accumulates"],
                    "macs": network["macs"],
                    "energy_uj": network["energy_pj"] / 1e6,
                    "fixed_point_uj": network["fixed_point_pj"] / 1e6,
                    "energy_vs_ann": network["energy_pj"] / ann["energy_pj"],
                    "fixed_point_vs_ann": network["fixed_point_pj"] / ann["fixed_point_pj"],
                    "note": network["note"],
                }
            )
    return rows


def plot(rows: list[dict], dataset: str) -> Figure:
    """Draw energy per image (log scale) per architecture and model, 45 nm convention and fixed-point estimate."""
    figure = Figure(figsize=(11, 4.6))
    panels = figure.subplots(1, len(ARCHITECTURES))
    models = list(MODEL_NAMES.values())
    positions = np.arange(len(models))
    for axes, arch in zip(panels, ARCHITECTURES):
        by_model = {row["model"]: row for row in rows if row["architecture"] == arch.upper()}
        conventional = [by_model[m]["energy_uj"] for m in models]
        fixed = [by_model[m]["fixed_point_uj"] for m in models]
        axes.bar(positions - 0.2, conventional, width=0.4, color="C0", label="45 nm convention (0.9 pJ/AC, 4.6 pJ/MAC)")
        axes.bar(positions + 0.2, fixed, width=0.4, color="C1", label="fixed-point estimate (8-bit weights)")
        labels = []
        for model in models:
            row = by_model[model]
            steps = "" if row["timesteps"] is None else f"\nT = {row['timesteps']}"
            labels.append(f"{model}{steps}\n{row['accuracy']:.2f} %")
        axes.set_xticks(positions, labels)
        axes.set_yscale("log")
        axes.set_ylabel("energy per image (µJ, log scale)")
        axes.set_title(f"{arch.upper()}, {by_model[models[0]]['images']} test images", fontsize="medium")
    # One legend above both panels, where it covers no bar.
    figure.legend(*panels[0].get_legend_handles_labels(), loc="upper center", ncol=2, fontsize="small")
    figure.text(0.01, -0.02, f"{COMMAND}: {dataset}; operation counts from the golden simulation, energies are "
                "estimates from per-operation figures, not measurements.", fontsize="x-small")
    figure.tight_layout(rect=(0, 0, 1, 0.93))
    return figure


def markdown_table(rows: list[dict]) -> str:
    """Return the energy table in Markdown: operations and energy per image."""
    header = ["Network", "Model", "T", "Accuracy (%)", "Spikes", "ACs", "MACs", "Energy (µJ)", "vs ANN",
              "Fixed-point (µJ)", "vs ANN"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        steps = "–" if row["timesteps"] is None else (
            f"{row['timesteps']} (+{row['precharge']})" if row["precharge"] else str(row["timesteps"]))
        cells = [
            row["architecture"],
            row["model"],
            steps,
            f"{row['accuracy']:.2f}",
            f"{row['spikes']:,.0f}",
            f"{row['accumulates']:,.0f}",
            f"{row['macs']:,.0f}",
            f"{row['energy_uj']:.3f}",
            f"{row['energy_vs_ann']:.2f}",
            f"{row['fixed_point_uj']:.3f}",
            f"{row['fixed_point_vs_ann']:.2f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(output_dir: pathlib.Path, quick: bool = False, dataset: str = "fashion-mnist") -> list[pathlib.Path]:
    """Measure, then write energy_table.csv, .png and .md into ``output_dir``."""
    size = QUICK if quick else FULL
    rows = measure(size, dataset)
    return [
        write_csv(output_dir / "energy_table.csv", COLUMNS, [[row[key] for key in COLUMNS] for row in rows]),
        save_figure(output_dir / "energy_table.png", plot(rows, dataset)),
        write_text(output_dir / "energy_table.md", markdown_table(rows)),
    ]
