"""Mutants of the golden model modules, to prove that the golden tests can fail.

A mutant is a fresh copy of a module whose source has one deliberate defect
(for example firing at the full threshold instead of half of it). The golden
tests run their checks on each mutant and require the check to fail. Every
replaced text must occur exactly once in the current source, so a mutant that
no longer matches the code raises instead of silently testing the original.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import types

import pytest

# A check fails with AssertionError, or with pytest's Failed when a
# pytest.raises block gets no exception.
CHECK_FAILURES = (AssertionError, pytest.fail.Exception)


@dataclasses.dataclass(frozen=True)
class Mutant:
    """A named defect: each (original, replacement) pair is applied to the module source once."""

    name: str
    replacements: tuple[tuple[str, str], ...]


def build_mutant(module: types.ModuleType, mutant: Mutant) -> types.ModuleType:
    """Return a new module made from ``module``'s source with ``mutant``'s replacements applied."""
    source = inspect.getsource(module)
    for original, replacement in mutant.replacements:
        count = source.count(original)
        if count != 1:
            raise LookupError(
                f"mutant {mutant.name!r}: {original!r} occurs {count} times in {module.__name__}, "
                f"expected exactly once; update the mutant to the current source"
            )
        source = source.replace(original, replacement)
    name = f"{module.__name__}__mutant_{mutant.name.replace('-', '_')}"
    copy = types.ModuleType(name)
    copy.__file__ = module.__file__
    # dataclasses look classes' modules up in sys.modules while they build them.
    sys.modules[name] = copy
    exec(compile(source, f"<{mutant.name} mutant of {module.__file__}>", "exec"), copy.__dict__)
    return copy


def assert_check_fails(check, module: types.ModuleType, mutant: Mutant) -> None:
    """Assert that ``check(mutant_module)`` fails, naming the check and the mutant otherwise."""
    broken = build_mutant(module, mutant)
    try:
        check(broken)
    except CHECK_FAILURES:
        return
    raise AssertionError(f"{check.__name__} passed on the {mutant.name!r} mutant of {module.__name__}")
