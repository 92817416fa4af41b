"""Command line of the Verilog generator: ``python -m tmn_hw.gen {pe,if-pe,network} [options]``.

Each subcommand elaborates one component from its flags and writes its
Verilog with ``tmn_hw.verilog.write_verilog``; equal flags give
byte-identical files. ``python -m tmn_hw.gen SUBCOMMAND --help`` lists the
flags of a subcommand.
"""

from __future__ import annotations

import argparse
import logging
import re
import sys
from pathlib import Path

from tmn_hw.if_pe import IFProcessingElement, minimum_if_membrane_width
from tmn_hw.pe import MAX_PRECHARGE, MAX_TIMESTEPS, TMNProcessingElement, minimum_membrane_width
from tmn_hw.verilog import write_verilog

__all__ = ["build_parser", "main"]

logger = logging.getLogger("tmn_hw.gen")

DEFAULT_DIRECTORY = Path("build/verilog")

# A simple (unescaped) Verilog identifier.
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _check_name(parser: argparse.ArgumentParser, name: str) -> None:
    if not _IDENTIFIER.fullmatch(name):
        parser.error(
            f"--name must be a Verilog identifier (a letter or _, then letters, digits, _ or $), not {name!r}"
        )


def _check_range(parser: argparse.ArgumentParser, option: str, value: int, minimum: int, maximum: int | None) -> None:
    if value < minimum or (maximum is not None and value > maximum):
        allowed = f">= {minimum}" if maximum is None else f"in [{minimum}, {maximum}]"
        parser.error(f"{option} must be an integer {allowed}, not {value}")


def _check_common_flags(parser: argparse.ArgumentParser, args) -> None:
    """Reject flags the default membrane width cannot be computed from, and invalid module names."""
    _check_name(parser, args.name)
    _check_range(parser, "--threshold", args.threshold, 1, None)
    _check_range(parser, "--max-timesteps", args.max_timesteps, 1, MAX_TIMESTEPS)


def _add_common_flags(parser: argparse.ArgumentParser, name: str, threshold: int) -> None:
    parser.add_argument("--input-width", type=int, default=8, help="signed width of the input current z in bits (default: 8)")
    parser.add_argument(
        "--membrane-width",
        type=int,
        default=None,
        help="signed width of the membrane register in bits (default: the smallest width at which "
        "in-range inputs never saturate)",
    )
    parser.add_argument(
        "--threshold", type=int, default=threshold, help=f"threshold V, an integer >= 1 (default: {threshold})"
    )
    parser.add_argument(
        "--max-timesteps",
        type=int,
        default=8,
        help=f"largest number of input steps T per sample, 1..{MAX_TIMESTEPS} (default: 8)",
    )
    parser.add_argument("--name", default=name, help=f"Verilog module name, an identifier (default: {name})")
    parser.add_argument(
        "--out", type=Path, default=None, help=f"output Verilog file (default: {DEFAULT_DIRECTORY}/NAME.v)"
    )


def _write(parser: argparse.ArgumentParser, args, build) -> Path:
    try:
        component = build()
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    path = args.out or DEFAULT_DIRECTORY / f"{args.name}.v"
    write_verilog(component, args.name, path)
    print(path)
    return path


def _generate_pe(parser, args) -> Path:
    _check_common_flags(parser, args)
    _check_range(parser, "--max-precharge", args.max_precharge, 0, MAX_PRECHARGE)

    def build():
        width = args.membrane_width
        if width is None:
            width = minimum_membrane_width(args.max_timesteps, args.max_precharge, args.threshold)
        return TMNProcessingElement(
            input_width=args.input_width,
            membrane_width=width,
            threshold=args.threshold,
            max_timesteps=args.max_timesteps,
            max_precharge=args.max_precharge,
            gate=args.gate,
        )

    return _write(parser, args, build)


def _generate_if_pe(parser, args) -> Path:
    _check_common_flags(parser, args)

    def build():
        width = args.membrane_width
        if width is None:
            width = minimum_if_membrane_width(args.max_timesteps, args.threshold)
        return IFProcessingElement(
            input_width=args.input_width,
            membrane_width=width,
            threshold=args.threshold,
            max_timesteps=args.max_timesteps,
        )

    return _write(parser, args, build)


def add_pe_command(subparsers) -> None:
    """Add the ``pe`` subcommand: the TMN processing element."""
    parser = subparsers.add_parser(
        "pe",
        help="TMN processing element (tmn_hw.pe.TMNProcessingElement)",
        description="Write the Verilog of one TMN processing element. T and P are runtime inputs "
        "up to --max-timesteps and --max-precharge.",
    )
    _add_common_flags(parser, "tmn_pe", 64)
    parser.add_argument(
        "--max-precharge",
        type=int,
        default=4,
        help=f"largest number of pre-charge steps P, 0..{MAX_PRECHARGE} (default: 4)",
    )
    parser.add_argument(
        "--gate",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ReLU gate that silences a neuron whose first spike is negative (default: on)",
    )
    parser.set_defaults(generate=lambda args: _generate_pe(parser, args))


def add_if_pe_command(subparsers) -> None:
    """Add the ``if-pe`` subcommand: the rate-coding integrate-and-fire processing element."""
    parser = subparsers.add_parser(
        "if-pe",
        help="integrate-and-fire processing element (tmn_hw.if_pe.IFProcessingElement)",
        description="Write the Verilog of one rate-coding integrate-and-fire processing element. "
        "T is a runtime input up to --max-timesteps.",
    )
    _add_common_flags(parser, "if_pe", 64)
    parser.set_defaults(generate=lambda args: _generate_if_pe(parser, args))


def _generate_network(parser, args) -> Path:
    from golden.network_format import InvalidNetworkError, load_network
    from tmn_hw.network import NetworkTop, write_description

    _check_name(parser, args.name)
    try:
        network = load_network(args.network)
    except (FileNotFoundError, InvalidNetworkError) as error:
        # Both messages name the file.
        parser.error(str(error))
    try:
        top = NetworkTop.from_network(network)
    except (TypeError, ValueError) as error:
        parser.error(f"{args.network}: {error}")
    path = args.out / f"{args.name}.v"
    write_verilog(top, args.name, path)
    write_description(top, args.name, args.out / f"{args.name}.json", source=str(args.network))
    print(path)
    return path


def add_network_command(subparsers) -> None:
    """Add the ``network`` subcommand: a whole fully connected network with its weights embedded."""
    parser = subparsers.add_parser(
        "network",
        help="network top of an exported integer network (tmn_hw.network.NetworkTop)",
        description="Write the Verilog of a whole fully connected network, weights and biases embedded as "
        "memory initial values, and NAME.json describing its ports, T, P and layer sizes. The host "
        "computes the first layer's currents (golden.integer_network.input_currents).",
    )
    parser.add_argument(
        "--network", type=Path, required=True, help="integer network file written by python -m golden.export"
    )
    parser.add_argument(
        "--name", default="tmn_network", help="Verilog module name, an identifier (default: tmn_network)"
    )
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_DIRECTORY, help=f"output directory (default: {DEFAULT_DIRECTORY})"
    )
    parser.set_defaults(generate=lambda args: _generate_network(parser, args))


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with one subparser per generated design."""
    parser = argparse.ArgumentParser(
        prog="python -m tmn_hw.gen",
        description="Write deterministic Verilog of the tmn-hw designs (amaranth.back.verilog, no source locations).",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_pe_command(subparsers)
    add_if_pe_command(subparsers)
    add_network_command(subparsers)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    args.generate(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
