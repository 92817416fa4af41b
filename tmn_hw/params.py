"""Checks of elaboration parameters shared by the processing elements.

Each check raises ``TypeError`` for a value of the wrong type and
``ValueError`` for a value out of range. Both messages name the parameter,
the value and the allowed range.
"""

from __future__ import annotations

import numbers

__all__ = ["check_bool", "check_int"]


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
