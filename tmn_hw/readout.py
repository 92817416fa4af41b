"""Classifier readout: the last fully connected layer of a network, read out by a doubling accumulator.

The classifier layer does not spike. Its currents ``z[t] = W s[t] + b`` of
the T input steps enter score registers as ``A <- 2 A + z[t]`` (the doubling
is wiring), so that after the last step ``A = sum_t 2^(T-t) z[t]``, the
input weighted as a TMN weights its digits. The predicted class is
``argmax A``, the lowest index on ties.
"""

from __future__ import annotations

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.data import ArrayLayout, StructLayout
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from tmn_hw.layer import SynapticAccumulator, spike_event_layout
from tmn_hw.params import check_int
from tmn_hw.pe import MAX_TIMESTEPS

__all__ = ["ClassifierReadout", "prediction_layout"]


def prediction_layout(classes: int, score_width: int) -> StructLayout:
    """Layout of a readout result: the predicted class and the ``classes`` scores."""
    return StructLayout(
        {
            "prediction": unsigned(max(1, ceil_log2(classes))),
            "scores": ArrayLayout(signed(score_width), classes),
        }
    )


class ClassifierReadout(wiring.Component):
    """Classifier layer: spike events in, predicted class and scores out, one result per sample.

    Parameters
    ----------
    weight : integer array [C, M]
        Integer weights of the classifier layer, ``C`` classes.
    bias : integer array [C]
        Integer bias, added at each of the T input steps.
    timesteps : int
        Input steps ``T`` per sample, in [1, 62].
    weight_width, bias_width, current_width : int or None
        As in :class:`tmn_hw.layer.SynapticAccumulator`.

    Members
    -------
    i : ``In(stream.Signature(spike_event_layout(M)))``
        Spike events, each input step closed by an end-of-step marker; ``T`` steps per sample.
    o : ``Out(stream.Signature(prediction_layout(C, current_width + T)))``
        After the T-th step: ``prediction``, the argmax of ``scores``, and the
        scores ``A = sum_t 2^(T-t) z[t]``.

    The score registers are ``current_width + T`` bits wide, enough for
    ``(2^T - 1)`` times the largest current. The next sample's first step may
    enter in the cycle the result transfers.
    """

    def __init__(self, weight, bias, *, timesteps, weight_width=None, bias_width=None, current_width=None):
        self._timesteps = check_int("timesteps", timesteps, 1, MAX_TIMESTEPS)
        self._accumulator = SynapticAccumulator(
            weight, bias, weight_width=weight_width, bias_width=bias_width, current_width=current_width
        )
        self._score_width = self._accumulator.current_width + self._timesteps
        super().__init__(
            {
                "i": In(stream.Signature(spike_event_layout(self._accumulator.inputs))),
                "o": Out(stream.Signature(prediction_layout(self._accumulator.neurons, self._score_width))),
            }
        )

    @property
    def classes(self) -> int:
        return self._accumulator.neurons

    @property
    def inputs(self) -> int:
        return self._accumulator.inputs

    @property
    def timesteps(self) -> int:
        return self._timesteps

    @property
    def score_width(self) -> int:
        return self._score_width

    @property
    def accumulator(self) -> SynapticAccumulator:
        return self._accumulator

    def elaborate(self, platform):
        m = Module()
        m.submodules.accumulator = accumulator = self._accumulator
        wiring.connect(m, wiring.flipped(self.i), accumulator.i)

        classes = self.classes
        scores = Signal(ArrayLayout(signed(self._score_width), classes))
        # Input steps taken in the current sample, 0 .. T - 1.
        count = Signal(range(self._timesteps))
        done = Signal()

        m.d.comb += [
            accumulator.o.ready.eq(~done | self.o.ready),
            self.o.valid.eq(done),
            self.o.p.scores.eq(scores),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += done.eq(0)
        # One Signal per class, then one assignment of their Cat (see SynapticAccumulator).
        first = count == 0
        updates = [Signal(signed(self._score_width), name=f"update{index}") for index in range(classes)]
        for index, update in enumerate(updates):
            doubled = Mux(first, 0, scores[index] << 1)
            m.d.comb += update.eq(doubled + accumulator.o.p[index])
        with m.If(accumulator.o.valid & accumulator.o.ready):
            m.d.sync += scores.eq(Cat(*updates))
            last = count == self._timesteps - 1
            m.d.sync += count.eq(Mux(last, 0, count + 1))
            with m.If(last):
                m.d.sync += done.eq(1)

        # Argmax as a chain of comparisons: a later class wins only when strictly larger.
        best = scores[0]
        prediction = Signal(self.o.p.prediction.shape())
        best_index = 0
        for index in range(1, classes):
            larger = scores[index] > best
            best = Mux(larger, scores[index], best)
            best_index = Mux(larger, index, best_index)
        m.d.comb += prediction.eq(best_index)
        m.d.comb += self.o.p.prediction.eq(prediction)
        return m
