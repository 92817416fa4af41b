"""Whole-layer TMN and IF dynamics for the conversion simulation, with few passes over memory per step.

:mod:`golden.neuron` is the readable reference of both neurons. The
functions here compute the same digits for a scalar threshold, bit for bit
except that a negative spike blocked by the ReLU gate gives +0.0 where the
reference gives -0.0; ``tests/test_convert_dynamics.py`` checks them
against it. The simulation runs them where the compiled kernel of
:mod:`golden.conversion.native` is unavailable. The neuron loop is bound
by memory traffic, so they

- run the neurons in blocks of ``BLOCK`` neurons, all steps of one block
  before the next, so that the state of a block stays in the cache;
- fuse ``2 u + z`` and the reset ``u - theta s`` into one add each, exact
  because ``2 u`` and ``theta s`` are exact;
- keep the ReLU gate as one float tensor, the sign of the neuron's first
  non-zero spike (0 while undecided), updated with exact float arithmetic
  on -1, 0 and 1, in place of two boolean masks;
- write the digits into one preallocated ``[T, ...]`` tensor.
"""

from __future__ import annotations

import math

import torch

__all__ = ["BLOCK", "check_layer", "if_digits", "reset_and_fire_level", "tmn_digits"]

# Neurons per block: the five float32 state tensors of a block take 640 KiB and stay in a core's L2 cache.
BLOCK = 1 << 15
# The neurons compute in float32, so the reset 2^P v must not exceed this.
FLOAT32_MAX = float(torch.finfo(torch.float32).max)


def check_layer(z: torch.Tensor, threshold: float, timesteps: int, precharge: int = 0) -> None:
    """Raise ValueError unless ``z`` is ``[T, ...]``, ``threshold`` a finite number > 0, ``precharge`` an integer >= 0
    and the reset ``2^precharge * threshold`` a finite float32."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 < threshold < math.inf:
        raise ValueError(f"threshold must be a finite number > 0, not {threshold!r}")
    if z.dim() < 1 or z.shape[0] != timesteps:
        raise ValueError(f"input must have shape [T, ...] with T = {timesteps}, not {tuple(z.shape)}")
    if isinstance(precharge, bool) or not isinstance(precharge, int) or precharge < 0:
        raise ValueError(f"precharge must be an integer >= 0, not {precharge!r}")
    try:
        reset = math.ldexp(float(threshold), precharge)
    except OverflowError:
        reset = math.inf
    if reset > FLOAT32_MAX:
        raise ValueError(f"the reset 2^precharge * threshold = 2^{precharge} * {threshold!r} exceeds the largest "
                         f"float32, {FLOAT32_MAX:.4g}; use a smaller precharge or threshold")


def reset_and_fire_level(threshold: float, precharge: int, predictive: bool) -> tuple[float, float]:
    """Return the reset ``theta = 2^P v`` and the level at which a TMN fires: ``theta / 2``, or ``theta`` without
    predictive spiking."""
    reset = float(threshold) * 2.0**precharge
    return reset, reset * 0.5 if predictive else reset


def tmn_digits(
    z: torch.Tensor, threshold: float, timesteps: int, precharge: int, *, predictive: bool = True, gate: bool = True
) -> torch.Tensor:
    """Return the output digits ``[T, ...]`` of TMN neurons driven by input currents ``z`` ``[T, ...]``.

    Same dynamics and result as ``golden.neuron.TMN(threshold, timesteps,
    precharge, predictive=predictive, gate=gate)(z)`` with a scalar threshold.
    """
    check_layer(z, threshold, timesteps, precharge)
    reset, fire_level = reset_and_fire_level(threshold, precharge, predictive)
    flat = z.reshape(timesteps, -1)
    digits = torch.empty_like(flat)
    for start in range(0, flat.shape[1], BLOCK):
        block = slice(start, start + BLOCK)
        _tmn_block(flat[:, block], digits[:, block], reset, fire_level, precharge, predictive, gate)
    return digits.reshape(z.shape)


def _tmn_block(z, digits, reset, fire_level, precharge, predictive, gate) -> None:
    timesteps = z.shape[0]
    u = torch.zeros_like(z[0])
    first_sign = torch.zeros_like(z[0])
    spike = torch.empty_like(z[0])
    negative = torch.empty_like(z[0])
    undecided = torch.empty_like(z[0])
    one = torch.ones((), dtype=z.dtype)
    for n in range(timesteps + precharge):
        if n < timesteps:
            torch.add(z[n], u, alpha=2.0, out=u)
        else:
            u.mul_(2.0)
        if n < precharge:
            continue
        torch.ge(u, fire_level, out=spike)
        if predictive:
            torch.le(u, -fire_level, out=negative)
            spike.sub_(negative)
        u.add_(spike, alpha=-reset)
        out = digits[n - precharge]
        if gate:
            # first_sign takes the sign of the first non-zero spike: first_sign += spike (1 - first_sign^2).
            # Only a positive first spike opens the gate: out = spike (1 + first_sign) / 2.
            torch.addcmul(one, first_sign, first_sign, value=-1.0, out=undecided)
            first_sign.addcmul_(spike, undecided)
            torch.addcmul(spike, spike, first_sign, out=out)
            out.mul_(0.5)
        else:
            out.copy_(spike)


def if_digits(z: torch.Tensor, threshold: float, timesteps: int) -> torch.Tensor:
    """Return the binary spikes ``[T, ...]`` of IF neurons (rate coding) driven by ``z`` ``[T, ...]``.

    Same dynamics and result as ``golden.neuron.IF(threshold, timesteps)(z)``
    with a scalar threshold: the membrane starts at ``v / 2``, integrates,
    fires at ``u >= v`` and resets by ``v``.
    """
    check_layer(z, threshold, timesteps)
    threshold = float(threshold)
    flat = z.reshape(timesteps, -1)
    spikes = torch.empty_like(flat)
    for start in range(0, flat.shape[1], BLOCK):
        block = slice(start, start + BLOCK)
        u = torch.full_like(flat[0, block], threshold * 0.5)
        for n in range(timesteps):
            out = spikes[n, block]
            u.add_(flat[n, block])
            torch.ge(u, threshold, out=out)
            u.add_(out, alpha=-threshold)
    return spikes.reshape(z.shape)
