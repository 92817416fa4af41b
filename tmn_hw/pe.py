"""Processing element of one Ternary Momentum Neuron (TMN), bit-exact with ``golden.integer``."""

from __future__ import annotations

import functools

from amaranth import C, Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from golden.integer import GateState, in_range_input_max, required_membrane_width
from tmn_hw.datapath import at_most, saturate
from tmn_hw.params import check_bool, check_input_width, check_int, check_membrane_width

__all__ = ["MAX_PRECHARGE", "MAX_TIMESTEPS", "TMNProcessingElement", "minimum_membrane_width"]

# Limits of the integer golden model, which the benches compare against.
MAX_TIMESTEPS = 62
MAX_PRECHARGE = 62

# Defects that tests inject to show that the benches detect them.
FAULTS = ("threshold_off_by_one", "no_saturation", "wrong_reset")


@functools.cache
def minimum_membrane_width(max_timesteps: int, max_precharge: int, threshold: int) -> int:
    """Return the smallest membrane width at which no in-range input saturates for any runtime T and P.

    The minimum is taken over every ``1 <= T <= max_timesteps`` and
    ``0 <= P <= max_precharge`` of ``golden.integer.required_membrane_width``
    with in-range inputs (``|z| <= threshold``, or ``threshold // 2`` when ``P = 0``).
    """
    return max(
        required_membrane_width(timesteps, precharge, threshold, in_range_input_max(precharge, threshold))
        for timesteps in range(1, max_timesteps + 1)
        for precharge in range(0, max_precharge + 1)
    )


