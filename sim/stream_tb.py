"""Cycle-level stream drivers, monitors and an in-order scoreboard for cocotb benches.

Every cycle the bench sets its inputs at the falling clock edge and samples
at the read-only phase that follows, when the combinational logic has
settled: a payload moves when ``valid`` and ``ready`` are both high then, and
the design takes it at the next rising edge. This is the same on Icarus
Verilog and Verilator. Port names follow Amaranth's Verilog backend:
stream ``o`` becomes ``o__valid``, ``o__ready`` and ``o__payload``.
"""

from __future__ import annotations

import collections
import logging
import random

from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, ReadOnly, RisingEdge

__all__ = ["CycleBench", "Scoreboard", "StreamSink", "StreamSource"]


class StreamSource:
    """Drives a stream input with queued payloads, with random idle cycles between transfers.

    ``idle_probability`` is the chance that the source inserts an idle cycle
    before presenting its next payload; once ``valid`` is high it stays high
    with the payload stable until the transfer, as the stream rules require.
    """

    def __init__(self, dut, name: str, rng: random.Random, idle_probability: float = 0.0):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.name = name
        self.queue: collections.deque[int] = collections.deque()
        self._rng = rng
        self._idle_probability = idle_probability
        self._presenting = False
        self.transfers = 0
        self.valid.value = 0

    def drive(self) -> None:
        if not self._presenting and self.queue and self._rng.random() >= self._idle_probability:
            self._presenting = True
            self.payload.value = self.queue[0]
        self.valid.value = int(self._presenting)

    def sample(self) -> int | None:
        """Return the payload that moves in this cycle, or None."""
        if self._presenting and int(self.ready.value):
            self._presenting = False
            self.transfers += 1
            return self.queue.popleft()
        return None

    @property
    def idle(self) -> bool:
        return not self.queue and not self._presenting


class StreamSink:
    """Accepts a stream output, with ``ready`` low at random with ``stall_probability``."""

    def __init__(self, dut, name: str, rng: random.Random, stall_probability: float = 0.0):
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready", None)
        self.payload = getattr(dut, f"{name}__payload")
        self.name = name
        self._rng = rng
        self._stall_probability = stall_probability
        self._ready = False
        if self.ready is not None:
            self.ready.value = 0

    def drive(self) -> None:
        self._ready = self._rng.random() >= self._stall_probability
        if self.ready is not None:
            self.ready.value = int(self._ready)

    def sample(self) -> int | None:
        """Return the payload that moves in this cycle, or None."""
        ready = self._ready if self.ready is not None else True
        if int(self.valid.value) and ready:
            return int(self.payload.value.to_unsigned())
        return None


class Scoreboard:
    """In-order comparison of observed transfers against expected ones, one queue per stream.

    Each mismatch is logged with the cycle, the stream, the item number and
    both values; :meth:`check` asserts that nothing mismatched and that every
    queue is empty.
    """

    def __init__(self, log: logging.Logger, describe=None):
        self.expected: dict[str, collections.deque] = collections.defaultdict(collections.deque)
        self.received: dict[str, int] = collections.defaultdict(int)
        self.mismatches = 0
        self.unexpected = 0
        self._log = log
        self._describe = describe or (lambda name, value: repr(value))

    def expect(self, name: str, value) -> None:
        self.expected[name].append(value)

    def compare(self, name: str, cycle: int, value) -> None:
        item = self.received[name]
        self.received[name] += 1
        if not self.expected[name]:
            self.unexpected += 1
            self._log.error("cycle %d: %s item %d unexpected: %s", cycle, name, item, self._describe(name, value))
            return
        wanted = self.expected[name].popleft()
        if value != wanted:
            self.mismatches += 1
            self._log.error(
                "cycle %d: %s item %d mismatch: got %s, expected %s",
                cycle,
                name,
                item,
                self._describe(name, value),
                self._describe(name, wanted),
            )

    @property
    def pending(self) -> int:
        return sum(len(queue) for queue in self.expected.values())

    def check(self) -> None:
        left = {name: len(queue) for name, queue in self.expected.items() if queue}
        assert self.mismatches == 0, f"{self.mismatches} mismatches, see the log"
        assert self.unexpected == 0, f"{self.unexpected} unexpected transfers, see the log"
        assert not left, f"expected transfers never seen: {left}"


class CycleBench:
    """Clock, reset and the per-cycle loop over sources and sinks."""

    def __init__(self, dut, period_ns: int = 10):
        self.dut = dut
        self.cycle = 0
        self._period_ns = period_ns

    async def start(self, reset_cycles: int = 2) -> None:
        Clock(self.dut.clk, self._period_ns, unit="ns").start()
        self.dut.rst.value = 1
        for _ in range(reset_cycles):
            await RisingEdge(self.dut.clk)
        await FallingEdge(self.dut.clk)
        self.dut.rst.value = 0

    async def run(self, sources, sinks, on_transfer, finished, max_cycles: int) -> None:
        """Run cycles until ``finished()`` or ``max_cycles``; call ``on_transfer(name, cycle, payload)``."""
        while not finished():
            if self.cycle >= max_cycles:
                raise AssertionError(f"timed out after {max_cycles} cycles")
            await FallingEdge(self.dut.clk)
            for port in (*sources, *sinks):
                port.drive()
            await ReadOnly()
            for source in sources:
                payload = source.sample()
                if payload is not None:
                    on_transfer(source.name, self.cycle, payload)
            for sink in sinks:
                payload = sink.sample()
                if payload is not None:
                    on_transfer(sink.name, self.cycle, payload)
            self.cycle += 1
