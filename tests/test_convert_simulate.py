import pytest
import torch
from torch import nn

from golden.coding import Coding
from golden.convert import convert


def test_readout_within_encoding_bound():
    # One hidden TMN layer fed by constant currents: each neuron decodes within
    # half a step v / (2^T - 1) / 2 of ReLU(z) when |z| <= v, so each logit is
    # within sum_j |W_ij| of that half step.
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 4)).eval()
    x = torch.rand(32, 6) * 2 - 1
    timesteps = 4
    network = convert(model, [x], timesteps=timesteps, precharge=1, threshold="max")
    readout = network.simulate(x).outputs[timesteps]
    logits = model(x).detach().to(torch.float64)
    half_step = network.thresholds[0] / (2**timesteps - 1) / 2
    bound = model[2].weight.abs().sum(1).to(torch.float64) * half_step
    error = (readout - logits).abs()
    assert bool((error <= bound + 1e-5).all()), f"max error {float(error.max())}, bound {bound.tolist()}"
    assert float(error.max()) > 0  # the bound is not vacuous: T = 4 does quantise


def test_readout_exact_for_quantised_activation():
    from golden.quant import QuantisedReLU

    torch.manual_seed(1)
    timesteps = 3
    model = nn.Sequential(nn.Linear(5, 8), QuantisedReLU(2**timesteps - 1, clip=0.75), nn.Linear(8, 3)).eval()
    x = torch.rand(20, 5) * 2 - 1
    network = convert(model, [x], timesteps=timesteps, precharge=1)
    assert network.thresholds == [pytest.approx(0.75)]
    readout = network.simulate(x).outputs[timesteps]
    logits = model(x).detach().to(torch.float64)
    # Constant currents round to the nearest level, as the quantised activation does, except at exact ties.
    torch.testing.assert_close(readout, logits, rtol=0, atol=1e-5)


def _tiny_conv_network():
    """conv1 (1 -> 2 channels, 3x3, padding 1) copies the image to channel 0 and negates it in channel 1."""
    conv1 = nn.Conv2d(1, 2, 3, padding=1, bias=False)
    conv2 = nn.Conv2d(2, 4, 3, padding=1)
    with torch.no_grad():
        conv1.weight.zero_()
        conv1.weight[0, 0, 1, 1] = 1.0
        conv1.weight[1, 0, 1, 1] = -1.0
        conv2.weight.fill_(0.1)
        conv2.bias.zero_()
    return nn.Sequential(conv1, nn.ReLU(), conv2).eval()


def test_operation_counts_hand_computed_conv():
    image = torch.zeros(1, 1, 3, 3)
    image[0, 0, 0, 0] = 1.0
    image[0, 0, 0, 1] = 0.5
    network = convert(_tiny_conv_network(), [image], timesteps=3, precharge=1)
    network.sites[0].threshold = 1.0
    counts = network.simulate(image).counter.counts()
    layers = {layer.name: layer for layer in counts.layers}

    # Hand derivation, v = 1, T = 3, P = 1: full threshold 2, firing at +-1.
    # Current 1: u = 1 (pre-charge), then u_hat = 3, 3, 2 -> digits + + +.
    # Current 0.5: u = 0.5, then u_hat = 1.5 (+, u = -0.5), -0.5 (0), -1 (-) -> digits + 0 -.
    # Channel 1 gets -1 and -0.5: the first raw spike is negative, the gate blocks, no output spikes.
    assert layers["1"].positive_spikes == 4
    assert layers["1"].negative_spikes == 1
    assert layers["1"].spikes == 5
    assert layers["1"].neurons == 2 * 3 * 3
    # conv2, 3x3 with padding 1 on a 3x3 map: corner (0,0) reaches 2x2 outputs, edge (0,1) 2x3 outputs,
    # times 4 output channels. Non-zero inputs: both at steps 1 and 3, only the corner at step 2.
    corner, edge = 4 * 4, 6 * 4
    assert layers["2"].synaptic_ops == (corner + edge) + corner + (corner + edge)
    assert layers["2"].kind == "synaptic"
    # conv1 sees the analog image once per image: 2 x 3 x 3 outputs, 1 input channel, 9 taps.
    assert layers["0"].macs == 2 * 3 * 3 * 9
    assert layers["0"].kind == "analog"
    assert counts.spikes == 5
    assert counts.synaptic_ops == 96
    assert counts.to_dict()["layers"][1]["negative_spikes"] == 1


def test_operation_counts_hand_computed_linear():
    fc1 = nn.Linear(2, 2, bias=False)
    fc2 = nn.Linear(2, 3)
    with torch.no_grad():
        fc1.weight.copy_(torch.eye(2))
        fc2.weight.fill_(1.0)
    model = nn.Sequential(fc1, nn.ReLU(), fc2).eval()
    x = torch.tensor([[1.0, 0.5], [0.5, 0.0]])
    network = convert(model, [x], timesteps=3, precharge=1)
    network.sites[0].threshold = 1.0
    counts = network.simulate(x).counter.counts()
    layers = {layer.name: layer for layer in counts.layers}
    # Digits as in the conv case: current 1 -> + + +, 0.5 -> + 0 -, 0 -> none.
    # Image 1: 3 + 2 spikes; image 2: 2 spikes. Per image: (5 + 2) / 2.
    assert layers["1"].spikes == pytest.approx(3.5)
    assert layers["1"].negative_spikes == pytest.approx(1.0)
    # Each non-zero spike reaches the 3 outputs of fc2.
    assert layers["2"].synaptic_ops == pytest.approx(3.5 * 3)
    assert layers["0"].macs == 2 * 2


