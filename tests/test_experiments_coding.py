"""Tests of the encoding experiments and of ``python -m golden.experiments``, at the quick size."""

from __future__ import annotations

import csv
import subprocess
import sys

import pytest

from golden.experiments import EXPERIMENTS, load
from golden.experiments.__main__ import main
from golden.experiments.files import write_text

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def read_rows(path):
    with path.open(newline="") as stream:
        return list(csv.DictReader(stream))


def check_outputs(paths, directory):
    """Every returned file exists in ``directory``, is non-empty, and no temporary file is left."""
    assert paths
    for path in paths:
        assert path.parent == directory
        assert path.stat().st_size > 0
        if path.suffix == ".png":
            assert path.read_bytes().startswith(PNG_SIGNATURE)
    assert sorted(directory.iterdir()) == sorted(paths)


def test_encoding_error_css_beats_rate(tmp_path):
    directory = tmp_path / "encoding-error"
    paths = load("encoding-error").run(directory, quick=True)
    check_outputs(paths, directory)
    rows = read_rows(directory / "encoding_error.csv")
    deepest = max(int(row["layer"]) for row in rows)
    timesteps = sorted({int(row["timesteps"]) for row in rows})
    assert timesteps == [3, 4, 5]
    for t in timesteps:
        at_output = {row["code"]: row for row in rows if int(row["timesteps"]) == t and int(row["layer"]) == deepest}
        assert int(at_output["rate"]["steps"]) == 2**t
        assert float(at_output["css"]["mse_mean"]) < float(at_output["rate"]["mse_mean"]), t
    table = (directory / "encoding_error.md").read_text()
    assert table.count("\n") == deepest + 2


def test_predictive_threshold_half_is_tightest(tmp_path):
    directory = tmp_path / "predictive-threshold"
    paths = load("predictive-threshold").run(directory, quick=True)
    check_outputs(paths, directory)
    rows = read_rows(directory / "predictive_threshold.csv")
    for source in ("uniform", "network"):
        cases = [row for row in rows if row["source"] == source and row["precharge"] == "1"]
        best = min(cases, key=lambda row: float(row["mean_square"]))
        assert float(best["ratio"]) == 0.5, source
        tightest = min(cases, key=lambda row: float(row["std"]))
        assert float(tightest["ratio"]) == 0.5, source
    uniform_half = next(
        row for row in rows if row["source"] == "uniform" and row["precharge"] == "1" and row["ratio"] == "0.5"
    )
    # With ratio 1/2 and in-range inputs the residual stays within +-theta/2.
    assert float(uniform_half["share_beyond_half"]) == 0.0
    assert abs(float(uniform_half["mean"])) < 0.01


def test_cli_lists_experiments():
    result = subprocess.run(
        [sys.executable, "-m", "golden.experiments", "--list"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    for name in EXPERIMENTS:
        assert name in result.stdout
        assert load(name).DESCRIPTION in result.stdout


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["no-such-experiment"], "unknown experiment no-such-experiment; choose from all, "),
        ([], "name at least one experiment, or 'all'; --list shows them"),
    ],
)
def test_cli_rejects_bad_names(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_load_unknown_experiment():
    with pytest.raises(ValueError, match=r"unknown experiment 'nope'; choose one of .*predictive-threshold"):
        load("nope")


def test_failed_write_leaves_no_file(tmp_path):
    target = tmp_path / "table.md"
    with pytest.raises(TypeError):
        write_text(target, 42)
    assert list(tmp_path.iterdir()) == []
