"""Bit-exact integer layers: the reference the RTL layer arrays are checked against.

A fully connected spiking layer of ``N`` TMN neurons with ``M`` inputs
receives, at input step ``t = 1..T``, the ternary spike vector ``s[t]`` of
the previous layer and integrates the integer current::

    z[t] = W s[t] + b          W: [N, M] integers, b: [N] integers

The bias is added at the T input steps only; the ``P`` drain steps that
follow have zero input (see :func:`golden.integer.step`). The classifier
layer does not spike: it accumulates ``A = sum_t 2^(T-t) z[t]`` by doubling,
``A <- 2 A + z[t]``, and predicts ``argmax A`` (the first index on ties).
"""

from __future__ import annotations

import numpy as np

from golden.integer import IntegerNeuronConfig, IntegerTrace, simulate

__all__ = ["layer_currents", "predicted_class", "readout_scores", "spiking_layer"]


def _check_matrix(weight, bias) -> tuple[np.ndarray, np.ndarray]:
    weight = np.asarray(weight)
    bias = np.asarray(bias)
    if weight.ndim != 2 or not np.issubdtype(weight.dtype, np.integer):
        raise ValueError(f"weight must be a 2-D integer array [N, M], not {weight.dtype} of shape {weight.shape}")
    if bias.shape != (weight.shape[0],) or not np.issubdtype(bias.dtype, np.integer):
        raise ValueError(
            f"bias must be an integer array of shape ({weight.shape[0]},) to match weight {weight.shape}, "
            f"not {bias.dtype} of shape {bias.shape}"
        )
    return weight.astype(np.int64), bias.astype(np.int64)


def _check_spikes(spikes, inputs: int) -> np.ndarray:
    spikes = np.asarray(spikes)
    if spikes.ndim != 2 or spikes.shape[1] != inputs:
        raise ValueError(f"spikes must have shape [T, {inputs}], not {spikes.shape}")
    if not np.issubdtype(spikes.dtype, np.integer) or not np.isin(spikes, (-1, 0, 1)).all():
        raise ValueError("spikes must be ternary integers in {-1, 0, +1}")
    return spikes.astype(np.int64)


def layer_currents(weight, bias, spikes) -> np.ndarray:
    """Return the currents ``z[t] = W s[t] + b`` of shape [T, N] for spikes of shape [T, M]."""
    weight, bias = _check_matrix(weight, bias)
    spikes = _check_spikes(spikes, weight.shape[1])
    return spikes @ weight.T + bias


def spiking_layer(config: IntegerNeuronConfig, weight, bias, spikes) -> IntegerTrace:
    """Run one sample of a spiking layer: spikes [T, M] in, trace of N neurons out.

    The T input steps carry ``W s[t] + b``; the trace's ``spikes`` are the T
    output digits of each neuron (steps ``P+1 .. P+T``).
    """
    currents = layer_currents(weight, bias, spikes)
    if currents.shape[0] != config.timesteps:
        raise ValueError(f"spikes must have T = {config.timesteps} rows, not {currents.shape[0]}")
    return simulate(config, currents)


def readout_scores(weight, bias, spikes) -> np.ndarray:
    """Return the classifier accumulators ``A = sum_t 2^(T-t) (W s[t] + b)``, shape [N].

    The sum is formed as the hardware forms it, ``A <- 2 A + z[t]`` from
    ``A = 0``, so a reader can follow the RTL register step by step.
    """
    currents = layer_currents(weight, bias, spikes)
    scores = np.zeros(currents.shape[1], dtype=np.int64)
    for current in currents:
        scores = 2 * scores + current
    return scores


def predicted_class(scores) -> int:
    """Return ``argmax`` of the classifier accumulators, the first index on ties."""
    scores = np.asarray(scores)
    if scores.ndim != 1 or scores.size == 0:
        raise ValueError(f"scores must be a non-empty 1-D array, not shape {scores.shape}")
    return int(np.argmax(scores))
