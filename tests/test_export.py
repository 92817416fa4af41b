import dataclasses
import io
import json

import numpy as np
import pytest
import torch
from torch import nn

from golden.coding import Coding
from golden.convert import convert
from golden.data import load_dataset
from golden.export import ExportError, export_network
from golden.integer import IntegerNeuronConfig, simulate
from golden.integer_network import LayerStatistics, _run_neurons, input_currents, run
from golden.network_format import InvalidNetworkError, load_network, save_network

TIMESTEPS = 4
PRECHARGE = 1


def _digits_pixels(count: int = 120) -> np.ndarray:
    return load_dataset("digits", "test").pixels[:count]


def _dyadic_mlp() -> nn.Module:
    """An MLP whose weights and biases are multiples of 1/16 with largest magnitude 1: exact in integers."""
    generator = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    with torch.no_grad():
        for layer in (model[1], model[3]):
            layer.weight.copy_(torch.randint(-8, 9, layer.weight.shape, generator=generator) / 16)
            layer.weight.view(-1)[0] = 1.0
            layer.bias.copy_(torch.randint(-8, 9, layer.bias.shape, generator=generator) / 16)
    return model


def _export(model, pixels, **options):
    x = torch.from_numpy(pixels.astype(np.float32) / 16).unsqueeze(1)
    network = convert(model, [x], timesteps=TIMESTEPS, precharge=PRECHARGE)
    for site in network.sites:
        site.threshold = 1.0
    integer = export_network(network, input_shape=(1, 8, 8), pixel_max=16, num_classes=3,
                             calibration_pixels=pixels, **options)
    return network, integer, x


def test_integer_equals_float_snn_for_exact_weights():
    pixels = _digits_pixels()
    network, integer, x = _export(_dyadic_mlp(), pixels, saturation=1e6)
    assert integer.layers[0].threshold == 1024  # 127 / (1 / 16) rounded down to a power of two
    assert integer.layers[1].scale == 64.0
    float_readout = network.simulate(x).outputs[TIMESTEPS]
    result = run(integer, pixels)
    # A = sum_t 2^(T-t) z_L[t] = (2^T - 1) * scale * readout, exactly when no weight was rounded.
    expected = float_readout.numpy() * (2**TIMESTEPS - 1) * integer.layers[1].scale
    np.testing.assert_array_equal(result.scores, np.rint(expected).astype(np.int64))
    np.testing.assert_allclose(result.scores, expected, rtol=0, atol=1e-6)
    assert result.statistics[0].overflows == 0


# A trained network's weights are rounded to 8 bits, so a few images flip class.
MAX_ACCURACY_GAP_PP = 2.0


def test_integer_close_to_float_snn_after_rounding():
    torch.manual_seed(1)
    train = load_dataset("digits", "train")
    test = load_dataset("digits", "test")
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = train.tensors()
    for _ in range(150):
        optimiser.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimiser.step()
    model.eval()
    network = convert(model, [x], timesteps=5, precharge=1)
    integer = export_network(network, input_shape=(1, 8, 8), pixel_max=16, num_classes=10,
                             calibration_pixels=train.pixels[:500])
    x_test, y_test = test.tensors()
    float_accuracy = 100 * float((network.simulate(x_test).outputs[5].argmax(1) == y_test).float().mean())
    integer_accuracy = 100 * float((run(integer, test.pixels).predictions == test.labels).mean())
    assert float_accuracy > 90
    assert abs(integer_accuracy - float_accuracy) <= MAX_ACCURACY_GAP_PP
    assert all(layer.weight.dtype == np.int8 for layer in integer.layers)
    assert all(np.abs(layer.weight).max() <= 127 for layer in integer.layers)


def test_layer_run_matches_golden_simulate():
    rng = np.random.default_rng(3)
    config = IntegerNeuronConfig(timesteps=5, precharge=2, threshold=64, input_width=10, membrane_width=10)
    currents = rng.integers(-200, 201, size=(5, 7, 9))
    stats = LayerStatistics("test", config.membrane_width)
    digits = _run_neurons(config, currents, stats)
    for image in range(7):
        trace = simulate(config, currents[:, image])
        np.testing.assert_array_equal(digits[:, image], trace.spikes)
    assert stats.overflows == sum(int(simulate(config, currents[:, i]).overflow.sum()) for i in range(7))


def test_file_round_trip(tmp_path):
    pixels = _digits_pixels()
    _, integer, _ = _export(_dyadic_mlp(), pixels)
    path = tmp_path / "net.npz"
    save_network(path, integer)
    loaded = load_network(path)
    assert loaded.header() == integer.header()
    for a, b in zip(loaded.layers, integer.layers):
        np.testing.assert_array_equal(a.weight, b.weight)
        np.testing.assert_array_equal(a.bias, b.bias)
        assert a.weight.dtype == b.weight.dtype
    np.testing.assert_array_equal(run(loaded, pixels).scores, run(integer, pixels).scores)
    assert not list(tmp_path.glob("*.tmp"))


