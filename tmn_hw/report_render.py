"""Rendering of the report dict of ``python -m tmn_hw.report``: terminal text, Markdown and PNG charts."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["render", "write_plots"]


def _table(headers: list[str], rows: list[list], markdown: bool) -> list[str]:
    cells = [[str(h) for h in headers]] + [["-" if v is None else str(v) for v in row] for row in rows]
    if markdown:
        lines = ["| " + " | ".join(cells[0]) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        return lines + ["| " + " | ".join(row) + " |" for row in cells[1:]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]

    def line(row):
        return "  ".join(v.ljust(w) if i == 0 else v.rjust(w) for i, (v, w) in enumerate(zip(row, widths)))

    return [line(cells[0]), "  ".join("-" * w for w in widths)] + [line(row) for row in cells[1:]]


def _one_line(script: str) -> str:
    return "; ".join(line.strip() for line in script.strip().splitlines())


def _resources(section: dict, markdown: bool) -> list[str]:
    flows = section["flows"]
    tools = section["tools"]
    heading = "## Resources and Fmax" if markdown else "RESOURCES AND FMAX"
    lines = [
        heading,
        "",
        f"iCE40 {section['device'].upper()}-{section['package']}; Fmax from nextpnr seed {section['seed']}, "
        f"placement target {section['target_mhz']:g} MHz, inside a registered I/O harness "
        "(register-to-register paths, as in an array of PEs).",
        "",
        f"- iCE40 cells: {tools['yosys']}: `{_one_line(flows['ice40_yosys_script'])}`",
        f"- logic cells: {tools['nextpnr-ice40']}: `{flows['pack_command']}`",
        f"- Fmax: {tools['nextpnr-ice40']}: `{flows['place_and_route_command']}`",
        f"- generic cells: {tools['yosys']}: `{_one_line(flows['generic_yosys_script'])}`",
        "",
    ]
    headers = ["design", "membrane bits", "input bits", "threshold", "LUT4", "SB_CARRY", "SB_DFF*", "SB_RAM40_4K",
               "logic cells", "Fmax MHz", "generic cells"]
    rows = []
    for row in section["rows"]:
        parameters = row["parameters"]
        fmax = None if row["fmax_mhz"] is None else f"{row['fmax_mhz']:.1f}"
        rows.append([row["label"], row["membrane_width"], parameters.get("input_width"), parameters.get("threshold"),
                     row["lut4"], row["carry"], row["dff"], row["ram"], row["logic_cells"], fmax, row["generic_cells"]])
    lines += _table(headers, rows, markdown)
    lines.append("")
    for label in dict.fromkeys(row["label"] for row in section["rows"]):
        first = next(row for row in section["rows"] if row["label"] == label)
        fixed = {k: v for k, v in first["parameters"].items() if k not in ("input_width", "membrane_width", "threshold")}
        lines.append(f"{label} parameters: " + ", ".join(f"{k} = {v}" for k, v in fixed.items()))
    return lines + [""]


def _nanojoules(picojoules: float) -> str:
    return f"{picojoules / 1000:.3f}"


def _energy(section: dict, markdown: bool) -> list[str]:
    heading = "## Energy per image" if markdown else "ENERGY PER IMAGE"
    constants = section["constants"]
    lines = [
        heading,
        "",
        f"{section['dataset']} test set, {section['images']} images, checkpoint {section['checkpoint']}.",
        f"Convention: {constants['accumulate_pj']:g} pJ per accumulate (AC), {constants['mac_pj']:g} pJ per "
        "multiply-accumulate (MAC): 32-bit float add and multiply-add at 45 nm (Horowitz, ISSCC 2014).",
        f"Fixed-point estimate: integer adds at each layer's width (linear between 0.03 pJ at 8 bits and 0.1 pJ "
        f"at 32 bits), multiplies scaled from 0.2 pJ at 8x8 bits, {section['weight_bits']}-bit weights read from "
        "an 8 KB SRAM at 10 pJ per 64-bit word, membrane adds; an estimate, not a measurement.",
        "",
    ]
    headers = ["network", "T", "P", "accuracy %", "spikes", "ACs", "MACs", "energy nJ", "fixed-point estimate nJ"]
    rows = [
        [n["name"], n["timesteps"], n["precharge"], f"{n['accuracy']:.2f}", f"{n['spikes']:.1f}",
         f"{n['accumulates']:.0f}", f"{n['macs']:.0f}", _nanojoules(n["energy_pj"]), _nanojoules(n["fixed_point_pj"])]
        for n in section["networks"]
    ]
    lines += _table(headers, rows, markdown)
    lines.append("")
    for network in section["networks"]:
        if network["note"]:
            lines.append(f"{network['name']}: {network['note']}.")
    lines.append("")

    headers = ["network", "layer", "kind", "neurons", "spikes", "negative", "ACs", "MACs", "energy nJ",
               "estimate nJ", "weight/acc/membrane bits"]
    rows = []
    for network in section["networks"]:
        for layer in network["layers"]:
            w = layer["widths"]
            bits = f"{w['weight_bits']}/{w['accumulator_bits']}/{w['membrane_bits'] if layer['kind'] == 'spiking' else '-'}"
            rows.append([network["name"], layer["name"], layer["kind"], layer["neurons"], f"{layer['spikes']:.1f}",
                         f"{layer['negative_spikes']:.1f}", f"{layer['accumulates']:.0f}", f"{layer['macs']:.0f}",
                         _nanojoules(layer["energy_pj"]), _nanojoules(layer["fixed_point_pj"]), bits])
    lines += _table(headers, rows, markdown)
    rate = ", ".join(f"T={t}: {acc:.2f}%" for t, acc in section["rate_accuracy_by_timesteps"].items())
    return lines + ["", f"rate SNN accuracy by T: {rate}", ""]


def render(report: dict, markdown: bool = False) -> str:
    """Return the report as terminal text, or as Markdown with ``markdown=True``."""
    lines = ["# tmn-hw report", ""] if markdown else []
    if "resources" in report:
        lines += _resources(report["resources"], markdown)
    if "energy" in report:
        lines += _energy(report["energy"], markdown)
    return "\n".join(lines)


def _save(figure, path: Path) -> None:
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".png")
    os.close(handle)
    try:
        figure.savefig(temporary, dpi=120)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


def write_plots(report: dict, directory: Path) -> list[Path]:
    """Write ``resources.png`` (logic cells and Fmax against membrane width) and ``energy.png``; return the paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    if "resources" in report:
        section = report["resources"]
        figure, (cells_axis, fmax_axis) = plt.subplots(1, 2, figsize=(10, 4))
        for label in dict.fromkeys(row["label"] for row in section["rows"]):
            rows = [row for row in section["rows"] if row["label"] == label]
            widths = [row["membrane_width"] for row in rows]
            cells_axis.plot(widths, [row["logic_cells"] for row in rows], marker="o", label=label)
            fmax_axis.plot(widths, [row["fmax_mhz"] or 0 for row in rows], marker="o", label=label)
        cells_axis.set(xlabel="membrane width (bits)", ylabel="logic cells (ICESTORM_LC)", title="Logic cells")
        fmax_axis.set(xlabel="membrane width (bits)", ylabel="Fmax (MHz)", title="Fmax")
        for axis in (cells_axis, fmax_axis):
            axis.grid(alpha=0.3)
            axis.legend()
        figure.suptitle(f"iCE40 {section['device'].upper()}-{section['package']}: {section['tools']['yosys']}, "
                        f"nextpnr-ice40 seed {section['seed']}", fontsize=9)
        figure.tight_layout()
        path = directory / "resources.png"
        _save(figure, path)
        plt.close(figure)
        written.append(path)
    if "energy" in report:
        section = report["energy"]
        names = [n["name"] + ("" if n["timesteps"] is None else f" (T={n['timesteps']})") for n in section["networks"]]
        positions = range(len(names))
        figure, axis = plt.subplots(figsize=(7, 4))
        axis.bar([p - 0.2 for p in positions], [n["energy_pj"] / 1000 for n in section["networks"]], 0.4,
                 label="45 nm convention (0.9 pJ/AC, 4.6 pJ/MAC)")
        axis.bar([p + 0.2 for p in positions], [n["fixed_point_pj"] / 1000 for n in section["networks"]], 0.4,
                 label="fixed-point estimate")
        axis.set_xticks(list(positions), names)
        axis.set(ylabel="energy per image (nJ)", title=f"Energy per image, {section['dataset']}")
        axis.legend()
        axis.grid(axis="y", alpha=0.3)
        figure.tight_layout()
        path = directory / "energy.png"
        _save(figure, path)
        plt.close(figure)
        written.append(path)
    return written
