"""Synthesis flows of tmn-hw: Yosys and nextpnr-ice40 resources and Fmax, parsed from their JSON output.

- :func:`generic_flow`: Yosys ``synth -flatten``, cells by type;
- :func:`ice40_flow`: Yosys ``synth_ice40`` and nextpnr-ice40, LUT4, carry,
  flip-flop and RAM counts, packed logic cells and the maximum clock frequency;
- :class:`ToolError`: raised when a tool is missing or fails.

``python -m synth FILE.v --top NAME`` runs both flows on a Verilog file.
"""

from synth.flows import DEFAULT_CACHE_DIR, Ice40Options, component_verilog, generic_flow, ice40_flow, ice40_resources
from synth.tool import ToolError

__all__ = [
    "DEFAULT_CACHE_DIR",
    "Ice40Options",
    "ToolError",
    "component_verilog",
    "generic_flow",
    "ice40_flow",
    "ice40_resources",
]
