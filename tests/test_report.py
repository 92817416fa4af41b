"""python -m tmn_hw.report: PE synthesis through the real tools, operation counts and energy, the CLI."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from torch import nn

from synth import Ice40Options, ToolError
from tmn_hw.energy import ACCUMULATE_PJ, MAC_PJ
from tmn_hw.report import SCHEMA_VERSION, main
from tmn_hw.report_energy import compare_networks
from tmn_hw.report_resources import PE_DESIGNS, resource_sweep, sweep_threshold

SWEEP_WIDTHS = (8, 12, 16)


@pytest.mark.slow
def test_pe_sweep_through_yosys_and_nextpnr(tmp_path):
    # One test for the whole sweep, so that parallel workers do not each synthesise it.
    sweep = resource_sweep(SWEEP_WIDTHS, PE_DESIGNS, Ice40Options(device="up5k"), cache_dir=tmp_path, progress=False)

    assert sweep["tools"]["yosys"].startswith("Yosys ")
    assert "nextpnr-ice40" in sweep["tools"]["nextpnr-ice40"]
    assert "synth_ice40 -top {top}" in sweep["flows"]["ice40_yosys_script"]
    assert sweep["flows"]["place_and_route_command"].startswith("nextpnr-ice40 --up5k --package sg48 ")
    assert (sweep["device"], sweep["package"]) == ("up5k", "sg48")

    smallest = rows_of(sweep, "tmn_pe")[0]
    assert smallest["membrane_width"] == 8
    assert smallest["parameters"]["threshold"] == sweep_threshold(8)
    assert smallest["dff"] >= 8  # the membrane register alone
    assert smallest["lut4"] > 0
    assert smallest["carry"] > 0
    assert smallest["logic_cells"] >= max(smallest["lut4"], smallest["dff"])
    assert smallest["ram"] == 0
    assert smallest["fmax_mhz"] > 0
    assert smallest["generic_cells"] > smallest["dff"]

    for design in PE_DESIGNS:
        rows = rows_of(sweep, design.name)
        assert [row["membrane_width"] for row in rows] == list(SWEEP_WIDTHS)
        for narrow, wide in zip(rows, rows[1:]):
            for kind in ("lut4", "carry", "dff", "logic_cells", "generic_cells"):
                assert wide[kind] >= narrow[kind], (design.name, kind, narrow["membrane_width"], wide["membrane_width"])


def rows_of(sweep, design: str) -> list[dict]:
    return sorted((row for row in sweep["rows"] if row["design"] == design), key=lambda row: row["membrane_width"])


def test_sweep_threshold_rejects_narrow_width():
    with pytest.raises(ValueError, match="membrane_width = 4 is too narrow for any threshold"):
        sweep_threshold(4)


def tiny_network() -> nn.Module:
    """2-2-2 network with identity weights and no bias, so every spike can be followed by hand."""
    model = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2))
    with torch.no_grad():
        for layer in (model[0], model[2]):
            layer.weight.copy_(torch.eye(2))
            layer.bias.zero_()
    return model.eval()


def test_tiny_network_counts_match_hand(tmp_path):
    # Calibration input [1, 1] sets the hidden threshold to v = 1, the 99.99th percentile of the ReLU outputs.
    calibration = [torch.tensor([[1.0, 1.0]])]
    test = [(torch.tensor([[0.5, -0.25]]), torch.tensor([0]))]
    section = compare_networks(
        tiny_network(),
        lambda: calibration,
        lambda: test,
        test[0][0],
        pixel_max=255,
        timesteps=2,
        precharge=1,
        rate_timesteps=4,
        progress=False,
    )
    ann, tmn, rate = section["networks"]

    # ANN: two dense 2x2 layers.
    assert ann["macs"] == 8
    assert ann["accumulates"] == 0
    assert ann["energy_pj"] == pytest.approx(8 * MAC_PJ)

    # TMN, T = 2, P = 1, theta = 2 v = 2. Neuron 0 (z = 0.5): u = 0.5, then u_hat = 1.5 >= 1 fires +1
    # (u = -0.5), then u_hat = -1 <= -1 fires -1, which the open gate passes. Neuron 1 (z = -0.25):
    # u_hat = -0.75, then -1.5 fires -1 first, so the gate blocks it. Two spikes reach 2 outputs each.
    hidden = {layer["name"]: layer for layer in tmn["layers"]}
    spiking = [layer for layer in tmn["layers"] if layer["kind"] == "spiking"]
    assert len(spiking) == 1
    assert spiking[0]["spikes"] == 2
    assert spiking[0]["negative_spikes"] == 1
    assert tmn["accumulates"] == 4
    assert tmn["macs"] == 4  # the analog first layer, once per image
    assert tmn["energy_pj"] == pytest.approx(4 * ACCUMULATE_PJ + 4 * MAC_PJ)
    assert sorted(layer["kind"] for layer in hidden.values()) == ["analog", "spiking", "synaptic"]

    # Rate coding, IF from v/2 = 0.5: neuron 0 fires at steps 1 and 3; T = 1 already classifies
    # like the ANN, so the report takes T = 1: one spike, two accumulates.
    assert rate["timesteps"] == 1
    assert rate["spikes"] == 1
    assert rate["accumulates"] == 2
    assert section["rate_accuracy_by_timesteps"] == {"1": 100.0, "2": 100.0, "4": 100.0}


def untrained_digits_checkpoint(path):
    from golden.checkpoint import save_checkpoint
    from golden.models import build_model

    torch.manual_seed(0)
    model = build_model("mlp", (1, 8, 8), 10).eval()
    meta = {"arch": "mlp", "dataset": "digits", "input_shape": [1, 8, 8], "num_classes": 10, "pixel_max": 16,
            "accuracy": 0.0, "quantise_timesteps": None}
    save_checkpoint(path, model, meta)
    return path


def test_cli_json_schema(tmp_path, capsys):
    checkpoint = untrained_digits_checkpoint(tmp_path / "mlp.pt")
    status = main(["--only", "energy", "--json", "--checkpoint", str(checkpoint), "--limit", "20",
                   "--rate-timesteps", "4", "--timesteps", "3"])
    report = json.loads(capsys.readouterr().out)

    assert status == 0
    assert report["schema_version"] == SCHEMA_VERSION
    assert set(report) == {"schema_version", "generator", "quick", "energy"}
    energy = report["energy"]
    assert energy["dataset"] == "digits"
    assert energy["images"] == 20
    assert [n["name"] for n in energy["networks"]] == ["ANN", "TMN SNN", "rate SNN"]
    network_keys = {"name", "coding", "timesteps", "precharge", "accuracy", "note", "spikes", "accumulates", "macs",
                    "energy_pj", "fixed_point_pj", "fixed_point_breakdown_pj", "layers"}
    for network in energy["networks"]:
        assert set(network) == network_keys
    layer_keys = {"name", "kind", "neurons", "spikes", "negative_spikes", "accumulates", "macs", "energy_pj",
                  "fixed_point_pj", "widths"}
    assert set(energy["networks"][1]["layers"][0]) == layer_keys
    assert energy["constants"]["accumulate_pj"] == ACCUMULATE_PJ
    assert "Horowitz" in energy["constants"]["horowitz_45nm"]["add_int8"]["source"]


def test_cli_markdown_and_plots(tmp_path, capsys):
    checkpoint = untrained_digits_checkpoint(tmp_path / "mlp.pt")
    status = main(["--only", "energy", "--markdown", "--checkpoint", str(checkpoint), "--limit", "10",
                   "--rate-timesteps", "2", "--plot", str(tmp_path / "plots")])
    text = capsys.readouterr().out

    assert status == 0
    assert "## Energy per image" in text
    assert "| ANN |" in text
    assert (tmp_path / "plots" / "energy.png").stat().st_size > 0


def test_cli_rejects_wrong_dataset(tmp_path, capsys):
    checkpoint = untrained_digits_checkpoint(tmp_path / "mlp.pt")
    status = main(["--only", "energy", "--checkpoint", str(checkpoint), "--dataset", "fashion-mnist"])

    assert status == 1
    assert "was trained on 'digits', not dataset 'fashion-mnist'" in capsys.readouterr().err


def test_cli_missing_yosys_reports_tool_error(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    status = main(["--only", "resources", "--widths", "8", "--no-cache"])
    error = capsys.readouterr().err

    assert status == 1
    assert "executable 'yosys' not found on PATH" in error
    assert "make install" in error
    assert shutil.which("yosys") is None
    assert issubclass(ToolError, RuntimeError)


def test_cli_rejects_options_of_omitted_section(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["--only", "resources", "--limit", "10"])

    assert caught.value.code == 2
    assert "--limit: options of the energy section, which --only resources leaves out" in capsys.readouterr().err
