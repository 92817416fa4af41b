"""Synthesis flows on a real design: Yosys and nextpnr-ice40 run, their JSON output is parsed."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from amaranth import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from synth import Ice40Options, ToolError, component_verilog, generic_flow, ice40_flow
from synth.harness import harness_verilog
from synth.nextpnr import parse_report, place_and_route
from synth.yosys import Port, parse_stat, read_ports


class Accumulator(wiring.Component):
    """Signed accumulator of ``width`` bits: ``total += addend`` while ``enable`` is high."""

    def __init__(self, width: int):
        self.width = width
        super().__init__({"addend": In(signed(8)), "enable": In(1), "total": Out(signed(width))})

    def elaborate(self, platform):
        m = Module()
        with m.If(self.enable):
            m.d.sync += self.total.eq(self.total + self.addend)
        return m


def accumulator_verilog(width: int) -> str:
    return component_verilog(Accumulator(width), "accumulator")


def test_ice40_flow_counts_accumulator(tmp_path):
    width = 8
    result = ice40_flow(accumulator_verilog(width), "accumulator", Ice40Options(device="up5k"), cache_dir=tmp_path)
    resources = result["resources"]

    assert resources["dff"] == width  # one flip-flop per bit of the total register
    assert resources["carry"] >= width - 2  # the adder's carry chain
    assert resources["lut4"] >= width
    assert resources["ram"] == 0
    assert resources["logic_cells"] >= resources["dff"]
    assert result["fmax_mhz"] > 0
    assert result["harness"]["input_bits"] == 8 + 1 + 1  # addend, enable, rst
    assert result["harness"]["output_bits"] == width


def test_ice40_flow_labels_tools(tmp_path):
    result = ice40_flow(accumulator_verilog(8), "accumulator", cache_dir=tmp_path)
    yosys_line = subprocess.run(["yosys", "-V"], capture_output=True, text=True).stdout.strip()
    nextpnr = subprocess.run(["nextpnr-ice40", "--version"], capture_output=True, text=True)
    nextpnr_line = (nextpnr.stdout + nextpnr.stderr).strip()  # nextpnr 0.4 prints its version on stderr

    assert result["yosys"]["version"] == yosys_line
    assert result["place_and_route"]["version"] == nextpnr_line.splitlines()[0]
    assert "synth_ice40 -top accumulator" in result["yosys"]["script"]
    assert "stat -json" in result["yosys"]["script"]
    assert result["pack"]["command"].startswith("nextpnr-ice40 --up5k --package sg48 ")
    assert "--pack-only" in result["pack"]["command"]
    assert "--freq 100 --timing-allow-fail" in result["place_and_route"]["command"]
    assert (result["device"], result["package"]) == ("up5k", "sg48")


def test_ice40_flow_hx8k(tmp_path):
    result = ice40_flow(accumulator_verilog(8), "accumulator", Ice40Options(device="hx8k"), cache_dir=tmp_path)

    assert result["package"] == "ct256"
    assert "--hx8k --package ct256" in result["place_and_route"]["command"]
    assert result["place_and_route"]["utilization"]["ICESTORM_LC"]["available"] == 7680


def test_wider_accumulator_never_fewer_cells(tmp_path):
    results = [ice40_flow(accumulator_verilog(w), "accumulator", cache_dir=tmp_path) for w in (8, 12, 16)]
    generic = [generic_flow(accumulator_verilog(w), "accumulator", cache_dir=tmp_path) for w in (8, 12, 16)]

    for narrow, wide in zip(results, results[1:]):
        for kind in ("lut4", "carry", "dff", "logic_cells"):
            assert wide["resources"][kind] >= narrow["resources"][kind], kind
    for narrow, wide in zip(generic, generic[1:]):
        assert wide["cells"] >= narrow["cells"]
        assert wide["flip_flops"] > narrow["flip_flops"]


def test_generic_flow_counts_flip_flops(tmp_path):
    result = generic_flow(accumulator_verilog(12), "accumulator", cache_dir=tmp_path)

    assert result["flip_flops"] == 12
    assert result["cells"] == sum(result["cells_by_type"].values())
    assert "synth -flatten -top accumulator" in result["yosys"]["script"]


def test_flow_cache_reuses_result(tmp_path):
    verilog = accumulator_verilog(8)
    first = ice40_flow(verilog, "accumulator", cache_dir=tmp_path)
    stored = sorted(p.name for p in tmp_path.iterdir())
    second = ice40_flow(verilog, "accumulator", cache_dir=tmp_path)
    other_seed = ice40_flow(verilog, "accumulator", Ice40Options(seed=2), cache_dir=tmp_path)

    assert second == first
    assert len(stored) == 1
    assert json.loads((tmp_path / stored[0] / "result.json").read_text()) == first
    assert len(list(tmp_path.iterdir())) == 2
    assert other_seed["place_and_route"]["seed"] == 2


def test_yosys_syntax_error_raises_tool_error(tmp_path):
    verilog = "module broken(input a, output b);\n  assign b = a +;\nendmodule\n"
    with pytest.raises(ToolError) as caught:
        generic_flow(verilog, "broken", cache_dir=tmp_path)

    assert caught.value.tool == "yosys"
    assert caught.value.returncode == 1
    assert "syntax error" in caught.value.stderr_tail
    assert "syntax error" in str(caught.value)
    assert list(tmp_path.iterdir()) == []  # a failed run leaves nothing in the cache


def test_missing_yosys_raises_tool_error(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(ToolError, match="executable 'yosys' not found on PATH") as caught:
        generic_flow(accumulator_verilog(8), "accumulator", cache_dir=tmp_path / "cache")

    assert caught.value.tool == "yosys"
    assert caught.value.returncode is None
    assert "make install" in str(caught.value)
    assert "apt-get install yosys nextpnr-ice40 fpga-icestorm" in str(caught.value)


def test_missing_nextpnr_raises_tool_error(tmp_path, monkeypatch):
    only_yosys = tmp_path / "bin"
    only_yosys.mkdir()
    (only_yosys / "yosys").symlink_to(shutil.which("yosys"))
    monkeypatch.setenv("PATH", str(only_yosys))
    with pytest.raises(ToolError, match="executable 'nextpnr-ice40' not found on PATH"):
        ice40_flow(accumulator_verilog(8), "accumulator", cache_dir=tmp_path / "cache")


def test_nextpnr_bad_netlist_raises_tool_error(tmp_path):
    netlist = tmp_path / "netlist.json"
    netlist.write_text('{"modules": {}}\n')
    with pytest.raises(ToolError) as caught:
        place_and_route(netlist, "up5k", tmp_path)

    assert caught.value.tool == "nextpnr-ice40"
    assert caught.value.returncode != 0
    assert caught.value.stderr_tail


def test_parse_stat_rejects_unknown_module(tmp_path):
    result = generic_flow(accumulator_verilog(8), "accumulator", cache_dir=tmp_path)
    stat = next(tmp_path.glob("*/stat.json")).read_text()

    assert parse_stat(stat, "accumulator")["cells"] == result["cells"]
    with pytest.raises(ValueError, match="Yosys stat output has no module 'other'"):
        parse_stat(stat, "other")


def test_parse_report_reads_fmax_and_utilization(tmp_path):
    ice40_flow(accumulator_verilog(8), "accumulator", cache_dir=tmp_path)
    report = json.loads(next(tmp_path.glob("*/harness/report.json")).read_text())
    parsed = parse_report(report)

    assert parsed["fmax_min_mhz"] == min(v["achieved"] for v in report["fmax"].values())
    assert parsed["logic_cells"] == report["utilization"]["ICESTORM_LC"]["used"]
    assert parsed["io_cells"] == 3  # clk, serial_in, serial_out of the harness


def test_read_ports_of_accumulator(tmp_path):
    design = tmp_path / "design.v"
    design.write_text(accumulator_verilog(12))
    ports = {p.name: p for p in read_ports(design, "accumulator", tmp_path)}

    assert ports["total"] == Port("total", "output", 12)
    assert ports["addend"] == Port("addend", "input", 8)
    assert ports["clk"].width == 1


def test_harness_rejects_bad_ports():
    with pytest.raises(ValueError, match="has no output port"):
        harness_verilog([Port("a", "input", 4)], "sink")
    with pytest.raises(ValueError, match="inout ports"):
        harness_verilog([Port("pad", "inout", 1), Port("y", "output", 1)], "pads")
    with pytest.raises(ValueError, match="must be a 1-bit input"):
        harness_verilog([Port("clk", "input", 2), Port("y", "output", 1)], "twoclocks")


def test_ice40_options_reject_bad_values():
    with pytest.raises(ValueError, match=r"device must be one of \['hx8k', 'up5k'\], not 'lp1k'"):
        Ice40Options(device="lp1k")
    with pytest.raises(ValueError, match="seed must be an integer >= 0, not -1"):
        Ice40Options(seed=-1)
    with pytest.raises(ValueError, match=r"freq_mhz must be a number > 0 \(MHz\), not 0"):
        Ice40Options(freq_mhz=0)
    with pytest.raises(TypeError, match="options must be an Ice40Options, not dict"):
        ice40_flow(accumulator_verilog(8), "accumulator", {"device": "up5k"}, cache_dir=None)


def test_synth_command_prints_json(tmp_path, capsys):
    from synth.__main__ import main

    design = tmp_path / "accumulator.v"
    design.write_text(accumulator_verilog(8))
    status = main([str(design), "--top", "accumulator", "--json", "--no-cache"])
    result = json.loads(capsys.readouterr().out)

    assert status == 0
    assert result["ice40"]["resources"]["dff"] == 8
    assert result["generic"]["flip_flops"] == 8


def test_synth_command_prints_text(tmp_path, capsys):
    from synth.__main__ import main

    design = tmp_path / "accumulator.v"
    design.write_text(accumulator_verilog(8))
    status = main([str(design), "--top", "accumulator", "--no-cache"])
    lines = capsys.readouterr().out.splitlines()

    assert status == 0
    assert lines[0].startswith("accumulator: generic cells ")
    assert lines[0].endswith("(8 flip-flops)")
    assert "dff 8," in lines[1]
    assert lines[2].endswith(": read_verilog -sv design.v; synth_ice40 -top accumulator -json netlist.json; "
                             "tee -q -o stat.json stat -json")


def test_synth_command_reports_syntax_error(tmp_path, capsys):
    from synth.__main__ import main

    design = tmp_path / "broken.v"
    design.write_text("module broken(input a, output b);\n  assign b = a +;\nendmodule\n")
    status = main([str(design), "--top", "broken", "--no-cache"])

    assert status == 1
    assert "syntax error" in capsys.readouterr().err
