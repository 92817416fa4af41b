"""Final residual membrane potential of TMN neurons for predictive threshold ratios 0.3 to 0.7.

A TMN fires at ``+-ratio * theta`` and resets by the full threshold
``theta = 2^P v``; the standard ratio is 1/2. Two input sources drive float
TMNs with the gate off:

- ``uniform``: independent inputs ``z[t] ~ U(0, v)`` at every step, T = 4;
- ``network``: every neuron of a stack of random ReLU layers
  (``golden.random_layers``), gate on, T = 4, thresholds from the ANN.

For each ratio and pre-charge P in {0, 1} the experiment records the
distribution of ``residual / theta`` over all neurons. A residual of
``theta / 2`` or more means the neuron's output is off by more than half a step.
"""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import torch
from matplotlib.figure import Figure
from golden.progress import progress_bar

from golden.experiments.files import save_figure, write_csv, write_text
from golden.neuron import TMN
from golden.random_layers import ann_forward, layer_thresholds, random_layers, snn_layers

DESCRIPTION = "distribution of the final residual membrane / threshold for predictive threshold ratios 0.3-0.7"
COMMAND = "python -m golden.experiments predictive-threshold"
TIMESTEPS = 4
PRECHARGES = (0, 1)
SOURCES = ("uniform", "network")
# The violins show this many residuals per case, drawn at random, to keep the kernel density estimate fast.
VIOLIN_POINTS = 20_000
VIEW_LIMIT = 1.5


@dataclasses.dataclass(frozen=True)
class Size:
    """Sample counts and network shape of one run."""

    ratios: tuple[float, ...]
    uniform_samples: int
    depth: int
    width: int
    batch: int


FULL = Size(ratios=tuple(np.round(np.arange(0.30, 0.701, 0.05), 2)), uniform_samples=200_000, depth=6, width=128, batch=512)
QUICK = Size(ratios=(0.3, 0.4, 0.5, 0.6, 0.7), uniform_samples=20_000, depth=2, width=16, batch=64)
SEED = 0


def uniform_residuals(size: Size, ratio: float, precharge: int) -> torch.Tensor:
    """Return residual / theta of TMNs driven by independent U(0, v) inputs, v = 1."""
    generator = torch.Generator().manual_seed(SEED)
    z = torch.rand((TIMESTEPS, size.uniform_samples), generator=generator, dtype=torch.float64)
    neuron = TMN(1.0, TIMESTEPS, precharge, gate=False, threshold_ratio=ratio)
    neuron(z)
    return neuron.residual / 2**precharge


def network_residuals(size: Size, ratio: float, precharge: int) -> torch.Tensor:
    """Return residual / theta of every neuron of a seeded random ReLU network."""
    generator = torch.Generator().manual_seed(SEED)
    layers = random_layers(size.depth, size.width, generator)
    x = torch.rand((size.batch, size.width), generator=generator, dtype=torch.float64)
    thresholds = layer_thresholds(ann_forward(x, layers))
    results = snn_layers(x, layers, thresholds, lambda v: TMN(v, TIMESTEPS, precharge, threshold_ratio=ratio))
    return torch.cat([(neuron.residual / (neuron.threshold * 2**precharge)).flatten() for neuron, _ in results])


def measure(size: Size) -> tuple[list[dict], dict[tuple[str, int, float], np.ndarray]]:
    """Return summary rows and, per (source, P, ratio), a random sample of residuals for the plot."""
    rows = []
    samples = {}
    cases = [(source, precharge, ratio) for source in SOURCES for precharge in PRECHARGES for ratio in size.ratios]
    sampler = np.random.default_rng(SEED)
    for source, precharge, ratio in progress_bar(cases, desc="predictive-threshold", unit="case"):
        compute = uniform_residuals if source == "uniform" else network_residuals
        residual = compute(size, float(ratio), precharge).numpy()
        rows.append(
            {
                "source": source,
                "precharge": precharge,
                "ratio": float(ratio),
                "neurons": residual.size,
                "mean": float(residual.mean()),
                "std": float(residual.std()),
                "mean_square": float((residual**2).mean()),
                "q05": float(np.quantile(residual, 0.05)),
                "q95": float(np.quantile(residual, 0.95)),
                "share_beyond_half": float((np.abs(residual) >= 0.5).mean()),
            }
        )
        count = min(VIOLIN_POINTS, residual.size)
        samples[(source, precharge, float(ratio))] = sampler.choice(residual, size=count, replace=False)
    return rows, samples


def plot(samples: dict, size: Size) -> Figure:
    figure = Figure(figsize=(11, 7))
    grid = figure.subplots(len(SOURCES), len(PRECHARGES), sharey=True)
    titles = {"uniform": f"inputs U(0, v) at each step, T = {TIMESTEPS}", "network": "random ReLU layers, all neurons"}
    positions = np.arange(len(size.ratios))
    for row, source in enumerate(SOURCES):
        for column, precharge in enumerate(PRECHARGES):
            axes = grid[row][column]
            data = [np.clip(samples[(source, precharge, float(r))], -VIEW_LIMIT, VIEW_LIMIT) for r in size.ratios]
            parts = axes.violinplot(data, positions=positions, showmeans=True, showextrema=False, widths=0.85)
            for index, body in enumerate(parts["bodies"]):
                body.set_facecolor("C1" if size.ratios[index] == 0.5 else "C0")
                body.set_alpha(0.6)
            axes.axhline(0.0, color="grey", linewidth=0.8)
            for level in (-0.5, 0.5):
                axes.axhline(level, color="grey", linewidth=0.6, linestyle=":")
            axes.set_xticks(positions, [f"{r:.2f}" for r in size.ratios])
            axes.set_ylim(-VIEW_LIMIT, VIEW_LIMIT)
            axes.set_title(f"{titles[source]}, P = {precharge}", fontsize="medium")
            axes.set_xlabel("predictive threshold ratio (firing level / reset amount)")
            if column == 0:
                axes.set_ylabel("final residual u / theta (theta = 2^P v)")
    figure.text(
        0.01,
        -0.01,
        f"{COMMAND}: ratio 0.50 in orange, means as bars; values beyond ±{VIEW_LIMIT} drawn at ±{VIEW_LIMIT}. "
        f"Dotted: ±1/2, the half-step error bound.",
        fontsize="x-small",
    )
    figure.tight_layout()
    return figure


def markdown_table(rows: list[dict]) -> str:
    """Return a Markdown table of the mean, standard deviation and mean square per source, P and ratio."""
    header = ["source", "P", "ratio", "mean", "std", "mean square", "share with abs(u) >= theta/2"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [
            row["source"],
            str(row["precharge"]),
            f"{row['ratio']:.2f}",
            f"{row['mean']:+.4f}",
            f"{row['std']:.4f}",
            f"{row['mean_square']:.4f}",
            f"{row['share_beyond_half']:.4f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(output_dir: pathlib.Path, quick: bool = False) -> list[pathlib.Path]:
    """Measure, then write predictive_threshold.csv, .png and .md into ``output_dir``."""
    size = QUICK if quick else FULL
    rows, samples = measure(size)
    header = list(rows[0])
    return [
        write_csv(output_dir / "predictive_threshold.csv", header, [[row[key] for key in header] for row in rows]),
        save_figure(output_dir / "predictive_threshold.png", plot(samples, size)),
        write_text(output_dir / "predictive_threshold.md", markdown_table(rows)),
    ]
