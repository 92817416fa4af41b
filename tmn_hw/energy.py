"""Energy of ANNs and converted SNNs from operation counts: the 45 nm convention and a fixed-point estimate.

Both models take per-layer operation counts per image as plain dicts, in the
form of ``golden.conversion.ops.OperationCounts.to_dict()["layers"]``: each
layer has ``name``, ``kind`` (``"analog"``, ``"synaptic"`` or ``"spiking"``),
``neurons``, ``spikes``, ``synaptic_ops`` and ``macs``.

The conventional model is the one of the ANN-to-SNN conversion literature:
every synaptic operation is one accumulate (AC) at 0.9 pJ, every
multiply-accumulate (MAC) 4.6 pJ. These are the 32-bit floating-point add
(0.9 pJ) and multiply (3.7 pJ) plus add of Horowitz's 45 nm, 0.9 V figures.

The fixed-point model is an estimate for an integer datapath such as the
tmn-hw layer: integer adds of the actual widths (scaled linearly between
Horowitz's 8-bit and 32-bit add), multiplies scaled with the product of the
operand widths, one weight read per synaptic operation or MAC from an 8 KB
SRAM, and one membrane add per neuron and step plus one per spike (the
reset). Membrane storage, control and wires are not counted.
"""

from __future__ import annotations

import dataclasses
import numbers

__all__ = [
    "ACCUMULATE_PJ",
    "CONSTANTS",
    "HOROWITZ_SOURCE",
    "MAC_PJ",
    "Constant",
    "FixedPointWidths",
    "add_energy_pj",
    "conventional_energy",
    "fixed_point_energy",
    "multiply_energy_pj",
    "weight_read_energy_pj",
]

HOROWITZ_SOURCE = (
    "M. Horowitz, 'Computing's energy problem (and what we can do about it)', "
    "ISSCC 2014, doi:10.1109/ISSCC.2014.6757323; 45 nm process, 0.9 V"
)


@dataclasses.dataclass(frozen=True)
class Constant:
    """An energy per operation, in picojoules, with what it measures and its source."""

    picojoules: float
    meaning: str
    source: str = HOROWITZ_SOURCE


CONSTANTS = {
    "add_int8": Constant(0.03, "8-bit integer add"),
    "add_int32": Constant(0.1, "32-bit integer add"),
    "mult_int8": Constant(0.2, "8-bit integer multiply"),
    "mult_int32": Constant(3.1, "32-bit integer multiply"),
    "add_fp32": Constant(0.9, "32-bit floating-point add"),
    "mult_fp32": Constant(3.7, "32-bit floating-point multiply"),
    "sram_read_64bit": Constant(10.0, "64-bit read from an 8 KB SRAM"),
}

# The conversion literature's figures: an accumulate is a 32-bit float add, a
# multiply-accumulate a 32-bit float multiply plus add (3.7 + 0.9 = 4.6 pJ).
ACCUMULATE_PJ = CONSTANTS["add_fp32"].picojoules
MAC_PJ = CONSTANTS["mult_fp32"].picojoules + CONSTANTS["add_fp32"].picojoules

LAYER_KINDS = ("analog", "synaptic", "spiking")


