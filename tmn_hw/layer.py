"""Layer arrays: N TMN processing elements fed by an event-driven synaptic accumulator.

A fully connected spiking layer with ``M`` inputs and ``N`` neurons runs one
sample in ``T + P`` steps. Its input arrives as spike *events*, one
``(index, sign)`` transfer per non-zero input digit, and an end-of-step
marker closes each of the T input steps. Each event adds (``+1``) or
subtracts (``-1``) weight row ``index`` into the N accumulators, so the layer
has no multiplier and its cycles scale with the non-zero spikes, not with
``M``. The accumulators start every step at the bias, so the bias enters the
T input steps once each. When a step closes, all PEs update at once with the
accumulated currents. After the T input steps the layer runs the P drain
steps with zero input by itself. It emits one ternary spike vector of N
digits for each of the T firing steps.

The blocks, each a :class:`~amaranth.lib.wiring.Component` with
:mod:`amaranth.lib.stream` ports:

- :class:`SynapticAccumulator`: spike events in, one current vector per step out;
- :class:`NeuronArray`: current vectors in (T per sample), spike vectors out
  (T per sample), the P drain steps generated inside. A network's first layer
  is a bare :class:`NeuronArray` fed with the integer currents of the image;
- :class:`SpikingLayer`: the two above, events in and spike vectors out;
- :class:`SpikeSerializer`: spike vectors in, events and end-of-step markers
  out, so that the next layer's cycles follow the non-zero spikes.

Stream transfer rule (``amaranth.lib.stream``): a payload moves in a cycle in
which both ``valid`` and ``ready`` are high; a source keeps ``valid`` and the
payload stable until the transfer.
"""

from __future__ import annotations

import numpy as np
from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.data import ArrayLayout, StructLayout
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.utils import ceil_log2

from golden.integer import IntegerNeuronConfig, signed_range
from tmn_hw.params import check_int

__all__ = [
    "NeuronArray",
    "SpikeSerializer",
    "SpikingLayer",
    "SynapticAccumulator",
    "current_vector_layout",
    "signed_width",
    "spike_event_layout",
    "spike_vector_layout",
    "spiking_output_layout",
]

# Largest N and M the generators accept; wider layers elaborate slowly and
# their Verilog memories become impractical for simulation.
MAX_NEURONS = 4096
MAX_INPUTS = 65536


def signed_width(magnitude: int) -> int:
    """Return the smallest signed width that contains every integer in [-magnitude, magnitude]."""
    return int(magnitude).bit_length() + 1


def spike_vector_layout(neurons: int) -> ArrayLayout:
    """Layout of a ternary spike vector: ``neurons`` signed 2-bit digits in {-1, 0, +1}."""
    return ArrayLayout(signed(2), neurons)


def spiking_output_layout(neurons: int) -> StructLayout:
    """Layout of a layer's output transfer: the spike vector and a sample overflow flag.

    ``overflow`` is high when any neuron of the layer saturated at any step
    of the current sample up to and including this output's step.
    """
    return StructLayout({"spikes": spike_vector_layout(neurons), "overflow": 1})


def spike_event_layout(inputs: int) -> StructLayout:
    """Layout of an input event of a layer with ``inputs`` inputs.

    ``end = 0``: spike of input ``index``, ``-1`` if ``negative`` else ``+1``.
    ``end = 1``: end-of-step marker; ``index`` and ``negative`` are ignored.
    """
    return StructLayout({"index": unsigned(max(1, ceil_log2(inputs))), "negative": 1, "end": 1})


def current_vector_layout(neurons: int, width: int) -> ArrayLayout:
    """Layout of the currents of one step: ``neurons`` signed integers of ``width`` bits."""
    return ArrayLayout(signed(width), neurons)


