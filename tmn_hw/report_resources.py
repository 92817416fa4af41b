"""Resource and Fmax sweep of the processing elements over membrane widths, for ``python -m tmn_hw.report``.

Each design of :data:`DESIGNS` is built at every membrane width of the sweep,
converted to Verilog and run through the generic Yosys flow and the iCE40
flow of :mod:`synth`. A design is one :class:`Design` entry, so adding one
is one line in :data:`DESIGNS`: the two PEs and a small layer array.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Callable

from golden.progress import progress_bar

from synth import DEFAULT_CACHE_DIR, Ice40Options, component_verilog, generic_flow, ice40_flow
from synth.nextpnr import nextpnr_version
from synth.yosys import yosys_version

__all__ = ["DEFAULT_WIDTHS", "DESIGNS", "PE_DESIGNS", "QUICK_WIDTHS", "Design", "resource_sweep", "sweep_threshold"]

logger = logging.getLogger("tmn_hw.report")

DEFAULT_WIDTHS = (8, 12, 16, 24)
QUICK_WIDTHS = (8, 16)

# Run-time limits built into the swept PEs. The TMN PE takes T <= 16 and P <= 2,
# which covers the conversion default T = 6, P = 1. The IF PE takes the longest
# trains it supports, because rate coding needs many more steps for the same accuracy.
TMN_MAX_TIMESTEPS = 16
TMN_MAX_PRECHARGE = 2
IF_MAX_TIMESTEPS = 62


def sweep_threshold(membrane_width: int) -> int:
    """Return the largest power-of-two threshold that both PEs accept at ``membrane_width``.

    Both PEs of a sweep row then share the input width, the membrane width
    and the threshold.
    """
    from tmn_hw.if_pe import minimum_if_membrane_width
    from tmn_hw.pe import minimum_membrane_width

    threshold = None
    for exponent in range(membrane_width):
        candidate = 1 << exponent
        fits_tmn = minimum_membrane_width(TMN_MAX_TIMESTEPS, TMN_MAX_PRECHARGE, candidate) <= membrane_width
        fits_if = minimum_if_membrane_width(IF_MAX_TIMESTEPS, candidate) <= membrane_width
        if not (fits_tmn and fits_if):
            break
        threshold = candidate
    if threshold is None:
        raise ValueError(f"membrane_width = {membrane_width} is too narrow for any threshold of the swept PEs")
    return threshold


def _tmn_pe(membrane_width: int):
    from tmn_hw.pe import TMNProcessingElement

    parameters = {
        "input_width": membrane_width,
        "membrane_width": membrane_width,
        "threshold": sweep_threshold(membrane_width),
        "max_timesteps": TMN_MAX_TIMESTEPS,
        "max_precharge": TMN_MAX_PRECHARGE,
        "gate": True,
    }
    return TMNProcessingElement(**parameters), parameters


def _if_pe(membrane_width: int):
    from tmn_hw.if_pe import IFProcessingElement

    parameters = {
        "input_width": membrane_width,
        "membrane_width": membrane_width,
        "threshold": sweep_threshold(membrane_width),
        "max_timesteps": IF_MAX_TIMESTEPS,
    }
    return IFProcessingElement(**parameters), parameters


# The layer array of the sweep: N neurons fed by M spike inputs through seeded random
# 7-bit weights, run at T = 6 and P = 1 (the conversion's usual setting).
LAYER_NEURONS = 8
LAYER_INPUTS = 16
LAYER_TIMESTEPS = 6
LAYER_PRECHARGE = 1
LAYER_SEED = 0


def _tmn_layer(membrane_width: int):
    import numpy as np

    from golden.integer import required_membrane_width
    from tmn_hw.layer import SpikingLayer

    fitting = [
        1 << k
        for k in range(membrane_width)
        if required_membrane_width(LAYER_TIMESTEPS, LAYER_PRECHARGE, 1 << k, 1 << k) <= membrane_width
    ]
    if not fitting:
        raise ValueError(f"membrane_width = {membrane_width} is too narrow for any threshold of the layer array")
    rng = np.random.default_rng(LAYER_SEED)
    weight = rng.integers(-64, 64, (LAYER_NEURONS, LAYER_INPUTS))
    bias = rng.integers(-8, 8, LAYER_NEURONS)
    layer = SpikingLayer(
        weight,
        bias,
        timesteps=LAYER_TIMESTEPS,
        precharge=LAYER_PRECHARGE,
        threshold=fitting[-1],
        membrane_width=membrane_width,
    )
    parameters = {
        "membrane_width": membrane_width,
        "threshold": fitting[-1],
        "neurons": LAYER_NEURONS,
        "inputs": LAYER_INPUTS,
        "timesteps": LAYER_TIMESTEPS,
        "precharge": LAYER_PRECHARGE,
        "weights": f"random integers in [-64, 63], seed {LAYER_SEED}",
    }
    return layer, parameters


@dataclasses.dataclass(frozen=True)
class Design:
    """A design of the sweep: Verilog top name, table label and a builder.

    ``build(membrane_width)`` returns the Amaranth component and a dict of
    the parameters it was built with, which the report prints.
    """

    name: str
    label: str
    build: Callable[[int], tuple[object, dict]]


PE_DESIGNS = (
    Design("tmn_pe", "TMN PE", _tmn_pe),
    Design("if_pe", "IF PE", _if_pe),
)
DESIGNS = PE_DESIGNS + (
    Design("tmn_layer", f"TMN layer {LAYER_INPUTS}x{LAYER_NEURONS}", _tmn_layer),
)


def _check_widths(widths) -> tuple[int, ...]:
    widths = tuple(widths)
    if not widths:
        raise ValueError("widths must list at least one membrane width")
    for width in widths:
        if isinstance(width, bool) or not isinstance(width, int) or not 4 <= width <= 62:
            raise ValueError(f"membrane widths must be integers in [4, 62], not {width!r}")
    return widths


def resource_sweep(
    widths=DEFAULT_WIDTHS,
    designs=DESIGNS,
    options: Ice40Options | None = None,
    *,
    cache_dir=DEFAULT_CACHE_DIR,
    progress: bool = True,
) -> dict:
    """Run both synthesis flows for every design at every membrane width; return the report section.

    Returns ``{"device", "package", "tools", "flows", "rows"}``: ``tools`` maps
    each tool to its version, ``flows`` contains the Yosys scripts and nextpnr
    command lines (with ``{top}`` for the module name), and each row has
    ``design``, ``label``, ``membrane_width``, ``parameters``, the iCE40
    ``lut4``, ``carry``, ``dff``, ``ram`` and ``logic_cells``, ``fmax_mhz``,
    ``generic_cells`` and ``verilog_sha256``.

    Raises
    ------
    ToolError
        Yosys or nextpnr-ice40 is missing or fails.
    """
    widths = _check_widths(widths)
    options = Ice40Options() if options is None else options
    jobs = [(design, width) for design in designs for width in widths]
    rows = []
    flows = None
    for design, width in progress_bar(jobs, desc="synthesis", unit="design", disable=not progress):
        component, parameters = design.build(width)
        verilog = component_verilog(component, design.name)
        ice40 = ice40_flow(verilog, design.name, options, cache_dir=cache_dir)
        generic = generic_flow(verilog, design.name, cache_dir=cache_dir)
        logger.info("%s at membrane width %d: %s", design.label, width, ice40["resources"])
        if flows is None:
            flows = {
                "generic_yosys_script": generic["yosys"]["script"].replace(design.name, "{top}"),
                "ice40_yosys_script": ice40["yosys"]["script"].replace(design.name, "{top}"),
                "pack_command": ice40["pack"]["command"],
                "place_and_route_command": ice40["place_and_route"]["command"],
                "io_harness": "inputs from one shift register, registered XOR of the outputs (see synth.harness)",
            }
        rows.append(
            {
                "design": design.name,
                "label": design.label,
                "membrane_width": width,
                "parameters": parameters,
                **ice40["resources"],
                "fmax_mhz": ice40["fmax_mhz"],
                "generic_cells": generic["cells"],
                "verilog_sha256": ice40["verilog_sha256"],
            }
        )
    return {
        "device": options.device,
        "package": ice40["package"],
        "seed": options.seed,
        "target_mhz": options.freq_mhz,
        "tools": {"yosys": yosys_version(), "nextpnr-ice40": nextpnr_version()},
        "flows": flows,
        "rows": rows,
    }
