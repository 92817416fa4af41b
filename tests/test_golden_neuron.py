"""Tests of the float TMN and IF neurons, ``golden.neuron``.

Each property is a ``check_*`` function of the module under test; the tests
run it on ``golden.neuron`` and require it to fail on broken copies (see
``mutation.py``).
"""

from __future__ import annotations

import pytest
import torch

import golden.neuron
from golden.coding import css_decode
from golden.random_layers import ann_forward, layer_thresholds, random_layers, snn_forward
from mutation import Mutant, assert_check_fails

# Float64 sums of up to 2^(T+P) times the threshold round by a few units in
# the last place. Bounds that are exact in real arithmetic get this relative slack.
FLOAT64_SLACK = 1e-12

# Uniform-input residual statistics come from RESIDUAL_SAMPLES neurons. The
# normalised residual has a standard deviation of about 0.29, so the standard
# error of its mean is about 0.0013; the tolerance is about eight standard errors.
RESIDUAL_SAMPLES = 50_000
MEAN_RESIDUAL_TOLERANCE = 0.01
THRESHOLD_RATIOS = (0.3, 0.4, 0.45, 0.5, 0.55, 0.6, 0.7)


def weighted_sum(rows: torch.Tensor) -> torch.Tensor:
    """Return ``sum_k 2^(R-k) rows[k]`` over axis 0, by repeated doubling."""
    total = torch.zeros_like(rows[0])
    for row in rows:
        total = 2 * total + row
    return total


def direct_weighted_sum(rows: torch.Tensor) -> torch.Tensor:
    """Return ``sum_k 2^(R-k) rows[k]`` over axis 0, with explicit power-of-two weights."""
    count = rows.shape[0]
    weights = torch.tensor([2.0 ** (count - k) for k in range(1, count + 1)], dtype=rows.dtype)
    return (rows * weights.reshape((-1,) + (1,) * (rows.dim() - 1))).sum(0)


def check_doubling_equals_direct_weighting(neuron):
    """A TMN that never fires ends with u = 2^P sum_t 2^(T-t) z[t], exactly for integer inputs."""
    generator = torch.Generator().manual_seed(10)
    for timesteps in range(1, 9):
        for precharge in range(4):
            z = torch.randint(-64, 65, (timesteps, 256), generator=generator).to(torch.float64)
            silent = neuron.TMN(threshold=2.0**40, timesteps=timesteps, precharge=precharge, gate=False)
            digits = silent(z)
            assert not digits.any()
            direct = direct_weighted_sum(z) * 2**precharge
            assert torch.equal(silent.residual, direct), (timesteps, precharge)
            readout = silent.readout(z) * (2**timesteps - 1)
            slack = FLOAT64_SLACK * 2**timesteps * 64
            assert torch.allclose(readout, direct_weighted_sum(z), rtol=0, atol=slack), (timesteps, precharge)


def check_residual_identity(neuron):
    """The final membrane is 2^P (Z - v S): exact for integer inputs, within rounding otherwise."""
    generator = torch.Generator().manual_seed(11)
    for timesteps in range(1, 9):
        for precharge in range(5):
            for threshold in (1.0, 3.0, 16.0):
                z = torch.randint(-48, 49, (timesteps, 256), generator=generator).to(torch.float64)
                tmn = neuron.TMN(threshold, timesteps, precharge, gate=False)
                digits = tmn(z)
                expected = 2**precharge * (direct_weighted_sum(z) - threshold * direct_weighted_sum(digits))
                assert torch.equal(tmn.residual, expected), (timesteps, precharge, threshold)

                z = (torch.rand((timesteps, 256), generator=generator, dtype=torch.float64) * 4 - 2) * threshold
                digits = tmn(z)
                expected = 2**precharge * (weighted_sum(z) - threshold * weighted_sum(digits))
                slack = FLOAT64_SLACK * 2 ** (timesteps + precharge) * threshold
                assert torch.allclose(tmn.residual, expected, rtol=0, atol=slack), (timesteps, precharge)