def _check_integer_array(name: str, value, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.asarray(value)
    if not np.issubdtype(array.dtype, np.integer):
        raise TypeError(f"{name} must be an integer array, not dtype {array.dtype}")
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, not {array.shape}")
    return array.astype(np.int64)


def _check_fits(name: str, array: np.ndarray, width: int) -> None:
    low, high = signed_range(width)
    if array.size and (array.min() < low or array.max() > high):
        needed = signed_width(int(np.abs(array).max()))
        raise ValueError(
            f"{name} values span [{array.min()}, {array.max()}], outside the {width}-bit range "
            f"[{low}, {high}]; use a width >= {needed}"
        )


class SynapticAccumulator(wiring.Component):
    """Event-driven synaptic accumulator: spike events in, one current vector per step out.

    Weight row ``j`` (the N weights from input ``j``) is one word of a
    synchronous weight memory. A spike event reads its row and adds it to
    the N accumulators one cycle later (subtracts it for a ``-1`` spike). The
    end-of-step marker closes the step: the accumulators become the output
    payload, and the transfer of that payload reloads them with the bias from
    the bias memory, ready for the next step.

    Parameters
    ----------
    weight : integer array [N, M]
        Integer weights. Row ``i`` contains the weights into neuron ``i``.
    bias : integer array [N]
        Integer bias, added once per closed step.
    weight_width : int or None
        Signed width of a stored weight; ``None`` takes the smallest that holds ``weight``.
    bias_width : int or None
        Signed width of a stored bias; ``None`` takes the smallest that holds ``bias``.
    current_width : int or None
        Signed width of the accumulators and output currents. It must hold
        ``max_i (sum_j |W[i, j]| + |b[i]|)``, the largest current any input
        can produce, so the sum never wraps; ``None`` takes that width.

    Members
    -------
    i : ``In(stream.Signature(spike_event_layout(M)))``
        Spike events and end-of-step markers. One transfer per cycle at most.
    o : ``Out(stream.Signature(current_vector_layout(N, current_width)))``
        Currents ``W s[t] + b`` of each closed step.

    Raises
    ------
    TypeError
        If ``weight`` or ``bias`` is not an integer array, or a width is not an integer.
    ValueError
        If the shapes disagree, or a width is too small for its values.

    Timing: an event is accepted every cycle while no closed step waits at
    ``o``. The marker transfer of cycle ``c`` makes ``o.valid`` high in cycle
    ``c + 1``, and ``i`` accepts again in the cycle ``o`` transfers, so a step
    with ``k`` events costs ``k + 1`` input cycles.
    """

    def __init__(self, weight, bias, *, weight_width=None, bias_width=None, current_width=None):
        weight = _check_integer_array("weight", weight)
        if weight.ndim != 2:
            raise ValueError(f"weight must be a 2-D array [N, M], not shape {weight.shape}")
        neurons, inputs = weight.shape
        check_int("weight rows (neurons N)", neurons, 1, MAX_NEURONS)
        check_int("weight columns (inputs M)", inputs, 1, MAX_INPUTS)
        bias = _check_integer_array("bias", bias, (neurons,))

        largest_weight = int(np.abs(weight).max())
        largest_bias = int(np.abs(bias).max())
        largest_current = int((np.abs(weight).sum(axis=1) + np.abs(bias)).max())
        if weight_width is None:
            weight_width = signed_width(largest_weight)
        if bias_width is None:
            bias_width = signed_width(largest_bias)
        if current_width is None:
            current_width = signed_width(largest_current)
        check_int("weight_width", weight_width, 1, 32)
        check_int("bias_width", bias_width, 1, 32)
        check_int("current_width", current_width, 2, 48)
        _check_fits("weight", weight, weight_width)
        _check_fits("bias", bias, bias_width)
        if signed_range(current_width)[1] < largest_current:
            raise ValueError(
                f"current_width = {current_width} cannot hold the largest current {largest_current} "
                f"(max over neurons of sum |weight| + |bias|); use current_width >= {signed_width(largest_current)}"
            )

        self._weight = weight
        self._bias = bias
        self._weight_width = weight_width
        self._bias_width = bias_width
        self._current_width = current_width
        super().__init__(
            {
                "i": In(stream.Signature(spike_event_layout(inputs))),
                "o": Out(stream.Signature(current_vector_layout(neurons, current_width))),
            }
        )

    @property
    def neurons(self) -> int:
        return self._weight.shape[0]

    @property
    def inputs(self) -> int:
        return self._weight.shape[1]

    @property
    def weight_width(self) -> int:
        return self._weight_width

    @property
    def bias_width(self) -> int:
        return self._bias_width

    @property
    def current_width(self) -> int:
        return self._current_width

    def elaborate(self, platform):
        m = Module()
        neurons = self.neurons
        row_layout = ArrayLayout(signed(self._weight_width), neurons)
        bias_layout = ArrayLayout(signed(self._bias_width), neurons)
        # Memory word j is column j of the weight matrix: the weights from input j.
        rows = [row_layout.const(column.tolist()) for column in self._weight.T]
        m.submodules.weights = weights = Memory(shape=row_layout, depth=self.inputs, init=rows)
        m.submodules.biases = biases = Memory(shape=bias_layout, depth=1, init=[bias_layout.const(self._bias.tolist())])
        row = weights.read_port()
        bias = biases.read_port(domain="comb")

        accumulator = Signal(current_vector_layout(neurons, self._current_width), init=self._bias.tolist())
        adding = Signal()
        subtracting = Signal()
        closed = Signal()

        accept = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(~closed | self.o.ready),
            row.addr.eq(self.i.p.index),
            self.o.valid.eq(closed),
        ]
        # Operand isolation: the payload is 0 while a step is open, so the logic behind `o`
        # switches once per step rather than once per event, which keeps the PE adders quiet.
        m.d.comb += self.o.p.eq(Mux(closed, accumulator, 0))
        m.d.sync += [
            adding.eq(accept & ~self.i.p.end),
            subtracting.eq(self.i.p.negative),
        ]
        # One Signal per lane, then whole-vector assignments of their Cat, rather than one
        # statement per lane: Icarus Verilog re-runs a process of N lane statements once per
        # changed lane, which made simulation time grow with N squared.
        sums = [Signal(signed(self._current_width), name=f"sum{index}") for index in range(neurons)]
        reloads = [Signal(signed(self._current_width), name=f"reload{index}") for index in range(neurons)]
        for index in range(neurons):
            weight = row.data[index]
            m.d.comb += [
                sums[index].eq(accumulator[index] + Mux(subtracting, -weight, weight)),
                reloads[index].eq(bias.data[index]),
            ]
        # A closed step cannot have an add in flight: the marker was the last transfer before it.
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += [closed.eq(0), accumulator.eq(Cat(*reloads))]
        with m.Elif(adding):
            m.d.sync += accumulator.eq(Cat(*sums))
        with m.If(accept & self.i.p.end):
            m.d.sync += closed.eq(1)
        return m


