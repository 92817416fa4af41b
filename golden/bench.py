"""Benchmark of the golden SNN simulation against the ANN forward pass: ``python -m golden.bench``.

For each reference architecture the benchmark converts a seeded, untrained
network (the cost of the dense operations does not depend on the weights)
with thresholds calibrated on the batch, then times on the same batch of
test images

- the ANN forward pass of the converted network (BatchNorm folded);
- the T-step TMN simulation (``SpikingNetwork.simulate``, with its operation
  counts), T + P neuron steps per layer, on the compiled neuron kernel of
  :mod:`golden.conversion.native` where a C compiler is present;
- the same simulation with the PyTorch neuron loop of
  :mod:`golden.conversion.dynamics` in place of the kernel, as where no C
  compiler is found;
- the same simulation with the neurons of :mod:`golden.neuron`, the
  readable reference, in place of the kernel;
- the T-step rate-coded (IF) simulation.

One child process times all cases in turn, ``--repeats`` rounds after a
warm-up round, so that every case sees about the same machine load. A
case's time is its median over the rounds, its ratio to the ANN the median
of the per-round ratios.
The figure of merit is ``snn_seconds / (T * ann_seconds)``: the cost of a
T-step simulation in ANN forward passes per step. For its peak memory
each case runs again in a fresh child process, after a warm-up run and
after returning freed heap memory to the system: the peak resident set size
during the run above the resident set size before it (Linux with glibc;
elsewhere the growth of ``resource.getrusage``'s maximum).

Results go to ``results/bench/golden_speed.json``.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import multiprocessing
import os
import pathlib
import platform
import resource
import statistics
import sys
import tempfile
import time
from unittest import mock

import torch

from golden.conversion import native
from golden.progress import progress_bar

__all__ = ["CASES", "TARGET_RATIO", "main", "measure"]

# A T-step TMN simulation should cost at most this many ANN forward passes per step.
TARGET_RATIO = 1.5
CASES = ("ann", "tmn", "tmn_pytorch_neurons", "tmn_reference_neurons", "rate")
DEFAULT_OUTPUT = pathlib.Path("results/bench/golden_speed.json")
SEED = 0


def _network(arch: str, dataset: str, batch: int, timesteps: int, precharge: int, coding: str):
    from golden.convert import convert
    from golden.data import load_dataset
    from golden.models import build_model

    torch.manual_seed(SEED)
    test = load_dataset(dataset, "test")
    x, _ = test.tensors(limit=batch)
    model = build_model(arch, test.input_shape, test.num_classes).eval()
    network = convert(model, [x], timesteps=timesteps, precharge=precharge, coding=coding)
    return network, x


def _run_case(case: str, network, x) -> None:
    if case == "ann":
        network.ann(x)
    elif case == "tmn_pytorch_neurons":
        with mock.patch("golden.conversion.native.available", lambda: False):
            network.simulate(x)
    elif case == "tmn_reference_neurons":
        from golden.neuron import TMN

        def reference(z, threshold, timesteps, precharge, *, predictive=True):
            return TMN(threshold, timesteps, precharge, predictive=predictive)(z)

        with mock.patch("golden.conversion.native.available", lambda: False), \
                mock.patch("golden.conversion.simulate.tmn_digits", reference):
            network.simulate(x)
    else:
        network.simulate(x)


def _resident_kib() -> tuple[int, int] | None:
    """Return the current and peak resident set size (KiB) from /proc/self/status, or None where it is missing."""
    try:
        status = pathlib.Path("/proc/self/status").read_text()
    except OSError:
        return None
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    if "VmRSS" not in fields or "VmHWM" not in fields:
        return None
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def _reset_peak() -> bool:
    """Return freed heap memory to the system and set the peak RSS to the current RSS; True if it worked (Linux)."""
    try:
        # Without the trim the run would reuse pages that earlier work freed but glibc kept, and its peak would hide.
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        pathlib.Path("/proc/self/clear_refs").write_text("5")
    except (OSError, AttributeError):
        return False
    resident = _resident_kib()
    # A kernel that ignores clear_refs leaves the old, higher peak: then only the ru_maxrss growth is left.
    return resident is not None and resident[1] - resident[0] <= 1024


def _memory_child(arch, dataset, batch, timesteps, precharge, case, threads, queue) -> None:
    """Build the network in this fresh process, run ``case`` after a warm-up run and put its peak RSS above the start
    on ``queue``.

    On Linux with glibc the peak is reset to the current RSS before the run,
    so the figure is the run's own. Elsewhere it is the growth of the
    process's maximum RSS, which stays 0 while the run peaks below the peak
    reached while building the network.
    """
    torch.set_num_threads(threads)
    network, x = _network(arch, dataset, batch, timesteps, precharge, "rate" if case == "rate" else "tmn")
    _run_case(case, network, x)  # a warm-up run builds the compiled kernel and PyTorch's one-time state
    if _reset_peak():
        method = "VmHWM after malloc_trim and clear_refs"
        before, _ = _resident_kib()
        _run_case(case, network, x)
        _, after = _resident_kib()
    else:
        method = "ru_maxrss growth"
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        _run_case(case, network, x)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    queue.put({"peak_memory_kib": after - before, "baseline_kib": before, "method": method})


def _timing_child(arch, dataset, batch, timesteps, precharge, repeats, threads, queue) -> None:
    """Time every case in turn, ``repeats`` rounds after a warm-up, so that all see the same machine load."""
    torch.set_num_threads(threads)
    networks = {coding: _network(arch, dataset, batch, timesteps, precharge, coding) for coding in ("tmn", "rate")}
    times: dict[str, list[float]] = {case: [] for case in CASES}
    with torch.no_grad():
        for round_index in range(repeats + 1):
            for case in CASES:
                network, x = networks["rate" if case == "rate" else "tmn"]
                start = time.perf_counter()
                _run_case(case, network, x)
                if round_index > 0:
                    times[case].append(time.perf_counter() - start)
    queue.put(times)


def _in_child(target, *arguments) -> dict:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*arguments, queue))
    process.start()
    # The result is a few numbers, small enough for the queue's buffer, so joining first cannot deadlock.
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"benchmark child for {arguments} failed with exit code {process.exitcode}")
    return queue.get(timeout=60)


def measure(
    arch: str, dataset: str, batch: int, timesteps: int, precharge: int, repeats: int, threads: int,
    target: float = TARGET_RATIO,
) -> dict:
    """Return the times (seconds), ratios and peak memory (MiB) of every case for one architecture.

    ``meets_target`` is True when the TMN simulation costs at most ``target`` ANN passes per step.
    """
    common = (arch, dataset, batch, timesteps, precharge)
    results = {}
    with progress_bar(total=len(CASES) + 1, desc=f"bench {arch}", unit="process", leave=False) as bar:
        times = _in_child(_timing_child, *common, repeats, threads)
        bar.update()
        for case in CASES:
            memory = _in_child(_memory_child, *common, case, threads)
            results[case] = {
                "seconds": statistics.median(times[case]),
                "rounds_seconds": times[case],
                "peak_memory_mib": memory["peak_memory_kib"] / 1024,
                "baseline_rss_mib": memory["baseline_kib"] / 1024,
                "peak_memory_method": memory["method"],
            }
            bar.update()
    for case in CASES[1:]:
        # Each round's ratio compares two runs a moment apart, so both saw about the same machine load.
        ratios = [spent / (timesteps * ann) for spent, ann in zip(times[case], times["ann"])]
        results[case]["ann_passes_per_step"] = statistics.median(ratios)
    tmn_ratio = results["tmn"]["ann_passes_per_step"]
    return {
        "arch": arch,
        "dataset": dataset,
        "batch": batch,
        "timesteps": timesteps,
        "precharge": precharge,
        "cases": results,
        "tmn_ann_passes_per_step": tmn_ratio,
        "pytorch_neurons_speedup": results["tmn_pytorch_neurons"]["seconds"] / results["tmn"]["seconds"],
        "reference_speedup": results["tmn_reference_neurons"]["seconds"] / results["tmn"]["seconds"],
        "target_ann_passes_per_step": target,
        "meets_target": tmn_ratio <= target,
    }


def _write_json(path: pathlib.Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(payload, stream, indent=2)
            stream.write("\n")
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m golden.bench", description=__doc__.splitlines()[0])
    parser.add_argument("--arch", nargs="+", default=["cnn", "mlp"], choices=["cnn", "mlp"],
                        help="reference architectures (default cnn mlp)")
    parser.add_argument("--dataset", default="fashion-mnist", choices=["fashion-mnist", "digits"],
                        help="data set of the input batch (default fashion-mnist)")
    parser.add_argument("--batch", type=int, default=100, help="images per batch (default 100)")
    parser.add_argument("--timesteps", "-T", type=int, default=6, help="input steps T (default 6)")
    parser.add_argument("--precharge", "-P", type=int, default=1, help="TMN pre-charge steps P (default 1)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds of all cases; medians count (default 7)")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    parser.add_argument("--target", type=float, default=TARGET_RATIO,
                        help=f"largest TMN cost in ANN passes per step; exit status 1 above it (default {TARGET_RATIO})")
    parser.add_argument("--output", type=pathlib.Path, default=DEFAULT_OUTPUT,
                        help=f"JSON file to write (default {DEFAULT_OUTPUT})")
    arguments = parser.parse_args(argv)
    for name in ("batch", "timesteps", "repeats", "threads"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name} must be >= 1, not {getattr(arguments, name)}")
    if not arguments.target > 0:
        parser.error(f"--target must be > 0 ANN passes per step, not {arguments.target}")
    if arguments.precharge < 0:
        parser.error(f"--precharge must be >= 0, not {arguments.precharge}")

    runs = [
        measure(arch, arguments.dataset, arguments.batch, arguments.timesteps, arguments.precharge,
                arguments.repeats, arguments.threads, arguments.target)
        for arch in arguments.arch
    ]
    payload = {
        "benchmark": "golden SNN simulation against the ANN forward pass",
        "command": "python -m golden.bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": {
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": arguments.threads,
            "python": platform.python_version(),
            "torch": torch.__version__,
            "load_average_1min": os.getloadavg()[0],
            "neuron_kernel": "compiled" if native.available() else "pytorch",
        },
        "runs": runs,
    }
    _write_json(arguments.output, payload)
    for run in runs:
        cases = run["cases"]
        print(f"{run['arch']}: batch {run['batch']}, T = {run['timesteps']}, P = {run['precharge']}: "
              f"ANN {cases['ann']['seconds'] * 1e3:.1f} ms, TMN {cases['tmn']['seconds'] * 1e3:.1f} ms "
              f"= {run['tmn_ann_passes_per_step']:.2f} x T ANN passes "
              f"(target <= {run['target_ann_passes_per_step']}), "
              f"PyTorch neurons {cases['tmn_pytorch_neurons']['ann_passes_per_step']:.2f} x T, "
              f"reference neurons {cases['tmn_reference_neurons']['ann_passes_per_step']:.2f} x T, "
              f"rate {cases['rate']['ann_passes_per_step']:.2f} x T; "
              f"peak memory ANN {cases['ann']['peak_memory_mib']:.0f} MiB, TMN {cases['tmn']['peak_memory_mib']:.0f} MiB")
    print(f"wrote {arguments.output}")
    missed = [run["arch"] for run in runs if not run["meets_target"]]
    if missed:
        print(f"golden.bench: the TMN simulation of {', '.join(missed)} costs more than {arguments.target} ANN "
              "passes per step; see the JSON file for every round", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
