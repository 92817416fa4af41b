"""Ablation of pre-charge and ternary predictive spiking on a converted CNN: accuracy and spikes against T.

The reference CNN (``golden.models.CNN``), trained with
``golden.experiments._checkpoints``, is converted once with
``golden.convert.convert`` (thresholds from training-set calibration). The
same converted network then runs for every combination of

- pre-charge P in {0, 1, 2, 3};
- predictive spiking on (ternary spikes at ``+-theta / 2``, the TMN) or off
  (binary spikes at the full threshold ``theta``, both with reset by ``theta``
  and the ReLU gate);
- T input steps in 2..6;

on the first ``images`` test images (``None``: the whole test set). Each
run records the SNN accuracy and the spikes per image (positive and
negative) of all spiking layers.
"""

from __future__ import annotations

import dataclasses
import pathlib

import torch
from matplotlib.figure import Figure
from golden.progress import progress_bar

from golden.coding import Coding
from golden.convert import convert, evaluate
from golden.data import load_dataset
from golden.experiments._checkpoints import load_model
from golden.experiments.files import save_figure, write_csv, write_text

DESCRIPTION = "accuracy and spikes per image against T for pre-charge P = 0-3, predictive spiking on and off (CNN)"
COMMAND = "python -m golden.experiments ablation"
PRECHARGES = (0, 1, 2, 3)
PREDICTIVE = (True, False)
SEED = 0
COLUMNS = [
    "dataset", "images", "predictive", "precharge", "timesteps", "latency", "ann_accuracy", "snn_accuracy",
    "conversion_loss", "spikes_per_image", "negative_spikes_per_image", "synaptic_ops_per_image",
]


@dataclasses.dataclass(frozen=True)
class Size:
    """Test images (``None``: the whole test set) and step counts of one run."""

    images: int | None
    timesteps: tuple[int, ...]
    batch: int


FULL = Size(images=None, timesteps=tuple(range(2, 7)), batch=200)
QUICK = Size(images=100, timesteps=(2, 3, 4), batch=100)


def measure(size: Size, dataset: str) -> list[dict]:
    """Convert the CNN once and return one row per predictive mode, P and T."""
    torch.manual_seed(SEED)
    model, _ = load_model(dataset, "cnn")
    calibration = load_dataset(dataset, "train").loader(256, shuffle=True, seed=SEED)
    network = convert(model, calibration, timesteps=size.timesteps[0], precharge=0, coding=Coding.TMN)
    test = load_dataset(dataset, "test")
    if size.images is not None and len(test) < size.images:
        raise ValueError(f"the {dataset} test set has {len(test)} images, fewer than the {size.images} requested")
    cases = [(predictive, p, t) for predictive in PREDICTIVE for p in PRECHARGES for t in size.timesteps]
    rows = []
    for predictive, precharge, timesteps in progress_bar(cases, desc="ablation", unit="run"):
        network.predictive = predictive
        network.precharge = precharge
        network.timesteps = timesteps
        result = evaluate(network, test.loader(size.batch, limit=size.images), progress=False)
        counts = result.counts
        rows.append(
            {
                "dataset": dataset,
                "images": result.images,
                "predictive": predictive,
                "precharge": precharge,
                "timesteps": timesteps,
                "latency": network.latency,
                "ann_accuracy": result.ann_accuracy,
                "snn_accuracy": result.snn_accuracy,
                "conversion_loss": result.conversion_loss,
                "spikes_per_image": counts.spikes,
                "negative_spikes_per_image": counts.negative_spikes,
                "synaptic_ops_per_image": counts.synaptic_ops,
            }
        )
    return rows


def plot(rows: list[dict]) -> Figure:
    """Draw accuracy (left axis, solid) and spikes per image (right axis, dashed) against T, one panel per mode."""
    figure = Figure(figsize=(12, 4.8))
    panels = figure.subplots(1, len(PREDICTIVE), sharey=True)
    titles = {True: "ternary predictive spikes at ±θ/2 (TMN)", False: "binary spikes at θ (predictive off)"}
    largest_spikes = max(row["spikes_per_image"] for row in rows)
    twins = []
    for axes, predictive in zip(panels, PREDICTIVE):
        spikes_axes = axes.twinx()
        twins.append(spikes_axes)
        for index, precharge in enumerate(PRECHARGES):
            case = sorted(
                (row for row in rows if row["predictive"] == predictive and row["precharge"] == precharge),
                key=lambda row: row["timesteps"],
            )
            steps = [row["timesteps"] for row in case]
            axes.plot(steps, [row["snn_accuracy"] for row in case], color=f"C{index}", marker="o",
                      label=f"P = {precharge}")
            spikes_axes.plot(steps, [row["spikes_per_image"] / 1000 for row in case], color=f"C{index}",
                             linestyle="--", marker="x")
        axes.axhline(rows[0]["ann_accuracy"], color="black", linestyle=":", linewidth=1,
                     label=f"ANN {rows[0]['ann_accuracy']:.2f} %")
        axes.set_title(titles[predictive], fontsize="medium")
        axes.set_xlabel("timesteps T (input steps per image)")
        axes.set_xticks(sorted({row["timesteps"] for row in rows}))
        spikes_axes.set_ylim(0, largest_spikes / 1000 * 1.05)
    panels[0].set_ylabel("SNN accuracy (%), solid")
    twins[-1].set_ylabel("spikes per image (thousands), dashed")
    for spikes_axes in twins[:-1]:
        spikes_axes.tick_params(labelright=False)
    panels[0].legend(loc="lower right", fontsize="small")
    bottom = min(row["snn_accuracy"] for row in rows)
    panels[0].set_ylim(max(0.0, bottom - 2), 100 if bottom > 50 else rows[0]["ann_accuracy"] + 5)
    figure.text(0.01, -0.02, f"{COMMAND}: reference CNN on {rows[0]['dataset']}, {rows[0]['images']} test "
                "images; spikes of all spiking layers, positive and negative.", fontsize="x-small")
    figure.tight_layout()
    return figure


def markdown_table(rows: list[dict]) -> str:
    """Return a Markdown table: accuracy / spikes per image per T (columns), one line per mode and P."""
    steps = sorted({row["timesteps"] for row in rows})
    header = ["predictive", "P"] + [f"T={t}" for t in steps]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for predictive in PREDICTIVE:
        for precharge in PRECHARGES:
            by_steps = {row["timesteps"]: row for row in rows
                        if row["predictive"] == predictive and row["precharge"] == precharge}
            cells = ["on" if predictive else "off", str(precharge)]
            cells += [f"{by_steps[t]['snn_accuracy']:.2f} / {by_steps[t]['spikes_per_image'] / 1000:.1f}k"
                      for t in steps]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(output_dir: pathlib.Path, quick: bool = False, dataset: str = "fashion-mnist") -> list[pathlib.Path]:
    """Measure, then write ablation.csv, .png and .md into ``output_dir``."""
    size = QUICK if quick else FULL
    rows = measure(size, dataset)
    return [
        write_csv(output_dir / "ablation.csv", COLUMNS, [[row[key] for key in COLUMNS] for row in rows]),
        save_figure(output_dir / "ablation.png", plot(rows)),
        write_text(output_dir / "ablation.md", markdown_table(rows)),
    ]