def _rewrite(path, out, edit):
    with np.load(path, allow_pickle=False) as data:
        arrays = {key: data[key] for key in data.files}
    header = json.load(io.BytesIO(arrays["header"].tobytes()))
    edit(header, arrays)
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    np.savez(out, **arrays)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda h, a: h.update(version=2), "format version 2 is not supported; this code reads version 1"),
        (lambda h, a: h.update(format="other"), "format must be 'tmn-hw-network'"),
        (lambda h, a: a.pop("layer1.weight"), "array 'layer1.weight' named by field 'weight' is missing"),
        (lambda h, a: a.update({"layer0.weight": a["layer0.weight"].astype(np.int16) * 4}), "exceed the 8-bit range"),
        (lambda h, a: h["layers"][0].update(input_width=8), "cannot hold the current bound"),
        (lambda h, a: h["layers"][0].update(threshold=1000), "threshold must be a power of two, not 1000"),
        (lambda h, a: h["layers"][1].update(role="hidden"), "role must be 'output' at this position"),
        (lambda h, a: a.update({"layer1.bias": a["layer1.bias"][:2]}), "bias shape (2,) must be (3,)"),
        (lambda h, a: a.update({"layer0.weight": a["layer0.weight"].astype(np.float32)}), "must be an integer array"),
        (lambda h, a: h["layers"][0].pop("membrane_width"), "missing header fields membrane_width"),
    ],
)
def test_invalid_file_rejected(tmp_path, edit, message):
    _, integer, _ = _export(_dyadic_mlp(), _digits_pixels())
    path = tmp_path / "net.npz"
    save_network(path, integer)
    bad = tmp_path / "bad.npz"
    _rewrite(path, bad, edit)
    with pytest.raises(InvalidNetworkError, match=None) as error:
        load_network(bad)
    assert message in str(error.value)
    assert str(bad) in str(error.value)


def test_corrupted_and_missing_file_rejected(tmp_path):
    _, integer, _ = _export(_dyadic_mlp(), _digits_pixels())
    path = tmp_path / "net.npz"
    save_network(path, integer)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(InvalidNetworkError, match="not a .npz network file written by python -m golden.export"):
        load_network(path)
    with pytest.raises(FileNotFoundError, match="write one with 'python -m golden.export'"):
        load_network(tmp_path / "absent.npz")


def test_input_currents_checks_pixels():
    pixels = _digits_pixels(4)
    _, integer, _ = _export(_dyadic_mlp(), pixels)
    currents = input_currents(integer, pixels)
    expected = pixels.reshape(4, -1).astype(np.int64) @ integer.layers[0].weight.T.astype(np.int64)
    np.testing.assert_array_equal(currents, expected + integer.layers[0].bias)
    bright = pixels.astype(np.int64)
    bright[0, 0, 0] = 17
    with pytest.raises(ValueError, match=r"pixel values must lie in \[0, 16\], not \[0, 17\]"):
        input_currents(integer, bright)
    with pytest.raises(ValueError, match="pixels must be an integer array, not dtype float32"):
        input_currents(integer, pixels.astype(np.float32))
    with pytest.raises(ValueError, match=r"pixels must have shape \[N, 1, 8, 8\]"):
        input_currents(integer, pixels[:, :4])


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 64)
        self.head = nn.Linear(64, 3)

    def forward(self, x):
        x = torch.flatten(x, 1)
        return self.head(torch.relu(self.a(x)) + x)


def test_export_rejects_unsupported_structure():
    x = torch.rand(4, 1, 8, 8)
    network = convert(_Residual().eval(), [x], timesteps=4)
    with pytest.raises(ExportError, match="export supports chains of layers only; node 'add'"):
        export_network(network, input_shape=(1, 8, 8), pixel_max=16, num_classes=3)
    rate = convert(_dyadic_mlp(), [x], timesteps=4, coding=Coding.RATE)
    with pytest.raises(ValueError, match="export needs a TMN network, not coding 'rate'"):
        export_network(rate, input_shape=(1, 8, 8), pixel_max=16, num_classes=3)
    tmn = convert(_dyadic_mlp(), [x], timesteps=4)
    with pytest.raises(ValueError, match="weight_width must be an integer in"):
        export_network(tmn, input_shape=(1, 8, 8), pixel_max=16, num_classes=3, weight_width=1)


def test_conv_network_exports_with_sum_pool():
    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(6 * 2 * 2, 3),
    ).eval()
    pixels = _digits_pixels(60)
    x = torch.from_numpy(pixels.astype(np.float32) / 16).unsqueeze(1)
    network = convert(model, [x], timesteps=5, precharge=1, threshold="max")
    integer = export_network(network, input_shape=(1, 8, 8), pixel_max=16, num_classes=3, calibration_pixels=pixels)
    assert integer.layers[1].pre_ops == ({"op": "sum_pool2d", "kernel": 2, "stride": 2},)
    assert integer.layers[2].pre_ops == ({"op": "sum_pool2d", "kernel": 2, "stride": 2}, {"op": "flatten"})
    float_classes = network.simulate(x).outputs[5].argmax(1).numpy()
    agreement = (run(integer, pixels).predictions == float_classes).mean()
    assert agreement >= 0.9
    reloaded = dataclasses.replace(integer)
    reloaded.validate()
