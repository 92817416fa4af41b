"""The compiled TMN layer kernel gives the digits and spike counts of the reference neurons, bit for bit."""

import os

import numpy as np
import pytest
import torch

from golden.conversion import native
from golden.neuron import TMN


def _currents(timesteps: int, neurons: int, seed: int) -> torch.Tensor:
    # Currents up to 1.5 v (v = 0.8) drive neurons beyond the encodable range too, so every branch fires.
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand((timesteps, neurons), generator=generator) * 3.0 - 1.5) * 0.8


def test_kernel_builds_on_this_machine():
    # make install provides the C compiler. Without it the simulation only warns and runs slower, so check here.
    assert native.available()
    assert native.library_path().is_file()


@pytest.mark.parametrize("precharge", [0, 1, 2, 3])
@pytest.mark.parametrize("predictive", [True, False])
@pytest.mark.parametrize("gate", [True, False])
def test_kernel_equals_reference(precharge, predictive, gate):
    # 5000 neurons: two blocks of the kernel and a partial third.
    z = _currents(5, 5000, seed=precharge)
    reference = TMN(0.8, 5, precharge, predictive=predictive, gate=gate)(z)
    values, counts = native.tmn_layer(z, 0.8, 5, precharge, predictive=predictive, gate=gate)
    assert torch.equal(values.view(torch.int32), (reference * 0.8).view(torch.int32))  # the sign of zero too
    np.testing.assert_array_equal(counts.positive, (reference > 0).sum(1).numpy())
    np.testing.assert_array_equal(counts.negative, (reference < 0).sum(1).numpy())
    if predictive:
        assert counts.negative.sum() > 0
    assert counts.positive.sum() > 0


@pytest.mark.parametrize("precharge", [0, 1, 2])
@pytest.mark.parametrize("predictive", [True, False])
@pytest.mark.parametrize("gate", [True, False])
def test_kernel_ties_at_fire_level(precharge, predictive, gate):
    # Multiples of v / 4 put the membrane exactly on the fire levels +-2^P v / 2 and +-2^P v, as integer and
    # hardware values do, so a kernel that fired at > in place of >= would fail here.
    generator = torch.Generator().manual_seed(precharge)
    z = torch.randint(-6, 7, (5, 4000), generator=generator).float() * 0.25
    reference = TMN(1.0, 5, precharge, predictive=predictive, gate=gate)(z)
    values, counts = native.tmn_layer(z, 1.0, 5, precharge, predictive=predictive, gate=gate)
    assert torch.equal(values.view(torch.int32), reference.view(torch.int32))
    np.testing.assert_array_equal(counts.positive, (reference > 0).sum(1).numpy())
    np.testing.assert_array_equal(counts.negative, (reference < 0).sum(1).numpy())


def test_kernel_split_over_threads(monkeypatch):
    # Three threads on neuron ranges of several blocks each that start inside a block, and a shape after the time
    # axis, give the single-thread result.
    z = _currents(4, 5 * 2099 * 3, seed=5).reshape(4, 5, 2099, 3)
    single, single_counts = native.tmn_layer(z, 0.5, 4, 1)
    monkeypatch.setattr(native, "MIN_NEURONS_PER_THREAD", 1)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    split, split_counts = native.tmn_layer(z, 0.5, 4, 1)
    assert split.shape == z.shape
    assert torch.equal(split, single)
    assert torch.equal(single, TMN(0.5, 4, 1)(z) * 0.5)
    np.testing.assert_array_equal(split_counts.positive, single_counts.positive)
    np.testing.assert_array_equal(split_counts.negative, single_counts.negative)


def test_kernel_step_invariant_input():
    # One step of input that drives every step equals that step repeated T times.
    step = _currents(1, 3000, seed=7)[0]
    repeated = step.unsqueeze(0).expand(6, -1).contiguous()
    values, counts = native.tmn_layer(step, 0.8, 6, 2, step_invariant=True)
    expected, expected_counts = native.tmn_layer(repeated, 0.8, 6, 2)
    assert torch.equal(values, expected)
    assert torch.equal(values, TMN(0.8, 6, 2)(repeated) * 0.8)
    np.testing.assert_array_equal(counts.positive, expected_counts.positive)
    np.testing.assert_array_equal(counts.negative, expected_counts.negative)
    assert counts.negative.sum() > 0


