"""Conversion table: ANN and SNN accuracy, conversion loss and timesteps of TMN and rate coding, CNN and MLP.

For each reference architecture (``golden.models``), trained with
``golden.experiments._checkpoints``:

- TMN, full-precision ANN: convert once (training-set calibration), run
  T = 4, 5, 6 with P = 1;
- TMN, quantised ANN: the network fine-tuned with the clipped activation of
  ``2^T - 1`` levels (``golden.quant``), converted with its learned clip
  values as thresholds, run at that T (``quantised_timesteps``) with each
  pre-charge P of ``quantised_precharges`` (1 and 2);
- rate coding (IF neurons): one run of ``rate_timesteps`` steps gives the
  accuracy of every shorter run (IF neurons are causal). The table reports
  the smallest T from which every longer run is within ``TOLERANCE_PP``
  points of the ANN.

Every row uses the first ``images`` (TMN) or ``rate_images`` (rate coding)
test images of its architecture, ``None`` meaning the whole test set, and
reports the ANN accuracy on the same images. The full size uses the whole
test set for every row.
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

DESCRIPTION = "ANN/SNN accuracy, conversion loss and timesteps of TMN (float and quantised ANN) and rate coding"
COMMAND = "python -m golden.experiments conversion-table"
PRECHARGE = 1
TOLERANCE_PP = 0.5
SEED = 0
ARCHITECTURE_NAMES = {"cnn": "CNN (3 conv, 2 fc)", "mlp": "MLP (256-128)"}
COLUMNS = [
    "method", "no_quantisation", "architecture", "ann_accuracy", "coding", "timesteps", "precharge", "latency",
    "snn_accuracy", "loss", "images", "spikes_per_image", "note",
]
CURVE_COLUMNS = ["architecture", "images", "timesteps", "ann_accuracy", "rate_accuracy"]


@dataclasses.dataclass(frozen=True)
class Size:
    """Test images, step counts and batch sizes of one run; ``None`` images means the whole test set."""

    images: dict[str, int | None]
    rate_images: dict[str, int | None]
    float_timesteps: tuple[int, ...]
    quantised_timesteps: dict[str, tuple[int, ...]]
    quantised_precharges: tuple[int, ...]
    rate_timesteps: int
    batch: int
    rate_batch: dict[str, int]


FULL = Size(
    images={"cnn": None, "mlp": None},
    rate_images={"cnn": None, "mlp": None},
    float_timesteps=(4, 5, 6),
    quantised_timesteps={"cnn": (2, 3), "mlp": (2, 3)},
    quantised_precharges=(1, 2),
    rate_timesteps=256,
    batch=200,
    rate_batch={"cnn": 20, "mlp": 100},
)
QUICK = Size(
    images={"cnn": None, "mlp": None},
    rate_images={"cnn": None, "mlp": None},
    float_timesteps=(4,),
    quantised_timesteps={"cnn": (3,), "mlp": (3,)},
    quantised_precharges=(1, 2),
    rate_timesteps=16,
    batch=120,
    rate_batch={"cnn": 40, "mlp": 120},
)


def _calibration(dataset: str):
    return load_dataset(dataset, "train").loader(256, shuffle=True, seed=SEED)


def _row(arch, method, quantised, result, coding, timesteps, precharge, latency, note="", accuracy=None, spikes=None):
    snn_accuracy = result.snn_accuracy if accuracy is None else accuracy
    return {
        "method": method,
        "no_quantisation": not quantised,
        "architecture": ARCHITECTURE_NAMES[arch],
        "ann_accuracy": result.ann_accuracy,
        "coding": coding,
        "timesteps": timesteps,
        "precharge": precharge,
        "latency": latency,
        "snn_accuracy": snn_accuracy,
        "loss": result.ann_accuracy - snn_accuracy,
        "images": result.images,
        "spikes_per_image": result.counts.spikes if spikes is None else spikes,
        "note": note,
    }


def stable_timesteps(by_timesteps: dict[int, float], ann_accuracy: float, tolerance: float) -> int | None:
    """Return the smallest T from which every tried T' >= T is within ``tolerance`` points of the ANN, else None."""
    found = None
    for timesteps in sorted(by_timesteps, reverse=True):
        if ann_accuracy - by_timesteps[timesteps] > tolerance:
            break
        found = timesteps
    return found


