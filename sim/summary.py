"""Print the summaries of the PE bench runs as a table: ``python -m sim.summary [DIRECTORY]``.

Each bench run writes ``summary.json`` into its build directory; this reads
every one under DIRECTORY (default ``build/sim/pe``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("case", "simulator", "steps", "cycles", "mismatches", "schedule s", "simulation s", "steps/s")


def summary_rows(directory: Path) -> list[tuple]:
    """Return one table row per ``summary.json`` under ``directory``, sorted by case name."""
    rows = []
    for path in sorted(directory.glob("*/summary.json")):
        summary = json.loads(path.read_text())
        rows.append(
            (
                path.parent.name,
                summary["simulator"],
                summary["steps"],
                summary["cycles"],
                summary["mismatches"],
                summary["schedule_seconds"],
                summary["simulation_seconds"],
                summary["steps_per_second"],
            )
        )
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.summary", description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=Path("build/sim/pe"), help="bench build directory")
    args = parser.parse_args(argv)
    rows = summary_rows(args.directory)
    if not rows:
        print(f"no bench summaries under {args.directory}; run make sim first", file=sys.stderr)
        return 1
    table = [COLUMNS] + [tuple(str(value) for value in row) for row in rows]
    widths = [max(len(row[column]) for row in table) for column in range(len(COLUMNS))]
    for row in table:
        print("  ".join(value.ljust(width) for value, width in zip(row, widths)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