class SpikeSerializer(wiring.Component):
    """Spike vectors in, spike events and end-of-step markers out.

    Each cycle the lowest-index non-zero digit of the stored vector leaves as
    one event. When none is left, the end-of-step marker leaves, and the next
    vector may enter in the same cycle. A vector with ``k`` non-zero digits
    therefore takes ``k + 1`` output transfers.

    Parameters
    ----------
    width : int
        Digits per spike vector, the ``M`` of the layer that consumes the events.

    Members
    -------
    i : ``In(stream.Signature(spike_vector_layout(width)))``
        Spike vectors.
    o : ``Out(stream.Signature(spike_event_layout(width)))``
        Events in increasing index order, then one marker per vector.
    """

    def __init__(self, width: int):
        self._width = check_int("width", width, 1, MAX_INPUTS)
        super().__init__(
            {
                "i": In(stream.Signature(spike_vector_layout(self._width))),
                "o": Out(stream.Signature(spike_event_layout(self._width))),
            }
        )

    @property
    def width(self) -> int:
        return self._width

    def elaborate(self, platform):
        m = Module()
        width = self._width
        nonzero = Signal(width)
        negative = Signal(width)
        full = Signal()

        # Lowest set bit of `nonzero` as a one-hot mask, then its binary index.
        lowest = Signal(width)
        index = Signal(self.o.p.index.shape())
        m.d.comb += lowest.eq(nonzero & (~nonzero + 1))
        for bit in range(len(index)):
            members = [lowest[position] for position in range(width) if (position >> bit) & 1]
            if members:
                m.d.comb += index[bit].eq(Cat(*members).any())

        marker = nonzero == 0
        m.d.comb += [
            self.o.valid.eq(full),
            self.o.p.index.eq(index),
            self.o.p.negative.eq((negative & lowest).any()),
            self.o.p.end.eq(marker),
            self.i.ready.eq(~full | (marker & self.o.ready)),
        ]
        with m.If(self.o.valid & self.o.ready & ~marker):
            m.d.sync += nonzero.eq(nonzero & ~lowest)
        with m.If(self.o.valid & self.o.ready & marker):
            m.d.sync += full.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += full.eq(1)
            # Bit 0 of a digit is "non-zero", bit 1 is "negative" (two's complement -1 is 0b11).
            digits = self.i.p.as_value()
            m.d.sync += [
                nonzero.eq(Cat(digits[2 * position] for position in range(width))),
                negative.eq(Cat(digits[2 * position + 1] for position in range(width))),
            ]
        return m