def float_tmn_rows(arch: str, size: Size, dataset: str, bar) -> list[dict]:
    """Return the TMN rows of ``arch`` converted from the float ANN, one per T."""
    test = load_dataset(dataset, "test")
    rows = []
    model, _ = load_model(dataset, arch)
    network = convert(model, _calibration(dataset), timesteps=size.float_timesteps[0], precharge=PRECHARGE)
    for timesteps in size.float_timesteps:
        network.timesteps = timesteps
        bar.set_postfix_str(f"{arch} TMN T={timesteps}")
        result = evaluate(network, test.loader(size.batch, limit=size.images[arch]), progress=False)
        rows.append(_row(arch, "TMN", False, result, "CSS", timesteps, PRECHARGE, network.latency))
        bar.update()
    return rows


def quantised_tmn_rows(arch: str, size: Size, dataset: str, bar) -> list[dict]:
    """Return the TMN rows of ``arch`` converted from the ANNs quantised for each T, one per T and P."""
    test = load_dataset(dataset, "test")
    rows = []
    for timesteps in size.quantised_timesteps[arch]:
        model, _ = load_model(dataset, arch, quantise=timesteps)
        network = convert(model, _calibration(dataset), timesteps=timesteps, precharge=size.quantised_precharges[0])
        for precharge in size.quantised_precharges:
            network.precharge = precharge
            bar.set_postfix_str(f"{arch} quantised TMN T={timesteps} P={precharge}")
            result = evaluate(network, test.loader(size.batch, limit=size.images[arch]), progress=False)
            rows.append(_row(arch, "TMN, quantised ANN", True, result, "CSS", timesteps, precharge, network.latency))
            bar.update()
    return rows


def rate_row(arch: str, size: Size, dataset: str, bar) -> tuple[dict, list[dict]]:
    """Return the rate-coding row of ``arch`` and its accuracy for every T up to ``size.rate_timesteps``."""
    test = load_dataset(dataset, "test")
    model, _ = load_model(dataset, arch)
    network = convert(model, _calibration(dataset), timesteps=size.rate_timesteps, coding=Coding.RATE)
    bar.set_postfix_str(f"{arch} rate T<={size.rate_timesteps}")
    loader = test.loader(size.rate_batch[arch], limit=size.rate_images[arch])
    result = evaluate(network, loader, prefixes=list(range(1, size.rate_timesteps + 1)), progress=False)
    bar.update()
    by_timesteps = result.snn_accuracy_by_timesteps
    chosen = stable_timesteps(by_timesteps, result.ann_accuracy, TOLERANCE_PP)
    note = f"from this T on within {TOLERANCE_PP} points of the ANN"
    if chosen is None:
        chosen = size.rate_timesteps
        note = f"no T up to {size.rate_timesteps} stays within {TOLERANCE_PP} points of the ANN"
    spikes = result.counts_by_timesteps[chosen].spikes
    row = _row(arch, "Rate coding (IF)", False, result, "rate", chosen, 0, chosen, note, by_timesteps[chosen], spikes)
    curve = [
        {"architecture": arch, "images": result.images, "timesteps": t, "ann_accuracy": result.ann_accuracy,
         "rate_accuracy": accuracy}
        for t, accuracy in sorted(by_timesteps.items())
    ]
    return row, curve


def measure(size: Size, dataset: str) -> tuple[list[dict], list[dict]]:
    """Return the table rows and the rate-coding accuracy curves of both architectures."""
    torch.manual_seed(SEED)
    rows, curves = [], []
    runs = sum(
        len(size.float_timesteps) + len(size.quantised_timesteps[arch]) * len(size.quantised_precharges) + 1
        for arch in ARCHITECTURE_NAMES
    )
    by_arch: dict[str, list[dict]] = {arch: [] for arch in ARCHITECTURE_NAMES}
    with progress_bar(total=runs, desc="conversion-table", unit="run") as bar:
        # The quantised networks come last because training them on first use takes longest.
        for arch in by_arch:
            by_arch[arch] += float_tmn_rows(arch, size, dataset, bar)
            row, curve = rate_row(arch, size, dataset, bar)
            by_arch[arch].append(row)
            curves += curve
        for arch in reversed(by_arch):
            quantised = quantised_tmn_rows(arch, size, dataset, bar)
            by_arch[arch][len(size.float_timesteps):len(size.float_timesteps)] = quantised
    for arch_rows in by_arch.values():
        rows += arch_rows
    return rows, curves


