"""Encoding error of CSS with T steps and of rate coding with 2^T steps through random layers.

Stacks of random fully connected ReLU layers run as an ANN and as spiking
networks of float TMN neurons (CSS, T steps, P = 1) and of IF neurons (rate
coding, 2^T steps), through the same code (``golden.random_layers``). Each
layer's threshold is its largest ANN activation. The error of a layer is the
mean squared difference between its decoded spiking activations and the ANN
activations, divided by the squared threshold, so layers of different scale
compare.
"""

from __future__ import annotations

import dataclasses
import pathlib

import torch
from matplotlib.figure import Figure
from golden.progress import progress_bar

from golden.experiments.files import save_figure, write_csv, write_text
from golden.neuron import IF, TMN
from golden.random_layers import ann_forward, layer_thresholds, random_layers, snn_forward

DESCRIPTION = "MSE of CSS (T steps) and rate coding (2^T steps) versus depth through random ReLU layers"
COMMAND = "python -m golden.experiments encoding-error"
PRECHARGE = 1


@dataclasses.dataclass(frozen=True)
class Size:
    """Network and sample counts of one run."""

    depth: int
    width: int
    batch: int
    seeds: int
    timesteps: tuple[int, ...] = (3, 4, 5)


FULL = Size(depth=8, width=128, batch=1024, seeds=5)
QUICK = Size(depth=5, width=32, batch=128, seeds=1)


def layer_errors(seed: int, size: Size, timesteps: int) -> dict[str, list[float]]:
    """Return the per-layer MSE / v^2 of CSS (T steps) and rate coding (2^T steps) for one seeded network."""
    generator = torch.Generator().manual_seed(seed)
    layers = random_layers(size.depth, size.width, generator)
    x = torch.rand((size.batch, size.width), generator=generator, dtype=torch.float64)
    reference = ann_forward(x, layers)
    thresholds = layer_thresholds(reference)
    decoded = {
        "css": snn_forward(x, layers, thresholds, lambda v: TMN(v, timesteps, PRECHARGE)),
        "rate": snn_forward(x, layers, thresholds, lambda v: IF(v, 2**timesteps)),
    }
    return {
        code: [float((((d - a) / v) ** 2).mean()) for d, a, v in zip(values, reference, thresholds)]
        for code, values in decoded.items()
    }


def measure(size: Size) -> list[dict]:
    """Return one row per code, T and layer with the MSE / v^2 over the seeds (mean, min, max)."""
    per_seed: dict[tuple[str, int], list[list[float]]] = {}
    cases = [(timesteps, seed) for timesteps in size.timesteps for seed in range(size.seeds)]
    for timesteps, seed in progress_bar(cases, desc="encoding-error", unit="network"):
        for code, errors in layer_errors(seed, size, timesteps).items():
            per_seed.setdefault((code, timesteps), []).append(errors)
    rows = []
    for (code, timesteps), runs in per_seed.items():
        for layer in range(size.depth):
            values = [errors[layer] for errors in runs]
            rows.append(
                {
                    "code": code,
                    "timesteps": timesteps,
                    "steps": timesteps if code == "css" else 2**timesteps,
                    "layer": layer + 1,
                    "mse_mean": sum(values) / len(values),
                    "mse_min": min(values),
                    "mse_max": max(values),
                    "seeds": len(values),
                }
            )
    return rows


def plot(rows: list[dict], size: Size) -> Figure:
    figure = Figure(figsize=(7, 4.5))
    axes = figure.subplots()
    colors = {timesteps: f"C{index}" for index, timesteps in enumerate(size.timesteps)}

    for timesteps in size.timesteps:
        for code, style in (("css", "-o"), ("rate", "--s")):
            selected = [row for row in rows if row["code"] == code and row["timesteps"] == timesteps]
            layers = [row["layer"] for row in selected]
            label = f"CSS, T = {timesteps}" if code == "css" else f"rate, {2**timesteps} steps"
            axes.plot(layers, [row["mse_mean"] for row in selected], style, color=colors[timesteps], label=label)
            axes.fill_between(
                layers,
                [row["mse_min"] for row in selected],
                [row["mse_max"] for row in selected],
                color=colors[timesteps],
                alpha=0.12,
            )

    axes.set_yscale("log")
    axes.set_xticks(range(1, size.depth + 1))
    axes.set_xlabel("layer (depth from the input)")
    axes.set_ylabel("mean squared error / v² (v: layer threshold)")
    axes.set_title(f"CSS with T steps vs rate coding with 2^T steps, {size.width}-neuron random ReLU layers")
    axes.legend(ncol=3, fontsize="small")
    axes.grid(True, which="both", alpha=0.3)

    figure.text(
        0.01,
        -0.02,
        f"{COMMAND}: mean over {size.seeds} seeded networks (band: min to max), {size.batch} inputs U(0, 1), "
        f"TMN P = {PRECHARGE}",
        fontsize="x-small",
    )
    return figure


def markdown_table(rows: list[dict], size: Size) -> str:
    """Return a Markdown table: one line per layer, one column per code and T."""
    columns = [(code, timesteps) for timesteps in size.timesteps for code in ("css", "rate")]
    header = ["layer"] + [f"CSS T={t}" if code == "css" else f"rate {2**t} steps" for code, t in columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for layer in range(1, size.depth + 1):
        cells = [str(layer)]
        for code, timesteps in columns:
            row = next(r for r in rows if r["code"] == code and r["timesteps"] == timesteps and r["layer"] == layer)
            cells.append(f"{row['mse_mean']:.2e}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(output_dir: pathlib.Path, quick: bool = False) -> list[pathlib.Path]:
    """Measure, then write encoding_error.csv, encoding_error.png and encoding_error.md into ``output_dir``."""
    size = QUICK if quick else FULL
    rows = measure(size)
    header = list(rows[0])
    return [
        write_csv(output_dir / "encoding_error.csv", header, [[row[key] for key in header] for row in rows]),
        save_figure(output_dir / "encoding_error.png", plot(rows, size)),
        write_text(output_dir / "encoding_error.md", markdown_table(rows, size)),
    ]