class NeuronArray(wiring.Component):
    """N TMN processing elements that step together: current vectors in, spike vectors out.

    A sample is ``T`` input transfers on ``i``, one per input step. The
    array then runs the ``P`` drain steps with zero input by itself, and
    emits the ``T`` output digits of all neurons as ``T`` transfers on ``o``
    (the first ``P`` steps are pre-charge steps without output). Every PE
    shares one step enable; the PE output registers hold a step's spikes
    until ``o`` takes them, and no step runs while ``o`` waits, so ``o`` has
    full backpressure without an extra buffer. One step takes one cycle when
    ``o`` is ready.

    Parameters
    ----------
    neurons : int
        Number of PEs ``N``.
    timesteps : int
        Input steps and output digits per sample ``T``.
    precharge : int
        Pre-charge steps ``P``.
    threshold : int
        Integer threshold ``V`` of the layer.
    input_width : int
        Signed width of the input currents; it must hold ``V``.
    membrane_width : int
        Signed width of the membrane registers; at least
        ``golden.integer.required_membrane_width(T, P, V, in-range input)``.
    gate : bool
        ReLU gate of every neuron on (True) or off (False).

    Members
    -------
    i : ``In(stream.Signature(current_vector_layout(N, input_width)))``
        Currents of one input step per transfer, ``T`` transfers per sample.
    o : ``Out(stream.Signature(spiking_output_layout(N)))``
        Output digits of one firing step per transfer, ``T`` per sample,
        with the sample overflow flag.

    Raises
    ------
    TypeError, ValueError
        From the checks of :class:`golden.integer.IntegerNeuronConfig` and
        :class:`tmn_hw.pe.TMNProcessingElement`, naming the parameter.
    """

    def __init__(self, *, neurons, timesteps, precharge, threshold, input_width, membrane_width, gate=True):
        self._neurons = check_int("neurons", neurons, 1, MAX_NEURONS)
        for name, value, minimum in (
            ("timesteps", timesteps, 1),
            ("precharge", precharge, 0),
            ("threshold", threshold, 1),
            ("input_width", input_width, 2),
            ("membrane_width", membrane_width, 2),
        ):
            check_int(name, value, minimum)
        self._config = IntegerNeuronConfig(
            timesteps=timesteps,
            precharge=precharge,
            threshold=threshold,
            input_width=input_width,
            membrane_width=membrane_width,
            gate=gate,
        )
        super().__init__(
            {
                "i": In(stream.Signature(current_vector_layout(self._neurons, input_width))),
                "o": Out(stream.Signature(spiking_output_layout(self._neurons))),
            }
        )

    @property
    def neurons(self) -> int:
        return self._neurons

    @property
    def config(self) -> IntegerNeuronConfig:
        """Integer neuron configuration shared by all PEs, the one the golden model runs."""
        return self._config

    def elaborate(self, platform):
        from tmn_hw.pe import TMNProcessingElement

        m = Module()
        config = self._config
        steps = config.steps
        pes = []
        for index in range(self._neurons):
            pe = TMNProcessingElement(
                input_width=config.input_width,
                membrane_width=config.membrane_width,
                threshold=config.threshold,
                max_timesteps=config.timesteps,
                max_precharge=config.precharge,
                gate=config.gate,
            )
            m.submodules[f"pe{index}"] = pe
            pes.append(pe)

        # Steps completed in the current sample, 0 .. T + P - 1.
        count = Signal(range(steps))
        draining = count >= config.timesteps
        stepped = Signal()
        output_waiting = Signal()
        sample_overflow = Signal()

        # The PEs accept a step in every cycle of a sample and with `start`, because T and P
        # are valid constants. Their output registers change on a step or a `start`, so
        # `start` goes high only together with step 1, which keeps a waiting output intact.
        can_step = ~self.o.valid | self.o.ready
        step = Signal()
        m.d.comb += [
            step.eq(can_step & (draining | self.i.valid)),
            self.i.ready.eq(can_step & ~draining),
        ]
        for index, pe in enumerate(pes):
            m.d.comb += [
                pe.start.eq(step & (count == 0)),
                pe.timesteps.eq(config.timesteps),
                pe.precharge.eq(config.precharge),
                pe.i.valid.eq(step),
                pe.i.payload.eq(Mux(draining, 0, self.i.p[index])),
            ]

        with m.If(step):
            m.d.sync += count.eq(Mux(count == steps - 1, 0, count + 1))
        m.d.sync += stepped.eq(step)

        # Sample overflow: any PE saturated at a step of this sample so far.
        step_overflow = stepped & Cat(*(pe.overflow for pe in pes)).any()
        with m.If(step & (count == 0)):
            m.d.sync += sample_overflow.eq(0)
        with m.Elif(step_overflow):
            m.d.sync += sample_overflow.eq(1)

        m.d.comb += [
            self.o.valid.eq(pes[0].o.valid | output_waiting),
            self.o.p.overflow.eq(sample_overflow | step_overflow),
        ]
        m.d.comb += self.o.p.spikes.eq(Cat(pe.o.payload for pe in pes))
        with m.If(self.o.ready):
            m.d.sync += output_waiting.eq(0)
        with m.Elif(pes[0].o.valid):
            m.d.sync += output_waiting.eq(1)
        return m