def plot(rows: list[dict], curves: list[dict], dataset: str) -> Figure:
    """Draw SNN accuracy against timesteps (log scale): rate-coding curve, TMN points, ANN accuracy."""
    figure = Figure(figsize=(12, 4.6))
    panels = figure.subplots(1, 2)
    for axes, arch in zip(panels, ("cnn", "mlp")):
        name = ARCHITECTURE_NAMES[arch]
        curve = [point for point in curves if point["architecture"] == arch]
        axes.plot([p["timesteps"] for p in curve], [p["rate_accuracy"] for p in curve], color="C0",
                  label=f"rate coding (IF), {curve[0]['images']} test images")
        axes.axhline(curve[0]["ann_accuracy"], color="C0", linestyle=":", linewidth=1,
                     label=f"ANN on those images, {curve[0]['ann_accuracy']:.2f} %")
        tmn = [row for row in rows if row["architecture"] == name and row["coding"] == "CSS"]
        float_rows = [row for row in tmn if row["no_quantisation"]]
        quantised_rows = [row for row in tmn if not row["no_quantisation"]]
        axes.plot([r["timesteps"] for r in float_rows], [r["snn_accuracy"] for r in float_rows], "o-", color="C3",
                  label=f"TMN, float ANN, P = {PRECHARGE}")
        for index, precharge in enumerate(sorted({r["precharge"] for r in quantised_rows})):
            chosen = [r for r in quantised_rows if r["precharge"] == precharge]
            axes.plot([r["timesteps"] for r in chosen], [r["snn_accuracy"] for r in chosen], "sD"[index % 2],
                      color=f"C{2 + index * 2}", markersize=8 - 2 * index, label=f"TMN, quantised ANN, P = {precharge}")
        axes.axhline(float_rows[0]["ann_accuracy"], color="C3", linestyle=":", linewidth=1,
                     label=f"ANN, {float_rows[0]['images']} test images, {float_rows[0]['ann_accuracy']:.2f} %")
        axes.set_xscale("log", base=2)
        axes.set_xlabel("timesteps T (input steps per image, log scale)")
        axes.set_ylabel("accuracy (%)")
        top = max(float_rows[0]["ann_accuracy"], curve[0]["ann_accuracy"])
        axes.set_ylim(max(0.0, top - 15), min(100.0, top + 2))
        axes.set_title(name, fontsize="medium")
        axes.legend(loc="lower right", fontsize="small")
    figure.text(0.01, -0.02, f"{COMMAND}: {dataset}; test images per row as in the table; rate coding from one "
                "long run, every shorter T is a prefix of it.", fontsize="x-small")
    figure.tight_layout()
    return figure


def markdown_table(rows: list[dict]) -> str:
    """Return the table in the conversion literature's layout, with the test images of each row."""
    header = ["Method", "No Quant.", "Architecture", "ANN Acc. (%)", "Coding", "Timestep", "SNN Acc. (%)",
              "Loss (pp)", "Test images"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        timestep = str(row["timesteps"]) if row["coding"] == "rate" else f"{row['timesteps']} (+{row['precharge']} pre-charge)"
        cells = [
            row["method"],
            "✓" if row["no_quantisation"] else "✗",
            row["architecture"],
            f"{row['ann_accuracy']:.2f}",
            row["coding"],
            timestep,
            f"{row['snn_accuracy']:.2f}",
            f"{row['loss']:.2f}",
            str(row["images"]),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def run(output_dir: pathlib.Path, quick: bool = False, dataset: str = "fashion-mnist") -> list[pathlib.Path]:
    """Measure, then write conversion_table.csv, rate_accuracy.csv, conversion_table.png and .md."""
    size = QUICK if quick else FULL
    rows, curves = measure(size, dataset)
    return [
        write_csv(output_dir / "conversion_table.csv", COLUMNS, [[row[key] for key in COLUMNS] for row in rows]),
        write_csv(output_dir / "rate_accuracy.csv", CURVE_COLUMNS, [[p[key] for key in CURVE_COLUMNS] for p in curves]),
        save_figure(output_dir / "conversion_table.png", plot(rows, curves, dataset)),
        write_text(output_dir / "conversion_table.md", markdown_table(rows)),
    ]
