import inspect

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from golden.conversion.calibrate import percentile
from golden.conversion.fold import fold_batchnorm_into
from golden.convert import UnsupportedOperationError, convert


def _randomise_batchnorm(model: nn.Module, seed: int) -> None:
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = module.num_features
            module.running_mean.copy_(torch.randn(n, generator=generator))
            module.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            module.weight.data.copy_(torch.randn(n, generator=generator))
            module.bias.data.copy_(torch.randn(n, generator=generator))


@pytest.mark.parametrize("bias", [True, False])
def test_fold_conv_matches_unfolded(bias):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1, bias=bias), nn.BatchNorm2d(5)).eval()
    _randomise_batchnorm(model, 1)
    folded = fold_batchnorm_into(model[0], model[1])
    x = torch.randn(4, 3, 6, 6)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)
    assert folded.bias is not None


@pytest.mark.parametrize("bias", [True, False])
def test_fold_linear_matches_unfolded(bias):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(7, 4, bias=bias), nn.BatchNorm1d(4)).eval()
    _randomise_batchnorm(model, 2)
    folded = fold_batchnorm_into(model[0], model[1])
    x = torch.randn(9, 7)
    torch.testing.assert_close(folded(x), model(x), rtol=1e-5, atol=1e-5)


def test_converted_ann_equals_model_in_eval_mode():
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU(), nn.AvgPool2d(2),
        nn.Flatten(), nn.Dropout(0.5), nn.Linear(4 * 4 * 4, 6), nn.BatchNorm1d(6), nn.ReLU(), nn.Linear(6, 3),
    ).eval()
    _randomise_batchnorm(model, 3)
    x = torch.rand(8, 1, 8, 8)
    network = convert(model, [x], timesteps=4)
    torch.testing.assert_close(network.ann(x), model(x), rtol=1e-5, atol=1e-5)
    module_types = {type(m) for m in network.graph_module.modules()}
    assert nn.BatchNorm2d not in module_types
    assert nn.BatchNorm1d not in module_types
    assert nn.Dropout not in module_types


class _EveryReluForm(nn.Module):
    """Five ReLU call sites: a module, the same module again, F.relu, torch.relu and the method."""

    def __init__(self):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(4, 4) for _ in range(5))
        self.act = nn.ReLU()
        self.head = nn.Linear(4, 2)
        with torch.no_grad():
            for i, layer in enumerate(self.layers):
                layer.weight.copy_(torch.eye(4) * (i + 1))
                layer.bias.zero_()

    def forward(self, x):
        x = self.act(self.layers[0](x))
        x = self.act(self.layers[1](x))
        x = F.relu(self.layers[2](x))
        x = torch.relu(self.layers[3](x))
        x = self.layers[4](x).relu()
        return self.head(x)


def test_every_relu_form_gets_own_threshold():
    x = torch.rand(64, 4)
    network = convert(_EveryReluForm(), [x], timesteps=4, threshold="max")
    assert len(network.sites) == 5
    assert len({site.name for site in network.sites}) == 5
    # Layer i multiplies by i + 1, so the largest activation at site i is (i + 1)! times the input's.
    largest = float(x.max())
    expected = [largest, largest * 2, largest * 6, largest * 24, largest * 120]
    assert network.thresholds == pytest.approx(expected, rel=1e-6)
    lines = inspect.getsource(_EveryReluForm.forward).splitlines()
    first_line = inspect.getsourcelines(_EveryReluForm.forward)[1]
    for site, line_offset in zip(network.sites, (1, 2, 3, 4, 5)):
        assert f"test_convert_graph.py:{first_line + line_offset}" in site.source
        assert lines[line_offset].strip() in site.source


