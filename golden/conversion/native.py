"""The compiled TMN layer kernel (``tmn_layer.c``): built on first use with the system C compiler, run through ctypes.

A converted CNN's simulation spends most of its time outside the
convolutions in the neuron loop: :mod:`golden.conversion.dynamics` makes
about nine passes of PyTorch element-wise operations per neuron and step,
and counting the spikes reads the digits twice more. ``tmn_layer.c`` does
the same float32 arithmetic in one pass per step and counts the spikes as it
writes them.

The library is compiled once per source, compiler command and processor
into the cache directory: ``$TMN_HW_CACHE``, else ``$XDG_CACHE_HOME/tmn-hw``, else
``~/.cache/tmn-hw``. It is written under a temporary name and renamed, so
the file appears whole or not at all. Where no C compiler works (``$CC``,
else ``cc``), :func:`available` returns False, one warning names the
compiler error, and the simulation falls back to
:mod:`golden.conversion.dynamics`, which computes the same digits more
slowly.
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import functools
import hashlib
import os
import pathlib
import platform
import shlex
import subprocess
import tempfile
import warnings

import numpy as np
import torch

from golden.conversion.dynamics import check_layer, reset_and_fire_level

__all__ = ["SpikeCounts", "available", "library_path", "tmn_layer"]

SOURCE = pathlib.Path(__file__).with_name("tmn_layer.c")
# No -ffast-math and no contraction into fused multiply-adds, so every operation rounds as in PyTorch.
# -fno-trapping-math changes no result. It only lets the compiler vectorise the comparisons.
FLAGS = ("-O3", "-std=c11", "-shared", "-fPIC", "-ffp-contract=off", "-fno-trapping-math")
# Wider vectors: in one measurement (250 k neurons, 6 steps, one thread, AVX-512 Xeon, GCC 12) the kernel ran 4.3
# times faster with them. The library is built on and for the machine that runs it. A compiler that rejects the
# option builds without it.
NATIVE_FLAGS = ("-march=native",)
# Neurons per thread below which a layer runs on one thread. An estimate of where the dispatch to a thread pool
# costs more than it saves, not a measurement.
MIN_NEURONS_PER_THREAD = 1 << 14
# Seconds the compiler may take; it needs well under one.
COMPILE_TIMEOUT = 300


class CompilerError(RuntimeError):
    """The C compiler could not start, failed or timed out."""


@dataclasses.dataclass(frozen=True)
class SpikeCounts:
    """Positive and negative output digits of one layer, per output step, summed over its neurons."""

    positive: np.ndarray
    negative: np.ndarray


def _compiler() -> list[str]:
    return shlex.split(os.environ.get("CC") or "cc")


def _cache_directory() -> pathlib.Path:
    if "TMN_HW_CACHE" in os.environ:
        return pathlib.Path(os.environ["TMN_HW_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or pathlib.Path.home() / ".cache"
    return pathlib.Path(base) / "tmn-hw"


def _processor() -> str:
    """Return what identifies the instruction set -march=native compiles for: the CPU's flags where Linux lists them."""
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.machine() + " " + platform.processor()


def library_path() -> pathlib.Path:
    """Return where the compiled kernel for this source, compiler, flags and processor lives."""
    key = hashlib.sha256()
    flags = _compiler() + list(FLAGS + NATIVE_FLAGS)
    for part in (SOURCE.read_bytes(), " ".join(flags).encode(), _processor().encode()):
        key.update(part)
        key.update(b"\0")
    return _cache_directory() / f"tmn_layer-{key.hexdigest()[:16]}.so"


def _build(path: pathlib.Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        for flags in (FLAGS + NATIVE_FLAGS, FLAGS):
            command = _compiler() + list(flags) + ["-o", temporary, str(SOURCE)]
            try:
                result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=COMPILE_TIMEOUT)
            except OSError as error:
                raise CompilerError(f"{shlex.join(command)} could not start: {error}") from error
            except subprocess.TimeoutExpired as error:
                raise CompilerError(f"{shlex.join(command)} timed out after {COMPILE_TIMEOUT} s") from error
            if result.returncode == 0:
                os.replace(temporary, path)
                return
        raise CompilerError(f"{shlex.join(command)} failed with exit status {result.returncode}: "
                            f"{result.stderr.strip()}")
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


