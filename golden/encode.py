"""Show how TMN neurons encode values: ``python -m golden.encode 0.3 -0.7 1.2 --timesteps 6``.

Each value drives one neuron as a constant input current for T steps. The
command prints the CSS spike train, the decoded value and the error, once for
the float model (``golden.neuron.TMN``) and once for the bit-exact integer
model (``golden.integer``), whose current is ``round(x * V / v)`` for the
integer threshold V.
"""

from __future__ import annotations

import argparse
import json
import math
import sys

import numpy as np
import torch

from golden.coding import css_decode, spike_train_str
from golden.integer import IntegerNeuronConfig, in_range_input_max, required_membrane_width, simulate
from golden.neuron import TMN

__all__ = ["encode_values", "format_report", "main"]

DEFAULT_INT_THRESHOLD = 256
MAX_INPUT_WIDTH = 62
# The integer model (golden.integer.IntegerNeuronConfig) keeps 2^T and the membrane in int64.
MAX_TIMESTEPS = 62
MAX_PRECHARGE = 62

JSON_KEYS = """\
JSON output (--json), one object with the keys:
  timesteps       T, input steps and output digits per value
  precharge       P, pre-charge steps before the first digit
  threshold       v, full threshold of the float model
  relu            whether the ReLU gate is on
  int_threshold   V, full threshold of the integer model
  membrane_width  signed width of the integer membrane, in bits
  input_width     signed width of the integer input current, in bits
  values          one object per input value, in command-line order:
    input           the value x
    expected        the value the neuron should encode: x, or max(0, x) with --relu
    float           float model result:
      spikes          spike train, one character per digit: + (+1), 0, - (-1)
      decoded         v * sum_k 2^(T-k) s[k] / (2^T - 1)
      error           decoded - expected
    integer         integer model result:
      current         integer input current round(x * V / v), halves rounded to even
      spikes          spike train as for float
      decoded         v * sum_k 2^(T-k) s[k] / (2^T - 1) of the integer train, in units of v
      error           decoded - expected
      overflow        whether the membrane saturated at any step
"""


