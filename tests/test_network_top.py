"""Network top: real trained networks, exported to integers and run on Icarus Verilog and Verilator.

The networks are trained here in seconds: a small MLP on the scikit-learn
digits and a small MLP on a slice of Fashion-MNIST. The full 200-image
Fashion-MNIST bench of the reference MLP runs in ``make sim``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

from golden.convert import convert
from golden.data import load_dataset
from golden.export import export_network
from golden.integer_network import run
from golden.network_format import save_network
from sim.network_bench import golden_network, image_currents, network_arrays, run_network_bench
from tmn_hw.network import ClassifierSpec, FirstLayerSpec, NetworkTop, SpikingLayerSpec, network_spec

TIMESTEPS = 4
PRECHARGE = 1
IMAGES = 20


def _train_mlp(dataset: str, hidden: tuple[int, ...], train_images: int, steps: int) -> nn.Module:
    """Train an MLP with full-batch Adam; a few seconds on a CPU."""
    torch.manual_seed(0)
    train = load_dataset(dataset, "train")
    x, y = train.tensors(limit=train_images)
    layers: list[nn.Module] = [nn.Flatten()]
    width = x[0].numel()
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        width = size
    layers.append(nn.Linear(width, train.num_classes))
    model = nn.Sequential(*layers)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    return model.eval()


def _export(dataset: str, model: nn.Module, calibration: int):
    train = load_dataset(dataset, "train")
    x, _ = train.tensors(limit=calibration)
    converted = convert(model, [x], timesteps=TIMESTEPS, precharge=PRECHARGE)
    return export_network(
        converted,
        input_shape=train.input_shape,
        pixel_max=train.pixel_max,
        num_classes=train.num_classes,
        calibration_pixels=train.pixels[:calibration],
        source={"dataset": dataset},
    )


@pytest.fixture(scope="module")
def digits_network():
    # Two hidden layers, so that the chain has an event-driven spiking layer between first and readout.
    return _export("digits", _train_mlp("digits", (32, 24), 1000, 150), 500)


@pytest.fixture(scope="module")
def fashion_network():
    return _export("fashion-mnist", _train_mlp("fashion-mnist", (32,), 3000, 80), 1000)


def _bench(network, dataset: str, images: int, simulator: str, build_dir):
    test = load_dataset(dataset, "test")
    pixels, labels = test.pixels[:images], test.labels[:images]
    result = run_network_bench(
        network_spec(network), image_currents(network, pixels), labels, simulator=simulator, build_dir=build_dir
    )
    golden_correct = int((run(network, pixels).predictions == labels).sum())
    return result, golden_correct


@pytest.mark.parametrize("simulator", ["icarus", "verilator"])
def test_network_bench_digits(digits_network, simulator, tmp_path):
    result, golden_correct = _bench(digits_network, "digits", IMAGES, simulator, tmp_path / simulator)
    assert result.images == IMAGES
    assert result.correct == golden_correct
    assert result.cycles_per_image > 0


def test_network_bench_fashion_mnist_icarus(fashion_network, tmp_path):
    result, golden_correct = _bench(fashion_network, "fashion-mnist", 10, "icarus", tmp_path)
    assert result.images == 10
    assert result.correct == golden_correct


def test_golden_chain_equals_integer_network(digits_network):
    # Two golden paths: the per-layer chain the bench uses, and golden.integer_network.run.
    test = load_dataset("digits", "test")
    pixels = test.pixels[:50]
    arrays = network_arrays(network_spec(digits_network))
    scores = np.stack([golden_network(arrays, currents)[2] for currents in image_currents(digits_network, pixels)])
    np.testing.assert_array_equal(scores, run(digits_network, pixels).scores)


def test_gen_network_command(digits_network, tmp_path):
    path = tmp_path / "digits.npz"
    save_network(path, digits_network)
    out = tmp_path / "verilog"
    command = [sys.executable, "-m", "tmn_hw.gen", "network", "--network", str(path), "--out", str(out)]
    completed = subprocess.run(command, capture_output=True, text=True, check=True)
    verilog = out / "tmn_network.v"
    assert completed.stdout.strip() == str(verilog)
    assert "module tmn_network(" in verilog.read_text()
    description = json.loads((out / "tmn_network.json").read_text())
    assert description["layer_sizes"] == [32, 24, 10]
    assert description["timesteps"] == TIMESTEPS
    assert description["precharge"] == PRECHARGE


def test_gen_network_is_deterministic(digits_network, tmp_path):
    path = tmp_path / "digits.npz"
    save_network(path, digits_network)
    texts = []
    for name in ("first", "second"):
        command = [sys.executable, "-m", "tmn_hw.gen", "network", "--network", str(path), "--out", str(tmp_path / name)]
        subprocess.run(command, capture_output=True, text=True, check=True)
        texts.append((tmp_path / name / "tmn_network.v").read_text())
    assert texts[0] == texts[1]


def test_gen_network_missing_file(tmp_path):
    missing = tmp_path / "missing.npz"
    command = [sys.executable, "-m", "tmn_hw.gen", "network", "--network", str(missing), "--out", str(tmp_path)]
    completed = subprocess.run(command, capture_output=True, text=True)
    assert completed.returncode == 2
    assert f"network file {missing} not found" in completed.stderr


def test_network_spec_rejects_conv(digits_network):
    layers = list(digits_network.layers)
    layers[1] = dataclasses.replace(layers[1], kind="conv2d")
    network = dataclasses.replace(digits_network, layers=tuple(layers))
    with pytest.raises(ValueError, match=r"layer 1 \('.*'\) is a conv2d layer; the network top runs fully connected"):
        network_spec(network)


def test_network_spec_rejects_pooling(digits_network):
    layers = list(digits_network.layers)
    layers[1] = dataclasses.replace(layers[1], pre_ops=({"op": "sum_pool2d", "kernel": 2, "stride": 2},))
    network = dataclasses.replace(digits_network, layers=tuple(layers))
    with pytest.raises(ValueError, match="has pre-operation 'sum_pool2d'; the network top supports only 'flatten'"):
        network_spec(network)


def _small_spec(hidden_inputs: int = 4, classifier_inputs: int = 3):
    rng = np.random.default_rng(0)
    first = FirstLayerSpec(neurons=4, threshold=16, input_width=8, membrane_width=8)
    hidden = [SpikingLayerSpec(rng.integers(-4, 5, (3, hidden_inputs)), np.zeros(3, dtype=int), 16, 8)]
    classifier = ClassifierSpec(rng.integers(-4, 5, (2, classifier_inputs)), np.zeros(2, dtype=int))
    return first, hidden, classifier


def test_network_rejects_hidden_shape():
    first, hidden, classifier = _small_spec(hidden_inputs=5)
    with pytest.raises(ValueError, match=r"spiking layer 1 has 5 inputs but layer 0 has 4 neurons"):
        NetworkTop(first=first, hidden=hidden, classifier=classifier, timesteps=4, precharge=1)


def test_network_rejects_classifier_shape():
    first, hidden, classifier = _small_spec(classifier_inputs=4)
    with pytest.raises(ValueError, match=r"the classifier has 4 inputs but the last spiking layer has 3 neurons"):
        NetworkTop(first=first, hidden=hidden, classifier=classifier, timesteps=4, precharge=1)


def test_network_rejects_gate_type():
    first, hidden, classifier = _small_spec()
    with pytest.raises(TypeError, match="gate must be True or False, not 1"):
        NetworkTop(first=first, hidden=hidden, classifier=classifier, timesteps=4, precharge=1, gate=1)


def test_network_ports():
    first, hidden, classifier = _small_spec()
    top = NetworkTop(first=first, hidden=hidden, classifier=classifier, timesteps=4, precharge=1)
    assert top.layer_sizes == [4, 3, 2]
    assert {"i", "o", "spikes0", "spikes1"} == set(top.signature.members.keys())
