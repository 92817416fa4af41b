"""Packing of layer-array stream payloads into the integers a cocotb bench drives and reads.

Amaranth flattens a payload layout into one vector, first field in the
least significant bits. A spike event is ``index | negative << w | end << (w + 1)``
with ``w`` index bits; a spike digit is two bits, ``+1 = 0b01``, ``-1 = 0b11``;
a vector of N values puts value ``j`` at bits ``j * width``.
"""

from __future__ import annotations

from amaranth.utils import ceil_log2

__all__ = [
    "decode_signed_vector",
    "decode_spike_output",
    "decode_spike_vector",
    "describe_spike_output",
    "encode_event",
    "encode_marker",
    "encode_signed_vector",
    "event_index_width",
]


def event_index_width(inputs: int) -> int:
    """Return the index width of the events of a layer with ``inputs`` inputs."""
    return max(1, ceil_log2(inputs))


def encode_event(index: int, negative: bool, index_width: int) -> int:
    """Return the payload of a spike event of input ``index`` (``-1`` if ``negative``)."""
    return index | (int(bool(negative)) << index_width)


def encode_marker(index_width: int) -> int:
    """Return the payload of an end-of-step marker."""
    return 1 << (index_width + 1)


def decode_spike_vector(bits: int, neurons: int) -> tuple[int, ...]:
    """Return the digits in {-1, 0, +1} of a packed spike vector of ``neurons`` 2-bit digits."""
    digits = []
    for index in range(neurons):
        digit = (bits >> (2 * index)) & 3
        digits.append(digit - 4 if digit & 2 else digit)
    return tuple(digits)


def decode_spike_output(bits: int, neurons: int) -> tuple[tuple[int, ...], bool]:
    """Return ``(digits, overflow)`` of a packed layer output transfer."""
    return decode_spike_vector(bits, neurons), bool((bits >> (2 * neurons)) & 1)


def encode_signed_vector(values, width: int) -> int:
    """Return the packed vector of signed ``values`` of ``width`` bits each."""
    mask = (1 << width) - 1
    packed = 0
    for index, value in enumerate(values):
        packed |= (int(value) & mask) << (index * width)
    return packed


def decode_signed_vector(bits: int, count: int, width: int) -> tuple[int, ...]:
    """Return ``count`` signed values of ``width`` bits unpacked from ``bits``."""
    mask = (1 << width) - 1
    values = []
    for index in range(count):
        value = (bits >> (index * width)) & mask
        values.append(value - (1 << width) if value >> (width - 1) else value)
    return tuple(values)


def describe_spike_output(name: str, value: tuple[tuple[int, ...], bool]) -> str:
    """Return a decoded layer output as text for a log: digits as ``+``, ``0``, ``-``, then the overflow flag."""
    digits, overflow = value
    text = "".join("+" if digit > 0 else "-" if digit < 0 else "0" for digit in digits)
    return f"{text} overflow={int(overflow)}"