def finite_float(text: str) -> float:
    """Parse a finite float for argparse."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"value must be finite, not {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m golden.encode",
        description=(
            "Encode each value as a constant input current of a TMN neuron and print its CSS spike "
            "train, decoded value and error for the float and the bit-exact integer model. "
            "The ReLU gate is off unless --relu is given, so negative values show."
        ),
        epilog=JSON_KEYS,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("values", nargs="+", type=finite_float, metavar="VALUE", help="values to encode")
    parser.add_argument("--timesteps", "-T", type=int, default=4, help="input steps and output digits T (default 4)")
    parser.add_argument("--precharge", "-P", type=int, default=1, help="pre-charge steps P (default 1)")
    parser.add_argument(
        "--threshold", type=finite_float, default=1.0, help="full threshold v of the float model (default 1.0)"
    )
    parser.add_argument(
        "--int-threshold",
        type=int,
        default=DEFAULT_INT_THRESHOLD,
        help=f"full threshold V of the integer model, an integer >= 1 (default {DEFAULT_INT_THRESHOLD})",
    )
    parser.add_argument(
        "--membrane-width",
        type=int,
        default=None,
        help="signed membrane width of the integer model in bits (default: the smallest width at which "
        "no input in [-v, v] saturates)",
    )
    parser.add_argument("--relu", action="store_true", help="turn the ReLU gate on and show the gated output")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table (keys below)")
    return parser


def _check_range(name: str, value, minimum: int, maximum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
        raise ValueError(f"{name} must be an integer in [{minimum}, {maximum}], not {value!r}")


def _integer_current(value: float, int_threshold: int, threshold: float) -> int:
    """Return ``round(value * V / v)``, or raise ``ValueError`` if it needs more than ``MAX_INPUT_WIDTH`` bits."""
    scaled = value * int_threshold / threshold
    # Checking the float first keeps inf out of round(), which raises OverflowError on it.
    if abs(scaled) < 2.0 ** (MAX_INPUT_WIDTH - 1):
        current = round(scaled)
        if current.bit_length() + 1 <= MAX_INPUT_WIDTH:
            return current
    bits = f"{abs(int(scaled)).bit_length() + 1} bits" if math.isfinite(scaled) else "more than 1024 bits"
    raise ValueError(
        f"value {value:g} gives an integer current round(x * V / v) of {bits} (V = {int_threshold}, "
        f"v = {threshold:g}); the integer model takes at most {MAX_INPUT_WIDTH} bits, so use smaller values "
        f"or a smaller --int-threshold"
    )


def encode_values(
    values: list[float],
    timesteps: int,
    precharge: int,
    threshold: float,
    int_threshold: int = DEFAULT_INT_THRESHOLD,
    membrane_width: int | None = None,
    relu: bool = False,
) -> dict:
    """Encode ``values`` with the float and the integer TMN and return the report described in ``JSON_KEYS``.

    Raises ``ValueError`` for invalid parameters, naming the parameter.
    """
    _check_range("timesteps", timesteps, 1, MAX_TIMESTEPS)
    _check_range("precharge", precharge, 0, MAX_PRECHARGE)
    if isinstance(int_threshold, bool) or not isinstance(int_threshold, int) or int_threshold < 1:
        raise ValueError(f"int_threshold must be an integer >= 1, not {int_threshold!r}")
    threshold_width = int_threshold.bit_length() + 1
    if threshold_width > MAX_INPUT_WIDTH:
        raise ValueError(
            f"int_threshold = {int_threshold} needs {threshold_width} bits; the integer model takes at most "
            f"{MAX_INPUT_WIDTH}, so use a smaller --int-threshold"
        )
    neuron = TMN(threshold, timesteps, precharge, gate=relu)
    x = torch.tensor(values, dtype=torch.float64)
    float_digits = neuron(x.expand(timesteps, -1))
    float_decoded = neuron.decode(float_digits)

    currents = [_integer_current(value, int_threshold, threshold) for value in values]
    largest = max([int_threshold] + [abs(current) for current in currents])
    input_width = largest.bit_length() + 1
    if membrane_width is None:
        membrane_width = required_membrane_width(
            timesteps, precharge, int_threshold, in_range_input_max(precharge, int_threshold)
        )
    config = IntegerNeuronConfig(
        timesteps=timesteps,
        precharge=precharge,
        threshold=int_threshold,
        input_width=input_width,
        membrane_width=membrane_width,
        gate=relu,
    )
    current_array = np.array(currents, dtype=np.int64)
    trace = simulate(config, np.broadcast_to(current_array, (timesteps,) + current_array.shape))
    integer_decoded = css_decode(trace.spikes, threshold)

    rows = []
    for index, value in enumerate(values):
        expected = max(0.0, value) if relu else value
        rows.append(
            {
                "input": value,
                "expected": expected,
                "float": {
                    "spikes": spike_train_str(float_digits[:, index]),
                    "decoded": float(float_decoded[index]),
                    "error": float(float_decoded[index]) - expected,
                },
                "integer": {
                    "current": currents[index],
                    "spikes": spike_train_str(trace.spikes[:, index]),
                    "decoded": float(integer_decoded[index]),
                    "error": float(integer_decoded[index]) - expected,
                    "overflow": bool(trace.any_overflow[index]),
                },
            }
        )
    return {
        "timesteps": timesteps,
        "precharge": precharge,
        "threshold": threshold,
        "relu": relu,
        "int_threshold": int_threshold,
        "membrane_width": membrane_width,
        "input_width": input_width,
        "values": rows,
    }


def format_report(report: dict) -> str:
    """Render a report of :func:`encode_values` as a text table."""
    gate = "on (ReLU)" if report["relu"] else "off"
    width = max(6, report["timesteps"])
    lines = [
        f"T = {report['timesteps']}, P = {report['precharge']}, threshold v = {report['threshold']:g}, "
        f"gate {gate}",
        f"integer model: threshold V = {report['int_threshold']}, current = round(x * V / v), "
        f"input {report['input_width']} bits, membrane {report['membrane_width']} bits",
        "",
        f"{'input':>12}  {'model':<7}  {'current':>8}  {'spikes':<{width}}  "
        f"{'decoded':>12}  {'error':>12}  overflow",
    ]
    for row in report["values"]:
        result = row["float"]
        lines.append(
            f"{row['input']:>12.6f}  {'float':<7}  {'':>8}  {result['spikes']:<{width}}  "
            f"{result['decoded']:>12.6f}  {result['error']:>+12.6f}"
        )
        result = row["integer"]
        overflow = "yes" if result["overflow"] else "no"
        lines.append(
            f"{'':>12}  {'integer':<7}  {result['current']:>8}  {result['spikes']:<{width}}  "
            f"{result['decoded']:>12.6f}  {result['error']:>+12.6f}  {overflow}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    try:
        report = encode_values(
            arguments.values,
            timesteps=arguments.timesteps,
            precharge=arguments.precharge,
            threshold=arguments.threshold,
            int_threshold=arguments.int_threshold,
            membrane_width=arguments.membrane_width,
            relu=arguments.relu,
        )
    except ValueError as error:
        parser.error(str(error))
    if arguments.json:
        print(json.dumps(report, indent=2))
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