def check_constant_inputs_within_half_step(neuron):
    """Constant in-range inputs decode within half a step; beyond +-v they give all +1 or all -1."""
    for timesteps in range(1, 9):
        for precharge in range(4):
            for threshold in (1.0, 0.37, 8.0):
                limit = threshold if precharge >= 1 else threshold / 2
                x = torch.linspace(-limit, limit, 2001, dtype=torch.float64)
                tmn = neuron.TMN(threshold, timesteps, precharge, gate=False)
                decoded = tmn.decode(tmn(x.expand(timesteps, -1)))
                half_step = threshold / (2**timesteps - 1) / 2
                worst = float((decoded - x).abs().max())
                assert worst <= half_step * (1 + FLOAT64_SLACK), (timesteps, precharge, threshold, worst)

                beyond = torch.tensor([1.001, 1.5, 4.0, 1e6], dtype=torch.float64) * threshold
                beyond = torch.cat([beyond, -beyond])
                digits = tmn(beyond.expand(timesteps, -1))
                assert torch.equal(digits, torch.sign(beyond).expand(timesteps, -1)), (timesteps, precharge)


def check_decode_matches_coding(neuron):
    """TMN.decode equals css_decode and IF.decode equals v times the spike mean."""
    generator = torch.Generator().manual_seed(12)
    for timesteps in range(1, 9):
        digits = torch.randint(-1, 2, (timesteps, 100), generator=generator).to(torch.float64)
        tmn = neuron.TMN(2.5, timesteps, 1)
        assert torch.allclose(tmn.decode(digits), css_decode(digits, 2.5), rtol=FLOAT64_SLACK, atol=0)
        spikes = digits.abs()
        rate = neuron.IF(2.5, timesteps)
        assert torch.allclose(rate.decode(spikes), 2.5 * spikes.mean(0), rtol=FLOAT64_SLACK, atol=0)


def check_if_rounds_to_nearest(neuron):
    """An IF neuron starting at v/2 encodes a constant x in [0, v] within v / (2T)."""
    for timesteps in (1, 2, 5, 16, 64):
        for threshold in (1.0, 0.37):
            x = torch.linspace(0, threshold, 1001, dtype=torch.float64)
            rate = neuron.IF(threshold, timesteps)
            decoded = rate.decode(rate(x.expand(timesteps, -1)))
            worst = float((decoded - x).abs().max())
            assert worst <= threshold / (2 * timesteps) * (1 + FLOAT64_SLACK), (timesteps, threshold, worst)


def check_gate(neuron):
    """The gate passes trains whose first non-zero spike is +1 unchanged and silences the others."""
    generator = torch.Generator().manual_seed(13)
    for timesteps in range(1, 8):
        for precharge in range(3):
            z = torch.rand((timesteps, 512), generator=generator, dtype=torch.float64) * 4 - 2
            plain = neuron.TMN(1.0, timesteps, precharge, gate=False)(z)
            gated = neuron.TMN(1.0, timesteps, precharge, gate=True)(z)
            nonzero = plain != 0
            first = torch.where(nonzero.any(0), plain[nonzero.to(torch.int8).argmax(0), torch.arange(512)], 0.0)
            assert torch.equal(gated[:, first > 0], plain[:, first > 0])
            assert not gated[:, first <= 0].any()

            limit = 1.0 if precharge >= 1 else 0.5
            x = torch.linspace(-limit, limit, 401, dtype=torch.float64).expand(timesteps, -1)
            relu = neuron.TMN(1.0, timesteps, precharge, gate=True)
            signed = neuron.TMN(1.0, timesteps, precharge, gate=False)
            assert torch.equal(relu.decode(relu(x)), torch.relu(signed.decode(signed(x))))


def normalised_residuals(neuron, ratio: float, timesteps: int, precharge: int) -> torch.Tensor:
    """Return residual / (2^P v) of TMNs driven by independent U(0, v) inputs at every step, v = 1."""
    generator = torch.Generator().manual_seed(14)
    z = torch.rand((timesteps, RESIDUAL_SAMPLES), generator=generator, dtype=torch.float64)
    tmn = neuron.TMN(1.0, timesteps, precharge, gate=False, threshold_ratio=ratio)
    tmn(z)
    return tmn.residual / 2**precharge


