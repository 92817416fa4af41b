"""The Verilog generator command: output files, determinism and parameter errors."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tmn_hw.gen import main
from tmn_hw.pe import TMNProcessingElement
from tmn_hw.verilog import write_verilog


def run_gen(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tmn_hw.gen", *args], capture_output=True, text=True)


def test_gen_pe_command_writes_module(tmp_path):
    out = tmp_path / "pe.v"
    result = run_gen("pe", "--threshold", "5", "--input-width", "5", "--max-precharge", "2", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(out)
    text = out.read_text()
    assert "module tmn_pe(" in text
    assert "precharge" in text
    assert "src =" not in text


def test_gen_if_pe_command_writes_module(tmp_path):
    out = tmp_path / "if.v"
    result = run_gen("if-pe", "--name", "rate_pe", "--out", str(out))
    assert result.returncode == 0, result.stderr
    text = out.read_text()
    assert "module rate_pe(" in text
    assert "precharge" not in text


@pytest.mark.parametrize("command", ["pe", "if-pe"])
def test_gen_same_parameters_same_bytes(tmp_path, command):
    first, second = tmp_path / "first.v", tmp_path / "second.v"
    main([command, "--threshold", "12", "--max-timesteps", "6", "--out", str(first)])
    main([command, "--threshold", "12", "--max-timesteps", "6", "--out", str(second)])
    assert first.read_bytes() == second.read_bytes()


def test_gen_leaves_no_temporary_file(tmp_path):
    main(["pe", "--out", str(tmp_path / "pe.v")])
    assert [path.name for path in tmp_path.iterdir()] == ["pe.v"]


def test_write_verilog_keeps_old_file_on_error(tmp_path):
    path = tmp_path / "pe.v"
    path.write_text("old")
    pe = TMNProcessingElement(input_width=6, membrane_width=9, threshold=16, max_timesteps=8, max_precharge=3)
    with pytest.raises(TypeError):
        write_verilog(pe, 42, path)
    assert path.read_text() == "old"
    assert [entry.name for entry in tmp_path.iterdir()] == ["pe.v"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["pe", "--threshold", "0"], "threshold must be an integer >= 1, not 0"),
        (["pe", "--max-precharge", "63"], "--max-precharge must be an integer in [0, 62], not 63"),
        (["pe", "--membrane-width", "4"], "membrane_width must be in ["),
        (["if-pe", "--input-width", "3"], "input_width must hold the threshold 64, not 3; use input_width >= 8"),
    ],
)
def test_gen_rejects_invalid_flag(tmp_path, args, message):
    out = tmp_path / "x.v"
    result = run_gen(*args, "--out", str(out))
    assert result.returncode == 2
    assert message in result.stderr
    assert not out.exists()


def test_gen_requires_command():
    result = run_gen()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr
