"""The training, conversion, export and integer-network commands, end to end on the digits data set."""

import json

import numpy as np
import pytest
import torch

from golden import convert, export, integer_network, train
from golden.checkpoint import load_checkpoint
from golden.network_format import load_network


@pytest.fixture(scope="module")
def mlp_checkpoint(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoints") / "digits_mlp.pt"
    train.main(["--dataset", "digits", "--arch", "mlp", "--out", str(path), "--epochs", "2", "--seed", "1"])
    return path


def test_checkpoint_loads_weights_only(mlp_checkpoint):
    payload = torch.load(mlp_checkpoint, map_location="cpu", weights_only=True)
    assert payload["meta"]["arch"] == "mlp"
    assert payload["meta"]["dataset"] == "digits"
    assert payload["meta"]["pixel_max"] == 16
    assert payload["meta"]["quantise_timesteps"] is None
    assert 0 <= payload["meta"]["accuracy"] <= 100
    assert load_checkpoint(mlp_checkpoint)["state_dict"].keys() == payload["state_dict"].keys()


def test_convert_command_json(mlp_checkpoint, capsys):
    convert.main([str(mlp_checkpoint), "--timesteps", "5", "--precharge", "1", "--json", "--limit", "100"])
    report = json.loads(capsys.readouterr().out)
    assert report["images"] == 100
    assert report["latency"] == 5 + 2 * 1
    assert report["conversion_loss_pp"] == pytest.approx(report["ann_accuracy"] - report["snn_accuracy"])
    assert report["operations"]["spikes"] == pytest.approx(
        report["operations"]["positive_spikes"] + report["operations"]["negative_spikes"]
    )
    assert [layer["kind"] for layer in report["operations"]["layers"]] == [
        "analog", "spiking", "synaptic", "spiking", "synaptic"
    ]
    assert len(report["thresholds"]) == 2


def test_convert_command_rate_prefixes(mlp_checkpoint, capsys):
    convert.main([str(mlp_checkpoint), "--coding", "rate", "--timesteps", "16", "--json", "--limit", "50"])
    report = json.loads(capsys.readouterr().out)
    assert list(report["snn_accuracy_by_timesteps"]) == ["1", "2", "4", "8", "16"]
    assert report["snn_accuracy"] == report["snn_accuracy_by_timesteps"]["16"]
    assert report["operations"]["negative_spikes"] == 0
    assert "timesteps_within_0.5pp" in report


def test_convert_command_rejects_bad_option(mlp_checkpoint, capsys):
    with pytest.raises(SystemExit):
        convert.main([str(mlp_checkpoint), "--timesteps", "0"])
    assert "--timesteps must be >= 1, not 0" in capsys.readouterr().err


def test_export_and_integer_commands(mlp_checkpoint, tmp_path, capsys):
    out = tmp_path / "net.npz"
    export.main([str(mlp_checkpoint), "--timesteps", "5", "--out", str(out), "--json", "--limit", "100",
                 "--calibration-images", "300"])
    report = json.loads(capsys.readouterr().out)
    network = load_network(out)
    assert network.timesteps == 5
    assert [layer.role for layer in network.layers] == ["input", "hidden", "output"]
    assert report["images"] == 100
    assert report["integer_minus_float_pp"] == pytest.approx(report["integer_accuracy"] - report["float_snn_accuracy"])
    integer_network.main([str(out), "--json", "--limit", "100"])
    rerun = json.loads(capsys.readouterr().out)
    assert rerun["integer_accuracy"] == report["integer_accuracy"]
    assert [layer["max_membrane"] for layer in rerun["layers"]] == [layer["max_membrane"] for layer in report["layers"]]
    assert all(np.isfinite(layer["overflows"]) for layer in rerun["layers"])


def test_quantised_path_converts_almost_exactly(mlp_checkpoint, tmp_path, capsys):
    out = tmp_path / "digits_mlp_q3.pt"
    train.main(["--dataset", "digits", "--quantise", "3", "--init", str(mlp_checkpoint), "--out", str(out),
                "--epochs", "1"])
    assert load_checkpoint(out)["meta"]["quantise_timesteps"] == 3
    convert.main([str(out), "--timesteps", "3", "--precharge", "1", "--json"])
    report = json.loads(capsys.readouterr().out)
    # Constant first-layer currents round like the quantised activation; deeper layers may differ at ties.
    assert abs(report["conversion_loss_pp"]) <= 1.0
    assert report["thresholds"] == pytest.approx(
        [float(v) for k, v in load_checkpoint(out)["state_dict"].items() if k.endswith("clip")]
    )


def test_quantise_needs_init(capsys):
    with pytest.raises(SystemExit):
        train.main(["--dataset", "digits", "--quantise", "3", "--out", "unused.pt"])
    assert "--quantise needs --init CKPT" in capsys.readouterr().err
