"""``python -m tmn_hw.report``: resources, Fmax and energy of the TMN hardware, in one report.

Two sections:

- resources: LUT4, carry, flip-flop and RAM cells, packed logic cells and
  Fmax of the TMN PE, the IF PE and a layer array on an iCE40, over a sweep
  of membrane widths. Yosys and nextpnr-ice40 produce them, and every figure
  is labelled with the tool, its version and its flags;
- energy: spikes, synaptic accumulates and MACs per image of a converted
  network, and its energy for the ANN, the TMN SNN and the rate-coded SNN,
  by the 45 nm convention and as a fixed-point estimate.

Output: a terminal table (default), ``--markdown``, or ``--json`` (schema in
docs/report.md, versioned by ``schema_version``); ``--plot DIR`` adds PNG charts.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
from pathlib import Path

__all__ = ["SCHEMA_VERSION", "build_report", "main"]

# Version of the --json layout documented in docs/report.md; raise it on any incompatible change.
SCHEMA_VERSION = 1

SECTIONS = ("resources", "energy")


def build_report(
    *,
    sections=SECTIONS,
    widths=None,
    designs=None,
    quick: bool = False,
    device: str = "up5k",
    seed: int = 1,
    checkpoint=None,
    dataset: str | None = None,
    timesteps: int = 6,
    precharge: int = 1,
    rate_timesteps: int | None = None,
    limit: int | None = None,
    weight_bits: int = 8,
    cache: bool = True,
    progress: bool = True,
) -> dict:
    """Build the report dict of the requested ``sections``; see docs/report.md for its layout.

    ``designs`` names the designs of the sweep (default: all of
    ``tmn_hw.report_resources.DESIGNS``). ``quick`` reduces the width sweep
    to 8 and 16 bits and the rate-coded run to 64 steps. ``rate_timesteps``
    defaults to 256 (64 with ``quick``).
    """
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        raise ValueError(f"sections must be a non-empty subset of {SECTIONS}, not {list(sections)}")
    report = {"schema_version": SCHEMA_VERSION, "generator": "python -m tmn_hw.report", "quick": quick}
    if "resources" in sections:
        from synth import DEFAULT_CACHE_DIR, Ice40Options
        from tmn_hw.report_resources import DEFAULT_WIDTHS, DESIGNS, QUICK_WIDTHS, resource_sweep

        if widths is None:
            widths = QUICK_WIDTHS if quick else DEFAULT_WIDTHS
        chosen = DESIGNS
        if designs is not None:
            known = {design.name: design for design in DESIGNS}
            unknown = [name for name in designs if name not in known]
            if unknown or not designs:
                raise ValueError(f"designs must be a non-empty list of {sorted(known)}, not {list(designs)}")
            chosen = tuple(known[name] for name in designs)
        report["resources"] = resource_sweep(
            widths,
            chosen,
            options=Ice40Options(device=device, seed=seed),
            cache_dir=DEFAULT_CACHE_DIR if cache else None,
            progress=progress,
        )
    if "energy" in sections:
        from tmn_hw.report_energy import energy_section

        if rate_timesteps is None:
            rate_timesteps = 64 if quick else 256
        report["energy"] = energy_section(
            checkpoint,
            dataset,
            timesteps=timesteps,
            precharge=precharge,
            rate_timesteps=rate_timesteps,
            limit=limit,
            weight_bits=weight_bits,
            progress=progress,
        )
    return report


def _parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m tmn_hw.report",
        description="Resources, Fmax and energy of the TMN hardware. Progress goes to stderr, the report to stdout.",
    )
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print the report as JSON (schema in docs/report.md)")
    output.add_argument("--markdown", action="store_true", help="print the report as Markdown")
    parser.add_argument("--output", "-o", type=Path, help="write the report to this file instead of stdout")
    parser.add_argument("--plot", type=Path, metavar="DIR", help="also write resources.png and energy.png into DIR")
    parser.add_argument("--quick", action="store_true",
                        help="reduced run: membrane widths 8 and 16, rate-coded SNN up to T = 64")
    parser.add_argument("--only", choices=SECTIONS, help="build one section only (default: both)")
    parser.add_argument("--widths", type=int, nargs="+", metavar="BITS",
                        help="membrane widths of the sweep (default 8 12 16 24; 8 16 with --quick)")
    parser.add_argument("--designs", nargs="+", metavar="NAME",
                        help="designs of the sweep: tmn_pe, if_pe, tmn_layer (default: all)")
    parser.add_argument("--device", choices=("up5k", "hx8k"), default="up5k",
                        help="iCE40 device: up5k (package sg48) or hx8k (package ct256); default up5k")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default 1)")
    parser.add_argument("--no-cache", action="store_true", help="rerun the synthesis tools instead of reading build/synth/")
    parser.add_argument("--checkpoint", type=Path,
                        help="checkpoint of python -m golden.train (default: a small MLP trained on digits, "
                             "cached in build/report/)")
    parser.add_argument("--dataset", choices=("fashion-mnist", "digits"),
                        help="data set of the energy section; must be the checkpoint's (default: the checkpoint's)")
    parser.add_argument("--timesteps", "-T", type=int, default=6, help="T of the TMN SNN (default 6)")
    parser.add_argument("--precharge", "-P", type=int, default=1, help="P of the TMN SNN (default 1)")
    parser.add_argument("--rate-timesteps", type=int,
                        help="largest T of the rate-coded SNN (default 256; 64 with --quick)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test images (default: all)")
    parser.add_argument("--weight-bits", type=int, default=8,
                        help="weight width of the fixed-point energy estimate, in bits (default 8)")
    return parser, parser.parse_args(argv)


def _write(text: str, path: Path | None) -> None:
    if path is None:
        sys.stdout.write(text)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    with os.fdopen(handle, "w") as file:
        file.write(text)
    os.replace(temporary, path)


def main(argv=None) -> int:
    """Run the command line; return the exit status."""
    from golden.data import MissingDatasetError
    from synth import ToolError

    parser, args = _parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s")
    sections = (args.only,) if args.only else SECTIONS
    energy_options = {"--checkpoint": args.checkpoint, "--dataset": args.dataset, "--limit": args.limit,
                      "--rate-timesteps": args.rate_timesteps}
    resource_options = {"--widths": args.widths, "--designs": args.designs}
    for section, options in (("energy", energy_options), ("resources", resource_options)):
        given = [name for name, value in options.items() if value is not None]
        if given and section not in sections:
            parser.error(f"{', '.join(given)}: options of the {section} section, which --only {args.only} leaves out")
    try:
        report = build_report(
            sections=sections,
            widths=args.widths,
            designs=args.designs,
            quick=args.quick,
            device=args.device,
            seed=args.seed,
            checkpoint=args.checkpoint,
            dataset=args.dataset,
            timesteps=args.timesteps,
            precharge=args.precharge,
            rate_timesteps=args.rate_timesteps,
            limit=args.limit,
            weight_bits=args.weight_bits,
            cache=not args.no_cache,
        )
    except (ToolError, MissingDatasetError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    if args.json:
        text = json.dumps(report, indent=1) + "\n"
    else:
        from tmn_hw.report_render import render

        text = render(report, markdown=args.markdown) + "\n"
    _write(text, args.output)
    if args.plot:
        from tmn_hw.report_render import write_plots

        for path in write_plots(report, args.plot):
            print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
