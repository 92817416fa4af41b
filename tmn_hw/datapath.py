"""Datapath pieces shared by the processing elements: saturation without comparators, port range checks."""

from __future__ import annotations

from amaranth import C, Cat, Mux

__all__ = ["at_most", "saturate"]


def saturate(value, width: int):
    """Return ``(clamped, overflow)``: ``value`` clamped to the signed range of ``width`` bits.

    The value fits when its bits from ``width - 1`` up are all equal, so the
    check needs no comparator. The clamped value is built from the sign bit.
    """
    high_bits = value[width - 1 :]
    fits = high_bits.all() | ~high_bits.any()
    sign = value[-1]
    limit = Cat((~sign).replicate(width - 1), sign).as_signed()
    return Mux(fits, value[:width].as_signed(), limit), ~fits


def at_most(port, maximum: int):
    """Return ``port <= maximum``, or a constant 1 when every value of the port passes (no constant comparison)."""
    if maximum >= (1 << len(port)) - 1:
        return C(1, 1)
    return port <= maximum