class TMNProcessingElement(wiring.Component):
    """Processing element (PE) of one Ternary Momentum Neuron, bit-exact with ``golden.integer.step``.

    Each accepted input is one step ``n`` of a sample. The PE doubles its
    membrane by wiring, because ``2 u`` is ``u`` shifted by one bit, so there
    is no multiplier and no barrel shifter. One adder forms
    ``u_hat = 2 u + z``, and two comparators check ``2 u_hat`` (wiring again)
    against the full threshold ``theta = V * 2^P``. A firing step emits
    ``+1`` when ``2 u_hat >= theta``, ``-1`` when ``2 u_hat <= -theta``, else
    ``0``, and subtracts ``theta`` times that spike. The membrane saturates at
    the ends of its signed range instead of wrapping, and ``overflow``
    reports it.

    The number of input steps ``T`` and of pre-charge steps ``P`` are set at
    run time, so one design serves every layer: ``timesteps`` and
    ``precharge`` are loaded into down-counters when ``start`` is high. The
    first ``P`` steps are pre-charge steps, which emit no output digit; the
    next ``T`` steps are firing steps, whose spikes are the output digits
    1..T. Inputs of steps after the first ``T`` are ignored (taken as 0).
    ``theta`` comes without a barrel shifter: a threshold register loads
    ``V`` at the start of a sample and doubles (wiring) at each pre-charge
    step, so it holds ``V * 2^P`` at every firing step. The threshold ``V``
    is fixed at elaboration, and any integer ``V >= 1`` works. A power of two
    is supported and keeps the decoded values simple, but it does not make
    this PE smaller, because ``theta`` is a register here: Yosys 0.23
    ``synth`` gives 845 cells for ``V = 64`` and 835 for ``V = 63`` (8-bit
    input, 20-bit membrane, ``T <= 8``, ``P <= 4``).

    With the ReLU gate on, a gate register starts each sample
    ``GateState.UNDECIDED`` and becomes ``PASS`` or ``BLOCK`` at the first
    firing step whose raw spike is ``+1`` or ``-1``; the output digit is the
    raw spike in ``PASS`` and ``0`` otherwise. The gate is chosen at
    elaboration.

    Every output except ``o.valid`` and ``last`` is a register that holds
    the result of the most recent step until the next step or ``start``;
    the results of a step accepted in cycle ``c`` appear in cycle ``c + 1``.
    ``start`` may be high in the same cycle as an accepted input, which is
    then step 1 of the new sample, so samples can follow each other without
    an idle cycle. A ``start`` in the middle of a sample abandons it.

    Handshakes use ``amaranth.lib.stream``. The input stream has a ``ready``
    so that the source can see which cycles are steps: the PE accepts an
    input in every cycle of a sample, and none before the first ``start``,
    after the last step, or after a ``start`` with an invalid ``T`` or
    ``P``. The output stream has no ``ready`` (``always_ready``) because the
    PE has no buffer: flow control belongs to whatever issues the steps, and
    an array of PEs that shares ``i.valid`` steps together on one enable.

    Members
    -------
    start : In(1)
        Start a sample: reset the membrane to 0 and the gate to
        ``UNDECIDED``, load ``timesteps`` and ``precharge``. When they are
        out of range, no sample runs and ``error`` is set.
    timesteps : In(unsigned(max_timesteps.bit_length()))
        Input steps and output digits ``T`` of the sample, read while
        ``start`` is high; allowed ``1 <= T <= max_timesteps``.
    precharge : In(unsigned(max(1, max_precharge.bit_length())))
        Pre-charge steps ``P`` of the sample, read while ``start`` is high;
        allowed ``0 <= P <= max_precharge``.
    i : In(stream.Signature(signed(input_width)))
        Input current ``z`` of one step per transfer. ``i.ready`` is high
        while a sample runs, and in a cycle with ``start`` high and valid
        ``timesteps`` and ``precharge``.
    o : Out(stream.Signature(signed(2), always_ready=True))
        Output digit of a firing step: ``o.payload`` is ``+1``, ``0`` or
        ``-1`` in two's complement (bit 0 is "non-zero", bit 1 is "negative").
        ``o.valid`` is high for one cycle after each firing step, ``T`` times
        per sample; ``o.payload`` holds the spike of the latest step, which is
        0 after a pre-charge step.
    last : Out(1)
        High with ``o.valid`` for the last digit of the sample, step ``T + P``.
    overflow : Out(1)
        The latest step saturated the membrane (the exact result did not
        fit in ``membrane_width`` bits).
    membrane : Out(signed(membrane_width))
        Membrane ``u`` after the latest step, 0 after ``start``.
    error : Out(1)
        The latest ``start`` had ``timesteps`` or ``precharge`` out of range.

    Parameters
    ----------
    input_width : int
        Signed width of the input current, in [2, 64]; it must hold ``threshold``.
    membrane_width : int
        Signed width of the membrane register, at most 62 and at least
        ``minimum_membrane_width(max_timesteps, max_precharge, threshold)``,
        the width at which no in-range input saturates for any ``T`` and ``P``.
    threshold : int
        Threshold, any integer ``V >= 1``.
    max_timesteps : int
        Largest ``T``, in [1, 62].
    max_precharge : int
        Largest ``P``, in [0, 62].
    gate : bool
        ReLU gate on (True) or off (False).

    Raises
    ------
    TypeError
        If a parameter has the wrong type (an integer is expected, ``gate`` is a bool).
    ValueError
        If a parameter is out of its allowed range, or the widths cannot hold
        the threshold or the membrane of in-range inputs.
    """

    def __init__(
        self,
        *,
        input_width: int,
        membrane_width: int,
        threshold: int,
        max_timesteps: int,
        max_precharge: int,
        gate: bool = True,
        _fault: str | None = None,
    ):
        self._threshold = check_int("threshold", threshold, 1)
        self._max_timesteps = check_int("max_timesteps", max_timesteps, 1, MAX_TIMESTEPS)
        self._max_precharge = check_int("max_precharge", max_precharge, 0, MAX_PRECHARGE)
        self._input_width = check_input_width(input_width, self._threshold)
        self._membrane_width = check_membrane_width(
            membrane_width,
            minimum_membrane_width(self._max_timesteps, self._max_precharge, self._threshold),
            f"for T <= {self._max_timesteps}, P <= {self._max_precharge} and threshold {self._threshold}",
        )
        self._gate = check_bool("gate", gate)
        if _fault is not None and _fault not in FAULTS:
            raise ValueError(f"_fault must be None or one of {FAULTS}, not {_fault!r}")
        self._fault = _fault

        super().__init__(
            {
                "start": In(1),
                "timesteps": In(unsigned(self._max_timesteps.bit_length())),
                "precharge": In(unsigned(max(1, self._max_precharge.bit_length()))),
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

    @property
    def max_precharge(self) -> int:
        return self._max_precharge

    @property
    def gate(self) -> bool:
        return self._gate

    def elaborate(self, platform):
        m = Module()
        width = self._membrane_width
        threshold = self._threshold

        # Sample state: membrane, threshold register, gate and three down-counters.
        membrane = Signal(signed(width))
        theta = Signal(unsigned((threshold << self._max_precharge).bit_length()), init=threshold)
        gate = Signal(GateState)
        inputs_left = Signal(self.timesteps.shape())
        precharge_left = Signal(self.precharge.shape())
        digits_left = Signal(self.timesteps.shape())

        config_valid = (self.timesteps != 0) & at_most(self.timesteps, self._max_timesteps)
        config_valid &= at_most(self.precharge, self._max_precharge)
        running = digits_left != 0
        m.d.comb += self.i.ready.eq(Mux(self.start, config_valid, running))
        step = self.i.valid & self.i.ready

        # The state that this cycle's step starts from: a start replaces it with the initial state.
        membrane_now = Mux(self.start, 0, membrane)
        # Without pre-charge steps theta is the constant V, and no register is needed.
        theta_now = Mux(self.start, threshold, theta) if self._max_precharge else C(threshold)
        gate_now = Mux(self.start, GateState.UNDECIDED, gate)
        inputs_left_now = Mux(self.start, self.timesteps, inputs_left)
        precharge_left_now = Mux(self.start, self.precharge, precharge_left)
        digits_left_now = Mux(self.start, self.timesteps, digits_left)

        firing = precharge_left_now == 0
        current = Mux(inputs_left_now != 0, self.i.payload, 0)

        # u_hat = 2 u + z: the doubling is a wired shift, the sum is the one adder of the update.
        u_hat = Signal(signed(max(width + 1, self._input_width) + 1))
        m.d.comb += u_hat.eq(Cat(C(0, 1), membrane_now).as_signed() + current)
        twice_u_hat = Cat(C(0, 1), u_hat).as_signed()

        # The predictive thresholds +-theta/2, compared exactly as 2 u_hat against +-theta.
        compare_theta = theta_now + 1 if self._fault == "threshold_off_by_one" else theta_now
        positive = Signal()
        negative = Signal()
        m.d.comb += [
            positive.eq(firing & (twice_u_hat >= compare_theta)),
            negative.eq(firing & (twice_u_hat <= -compare_theta)),
        ]
        raw_spike = Mux(positive, 1, Mux(negative, -1, 0))

        # Soft reset by theta in one adder: subtracting theta is adding its complement plus one.
        reset_amount = Signal(signed(width + 1))
        m.d.comb += reset_amount.eq(C(threshold) if self._fault == "wrong_reset" else theta_now)
        u_next = Signal(signed(len(u_hat) + 1))
        m.d.comb += u_next.eq(u_hat + Mux(positive, ~reset_amount, Mux(negative, reset_amount, 0)) + positive)

        if self._fault == "no_saturation":
            membrane_next, saturated = u_next[:width].as_signed(), C(0, 1)
        else:
            membrane_next, saturated = saturate(u_next, width)

        if self._gate:
            decides = firing & (gate_now == GateState.UNDECIDED)
            gate_next = Mux(
                decides & positive, GateState.PASS, Mux(decides & negative, GateState.BLOCK, gate_now)
            )
            spike = Mux(gate_next == GateState.PASS, raw_spike, 0)
        else:
            gate_next = gate_now
            spike = raw_spike

        with m.If(step):
            m.d.sync += [
                membrane.eq(membrane_next),
                theta.eq(Mux(firing, theta_now, Cat(C(0, 1), theta_now))),
                gate.eq(gate_next),
                inputs_left.eq(Mux(inputs_left_now != 0, inputs_left_now - 1, 0)),
                precharge_left.eq(Mux(firing, 0, precharge_left_now - 1)),
                digits_left.eq(Mux(firing, digits_left_now - 1, digits_left_now)),
                self.o.payload.eq(spike),
                self.overflow.eq(saturated),
            ]
        with m.Elif(self.start):
            m.d.sync += [
                membrane.eq(0),
                theta.eq(threshold),
                gate.eq(GateState.UNDECIDED),
                inputs_left.eq(Mux(config_valid, self.timesteps, 0)),
                precharge_left.eq(Mux(config_valid, self.precharge, 0)),
                digits_left.eq(Mux(config_valid, self.timesteps, 0)),
                self.o.payload.eq(0),
                self.overflow.eq(0),
            ]
        with m.If(self.start):
            m.d.sync += self.error.eq(~config_valid)

        m.d.sync += [
            self.o.valid.eq(step & firing),
            self.last.eq(step & firing & (digits_left_now == 1)),
        ]
        m.d.comb += self.membrane.eq(membrane)
        return m