def check_half_threshold_minimises_residual(neuron):
    """On U(0, v) inputs with P = 1, ratio 1/2 gives a mean residual near 0 and the least mean square."""
    for timesteps in (4, 6):
        mean_square = {}
        for ratio in THRESHOLD_RATIOS:
            residual = normalised_residuals(neuron, ratio, timesteps, precharge=1)
            mean_square[ratio] = float((residual**2).mean())
            if ratio == 0.5:
                assert abs(float(residual.mean())) < MEAN_RESIDUAL_TOLERANCE, timesteps
        best = min(mean_square, key=mean_square.get)
        assert best == 0.5, (timesteps, mean_square)
        others = [value for ratio, value in mean_square.items() if ratio != 0.5]
        assert mean_square[0.5] < min(others), (timesteps, mean_square)


def layer_mse(neuron, timesteps: int, depth: int = 6) -> tuple[list[float], list[float]]:
    """Return the per-layer MSE / v^2 of CSS with T steps and of rate coding with 2^T steps."""
    generator = torch.Generator().manual_seed(15)
    layers = random_layers(depth, 32, generator)
    x = torch.rand((256, 32), generator=generator, dtype=torch.float64)
    reference = ann_forward(x, layers)
    thresholds = layer_thresholds(reference)
    css = snn_forward(x, layers, thresholds, lambda v: neuron.TMN(v, timesteps, 1))
    rate = snn_forward(x, layers, thresholds, lambda v: neuron.IF(v, 2**timesteps))

    def mse(decoded):
        return [float((((d - a) / v) ** 2).mean()) for d, a, v in zip(decoded, reference, thresholds)]

    return mse(css), mse(rate)


def check_css_beats_rate(neuron):
    """Through six random layers, CSS with T steps ends with a lower MSE than rate coding with 2^T steps.

    Both codes quantise a single constant input about equally: rate coding's
    2^T + 1 levels on [0, v] are slightly finer than CSS's 2^T. The comparison
    is therefore at the output of the stack, where rate coding's error from
    time-varying inputs has grown.
    """
    for timesteps in (3, 4, 5):
        css, rate = layer_mse(neuron, timesteps)
        assert css[-1] < rate[-1], (timesteps, css, rate)


def check_parameter_errors(neuron):
    """Invalid parameters and inputs raise ValueError naming the parameter, value and allowed range."""
    cases = [
        (lambda: neuron.TMN(timesteps=0), r"timesteps must be an integer >= 1, not 0"),
        (lambda: neuron.TMN(timesteps=4.0), r"timesteps must be an integer >= 1, not 4\.0"),
        (lambda: neuron.TMN(timesteps=True), r"timesteps must be an integer >= 1, not True"),
        (lambda: neuron.TMN(precharge=-1), r"precharge must be an integer >= 0, not -1"),
        (lambda: neuron.TMN(precharge=1.5), r"precharge must be an integer >= 0, not 1\.5"),
        (lambda: neuron.TMN(threshold=0.0), r"threshold must be a number > 0 or a tensor of them, not 0\.0"),
        (lambda: neuron.TMN(threshold=-1), r"threshold must be a number > 0 or a tensor of them, not -1"),
        (lambda: neuron.TMN(threshold="1"), r"threshold must be a number > 0 or a tensor of them, not '1'"),
        (lambda: neuron.TMN(threshold=float("nan")), r"threshold must be a number > 0 .*, not nan"),
        (lambda: neuron.TMN(threshold=torch.tensor([1.0, 0.0])), r"threshold must be > 0 everywhere"),
        (lambda: neuron.TMN(threshold_ratio=0.0), r"threshold_ratio must be in \(0, 1\], not 0\.0"),
        (lambda: neuron.TMN(threshold_ratio=1.5), r"threshold_ratio must be in \(0, 1\], not 1\.5"),
        (
            lambda: neuron.TMN(predictive=False, threshold_ratio=0.4),
            r"threshold_ratio applies to predictive spiking only; leave it at 0\.5",
        ),
        (lambda: neuron.IF(timesteps=0), r"timesteps must be an integer >= 1, not 0"),
        (lambda: neuron.IF(threshold=0), r"threshold must be a number > 0 or a tensor of them, not 0"),
        (
            lambda: neuron.TMN(timesteps=4)(torch.zeros(3, 2)),
            r"input must have shape \[T, \.\.\.\] with T = timesteps = 4, not \(3, 2\)",
        ),
        (
            lambda: neuron.IF(timesteps=8)(torch.zeros(4)),
            r"input must have shape \[T, \.\.\.\] with T = timesteps = 8, not \(4,\)",
        ),
    ]
    for build, pattern in cases:
        with pytest.raises(ValueError, match=pattern):
            build()