def test_kernel_rejects_bad_input():
    message = r"float32 currents on the CPU, not torch.float64 on cpu; convert with z.float\(\).cpu\(\)"
    with pytest.raises(TypeError, match=message):
        native.tmn_layer(torch.zeros(2, 3, dtype=torch.float64), 1.0, 2, 1)
    with pytest.raises(ValueError, match=r"input must have shape \[T, \.\.\.\] with T = 3, not \(2, 3\)"):
        native.tmn_layer(torch.zeros(2, 3), 1.0, 3, 1)
    with pytest.raises(ValueError, match="threshold must be a finite number > 0, not 0"):
        native.tmn_layer(torch.zeros(2, 3), 0, 2, 1)
    with pytest.raises(ValueError, match="precharge must be an integer >= 0, not -1"):
        native.tmn_layer(torch.zeros(2, 3), 1.0, 2, -1)


@pytest.fixture
def no_compiler(monkeypatch, tmp_path):
    """A cache directory without a library and a compiler that does not exist."""
    monkeypatch.setenv("TMN_HW_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    native._library.cache_clear()
    yield tmp_path / "cache"
    native._library.cache_clear()


def test_missing_compiler_warns_and_leaves_no_file(no_compiler):
    with pytest.warns(RuntimeWarning, match=r"no-such-cc .*could not start.*Install a C compiler"):
        assert not native.available()
    assert os.listdir(no_compiler) == []  # no half-written library
    with pytest.raises(RuntimeError, match="the compiled TMN kernel is unavailable"):
        native.tmn_layer(torch.zeros(2, 3), 1.0, 2, 1)


def test_failed_compilation_names_the_error(no_compiler, monkeypatch, tmp_path):
    compiler = tmp_path / "failing-cc"
    compiler.write_text("#!/bin/sh\necho 'cc: error: no such option' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    with pytest.warns(RuntimeWarning, match="failed with exit status 1: cc: error: no such option"):
        assert not native.available()
    assert os.listdir(no_compiler) == []


@pytest.mark.parametrize("predictive", [True, False])
def test_simulation_equals_pytorch_neuron_loop(monkeypatch, predictive):
    # A converted CNN gives the same readout and counts on the compiled kernel and on golden.conversion.dynamics.
    from torch import nn

    from golden.convert import convert

    torch.manual_seed(4)
    model = nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.AvgPool2d(2), nn.Conv2d(4, 6, 3, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(6 * 4 * 4, 8), nn.ReLU(), nn.Linear(8, 3),
    ).eval()
    x = torch.rand(9, 1, 8, 8)
    network = convert(model, [x], timesteps=5, precharge=2)
    network.predictive = predictive
    compiled = network.simulate(x)
    monkeypatch.setattr(native, "available", lambda: False)
    loop = network.simulate(x)
    assert torch.equal(compiled.outputs[5], loop.outputs[5])
    assert compiled.counter.counts() == loop.counter.counts()
    assert compiled.counter.counts().negative_spikes > 0 or not predictive


def test_unusable_cache_directory_named(no_compiler, monkeypatch, tmp_path):
    # A cache path under a regular file cannot be created, and the warning names $TMN_HW_CACHE rather than the compiler.
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("TMN_HW_CACHE", str(tmp_path / "file" / "cache"))
    monkeypatch.setenv("CC", "cc")
    with pytest.warns(RuntimeWarning, match=r"Set \$TMN_HW_CACHE to a writable directory"):
        assert not native.available()


def test_empty_cc_means_cc(no_compiler, monkeypatch):
    monkeypatch.setenv("CC", "")
    assert native.available()
    assert [path.suffix for path in no_compiler.iterdir()] == [".so"]


def test_compiler_without_march_native(no_compiler, monkeypatch, tmp_path):
    # A compiler that rejects -march=native still builds a kernel that gives the reference digits.
    compiler = tmp_path / "plain-cc"
    compiler.write_text('#!/bin/sh\nfor arg; do [ "$arg" = -march=native ] && exit 1; done\nexec cc "$@"\n')
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    assert native.available()
    assert [path.suffix for path in no_compiler.iterdir()] == [".so"]
    z = _currents(3, 1000, seed=2)
    values, _ = native.tmn_layer(z, 0.8, 3, 1)
    assert torch.equal(values, TMN(0.8, 3, 1)(z) * 0.8)


def test_kernel_in_forked_child(monkeypatch):
    # A child forked after the parent used its thread pool runs the kernel on threads of its own.
    import multiprocessing

    monkeypatch.setattr(native, "MIN_NEURONS_PER_THREAD", 1)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    z = _currents(3, 1000, seed=8)
    expected, _ = native.tmn_layer(z, 0.8, 3, 1)
    with multiprocessing.get_context("fork").Pool(1) as pool:
        result = pool.apply_async(_kernel_in_child, (z,)).get(timeout=60)
    assert torch.equal(result, expected)


def _kernel_in_child(z: torch.Tensor) -> torch.Tensor:
    native.MIN_NEURONS_PER_THREAD = 1
    torch.get_num_threads = lambda: 2
    values, _ = native.tmn_layer(z, 0.8, 3, 1)
    return values