def _check_width(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer in [1, 64] bits, not {value!r}")
    if not 1 <= value <= 64:
        raise ValueError(f"{name} must be an integer in [1, 64] bits, not {value!r}")
    return int(value)


def add_energy_pj(bits: int) -> float:
    """Return the estimated energy of one integer add of ``bits`` bits, in pJ.

    Linear in the width through Horowitz's 8-bit (0.03 pJ) and 32-bit (0.1 pJ)
    adds, extrapolated along the same line outside [8, 32]: an estimate, as a
    ripple-carry adder's energy grows about linearly with its width.
    """
    bits = _check_width("bits", bits)
    low, high = CONSTANTS["add_int8"].picojoules, CONSTANTS["add_int32"].picojoules
    return low + (bits - 8) * (high - low) / (32 - 8)


def multiply_energy_pj(bits_a: int, bits_b: int) -> float:
    """Return the estimated energy of one ``bits_a`` x ``bits_b`` integer multiply, in pJ.

    Proportional to the product of the widths (the partial products of an
    array multiplier), anchored at Horowitz's 8-bit multiply (0.2 pJ); at
    32 x 32 bits this gives 3.2 pJ against his 3.1 pJ. An estimate.
    """
    bits_a = _check_width("bits_a", bits_a)
    bits_b = _check_width("bits_b", bits_b)
    return CONSTANTS["mult_int8"].picojoules * bits_a * bits_b / 64


def weight_read_energy_pj(weight_bits: int) -> float:
    """Return the energy share of reading one weight of ``weight_bits`` bits from an 8 KB SRAM, in pJ.

    Weights are taken as packed into 64-bit words, so a weight costs
    ``weight_bits / 64`` of one word read.
    """
    weight_bits = _check_width("weight_bits", weight_bits)
    return CONSTANTS["sram_read_64bit"].picojoules * weight_bits / 64


def _check_layers(layers) -> list[dict]:
    checked = []
    for index, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise TypeError(f"layer {index} must be a dict of operation counts, not {type(layer).__name__}")
        missing = [key for key in ("name", "kind", "neurons", "spikes", "synaptic_ops", "macs") if key not in layer]
        if missing:
            raise ValueError(f"layer {index} ({layer.get('name', '?')}) lacks the keys {missing}")
        if layer["kind"] not in LAYER_KINDS:
            raise ValueError(f"layer {layer['name']!r} has kind {layer['kind']!r}; allowed: {LAYER_KINDS}")
        for key in ("neurons", "spikes", "synaptic_ops", "macs"):
            value = layer[key]
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or value < 0:
                raise ValueError(f"layer {layer['name']!r}: {key} must be a number >= 0, not {value!r}")
        checked.append(layer)
    return checked


def conventional_energy(layers) -> dict:
    """Return the energy per image by the 45 nm convention: 0.9 pJ per AC, 4.6 pJ per MAC.

    Returns ``{"layers": [{"name", "accumulates", "macs", "energy_pj"}], "accumulates",
    "macs", "energy_pj"}`` with per-image totals; layers without operations
    (the spiking sites) are left out.
    """
    rows = []
    for layer in _check_layers(layers):
        if layer["synaptic_ops"] == 0 and layer["macs"] == 0:
            continue
        energy = layer["synaptic_ops"] * ACCUMULATE_PJ + layer["macs"] * MAC_PJ
        rows.append(
            {"name": layer["name"], "accumulates": layer["synaptic_ops"], "macs": layer["macs"], "energy_pj": energy}
        )
    return {
        "layers": rows,
        "accumulates": sum(row["accumulates"] for row in rows),
        "macs": sum(row["macs"] for row in rows),
        "energy_pj": sum(row["energy_pj"] for row in rows),
    }


@dataclasses.dataclass(frozen=True)
class FixedPointWidths:
    """Widths of an integer datapath, in bits, for :func:`fixed_point_energy`.

    Attributes
    ----------
    weight_bits : int
        Stored synaptic weight.
    input_bits : int
        Analog input (pixel) of the first layer's MACs, or the activation of an ANN layer.
    accumulator_bits : int
        Adder that sums synaptic currents (and the MAC accumulator).
    membrane_bits : int
        Membrane register of a spiking neuron.
    """

    weight_bits: int = 8
    input_bits: int = 8
    accumulator_bits: int = 16
    membrane_bits: int = 16

    def __post_init__(self):
        for field in dataclasses.fields(self):
            _check_width(field.name, getattr(self, field.name))


def fixed_point_energy(layers, widths, steps: int) -> dict:
    """Return an estimate of the energy per image of an integer datapath, by operation kind.

    ``widths`` is one :class:`FixedPointWidths` for every layer, or a dict
    from each layer's name to its own. ``steps`` is the number of neuron
    updates per sample (``T + P`` for TMN neurons, ``T`` for rate-coded IF
    neurons, 0 for an ANN). Per layer:

    - ``analog`` layers (and every ANN layer): ``macs`` x (multiply
      ``input_bits`` x ``weight_bits`` + add ``accumulator_bits`` + one weight read);
    - ``synaptic`` layers: ``synaptic_ops`` x (add ``accumulator_bits`` + one weight read);
    - ``spiking`` layers: (``neurons`` x ``steps`` + ``spikes``) adds of
      ``membrane_bits`` (the update ``2u + z`` or ``u + z``, and the reset).

    Returns ``{"layers": [...], "energy_pj", "arithmetic_pj", "weight_reads_pj",
    "membrane_pj"}``; each layer row has the same energy keys and ``name``.
    """
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0 (neuron updates per sample), not {steps!r}")
    layers = _check_layers(layers)
    if isinstance(widths, FixedPointWidths):
        widths = {layer["name"]: widths for layer in layers}
    elif isinstance(widths, dict):
        missing = [layer["name"] for layer in layers if layer["name"] not in widths]
        if missing:
            raise ValueError(f"widths has no entry for the layers {missing}")
        wrong = [name for name, value in widths.items() if not isinstance(value, FixedPointWidths)]
        if wrong:
            raise TypeError(f"widths of layers {wrong} must be FixedPointWidths")
    else:
        raise TypeError(f"widths must be a FixedPointWidths or a dict of them by layer, not {type(widths).__name__}")

    rows = []
    for layer in layers:
        width = widths[layer["name"]]
        accumulate = add_energy_pj(width.accumulator_bits)
        multiply = multiply_energy_pj(width.input_bits, width.weight_bits)
        arithmetic = layer["macs"] * (multiply + accumulate) + layer["synaptic_ops"] * accumulate
        reads = (layer["macs"] + layer["synaptic_ops"]) * weight_read_energy_pj(width.weight_bits)
        membrane = 0.0
        if layer["kind"] == "spiking":
            membrane = (layer["neurons"] * steps + layer["spikes"]) * add_energy_pj(width.membrane_bits)
        rows.append(
            {
                "name": layer["name"],
                "arithmetic_pj": arithmetic,
                "weight_reads_pj": reads,
                "membrane_pj": membrane,
                "energy_pj": arithmetic + reads + membrane,
            }
        )
    totals = {key: sum(row[key] for row in rows) for key in ("arithmetic_pj", "weight_reads_pj", "membrane_pj")}
    return {"layers": rows, "energy_pj": sum(totals.values()), **totals}
