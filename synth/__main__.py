"""Run the generic and iCE40 flows on a Verilog file: ``python -m synth FILE.v --top NAME``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from synth.flows import DEFAULT_CACHE_DIR, Ice40Options, generic_flow, ice40_flow
from synth.nextpnr import DEVICES
from synth.tool import ToolError


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth", description=__doc__)
    parser.add_argument("verilog", type=Path, help="Verilog file of the design")
    parser.add_argument("--top", required=True, help="name of the top module")
    parser.add_argument("--device", choices=sorted(DEVICES), default="up5k", help="iCE40 device (default: up5k)")
    parser.add_argument("--seed", type=int, default=1, help="nextpnr placer seed (default: 1)")
    parser.add_argument("--freq", type=float, default=100.0, help="target frequency of placement in MHz (default: 100)")
    parser.add_argument("--json", action="store_true", help="print both results as JSON")
    parser.add_argument("--no-cache", action="store_true", help=f"run the tools even if {DEFAULT_CACHE_DIR} has the result")
    args = parser.parse_args(argv)

    if not args.verilog.is_file():
        parser.error(f"Verilog file not found: {args.verilog}")
    verilog = args.verilog.read_text()
    cache_dir = None if args.no_cache else DEFAULT_CACHE_DIR
    try:
        options = Ice40Options(device=args.device, seed=args.seed, freq_mhz=args.freq)
        generic = generic_flow(verilog, args.top, cache_dir=cache_dir)
        ice40 = ice40_flow(verilog, args.top, options, cache_dir=cache_dir)
    except (ToolError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1

    if args.json:
        print(json.dumps({"generic": generic, "ice40": ice40}, indent=1, sort_keys=True))
        return 0
    fmax = ice40["fmax_mhz"]
    print(f"{args.top}: generic cells {generic['cells']} ({generic['flip_flops']} flip-flops)")
    print(
        f"{args.top} on iCE40 {ice40['device'].upper()}-{ice40['package']}: "
        + ", ".join(f"{key} {value}" for key, value in ice40["resources"].items())
        + (f", Fmax {fmax:.1f} MHz" if fmax is not None else "")
    )
    script = "; ".join(line.strip() for line in ice40["yosys"]["script"].strip().splitlines())
    print(f"  {ice40['yosys']['version']}: {script}")
    print(f"  {ice40['place_and_route']['version']}: {ice40['place_and_route']['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
