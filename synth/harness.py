"""Registered I/O harness: lets place-and-route time a design whose ports outnumber the package pins.

The harness feeds every input bit of the design under test from one shift
register (serial input pin) and registers the XOR of all its output bits
(serial output pin). So the design keeps all of its logic (every input varies,
every output is observed), it needs three pins whatever its port count, and
every path through it starts and ends at a flip-flop of the same clock: the
situation of a PE inside an array, where neighbours are registers.

The harness costs one flip-flop per input bit plus an XOR tree over the output
bits; the flows report the design's own resources from a run without it.
"""

from __future__ import annotations

import re

from synth.yosys import Port

__all__ = ["HARNESS_TOP", "harness_verilog"]

HARNESS_TOP = "synth_io_harness"

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_$]*")


def _verilog_name(name: str) -> str:
    """Return ``name`` as a Verilog identifier, escaped when it is not a simple one."""
    return name if _IDENTIFIER.fullmatch(name) else f"\\{name} "


def harness_verilog(ports: list[Port], top: str, clock: str = "clk") -> str:
    """Return Verilog for module ``synth_io_harness`` that instantiates ``top`` inside the I/O harness.

    ``ports`` are the ports of ``top`` (see :func:`synth.yosys.read_ports`).
    The port named ``clock``, if present, is driven by the harness clock pin.

    Raises
    ------
    ValueError
        ``top`` has an inout port, no output port, or a clock port wider than one bit.
    """
    inputs = [p for p in ports if p.direction == "input" and p.name != clock]
    outputs = [p for p in ports if p.direction == "output"]
    inout = [p.name for p in ports if p.direction not in ("input", "output")]
    if inout:
        raise ValueError(f"the I/O harness supports input and output ports only; {top!r} has inout ports {inout}")
    if not outputs:
        raise ValueError(f"module {top!r} has no output port, so synthesis would remove all of its logic")
    clocks = [p for p in ports if p.name == clock]
    if clocks and (clocks[0].width != 1 or clocks[0].direction != "input"):
        raise ValueError(f"clock port {clock!r} of {top!r} must be a 1-bit input, not {clocks[0]}")

    in_bits = sum(p.width for p in inputs)
    out_bits = sum(p.width for p in outputs)
    lines = [
        f"module {HARNESS_TOP}(input wire clk, input wire serial_in, output reg serial_out);",
        f"  wire [{out_bits - 1}:0] outputs;",
    ]
    if in_bits:
        shift = "serial_in" if in_bits == 1 else f"{{chain[{in_bits - 2}:0], serial_in}}"
        lines += [
            f"  reg [{in_bits - 1}:0] chain = {in_bits}'d0;",
            f"  always @(posedge clk) chain <= {shift};",
        ]
    connections = []
    if clocks:
        connections.append(f".{_verilog_name(clock)}(clk)")
    offset = 0
    for port in inputs:
        connections.append(f".{_verilog_name(port.name)}(chain[{offset + port.width - 1}:{offset}])")
        offset += port.width
    offset = 0
    for port in outputs:
        connections.append(f".{_verilog_name(port.name)}(outputs[{offset + port.width - 1}:{offset}])")
        offset += port.width
    lines.append(f"  {_verilog_name(top)} dut (")
    lines.append(",\n".join(f"    {c}" for c in connections))
    lines += [
        "  );",
        "  initial serial_out = 1'b0;",
        "  always @(posedge clk) serial_out <= ^outputs;",
        "endmodule",
        "",
    ]
    return "\n".join(lines)
