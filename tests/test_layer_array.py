"""Layer array: parameter checks, and the cocotb bench against the golden integer layer."""

from __future__ import annotations

import numpy as np
import pytest

from golden.integer import IntegerNeuronConfig
from golden.integer_layer import layer_currents, predicted_class, readout_scores, spiking_layer
from sim.layer_bench import LayerCase, run_layer_bench
from tmn_hw.layer import NeuronArray, SpikeSerializer, SpikingLayer, SynapticAccumulator
from tmn_hw.readout import ClassifierReadout

WEIGHT = np.arange(-6, 6).reshape(3, 4)
BIAS = np.array([1, -2, 3])


def make_layer(**overrides):
    arguments = dict(timesteps=4, precharge=1, threshold=16, membrane_width=8)
    arguments.update(overrides)
    return SpikingLayer(WEIGHT, BIAS, **arguments)


# Benches: each case builds in its own directory; Verilator gets the stressed default case only,
# because each Verilator build takes tens of seconds.
CASES = [
    LayerCase(name="stress", seed=11),
    LayerCase(name="flowing", idle_probability=0.0, stall_probability=0.0, seed=12),
    LayerCase(name="no-precharge", precharge=0, seed=13),
    LayerCase(name="precharge-3", precharge=3, timesteps=5, seed=14),
    LayerCase(name="no-gate", gate=False, seed=15),
    LayerCase(name="saturating", membrane_width=7, weight_max=40, threshold=16, seed=16),
    LayerCase(name="one-neuron", neurons=1, inputs=1, spike_density=0.8, seed=17),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_layer_bench_icarus(case, tmp_path_factory):
    run_layer_bench(case, "icarus", tmp_path_factory.mktemp("layer"))


def test_layer_bench_verilator(tmp_path_factory):
    run_layer_bench(CASES[0], "verilator", tmp_path_factory.mktemp("layer"))


def test_golden_layer_sums_rows():
    spikes = np.array([[1, 0, -1, 0], [0, 0, 0, 0]])
    currents = layer_currents(WEIGHT, BIAS, spikes)
    assert currents.tolist() == [(WEIGHT[:, 0] - WEIGHT[:, 2] + BIAS).tolist(), BIAS.tolist()]


def test_golden_readout_doubles():
    spikes = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0]])
    scores = readout_scores(WEIGHT, BIAS, spikes)
    expected = 4 * (WEIGHT[:, 0] + BIAS) + 2 * (WEIGHT[:, 1] + BIAS) + BIAS
    assert scores.tolist() == expected.tolist()
    assert predicted_class([3, 7, 7]) == 1


def test_golden_layer_rejects_non_ternary():
    with pytest.raises(ValueError, match="ternary"):
        layer_currents(WEIGHT, BIAS, np.array([[2, 0, 0, 0]]))


def test_golden_layer_rejects_wrong_rows():
    config = IntegerNeuronConfig(timesteps=3, precharge=1, threshold=16, input_width=8, membrane_width=8)
    with pytest.raises(ValueError, match="T = 3 rows"):
        spiking_layer(config, WEIGHT, BIAS, np.zeros((2, 4), dtype=int))


def test_accumulator_sizes_widths():
    accumulator = SynapticAccumulator(WEIGHT, BIAS)
    assert accumulator.weight_width == 4
    assert accumulator.bias_width == 3
    # Largest |row| sum plus |bias|: neuron 0 has 6+5+4+3 + 1 = 19, neuron 2 has 2+3+4+5 + 3 = 17.
    assert accumulator.current_width == 6


def test_accumulator_rejects_bias_shape():
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\), not \(4,\)"):
        SynapticAccumulator(WEIGHT, np.zeros(4, dtype=int))


def test_accumulator_rejects_float_weights():
    with pytest.raises(TypeError, match="weight must be an integer array, not dtype float64"):
        SynapticAccumulator(WEIGHT * 0.5, BIAS)


def test_accumulator_rejects_vector_weights():
    with pytest.raises(ValueError, match=r"weight must be a 2-D array \[N, M\], not shape \(12,\)"):
        SynapticAccumulator(WEIGHT.reshape(-1), BIAS)


def test_accumulator_rejects_narrow_weights():
    with pytest.raises(ValueError, match=r"weight values span \[-6, 5\], outside the 3-bit range \[-4, 3\]; use a width >= 4"):
        SynapticAccumulator(WEIGHT, BIAS, weight_width=3)


def test_accumulator_rejects_narrow_current():
    with pytest.raises(ValueError, match="current_width = 5 cannot hold the largest current 19.*use current_width >= 6"):
        SynapticAccumulator(WEIGHT, BIAS, current_width=5)


def test_accumulator_rejects_width_type():
    with pytest.raises(TypeError, match=r"weight_width must be an integer in \[1, 32\], not '8'"):
        SynapticAccumulator(WEIGHT, BIAS, weight_width="8")


def test_array_rejects_zero_neurons():
    with pytest.raises(ValueError, match=r"neurons must be an integer in \[1, 4096\], not 0"):
        NeuronArray(neurons=0, timesteps=4, precharge=1, threshold=16, input_width=8, membrane_width=8)


def test_array_rejects_zero_timesteps():
    with pytest.raises(ValueError, match="timesteps must be an integer >= 1, not 0"):
        NeuronArray(neurons=2, timesteps=0, precharge=1, threshold=16, input_width=8, membrane_width=8)


def test_array_rejects_negative_precharge():
    with pytest.raises(ValueError, match="precharge must be an integer >= 0, not -1"):
        NeuronArray(neurons=2, timesteps=4, precharge=-1, threshold=16, input_width=8, membrane_width=8)


def test_array_rejects_float_threshold():
    with pytest.raises(TypeError, match="threshold must be an integer >= 1, not 16.0"):
        NeuronArray(neurons=2, timesteps=4, precharge=1, threshold=16.0, input_width=8, membrane_width=8)


def test_array_rejects_narrow_membrane():
    with pytest.raises(ValueError, match="membrane_width = 6 is too small.*use membrane_width >= 7"):
        NeuronArray(neurons=2, timesteps=4, precharge=1, threshold=16, input_width=8, membrane_width=6)


def test_array_rejects_narrow_input():
    with pytest.raises(ValueError, match="input_width = 4 cannot hold the threshold 16"):
        NeuronArray(neurons=2, timesteps=4, precharge=1, threshold=16, input_width=4, membrane_width=8)


def test_layer_widens_input_to_threshold():
    layer = make_layer(threshold=256, membrane_width=12)
    assert layer.config.input_width == 10


def test_serializer_rejects_zero_width():
    with pytest.raises(ValueError, match=r"width must be an integer in \[1, 65536\], not 0"):
        SpikeSerializer(0)


def test_readout_rejects_timesteps():
    with pytest.raises(ValueError, match=r"timesteps must be an integer in \[1, 62\], not 63"):
        ClassifierReadout(WEIGHT, BIAS, timesteps=63)


def test_readout_score_width():
    readout = ClassifierReadout(WEIGHT, BIAS, timesteps=5)
    assert readout.score_width == readout.accumulator.current_width + 5
