"""Tests of the experiments on converted networks (ablation, conversion table, energy table) on digits, quick size.

The networks are the reference CNN and MLP trained on scikit-learn's digits
(``golden.experiments._checkpoints`` trains them into ``build/checkpoints``
in seconds on first use).
"""

from __future__ import annotations

import csv

import pytest

from golden.experiments import load
from golden.experiments.__main__ import main
from golden.experiments._checkpoints import checkpoint_path, recipe
from golden.experiments.ablation import COLUMNS as ABLATION_COLUMNS
from golden.experiments.ablation import PRECHARGES, QUICK
from golden.experiments.conversion_table import COLUMNS as TABLE_COLUMNS
from golden.experiments.conversion_table import CURVE_COLUMNS, stable_timesteps
from golden.experiments.energy_table import COLUMNS as ENERGY_COLUMNS

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_csv(path):
    with path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        return reader.fieldnames, list(reader)


def check_files(paths, directory, names):
    assert sorted(path.name for path in paths) == sorted(names)
    assert sorted(directory.iterdir()) == sorted(paths)  # no temporary file left behind
    for path in paths:
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_ablation_predictive_precharge_beats_plain(tmp_path):
    directory = tmp_path / "ablation"
    paths = load("ablation").run(directory, quick=True, dataset="digits")
    check_files(paths, directory, ["ablation.csv", "ablation.png", "ablation.md"])
    header, rows = read_csv(directory / "ablation.csv")
    assert header == ABLATION_COLUMNS
    assert len(rows) == 2 * len(PRECHARGES) * len(QUICK.timesteps)
    assert {row["images"] for row in rows} == {str(QUICK.images)}

    def accuracy(predictive, precharge, timesteps):
        (row,) = [r for r in rows if r["predictive"] == str(predictive) and r["precharge"] == str(precharge)
                  and r["timesteps"] == str(timesteps)]
        return float(row["snn_accuracy"])

    for timesteps in QUICK.timesteps:
        assert accuracy(True, 1, timesteps) > accuracy(False, 0, timesteps), timesteps
    negative = [float(row["negative_spikes_per_image"]) for row in rows if row["predictive"] == "False"]
    assert negative == [0.0] * len(negative)  # binary spikes without prediction are never negative
    ternary = [float(row["negative_spikes_per_image"]) for row in rows if row["predictive"] == "True"
               and row["precharge"] == "1"]
    assert min(ternary) > 0
    table = (directory / "ablation.md").read_text()
    assert table.count("\n") == 2 + 2 * len(PRECHARGES)


def test_conversion_table_rows_and_losses(tmp_path):
    directory = tmp_path / "conversion-table"
    paths = load("conversion-table").run(directory, quick=True, dataset="digits")
    check_files(
        paths, directory, ["conversion_table.csv", "rate_accuracy.csv", "conversion_table.png", "conversion_table.md"]
    )
    header, rows = read_csv(directory / "conversion_table.csv")
    assert header == TABLE_COLUMNS
    assert [row["method"] for row in rows] == ["TMN", "TMN, quantised ANN", "TMN, quantised ANN", "Rate coding (IF)"] * 2
    assert [row["no_quantisation"] for row in rows] == ["True", "False", "False", "True"] * 2
    assert [row["precharge"] for row in rows] == ["1", "1", "2", "0"] * 2
    for row in rows:
        loss = float(row["ann_accuracy"]) - float(row["snn_accuracy"])
        assert float(row["loss"]) == pytest.approx(loss, abs=1e-9)
        assert row["images"] == "360"  # the whole digits test split
    tmn = [row for row in rows if row["coding"] == "CSS"]
    assert {row["latency"] for row in tmn} != set()
    for row in tmn:
        assert int(row["latency"]) > int(row["timesteps"])  # each TMN layer adds its pre-charge step
    curve_header, curve = read_csv(directory / "rate_accuracy.csv")
    assert curve_header == CURVE_COLUMNS
    assert [int(point["timesteps"]) for point in curve] == list(range(1, 17)) * 2
    table = (directory / "conversion_table.md").read_text()
    assert table.splitlines()[0].startswith("| Method | No Quant. | Architecture | ANN Acc. (%) | Coding | Timestep")
    assert table.count("\n") == 2 + len(rows)


def test_stable_timesteps_ignores_early_lucky_run():
    by_timesteps = {1: 50.0, 2: 90.0, 4: 80.0, 8: 89.8, 16: 90.1}
    assert stable_timesteps(by_timesteps, 90.0, 0.5) == 8
    assert stable_timesteps({1: 50.0, 2: 60.0}, 90.0, 0.5) is None


def test_energy_table_counts(tmp_path):
    directory = tmp_path / "energy-table"
    paths = load("energy-table").run(directory, quick=True, dataset="digits")
    check_files(paths, directory, ["energy_table.csv", "energy_table.png", "energy_table.md"])
    header, rows = read_csv(directory / "energy_table.csv")
    assert header == ENERGY_COLUMNS
    assert [(row["architecture"], row["model"]) for row in rows] == [
        (arch, model) for arch in ("CNN", "MLP") for model in ("ANN", "rate coding (IF)", "TMN")
    ]
    for row in rows:
        energy = float(row["accumulates"]) * 0.9e-6 + float(row["macs"]) * 4.6e-6  # microjoules
        assert float(row["energy_uj"]) == pytest.approx(energy, rel=1e-9)
        if row["model"] == "ANN":
            assert float(row["accumulates"]) == 0
            assert float(row["energy_vs_ann"]) == 1.0
        else:
            assert float(row["accumulates"]) > 0
            assert float(row["spikes"]) > 0
            assert 0 < float(row["macs"]) < float(rows[0 if row["architecture"] == "CNN" else 3]["macs"])


def test_cli_rejects_dataset_for_generated_inputs(capsys):
    with pytest.raises(SystemExit):
        main(["encoding-error", "--dataset", "digits", "--quick"])
    assert "experiment encoding-error takes no --dataset" in capsys.readouterr().err


def test_checkpoint_recipe_rejects_bad_values():
    with pytest.raises(ValueError, match="dataset must be one of fashion-mnist, digits, not 'mnist'"):
        recipe("mnist", "cnn")
    with pytest.raises(ValueError, match="arch must be one of cnn, .*, not 'resnet'"):
        checkpoint_path("digits", "resnet")
    with pytest.raises(ValueError, match="quantise must be None or an integer >= 1"):
        recipe("digits", "mlp", quantise=0)
    assert checkpoint_path("fashion-mnist", "cnn", quantise=3).name == "fmnist_cnn_q3.pt"