class _Sigmoid(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return torch.sigmoid(self.fc(x))


def test_unsupported_op_names_node_and_line():
    first_line = inspect.getsourcelines(_Sigmoid.forward)[1]
    with pytest.raises(UnsupportedOperationError) as error:
        convert(_Sigmoid(), [torch.rand(2, 3)], timesteps=4)
    message = str(error.value)
    assert "node 'sigmoid'" in message
    assert f"test_convert_graph.py:{first_line + 1}" in message
    assert "return torch.sigmoid(self.fc(x))" in message
    assert "supported:" in message


def test_unsupported_module_names_module():
    model = nn.Sequential(nn.Linear(3, 3), nn.Tanh())
    with pytest.raises(UnsupportedOperationError, match=r"module '1' \(Tanh\)"):
        convert(model, [torch.rand(2, 3)], timesteps=4)


def test_batchnorm_without_layer_rejected():
    model = nn.Sequential(nn.BatchNorm1d(3), nn.ReLU(), nn.Linear(3, 2)).eval()
    with pytest.raises(UnsupportedOperationError, match="BatchNorm must directly follow a Conv2d or Linear"):
        convert(model, [torch.rand(2, 3)], timesteps=4)


def test_convert_rejects_bad_parameters():
    model = nn.Sequential(nn.Linear(3, 3), nn.ReLU(), nn.Linear(3, 2))
    data = [torch.rand(2, 3)]
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1, not 0"):
        convert(model, data, timesteps=0)
    with pytest.raises(ValueError, match="precharge must be an integer >= 0, not -1"):
        convert(model, data, timesteps=4, precharge=-1)
    with pytest.raises(ValueError, match="coding must be a Coding or one of"):
        convert(model, data, timesteps=4, coding="phase")
    with pytest.raises(ValueError, match="threshold must be one of"):
        convert(model, data, timesteps=4, threshold="mean")
    with pytest.raises(ValueError, match="calibration_loader yielded no batches"):
        convert(model, [], timesteps=4)


def test_percentile_beyond_quantile_limit():
    generator = torch.Generator().manual_seed(0)
    values = torch.rand((1 << 24) + 1001, generator=generator)
    expected = np.percentile(values.numpy().astype(np.float64), 99.99)
    assert percentile(values, 99.99) == pytest.approx(expected, rel=1e-6)
    assert percentile(values, 100) == pytest.approx(float(values.max()))
    assert percentile(values, 0) == pytest.approx(float(values.min()))


def test_percentile_matches_quantile_small():
    values = torch.randn(3, 50, generator=torch.Generator().manual_seed(1))
    for q in (0.5, 50, 99.99):
        assert percentile(values, q) == pytest.approx(float(torch.quantile(values.flatten(), q / 100)), rel=1e-6)
    with pytest.raises(ValueError, match="percentile must be a number in"):
        percentile(values, 101)


def test_mse_threshold_balances_rounding_and_clipping():
    from golden.conversion.calibrate import mse_threshold

    # Uniform samples on [0, 1] plus one outlier at 100. Clipping the outlier costs about 99^2 / 10^6 = 0.01
    # of mean squared error; a threshold of 100 would round every other sample to 0 and cost about 1/3.
    # The candidates are multiples of 100 / 161, so the best one near 1 lies in [0.5, 1.5].
    samples = torch.cat([torch.linspace(0.0, 1.0, 1_000_000), torch.tensor([100.0])])
    threshold = mse_threshold(samples, levels=7)
    assert 0.5 <= threshold <= 1.5
    assert mse_threshold(torch.linspace(0.01, 1.0, 1000), levels=1 << 20) == pytest.approx(1.0, rel=0.01)
    with pytest.raises(ValueError, match="levels must be an integer >= 1, not 0"):
        mse_threshold(samples, levels=0)


def test_mse_thresholds_in_convert():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2)).eval()
    x = torch.rand(64, 4)
    by_mse = convert(model, [x], timesteps=3, threshold="mse")
    by_max = convert(model, [x], timesteps=3, threshold="max")
    assert 0 < by_mse.thresholds[0] <= by_max.thresholds[0]