def test_rate_prefix_equals_shorter_run():
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)).eval()
    x = torch.rand(10, 4)
    long_run = convert(model, [x], timesteps=32, coding=Coding.RATE)
    result = long_run.simulate(x, prefixes=[8])
    short_run = convert(model, [x], timesteps=8, coding="rate")
    torch.testing.assert_close(result.outputs[8], short_run.simulate(x).outputs[8])
    long_counts = result.counter.counts(8)
    short_counts = short_run.simulate(x).counter.counts()
    assert long_counts.spikes == short_counts.spikes
    assert long_counts.synaptic_ops == short_counts.synaptic_ops
    assert long_counts.negative_spikes == 0


def test_prefixes_rejected_for_tmn():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    x = torch.rand(3, 4)
    network = convert(model, [x], timesteps=4)
    with pytest.raises(ValueError, match="prefixes apply to rate coding only"):
        network.simulate(x, prefixes=[2])


def test_latency_counts_spiking_depth():
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 2)).eval()
    network = convert(model, [torch.rand(3, 4)], timesteps=5, precharge=2)
    assert network.latency == 5 + 2 * 2


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        h = torch.relu(self.a(x))
        h = torch.relu(self.b(h) + h)
        return self.head(torch.add(h, h))


def test_residual_network_converts_close_to_ann():
    torch.manual_seed(3)
    model = _Residual().eval()
    x = torch.rand(16, 4)
    network = convert(model, [x], timesteps=8, threshold="max")
    readout = network.simulate(x).outputs[8]
    torch.testing.assert_close(readout.float(), model(x).detach(), rtol=0, atol=0.05)


def test_maxpool_listed_as_approximation():
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8, 2)
    ).eval()
    with pytest.warns(UserWarning, match="approximate conversion: max pooling"):
        network = convert(model, [torch.rand(2, 1, 4, 4)], timesteps=4)
    assert len(network.approximations) == 1
    assert "max pooling on per-step spike values" in network.approximations[0]


@pytest.mark.parametrize("coding", [Coding.TMN, Coding.RATE])
def test_chunked_simulation_equals_one_pass(monkeypatch, coding):
    # simulate() runs the batch in chunks of images, and every readout and count must equal one whole-batch pass.
    # A linear layer's float sums may round differently for another number of rows: 1e-9 in a readout of 0.1 on an
    # AVX-512 machine. So the readouts agree to float32 precision, and the spike and operation counts exactly.
    from golden.conversion import simulate

    torch.manual_seed(3)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.ReLU(),
        nn.Linear(8, 3),
    ).eval()
    x = torch.rand(13, 1, 8, 8)
    network = convert(model, [x], timesteps=4, precharge=1, coding=coding)
    assert [site.neurons for site in network.sites] == [4 * 8 * 8, 8]
    monkeypatch.setattr(simulate, "SIMULATION_ELEMENTS", 10**9)
    whole = network.simulate(x)
    monkeypatch.setattr(simulate, "SIMULATION_ELEMENTS", 4 * 256 * 2)  # chunks of 2 images at T = 4, the last of 1
    chunked = network.simulate(x)
    torch.testing.assert_close(chunked.outputs[4], whole.outputs[4], rtol=1e-6, atol=0)
    assert chunked.counter.counts() == whole.counter.counts()
    assert whole.counter.counts().spikes > 0


class _InputSkip(nn.Module):
    """A residual addition of an analog current (no spiking layer on its path) to spikes."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)
        self.head = nn.Linear(4, 2)

    def forward(self, x):
        analog = self.a(x)
        return self.head(torch.relu(self.b(torch.relu(analog)) + analog))


def test_step_invariant_input_found_by_graph_analysis():
    # The analog first layer runs once per image only where its currents never meet spikes.
    cnn = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 16, 3)).eval()
    assert convert(cnn, [torch.rand(2, 1, 4, 4)], timesteps=3).step_invariant_input
    assert not convert(_InputSkip().eval(), [torch.rand(3, 4)], timesteps=3).step_invariant_input
    assert not convert(nn.Sequential(nn.Linear(4, 2)).eval(), [torch.rand(3, 4)], timesteps=3).step_invariant_input


@pytest.mark.parametrize("coding", [Coding.TMN, Coding.RATE])
def test_step_invariant_input_equals_one_row_per_step(coding):
    # The analog layers' result on [B, ...] rows, repeated at every step, drives the same spikes as [T * B, ...] rows.
    torch.manual_seed(5)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 8), nn.ReLU(),
        nn.Linear(8, 3),
    ).eval()
    x = torch.rand(7, 1, 8, 8)
    network = convert(model, [x], timesteps=4, precharge=1, coding=coding)
    assert network.step_invariant_input
    once = network.simulate(x)
    network.step_invariant_input = False
    per_step = network.simulate(x)
    torch.testing.assert_close(once.outputs[4], per_step.outputs[4], rtol=1e-6, atol=0)
    assert once.counter.counts() == per_step.counter.counts()
    assert once.counter.counts().macs == 4 * 8 * 8 * 9  # the analog conv counts one dense pass per image


def test_input_skip_network_simulates_per_step():
    torch.manual_seed(6)
    model = _InputSkip().eval()
    x = torch.rand(16, 4)
    network = convert(model, [x], timesteps=8, threshold="max")
    readout = network.simulate(x).outputs[8]
    torch.testing.assert_close(readout.float(), model(x).detach(), rtol=0, atol=0.05)
