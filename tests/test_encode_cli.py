"""Tests of the encoding explorer, ``python -m golden.encode``, run as a subprocess.

Every printed spike train and decoded value is compared with the float and
integer models run here directly.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import numpy as np
import pytest
import torch

from golden.coding import css_decode, spike_train_str
from golden.encode import main
from golden.integer import IntegerNeuronConfig, in_range_input_max, required_membrane_width, simulate
from golden.neuron import TMN

VALUES = ["0.3", "-0.7", "1.2", "-1.5", "0", "0.999"]


def run_cli(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "golden.encode", *arguments], capture_output=True, text=True, check=False
    )


def model_results(values, timesteps, precharge, threshold, int_threshold, membrane_width, relu):
    """Return (float digits, float decoded, integer currents, integer trace) for constant inputs."""
    x = torch.tensor(values, dtype=torch.float64)
    neuron = TMN(threshold, timesteps, precharge, gate=relu)
    digits = neuron(x.expand(timesteps, -1))
    currents = np.array([round(value * int_threshold / threshold) for value in values], dtype=np.int64)
    config = IntegerNeuronConfig(
        timesteps=timesteps,
        precharge=precharge,
        threshold=int_threshold,
        input_width=32,
        membrane_width=membrane_width,
        gate=relu,
    )
    trace = simulate(config, np.broadcast_to(currents, (timesteps,) + currents.shape))
    return digits, neuron.decode(digits), currents, trace


def check_report(report, timesteps, precharge, threshold, int_threshold, membrane_width, relu):
    values = [row["input"] for row in report["values"]]
    digits, decoded, currents, trace = model_results(
        values, timesteps, precharge, threshold, int_threshold, membrane_width, relu
    )
    integer_decoded = css_decode(trace.spikes, threshold)
    assert report["membrane_width"] == membrane_width
    for index, row in enumerate(report["values"]):
        expected = max(0.0, row["input"]) if relu else row["input"]
        assert row["expected"] == expected
        assert row["float"]["spikes"] == spike_train_str(digits[:, index])
        assert row["float"]["decoded"] == float(decoded[index])
        assert row["float"]["error"] == float(decoded[index]) - expected
        assert row["integer"]["current"] == currents[index]
        assert row["integer"]["spikes"] == spike_train_str(trace.spikes[:, index])
        assert row["integer"]["decoded"] == float(integer_decoded[index])
        assert row["integer"]["error"] == float(integer_decoded[index]) - expected
        assert row["integer"]["overflow"] == bool(trace.any_overflow[index])


def test_json_matches_models():
    result = run_cli(*VALUES, "--timesteps", "6", "--precharge", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert [row["input"] for row in report["values"]] == [float(value) for value in VALUES]
    assert report["threshold"] == 1.0
    assert report["int_threshold"] == 256
    width = required_membrane_width(6, 1, 256, in_range_input_max(1, 256))
    check_report(report, 6, 1, 1.0, 256, width, relu=False)

    rows = {row["input"]: row for row in report["values"]}
    half_step = 1.0 / (2**6 - 1) / 2
    assert abs(rows[0.3]["float"]["error"]) <= half_step
    assert rows[-0.7]["float"]["spikes"].startswith("-")
    assert rows[1.2]["float"]["spikes"] == "++++++"
    assert rows[1.2]["integer"]["spikes"] == "++++++"
    assert rows[-1.5]["integer"]["spikes"] == "------"
    assert rows[1.2]["integer"]["overflow"]
    assert rows[-1.5]["integer"]["overflow"]
    assert not rows[0.3]["integer"]["overflow"]


def test_relu_and_options_match_models():
    result = run_cli(
        *VALUES, "-T", "5", "-P", "2", "--threshold", "2.5", "--int-threshold", "64",
        "--membrane-width", "20", "--relu", "--json",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["relu"] is True
    check_report(report, 5, 2, 2.5, 64, 20, relu=True)
    rows = {row["input"]: row for row in report["values"]}
    assert rows[-0.7]["float"]["spikes"] == "00000"
    assert rows[-0.7]["integer"]["decoded"] == 0.0
    assert not any(row["integer"]["overflow"] for row in report["values"])


def test_any_integer_threshold_matches_models():
    # The PE takes any V >= 1 (its threshold register doubles V during pre-charge), so the encoder does too.
    result = run_cli(*VALUES, "-T", "4", "-P", "1", "--int-threshold", "100", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    width = required_membrane_width(4, 1, 100, in_range_input_max(1, 100))
    check_report(report, 4, 1, 1.0, 100, width, relu=False)
    assert {row["integer"]["current"] for row in report["values"]} >= {30, -70}


def test_table_matches_models():
    result = run_cli("0.3", "-0.7", "1.2", "--timesteps", "6", "--precharge", "1")
    assert result.returncode == 0, result.stderr
    width = required_membrane_width(6, 1, 256, in_range_input_max(1, 256))
    digits, decoded, currents, trace = model_results([0.3, -0.7, 1.2], 6, 1, 1.0, 256, width, relu=False)
    integer_decoded = css_decode(trace.spikes, 1.0)
    float_rows = re.findall(r"^\s+(-?\d+\.\d+)\s+float\s+([-+0]+)\s+(-?\d+\.\d+)\s+([-+]\d+\.\d+)$", result.stdout, re.M)
    integer_rows = re.findall(
        r"^\s+integer\s+(-?\d+)\s+([-+0]+)\s+(-?\d+\.\d+)\s+([-+]\d+\.\d+)\s+(yes|no)$", result.stdout, re.M
    )
    assert len(float_rows) == 3
    assert len(integer_rows) == 3
    for index, value in enumerate([0.3, -0.7, 1.2]):
        assert float_rows[index][0] == f"{value:.6f}"
        assert float_rows[index][1] == spike_train_str(digits[:, index])
        assert float_rows[index][2] == f"{float(decoded[index]):.6f}"
        assert float_rows[index][3] == f"{float(decoded[index]) - value:+.6f}"
        assert int(integer_rows[index][0]) == currents[index]
        assert integer_rows[index][1] == spike_train_str(trace.spikes[:, index])
        assert integer_rows[index][2] == f"{float(integer_decoded[index]):.6f}"
        assert integer_rows[index][4] == ("yes" if trace.any_overflow[index] else "no")
    assert f"membrane {width} bits" in result.stdout


def test_help_documents_every_json_key():
    help_text = run_cli("--help")
    assert help_text.returncode == 0
    report = json.loads(run_cli("0.5", "--json").stdout)
    keys = set(report) | set(report["values"][0]) | set(report["values"][0]["float"])
    keys |= set(report["values"][0]["integer"])
    for key in sorted(keys):
        assert re.search(rf"^\s+{key}\s", help_text.stdout, re.M), key


def test_invalid_argument_exits_with_message():
    result = run_cli("0.5", "--timesteps", "0")
    assert result.returncode == 2
    assert "error: timesteps must be an integer in [1, 62], not 0" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["0.5", "--precharge", "-1"], r"precharge must be an integer in \[0, 62\], not -1"),
        (["0.5", "--precharge", "63"], r"precharge must be an integer in \[0, 62\], not 63"),
        (["0.5", "--timesteps", "70"], r"timesteps must be an integer in \[1, 62\], not 70"),
        (["0.5", "-T", "-1"], r"timesteps must be an integer in \[1, 62\], not -1"),
        (["0.5", "--threshold", "0"], r"threshold must be a number > 0 or a tensor of them, not 0\.0"),
        (["0.5", "--threshold", "nan"], r"argument --threshold: value must be finite, not 'nan'"),
        (["inf"], r"argument VALUE: value must be finite, not 'inf'"),
        (["0.5x"], r"argument VALUE: invalid number: '0\.5x'"),
        (["0.5", "--int-threshold", "0"], r"int_threshold must be an integer >= 1, not 0"),
        (["0.5", "--timesteps", "2.5"], r"argument --timesteps/-T: invalid int value: '2\.5'"),
        (
            ["0.5", "--membrane-width", "4"],
            r"membrane_width = 4 is too small for T = 4, P = 1, threshold = 256 and in-range inputs; "
            r"use membrane_width >= 11",
        ),
        (
            ["1e30"],
            r"value 1e\+30 gives an integer current round\(x \* V / v\) of 109 bits \(V = 256, v = 1\); "
            r"the integer model takes at most 62 bits, so use smaller values or a smaller --int-threshold$",
        ),
        (["1e300"], r"value 1e\+300 gives an integer current round\(x \* V / v\) of 1006 bits \(V = 256, v = 1\)"),
        (["1e308"], r"value 1e\+308 gives an integer current round\(x \* V / v\) of more than 1024 bits"),
        (["0.5", "--threshold", "1e-320"], r"value 0\.5 gives an integer current .* of more than 1024 bits"),
        (
            ["0.5", "--int-threshold", str(2**62)],
            r"int_threshold = 4611686018427387904 needs 64 bits; the integer model takes at most 62, "
            r"so use a smaller --int-threshold",
        ),
        ([], r"the following arguments are required: VALUE"),
    ],
)
def test_argument_errors(arguments, message, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(arguments)
    assert exit_info.value.code == 2
    error = capsys.readouterr().err
    assert re.search(message, error, re.M)
    assert not re.search(r"\d{30}", error), "the message prints a huge integer"
