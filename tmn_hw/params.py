"""Checks of elaboration parameters shared by the processing elements.

Each check raises ``TypeError`` for a value of the wrong type and
``ValueError`` for a value out of range. Both messages name the parameter,
the value and the allowed range.
"""

from __future__ import annotations

import numbers

from golden.integer import signed_range

__all__ = [
    "MAX_INPUT_WIDTH", "MAX_MEMBRANE_WIDTH", "check_bool", "check_input_width", "check_int", "check_membrane_width",
]

# Widths the integer golden model computes in int64 without overflow.
MAX_INPUT_WIDTH = 64
MAX_MEMBRANE_WIDTH = 62


def check_int(name: str, value, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking that it is an integer in [minimum, maximum]."""
    allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer {allowed}, not {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{name} must be an integer {allowed}, not {value!r}")
    return int(value)


def check_bool(name: str, value) -> bool:
    """Return ``value`` after checking that it is ``True`` or ``False``."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {value!r}")
    return value


def check_input_width(input_width, threshold: int) -> int:
    """Return ``input_width`` after checking that the signed input current can hold ``threshold``."""
    input_width = check_int("input_width", input_width, 2, MAX_INPUT_WIDTH)
    if signed_range(input_width)[1] < threshold:
        raise ValueError(
            f"input_width must hold the threshold {threshold}, not {input_width}; "
            f"use input_width >= {threshold.bit_length() + 1}"
        )
    return input_width


def check_membrane_width(membrane_width, minimum: int, condition: str) -> int:
    """Return ``membrane_width`` after checking it against ``minimum`` (no saturation) and the 62-bit limit."""
    if minimum > MAX_MEMBRANE_WIDTH:
        raise ValueError(
            f"in-range inputs need a membrane of {minimum} bits {condition}, more than the largest supported "
            f"width {MAX_MEMBRANE_WIDTH}; lower these limits"
        )
    allowed = f"in [{minimum}, {MAX_MEMBRANE_WIDTH}] so that in-range inputs never saturate {condition}"
    if isinstance(membrane_width, bool) or not isinstance(membrane_width, numbers.Integral):
        raise TypeError(f"membrane_width must be an integer {allowed}, not {membrane_width!r}")
    if not minimum <= membrane_width <= MAX_MEMBRANE_WIDTH:
        raise ValueError(f"membrane_width must be {allowed}, not {membrane_width}")
    return int(membrane_width)
