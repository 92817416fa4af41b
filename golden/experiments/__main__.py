"""Command line of the experiments: ``python -m golden.experiments NAME ... | all``, ``--list``."""

from __future__ import annotations

import argparse
import inspect
import pathlib
import sys

from golden.experiments import EXPERIMENTS, load


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m golden.experiments",
        description="Run experiments; each writes CSV, PNG and Markdown files into OUTPUT/<name>/.",
    )
    parser.add_argument("names", nargs="*", metavar="NAME", help="experiments to run, or 'all'")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument(
        "--output", type=pathlib.Path, default=pathlib.Path("results"), help="parent directory of the results, one subdirectory per experiment (default results)"
    )
    parser.add_argument("--quick", action="store_true", help="run a tiny size, for tests")
    parser.add_argument(
        "--dataset", choices=("fashion-mnist", "digits"),
        help="data set of the experiments on trained networks (default fashion-mnist); others reject it",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if arguments.list:
        for name in EXPERIMENTS:
            print(f"{name:24s} {load(name).DESCRIPTION}")
        return 0
    if not arguments.names:
        parser.error("name at least one experiment, or 'all'; --list shows them")
    names = list(EXPERIMENTS) if arguments.names == ["all"] else arguments.names
    unknown = [name for name in names if name not in EXPERIMENTS]
    if unknown:
        parser.error(f"unknown experiment {', '.join(unknown)}; choose from all, {', '.join(EXPERIMENTS)}")
    options = {} if arguments.dataset is None else {"dataset": arguments.dataset}
    for name in names:
        run = load(name).run
        if options and "dataset" not in inspect.signature(run).parameters:
            parser.error(f"experiment {name} takes no --dataset; it runs on generated inputs")
    for name in names:
        paths = load(name).run(arguments.output / name, quick=arguments.quick, **options)
        for path in paths:
            print(f"{name}: wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