@functools.cache
def _library() -> ctypes.CDLL | None:
    path = library_path()
    try:
        if not path.exists():
            _build(path)
        library = ctypes.CDLL(str(path))
    except CompilerError as error:
        _warn_unavailable(error, "Install a C compiler (Debian: apt-get install gcc) or name one in $CC to get it.")
        return None
    except OSError as error:
        _warn_unavailable(error, f"Set $TMN_HW_CACHE to a writable directory that allows executables, in place of "
                                 f"{path.parent}, to get it.")
        return None
    function = library.tmn_layer
    pointer, int64, int32, single = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32, ctypes.c_float
    function.argtypes = [pointer, int64, pointer, int64, int64, int32, int32, single, single, int32, int32, single,
                         pointer, pointer]
    function.restype = None
    return library


def _warn_unavailable(error: Exception, advice: str) -> None:
    warnings.warn(
        f"the compiled TMN kernel is unavailable ({error}). The simulation runs the slower PyTorch neuron loop of "
        f"golden.conversion.dynamics instead. {advice}",
        RuntimeWarning,
        stacklevel=4,
    )


def available() -> bool:
    """Return True when the compiled kernel is built (building it now if needed) and loads."""
    return _library() is not None


@functools.cache
def _pool(process: int, threads: int) -> concurrent.futures.ThreadPoolExecutor:
    # Keyed by process id too: a forked child inherits the cached pool but not its threads.
    return concurrent.futures.ThreadPoolExecutor(max_workers=threads, thread_name_prefix="tmn-layer")


def tmn_layer(
    z: torch.Tensor, threshold: float, timesteps: int, precharge: int, *, predictive: bool = True,
    gate: bool = True, step_invariant: bool = False,
) -> tuple[torch.Tensor, SpikeCounts]:
    """Return ``threshold`` times the output digits ``[T, ...]`` of TMN neurons, and their spike counts.

    ``z`` contains float32 input currents ``[T, ...]``, or with
    ``step_invariant`` one step ``[...]`` that drives every step. The
    digits equal those of ``golden.neuron.TMN(threshold, timesteps,
    precharge, predictive=predictive, gate=gate)`` bit for bit. The work is
    split over ``torch.get_num_threads()`` threads; ctypes releases the GIL
    during each call.
    """
    library = _library()
    if library is None:
        raise RuntimeError("the compiled TMN kernel is unavailable; check golden.conversion.native.available() first")
    if z.dtype != torch.float32 or z.device.type != "cpu":
        raise TypeError(f"the compiled TMN kernel takes float32 currents on the CPU, not {z.dtype} on {z.device}; "
                        "convert with z.float().cpu()")
    check_layer(z.unsqueeze(0).expand((timesteps,) + tuple(z.shape)) if step_invariant else z, threshold, timesteps,
                precharge)
    z = z.contiguous()
    step_shape = tuple(z.shape) if step_invariant else tuple(z.shape[1:])
    neurons = int(np.prod(step_shape, dtype=np.int64))
    out = torch.empty((timesteps,) + step_shape, dtype=torch.float32)
    reset, fire_level = reset_and_fire_level(threshold, precharge, predictive)
    threads = max(1, min(torch.get_num_threads(), neurons // MIN_NEURONS_PER_THREAD))
    bounds = np.linspace(0, neurons, threads + 1).astype(np.int64)
    counts = np.zeros((threads, 2, timesteps), dtype=np.int64)
    z_stride = 0 if step_invariant else neurons

    def run(part: int) -> None:
        begin, end = int(bounds[part]), int(bounds[part + 1])
        library.tmn_layer(
            z.data_ptr() + 4 * begin, z_stride, out.data_ptr() + 4 * begin, neurons, end - begin, timesteps,
            precharge, reset, fire_level, int(predictive), int(gate), float(threshold),
            counts[part, 0].ctypes.data, counts[part, 1].ctypes.data,
        )

    if threads == 1:
        run(0)
    else:
        list(_pool(os.getpid(), threads).map(run, range(threads)))
    totals = counts.sum(0)
    return out, SpikeCounts(totals[0], totals[1])