FULL_THRESHOLD_FIRING = Mutant(
    "full-threshold-firing",
    (("fire_level = reset * (self.threshold_ratio if self.predictive else 1.0)", "fire_level = reset"),),
)
RATIO_IGNORED = Mutant(
    "ratio-ignored",
    (
        (
            "fire_level = reset * (self.threshold_ratio if self.predictive else 1.0)",
            "fire_level = reset * (0.5 if self.predictive else 1.0)",
        ),
    ),
)
RESET_BY_V = Mutant("reset-by-v", (("u = u - reset * s", "u = u - self.threshold * s"),))
NO_DOUBLING = Mutant("no-doubling", (("u = 2 * u + (z[n]", "u = u + (z[n]"),))
NO_GATE = Mutant("no-gate", (("s = s * gate_open.to(z.dtype)", "s = s"),))
IF_STARTS_AT_ZERO = Mutant(
    "if-starts-at-zero", (("u = torch.zeros_like(z[0]) + self.threshold * 0.5", "u = torch.zeros_like(z[0])"),)
)
TMN_DECODE_UNWEIGHTED = Mutant(
    "tmn-decode-unweighted", (("return torch.pow(2.0, k) / (2.0**t - 1.0)", "return torch.ones_like(k) / t"),)
)
NO_TIMESTEP_CHECK = Mutant(
    "no-timestep-check",
    (('self.timesteps = _check_int("timesteps", timesteps, 1)', "self.timesteps = timesteps"),),
)

CHECKS_AND_MUTANTS = [
    (check_doubling_equals_direct_weighting, NO_DOUBLING),
    (check_doubling_equals_direct_weighting, TMN_DECODE_UNWEIGHTED),
    (check_residual_identity, RESET_BY_V),
    (check_residual_identity, NO_DOUBLING),
    (check_constant_inputs_within_half_step, FULL_THRESHOLD_FIRING),
    (check_constant_inputs_within_half_step, RESET_BY_V),
    (check_decode_matches_coding, TMN_DECODE_UNWEIGHTED),
    (check_if_rounds_to_nearest, IF_STARTS_AT_ZERO),
    (check_gate, NO_GATE),
    (check_half_threshold_minimises_residual, RATIO_IGNORED),
    (check_half_threshold_minimises_residual, FULL_THRESHOLD_FIRING),
    (check_css_beats_rate, RESET_BY_V),
    (check_css_beats_rate, FULL_THRESHOLD_FIRING),
    (check_parameter_errors, NO_TIMESTEP_CHECK),
]
CHECKS = sorted({check for check, _ in CHECKS_AND_MUTANTS}, key=lambda check: check.__name__)


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.removeprefix("check_"))
def test_float_neuron(check):
    check(golden.neuron)


@pytest.mark.parametrize(
    ("check", "mutant"),
    CHECKS_AND_MUTANTS,
    ids=[f"{check.__name__.removeprefix('check_')}-{mutant.name}" for check, mutant in CHECKS_AND_MUTANTS],
)
def test_check_detects_mutant(check, mutant):
    assert_check_fails(check, golden.neuron, mutant)
