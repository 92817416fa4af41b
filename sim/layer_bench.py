"""cocotb bench of one spiking layer array against the golden integer layer.

The launcher :func:`run_layer_bench` draws random integer weights, biases and
ternary input spike trains, writes the layer's Verilog and the stimulus into
its own build directory, and runs the cocotb test below on Icarus Verilog or
Verilator. The test streams each sample's spike events (with random idle
cycles), accepts the output with random backpressure, and compares every
output spike vector and overflow flag with ``golden.integer_layer``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
from pathlib import Path

import numpy as np

from golden.integer import IntegerNeuronConfig
from golden.integer_layer import spiking_layer
from sim.codec import decode_spike_output, describe_spike_output, encode_event, encode_marker, event_index_width

__all__ = ["LayerCase", "make_layer_stimulus", "run_layer_bench"]

DATA_ENV = "TMN_LAYER_BENCH_DATA"


@dataclasses.dataclass(frozen=True)
class LayerCase:
    """One randomised layer bench: shape, neuron parameters, handshake stress and seed."""

    name: str
    neurons: int = 12
    inputs: int = 20
    timesteps: int = 4
    precharge: int = 1
    threshold: int = 32
    weight_max: int = 20
    samples: int = 12
    spike_density: float = 0.3
    idle_probability: float = 0.3
    stall_probability: float = 0.3
    membrane_width: int | None = None
    gate: bool = True
    seed: int = 1


def make_layer_stimulus(case: LayerCase) -> dict[str, np.ndarray]:
    """Return random weights, biases and spike trains [samples, T, M] for ``case``, seeded by ``case.seed``."""
    rng = np.random.default_rng(case.seed)
    weight = rng.integers(-case.weight_max, case.weight_max + 1, size=(case.neurons, case.inputs))
    bias = rng.integers(-case.threshold, case.threshold + 1, size=case.neurons)
    draws = rng.random((case.samples, case.timesteps, case.inputs))
    signs = rng.choice([-1, 1], size=draws.shape)
    spikes = np.where(draws < case.spike_density, signs, 0).astype(np.int8)
    return {"weight": weight, "bias": bias, "spikes": spikes}


def layer_membrane_width(case: LayerCase) -> int:
    """Return the case's membrane width: the in-range minimum unless the case sets one."""
    from golden.integer import in_range_input_max, required_membrane_width

    if case.membrane_width is not None:
        return case.membrane_width
    return required_membrane_width(
        case.timesteps, case.precharge, case.threshold, in_range_input_max(case.precharge, case.threshold)
    )


def run_layer_bench(case: LayerCase, simulator: str, build_root: Path, waves: bool | None = None) -> dict:
    """Build and run ``case`` on ``simulator`` ("icarus" or "verilator"); return the bench's measurements.

    The result contains ``samples``, ``steps`` (input steps), ``events`` (non-zero
    input spikes), ``cycles`` (first input transfer to last output transfer)
    and ``build_dir``. Raises ``AssertionError`` if the cocotb test fails.
    """
    from tmn_hw.layer import SpikingLayer
    from sim.launch import run_cocotb

    stimulus = make_layer_stimulus(case)
    layer = SpikingLayer(
        stimulus["weight"],
        stimulus["bias"],
        timesteps=case.timesteps,
        precharge=case.precharge,
        threshold=case.threshold,
        membrane_width=layer_membrane_width(case),
        gate=case.gate,
    )
    build_dir = Path(build_root) / f"{case.name}-{simulator}"
    build_dir.mkdir(parents=True, exist_ok=True)
    data = build_dir / "stimulus.npz"
    np.savez(data, **stimulus)
    (build_dir / "result.json").unlink(missing_ok=True)
    (build_dir / "case.json").write_text(json.dumps(dataclasses.asdict(case), indent=2))
    run_cocotb(
        layer,
        toplevel="layer",
        test_module="sim.layer_bench",
        simulator=simulator,
        build_dir=build_dir,
        extra_env={DATA_ENV: str(data.resolve())},
        waves=waves,
    )
    result = json.loads((build_dir / "result.json").read_text())
    result["build_dir"] = str(build_dir)
    return result


def _load_case(data: Path) -> tuple[LayerCase, dict[str, np.ndarray]]:
    case = LayerCase(**json.loads((data.parent / "case.json").read_text()))
    with np.load(data) as stored:
        stimulus = {key: stored[key] for key in stored.files}
    return case, stimulus


try:
    import cocotb
except ImportError:  # the launcher runs without cocotb's simulator-side modules
    cocotb = None

if cocotb is not None:
    from sim.stream_tb import CycleBench, Scoreboard, StreamSink, StreamSource

    @cocotb.test()
    async def layer_matches_golden(dut):
        """Check that every output spike vector and overflow flag equals the golden integer layer."""
        log = logging.getLogger("tmn_hw.bench.layer")
        case, stimulus = _load_case(Path(os.environ[DATA_ENV]))
        config = IntegerNeuronConfig(
            timesteps=case.timesteps,
            precharge=case.precharge,
            threshold=case.threshold,
            input_width=64,
            membrane_width=layer_membrane_width(case),
            gate=case.gate,
        )
        rng = random.Random(case.seed)
        bench = CycleBench(dut)
        source = StreamSource(dut, "i", rng, case.idle_probability)
        sink = StreamSink(dut, "o", rng, case.stall_probability)
        scoreboard = Scoreboard(log, describe_spike_output)
        index_width = event_index_width(case.inputs)

        for spikes in stimulus["spikes"]:
            trace = spiking_layer(config, stimulus["weight"], stimulus["bias"], spikes)
            overflow = np.cumsum(trace.overflow.any(axis=1))[config.precharge :] > 0
            for digits, flag in zip(trace.spikes, overflow):
                scoreboard.expect("o", (tuple(int(d) for d in digits), bool(flag)))
            for step in spikes:
                for index in np.flatnonzero(step):
                    source.queue.append(encode_event(int(index), step[index] < 0, index_width))
                source.queue.append(encode_marker(index_width))

        events = int(np.count_nonzero(stimulus["spikes"]))
        steps = case.samples * case.timesteps
        first_input = last_output = None

        def on_transfer(name, cycle, payload):
            nonlocal first_input, last_output
            if name == "i" and first_input is None:
                first_input = cycle
            if name == "o":
                last_output = cycle
                scoreboard.compare("o", cycle, decode_spike_output(payload, case.neurons))

        await bench.start()
        budget = 20 * (len(source.queue) + case.samples * (case.timesteps + case.precharge)) + 100
        await bench.run([source], [sink], on_transfer, lambda: scoreboard.pending == 0, budget)
        # Run on a little, so that a spurious extra output would be seen.
        settle_end = bench.cycle + 20
        await bench.run([source], [sink], on_transfer, lambda: bench.cycle >= settle_end, settle_end)
        assert source.idle, f"{len(source.queue)} input events were never accepted"
        scoreboard.check()
        # Cycles from the first input transfer to the last output transfer, inclusive.
        cycles = last_output - first_input + 1
        log.info(
            "%d samples, %d input steps, %d events, %d cycles: %.3f cycles per step beyond the events",
            case.samples,
            steps,
            events,
            cycles,
            (cycles - events) / steps,
        )
        result = {"samples": case.samples, "steps": steps, "events": events, "cycles": cycles}
        data = Path(os.environ[DATA_ENV])
        temporary = data.parent / "result.json.tmp"
        temporary.write_text(json.dumps(result))
        os.replace(temporary, data.parent / "result.json")
