"""Run the whole tmn-hw flow on Fashion-MNIST, from training to verified RTL, in one command.

``python -m tmn_hw.demo`` (or ``make demo``) runs, each step a command a user
could type, printed before it runs:

1. train a fully connected network (MLP) on Fashion-MNIST, or reuse the
   cached checkpoint;
2. convert it to a TMN spiking network and print ANN against SNN accuracy;
3. export the integer network the hardware runs, with its golden accuracy;
4. generate the network's Verilog, weights embedded;
5. run test images through the RTL on Verilator and check every spike and
   every prediction against the golden integer model;
6. print the resource and energy report;

and ends with a summary. ``--quick`` (``make demo QUICK=1``) trains for one
epoch and checks 10 images on Icarus Verilog, for a run of a few minutes.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path

from golden.network_format import MAX_PRECHARGE, MAX_TIMESTEPS, timing_error

__all__ = ["main"]

# The hardware network top supports fully connected networks, so the demo trains the MLP.
ARCHITECTURE = "mlp"
DATASET = "fashion-mnist"


def _run(command: list[str], *, capture: bool = False) -> str:
    """Run one step of the demo, echoing it, and return its standard output if ``capture``."""
    print(f"\n$ {shlex.join(command)}", flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE if capture else None, text=True)
    if result.returncode != 0:
        raise SystemExit(f"demo: step failed with exit code {result.returncode}: {shlex.join(command)}")
    return result.stdout if capture else ""


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tmn_hw.demo",
        description="Train, convert, export, generate and verify a TMN network on Fashion-MNIST.",
    )
    parser.add_argument("--quick", action="store_true", help="one training epoch, fewer images: a few minutes")
    parser.add_argument("--timesteps", "-T", type=int, default=5,
                        help=f"input steps T, 1..{MAX_TIMESTEPS} (default 5)")
    parser.add_argument("--precharge", "-P", type=int, default=1,
                        help=f"pre-charge steps P, 0..{MAX_PRECHARGE} (default 1)")
    parser.add_argument("--images", type=int, help="test images run through the RTL (default 200, 10 with --quick)")
    parser.add_argument("--simulator", choices=("verilator", "icarus"),
                        help="RTL simulator (default verilator; icarus with --quick, which skips the "
                        "minutes-long Verilator build of the network)")
    parser.add_argument("--work", default="build/demo", help="directory for every file the demo writes")
    args = parser.parse_args(argv)
    # The export step writes a network file, which stores T in [1, 30] and P in [0, 30].
    message = timing_error(args.timesteps, args.precharge)
    if message is not None:
        parser.error(message)
    if args.images is not None and args.images < 1:
        parser.error(f"--images must be >= 1, not {args.images}")
    return args


def main(argv=None) -> None:
    args = _parse_args(argv)
    python = sys.executable
    work = Path(args.work) / ("quick" if args.quick else "full")
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / f"fmnist_{ARCHITECTURE}.pt"
    network = work / f"fmnist_{ARCHITECTURE}_T{args.timesteps}_P{args.precharge}.npz"
    verilog_dir = work / "verilog"
    images = args.images or (10 if args.quick else 200)
    simulator = args.simulator or ("icarus" if args.quick else "verilator")
    # Evaluation subsets keep the quick run short; the full run uses the whole test set.
    limit = ["--limit", "1000"] if args.quick else []
    steps = {"T": str(args.timesteps), "P": str(args.precharge)}
    started = time.perf_counter()

    print("== 1/6 train an MLP on Fashion-MNIST (reused when cached)", flush=True)
    if checkpoint.exists():
        print(f"reusing {checkpoint}; delete it to train again")
    else:
        epochs = "1" if args.quick else "6"
        _run([python, "-m", "golden.train", "--dataset", DATASET, "--arch", ARCHITECTURE,
              "--epochs", epochs, "--out", str(checkpoint)])

    print("\n== 2/6 convert to a TMN spiking network and compare with the ANN", flush=True)
    conversion = json.loads(_run(
        [python, "-m", "golden.convert", str(checkpoint), "--dataset", DATASET,
         "--timesteps", steps["T"], "--precharge", steps["P"], "--json", *limit],
        capture=True,
    ))
    print(f"ANN accuracy {conversion['ann_accuracy']:.2f}%, "
          f"TMN SNN accuracy {conversion['snn_accuracy']:.2f}%")

    print("\n== 3/6 export the integer network the hardware runs", flush=True)
    export = json.loads(_run(
        [python, "-m", "golden.export", str(checkpoint), "--timesteps", steps["T"],
         "--precharge", steps["P"], "--out", str(network), "--json", *limit],
        capture=True,
    ))
    print(f"integer network accuracy {export['integer_accuracy']:.2f}% "
          f"(float SNN {export['float_snn_accuracy']:.2f}%)")

    print("\n== 4/6 generate the network's Verilog", flush=True)
    _run([python, "-m", "tmn_hw.gen", "network", "--network", str(network), "--out", str(verilog_dir)])

    print(f"\n== 5/6 run {images} test images through the RTL on {simulator}", flush=True)
    bench_file = work / "rtl.json"
    _run([python, "-m", "sim.network_bench", str(network), "--images", str(images),
          "--simulators", simulator, "--build-dir", str(work / "sim"), "--out", str(bench_file)])
    bench = json.loads(bench_file.read_text())

    print("\n== 6/6 resource and energy report", flush=True)
    report = [python, "-m", "tmn_hw.report", "--checkpoint", str(checkpoint), "--dataset", DATASET,
              "--timesteps", steps["T"], "--precharge", steps["P"], "--plot", str(work / "report")]
    if args.quick:
        report += ["--quick", "--designs", "tmn_pe", "if_pe", "--limit", "1000"]
    _run(report)

    _print_summary(args, conversion, export, bench, time.perf_counter() - started)


def _print_summary(args, conversion: dict, export: dict, bench: dict, seconds: float) -> None:
    print("\n== summary")
    print(f"network            Fashion-MNIST {ARCHITECTURE.upper()}, T = {args.timesteps}, P = {args.precharge}")
    images = "the whole test set" if conversion["images"] >= 10000 else f"the first {conversion['images']} test images"
    print(f"evaluated on       {images}")
    print(f"ANN accuracy       {conversion['ann_accuracy']:.2f}%")
    print(f"TMN SNN accuracy   {conversion['snn_accuracy']:.2f}% "
          f"(conversion loss {conversion['conversion_loss_pp']:+.2f} points)")
    print(f"integer network    {export['integer_accuracy']:.2f}%")
    for simulator, run in bench["simulators"].items():
        print(f"RTL on {simulator:<11} {bench['images']} images, {run['mismatches']} mismatches, "
              f"accuracy {run['accuracy']:.2f}% (golden integer model {bench['golden_accuracy']:.2f}%), "
              f"{run['cycles_per_image']:.0f} cycles per image")
    print(f"total time         {seconds / 60:.1f} min")


if __name__ == "__main__":
    main()
