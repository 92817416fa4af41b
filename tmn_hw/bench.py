"""Benchmarks of the layer array and the network top: ``python -m tmn_hw.bench {layer,network,all}``.

``layer`` measures the cycles per input step of one layer array with no
idle input cycles and no backpressure: the bench counts the cycles from the
first input transfer to the last output transfer, and the constant is
``(cycles - events) / steps``. ``network`` runs the reference Fashion-MNIST
MLP on test images on Icarus Verilog and Verilator, checks every spike and
class against the golden model, and records the simulated cycles per image
and the simulator wall time. Results go to ``results/bench/`` as JSON and CSV.

The reference network is ``build/networks/fmnist_mlp_T5_P1.npz``; when it
is missing, the command trains the MLP with the experiments' recipe
(``golden.experiments._checkpoints``, ``python -m golden.train`` for 10 epochs) and
exports it with ``python -m golden.export`` (T = 5, P = 1) first.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

__all__ = ["REFERENCE_NETWORK", "bench_layer", "bench_network", "main", "reference_network"]

logger = logging.getLogger("tmn_hw.bench")

RESULTS = Path("results/bench")
REFERENCE_NETWORK = Path("build/networks/fmnist_mlp_T5_P1.npz")
REFERENCE_TIMESTEPS = 5
REFERENCE_PRECHARGE = 1


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def _write_csv(path: Path, rows: list[dict]) -> None:
    with tempfile.TemporaryFile("w+", newline="") as buffer:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        buffer.seek(0)
        _write_atomic(path, buffer.read())


def reference_network() -> Path:
    """Return the reference Fashion-MNIST network file, training and exporting it first if it is missing."""
    if REFERENCE_NETWORK.is_file():
        return REFERENCE_NETWORK
    from golden.experiments._checkpoints import ensure_checkpoint

    # The experiments' recipe (10 epochs, seed 0), so that both share one checkpoint file.
    checkpoint = ensure_checkpoint("fashion-mnist", "mlp")
    logger.info("exporting %s", REFERENCE_NETWORK)
    command = [sys.executable, "-m", "golden.export", str(checkpoint), "--no-evaluate"]
    command += ["--timesteps", str(REFERENCE_TIMESTEPS), "--precharge", str(REFERENCE_PRECHARGE)]
    subprocess.run([*command, "--out", str(REFERENCE_NETWORK)], check=True)
    return REFERENCE_NETWORK


def bench_layer(simulators, build_root: Path) -> list[dict]:
    """Return the cycles per input step of a 64-input, 32-neuron layer array at two spike densities and three P."""
    from sim.layer_bench import LayerCase, run_layer_bench

    rows = []
    for simulator in simulators:
        for density in (0.05, 0.3):
            for precharge in (0, 1, 3):
                case = LayerCase(
                    name=f"bench-d{density}-p{precharge}",
                    neurons=32,
                    inputs=64,
                    timesteps=5,
                    precharge=precharge,
                    threshold=64,
                    weight_max=8,
                    samples=40,
                    spike_density=density,
                    idle_probability=0.0,
                    stall_probability=0.0,
                )
                result = run_layer_bench(case, simulator, build_root)
                rows.append(
                    {
                        "simulator": simulator,
                        "spike_density": density,
                        "timesteps": case.timesteps,
                        "precharge": precharge,
                        "samples": result["samples"],
                        "steps": result["steps"],
                        "events": result["events"],
                        "cycles": result["cycles"],
                        "cycles_per_step_beyond_events": (result["cycles"] - result["events"]) / result["steps"],
                    }
                )
                logger.info("layer %s", rows[-1])
    return rows


def bench_network(simulators, images: int, build_root: Path, idle: float = 0.0, stall: float = 0.0) -> dict:
    """Return the network bench summary of the reference network (see ``sim.network_bench.bench_network_file``)."""
    from sim.network_bench import bench_network_file

    return bench_network_file(
        reference_network(),
        dataset="fashion-mnist",
        images=images,
        simulators=simulators,
        build_root=build_root,
        idle_probability=idle,
        stall_probability=stall,
    )


def _network_rows(summary: dict) -> list[dict]:
    rows = []
    for simulator, figures in summary["simulators"].items():
        rows.append(
            {
                "simulator": simulator,
                "images": summary["images"],
                "rtl_accuracy": figures["accuracy"],
                "golden_accuracy": summary["golden_accuracy"],
                "ann_accuracy": summary["ann_accuracy"],
                "cycles_per_image": figures["cycles_per_image"],
                "wall_seconds": figures["wall_seconds"],
            }
        )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m tmn_hw.bench",
        description="Benchmarks of the layer array and the network top; results in results/bench/.",
    )
    parser.add_argument("what", choices=("layer", "network", "all"), help="which benchmark to run")
    parser.add_argument("--images", type=int, default=200, help="Fashion-MNIST test images for the network (default 200)")
    parser.add_argument(
        "--simulators", nargs="+", default=["icarus", "verilator"], help="simulators (default: icarus verilator)"
    )
    parser.add_argument("--idle", type=float, default=0.0, help="network: chance of an idle input cycle (default 0)")
    parser.add_argument("--stall", type=float, default=0.0, help="network: chance of a stalled output cycle (default 0)")
    parser.add_argument("--results", type=Path, default=RESULTS, help=f"results directory (default: {RESULTS})")
    parser.add_argument("--build-dir", type=Path, default=Path("build/bench"), help="build directory root")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")

    if args.what in ("layer", "all"):
        rows = bench_layer(args.simulators, args.build_dir / "layer")
        _write_atomic(args.results / "layer.json", json.dumps(rows, indent=2) + "\n")
        _write_csv(args.results / "layer.csv", rows)
        print(f"wrote {args.results / 'layer.json'}")
    if args.what in ("network", "all"):
        summary = bench_network(args.simulators, args.images, args.build_dir / "network", args.idle, args.stall)
        _write_atomic(args.results / "network.json", json.dumps(summary, indent=2) + "\n")
        _write_csv(args.results / "network.csv", _network_rows(summary))
        print(json.dumps(summary, indent=2))
        print(f"wrote {args.results / 'network.json'}")


if __name__ == "__main__":
    main()
