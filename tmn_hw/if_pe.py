"""Processing element of one rate-coding integrate-and-fire (IF) neuron, bit-exact with ``golden.integer_if``."""

from __future__ import annotations

from amaranth import C, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.integer_if import required_if_membrane_width
from tmn_hw.datapath import at_most, saturate
from tmn_hw.params import check_input_width, check_int, check_membrane_width
from tmn_hw.pe import MAX_TIMESTEPS

__all__ = ["IFProcessingElement", "minimum_if_membrane_width"]


def minimum_if_membrane_width(max_timesteps: int, threshold: int) -> int:
    """Return the smallest membrane width at which no input ``|z| <= threshold`` saturates for any ``T``."""
    return max(required_if_membrane_width(timesteps, threshold, threshold) for timesteps in range(1, max_timesteps + 1))


class IFProcessingElement(wiring.Component):
    """Processing element (PE) of one integrate-and-fire neuron with rate coding, bit-exact with ``golden.integer_if``.

    The baseline for resource comparisons with ``TMNProcessingElement``: it
    has the same ports (without ``precharge``) and the same widths. The
    membrane starts each sample at ``V // 2``. Each step adds the input
    current (``u_hat = u + z``), emits a binary spike when ``u_hat >= V``, and
    subtracts ``V`` times the spike. The membrane saturates at the ends of its
    signed range instead of wrapping, and ``overflow`` reports it. Every step
    is a firing step, so a sample is ``T`` steps with one output digit each.

    Registers, handshakes and timing are those of ``TMNProcessingElement``:
    the results of a step accepted in cycle ``c`` appear in cycle ``c + 1``
    and hold until the next step or ``start``, except ``o.valid`` and
    ``last``, which are high for one cycle.

    Members
    -------
    start : In(1)
        Start a sample: set the membrane to ``V // 2`` and load ``timesteps``.
        When it is out of range, no sample runs and ``error`` is set.
    timesteps : In(unsigned(max_timesteps.bit_length()))
        Steps ``T`` of the sample, read while ``start`` is high; allowed
        ``1 <= T <= max_timesteps``.
    i : In(stream.Signature(signed(input_width)))
        Input current ``z`` of one step per transfer. ``i.ready`` is high
        while a sample runs, and in a cycle with ``start`` high and a valid
        ``timesteps``.
    o : Out(stream.Signature(signed(2), always_ready=True))
        Spike of the latest step, ``+1`` or ``0`` (the encoding of
        ``TMNProcessingElement``, which also has ``-1``); ``o.valid`` is high
        for one cycle after each step.
    last : Out(1)
        High with ``o.valid`` for the last spike of the sample, step ``T``.
    overflow : Out(1)
        The latest step saturated the membrane.
    membrane : Out(signed(membrane_width))
        Membrane ``u`` after the latest step, ``V // 2`` after ``start``.
    error : Out(1)
        The latest ``start`` had ``timesteps`` out of range.

    Parameters
    ----------
    input_width : int
        Signed width of the input current, in [2, 64]; it must hold ``threshold``.
    membrane_width : int
        Signed width of the membrane register, at most 62 and at least
        ``minimum_if_membrane_width(max_timesteps, threshold)``.
    threshold : int
        Threshold ``V >= 1``.
    max_timesteps : int
        Largest ``T``, in [1, 62].

    Raises
    ------
    TypeError
        If a parameter is not an integer.
    ValueError
        If a parameter is out of its allowed range, or the widths cannot hold
        the threshold or the membrane of inputs ``|z| <= threshold``.
    """

    def __init__(self, *, input_width: int, membrane_width: int, threshold: int, max_timesteps: int):
        self._threshold = check_int("threshold", threshold, 1)
        self._max_timesteps = check_int("max_timesteps", max_timesteps, 1, MAX_TIMESTEPS)
        self._input_width = check_input_width(input_width, self._threshold)
        self._membrane_width = check_membrane_width(
            membrane_width,
            minimum_if_membrane_width(self._max_timesteps, self._threshold),
            f"for T <= {self._max_timesteps} and threshold {self._threshold}",
        )
        super().__init__(
            {
                "start": In(1),
                "timesteps": In(unsigned(self._max_timesteps.bit_length())),
                "i": In(stream.Signature(signed(self._input_width))),
                "o": Out(stream.Signature(signed(2), always_ready=True)),
                "last": Out(1),
                "overflow": Out(1),
                "membrane": Out(signed(self._membrane_width)),
                "error": Out(1),
            }
        )

    @property
    def input_width(self) -> int:
        return self._input_width

    @property
    def membrane_width(self) -> int:
        return self._membrane_width

    @property
    def threshold(self) -> int:
        return self._threshold

    @property
    def max_timesteps(self) -> int:
        return self._max_timesteps

    def elaborate(self, platform):
        m = Module()
        width = self._membrane_width
        threshold = self._threshold
        initial = threshold // 2

        membrane = Signal(signed(width), init=initial)
        steps_left = Signal(self.timesteps.shape())

        config_valid = (self.timesteps != 0) & at_most(self.timesteps, self._max_timesteps)
        m.d.comb += self.i.ready.eq(Mux(self.start, config_valid, steps_left != 0))
        step = self.i.valid & self.i.ready

        membrane_now = Mux(self.start, initial, membrane)
        steps_left_now = Mux(self.start, self.timesteps, steps_left)

        u_hat = Signal(signed(max(width, self._input_width) + 1))
        m.d.comb += u_hat.eq(membrane_now + self.i.payload)
        fire = u_hat >= threshold
        u_next = Signal(signed(len(u_hat) + 1))
        m.d.comb += u_next.eq(u_hat - Mux(fire, C(threshold), 0))
        membrane_next, saturated = saturate(u_next, width)

        with m.If(step):
            m.d.sync += [
                membrane.eq(membrane_next),
                steps_left.eq(steps_left_now - 1),
                self.o.payload.eq(fire),
                self.overflow.eq(saturated),
            ]
        with m.Elif(self.start):
            m.d.sync += [
                membrane.eq(initial),
                steps_left.eq(Mux(config_valid, self.timesteps, 0)),
                self.o.payload.eq(0),
                self.overflow.eq(0),
            ]
        with m.If(self.start):
            m.d.sync += self.error.eq(~config_valid)

        m.d.sync += [
            self.o.valid.eq(step),
            self.last.eq(step & (steps_left_now == 1)),
        ]
        m.d.comb += self.membrane.eq(membrane)
        return m