class SpikingLayer(wiring.Component):
    """Fully connected spiking layer array: spike events in, spike vectors out.

    A :class:`SynapticAccumulator` turns the events of each input step into
    the currents ``W s[t] + b``, and a :class:`NeuronArray` of N PEs steps on
    them. With no backpressure on ``o``, an input step with ``k`` non-zero
    spikes takes ``k + 1`` cycles (its events and its end-of-step marker),
    and each sample adds ``P`` cycles for the drain steps.

    Parameters
    ----------
    weight : integer array [N, M]
        Integer weights.
    bias : integer array [N]
        Integer bias.
    timesteps, precharge, threshold, membrane_width, gate
        As in :class:`NeuronArray`.
    weight_width, bias_width, current_width : int or None
        As in :class:`SynapticAccumulator`; the current width is the PE input width.

    Members
    -------
    i : ``In(stream.Signature(spike_event_layout(M)))``
        Spike events, each input step closed by an end-of-step marker; ``T`` steps per sample.
    o : ``Out(stream.Signature(spiking_output_layout(N)))``
        ``T`` spike vectors per sample.
    """

    def __init__(
        self,
        weight,
        bias,
        *,
        timesteps,
        precharge,
        threshold,
        membrane_width,
        gate=True,
        weight_width=None,
        bias_width=None,
        current_width=None,
    ):
        self._accumulator = SynapticAccumulator(
            weight, bias, weight_width=weight_width, bias_width=bias_width, current_width=current_width
        )
        input_width = max(self._accumulator.current_width, signed_width(check_int("threshold", threshold, 1)))
        self._array = NeuronArray(
            neurons=self._accumulator.neurons,
            timesteps=timesteps,
            precharge=precharge,
            threshold=threshold,
            input_width=input_width,
            membrane_width=membrane_width,
            gate=gate,
        )
        super().__init__(
            {
                "i": In(stream.Signature(spike_event_layout(self._accumulator.inputs))),
                "o": Out(stream.Signature(spiking_output_layout(self._accumulator.neurons))),
            }
        )

    @property
    def neurons(self) -> int:
        return self._accumulator.neurons

    @property
    def inputs(self) -> int:
        return self._accumulator.inputs

    @property
    def config(self) -> IntegerNeuronConfig:
        return self._array.config

    @property
    def accumulator(self) -> SynapticAccumulator:
        return self._accumulator

    def elaborate(self, platform):
        m = Module()
        m.submodules.accumulator = accumulator = self._accumulator
        m.submodules.array = array = self._array
        wiring.connect(m, wiring.flipped(self.i), accumulator.i)
        # The accumulator may be narrower than the PE input; the current is sign-extended.
        m.d.comb += [
            array.i.valid.eq(accumulator.o.valid),
            accumulator.o.ready.eq(array.i.ready),
        ]
        if self._array.config.input_width == self._accumulator.current_width:
            m.d.comb += array.i.p.eq(accumulator.o.p)
        else:
            for index in range(self.neurons):
                m.d.comb += array.i.p[index].eq(accumulator.o.p[index])
        wiring.connect(m, array.o, wiring.flipped(self.o))
        return m
