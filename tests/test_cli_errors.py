"""Each command line tool ends a bad invocation with one ``prog: error: ...`` line and exit status 2.

The checkpoint and the network file are a small digits MLP trained and
exported here; every case runs the tool's ``main`` in-process.
"""

from __future__ import annotations

import pytest

from golden import convert, export, integer_network, train
from sim import network_bench
from tmn_hw import gen, report


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Return a dict of paths: a digits checkpoint, its network file, a text file and a missing file."""
    folder = tmp_path_factory.mktemp("cli_errors")
    checkpoint = folder / "digits_mlp.pt"
    train.main(["--dataset", "digits", "--arch", "mlp", "--out", str(checkpoint), "--epochs", "1", "--seed", "1"])
    network = folder / "digits_mlp.npz"
    export.main([str(checkpoint), "-T", "4", "--out", str(network), "--no-evaluate", "--calibration-images", "100"])
    text = folder / "notes.pt"
    text.write_text("meeting notes, not a checkpoint\n")
    renamed = folder / "notes.npz"
    renamed.write_text("meeting notes, not a network\n")
    return {
        "checkpoint": checkpoint,
        "network": network,
        "text_pt": text,
        "text_npz": renamed,
        "missing": folder / "missing.pt",
    }


def error_line(main, arguments, capsys) -> str:
    """Run ``main(arguments)``, check that it exits with status 2 and return its last stderr line."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(argument) for argument in arguments])
    assert exit_info.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


# golden.convert


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-P", "-1"], "--precharge must be >= 0, not -1"),
        (["--percentile", "0"], "--percentile must be in (0, 100], not 0"),
        (["--percentile", "150"], "--percentile must be in (0, 100], not 150"),
        (["--limit", "-3"], "--limit must be >= 1, not -3"),
    ],
)
def test_convert_rejects_option(files, arguments, message, capsys):
    line = error_line(convert.main, [files["checkpoint"], *arguments], capsys)
    assert line == f"python -m golden.convert: error: {message}"


def test_convert_missing_checkpoint(files, capsys):
    line = error_line(convert.main, [files["missing"]], capsys)
    assert line == (
        f"python -m golden.convert: error: checkpoint {files['missing']} not found; "
        f"train one with 'python -m golden.train'"
    )


def test_convert_text_file_is_no_checkpoint(files, capsys):
    line = error_line(convert.main, [files["text_pt"]], capsys)
    assert line == (
        f"python -m golden.convert: error: {files['text_pt']}: not a checkpoint written by python -m golden.train; "
        f"pass the .pt file that golden.train wrote with --out"
    )
    assert "weights_only" not in line


def test_convert_network_file_is_no_checkpoint(files, capsys):
    line = error_line(convert.main, [files["network"]], capsys)
    assert line == (
        f"python -m golden.convert: error: {files['network']}: not a checkpoint written by python -m golden.train; "
        f"it is an integer network file written by python -m golden.export, the input of "
        f"python -m tmn_hw.gen network and python -m sim.network_bench"
    )
    assert "weights_only" not in line


def test_report_network_file_is_no_checkpoint(files, capsys):
    status = report.main(["--only", "energy", "--checkpoint", str(files["network"]), "--dataset", "digits"])
    error = capsys.readouterr().err
    assert status == 1
    assert f"{files['network']}: not a checkpoint written by python -m golden.train" in error
    assert "it is an integer network file written by python -m golden.export" in error
    assert "weights_only" not in error


# golden.export


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["-T", "0"], "--timesteps must be in [1, 30], not 0: the network file format stores T in [1, 30]"),
        (["-T", "40"], "--timesteps must be in [1, 30], not 40: the network file format stores T in [1, 30]"),
        (["-T", "4", "-P", "-1"], "--precharge must be in [0, 30], not -1: the network file format stores P in [0, 30]"),
        (["-T", "4", "-P", "31"], "--precharge must be in [0, 30], not 31: the network file format stores P in [0, 30]"),
        (["-T", "4", "--weight-width", "1"], "--weight-width must be in [2, 16] bits, not 1"),
        (["-T", "4", "--saturation", "0"], "--saturation must be >= 1 full threshold, not 0"),
        (["-T", "4", "--saturation", "nan"], "--saturation must be >= 1 full threshold, not nan"),
        (["-T", "4", "--percentile", "0"], "--percentile must be in (0, 100], not 0"),
        (["-T", "4", "--calibration-images", "0"], "--calibration-images must be >= 1, not 0"),
        (["-T", "4", "--calibration-images", "-5"], "--calibration-images must be >= 1, not -5"),
        (["-T", "4", "--calibration-batches", "0"], "--calibration-batches must be >= 1, not 0"),
        (["-T", "4", "--limit", "-3"], "--limit must be >= 1, not -3"),
    ],
)
def test_export_rejects_option_before_work(files, arguments, message, tmp_path, capsys):
    # The checkpoint is missing: an option error proves that export checked its options before loading it.
    line = error_line(export.main, [files["missing"], "--out", tmp_path / "net.npz", *arguments], capsys)
    assert line == f"python -m golden.export: error: {message}"


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing", "checkpoint {path} not found; train one with 'python -m golden.train'"),
        ("text_pt", "{path}: not a checkpoint written by python -m golden.train"),
    ],
)
def test_export_rejects_checkpoint_file(files, source, message, tmp_path, capsys):
    path = files[source]
    line = error_line(export.main, [path, "-T", "4", "--out", tmp_path / "net.npz"], capsys)
    assert line.startswith(f"python -m golden.export: error: {message.format(path=path)}")


def test_export_prints_output_layer_threshold(files, tmp_path, capsys):
    export.main([str(files["checkpoint"]), "-T", "4", "--out", str(tmp_path / "net.npz"), "--limit", "20",
                 "--calibration-images", "100"])
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("layer thresholds V: ")]
    assert len(lines) == 1
    thresholds = lines[0].removeprefix("layer thresholds V: ").split(", ")
    assert thresholds[-1] == "output"
    assert all(value.isdigit() for value in thresholds[:-1])


# golden.train


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--arch", "mlp", "--batch-size", "0"], "--batch-size must be >= 1, not 0"),
        (["--arch", "mlp", "--lr", "-1"], "--lr must be a finite number > 0, not -1"),
        (["--arch", "mlp", "--lr", "0"], "--lr must be a finite number > 0, not 0"),
        (["--arch", "mlp", "--lr", "inf"], "--lr must be a finite number > 0, not inf"),
        (["--arch", "mlp", "--weight-decay", "-1"], "--weight-decay must be a finite number >= 0, not -1"),
        (["--arch", "mlp", "--epochs", "0"], "--epochs must be >= 1, not 0"),
        (["--quantise", "3"], "--quantise needs --init CKPT, the float checkpoint to fine-tune"),
    ],
)
def test_train_rejects_option(arguments, message, tmp_path, capsys):
    out = tmp_path / "ck.pt"
    line = error_line(train.main, ["--dataset", "digits", "--out", out, *arguments], capsys)
    assert line == f"python -m golden.train: error: {message}"
    assert not out.exists()


@pytest.mark.parametrize("quantise", ["0", "31"])
def test_train_quantise_names_option(files, quantise, tmp_path, capsys):
    arguments = ["--dataset", "digits", "--out", tmp_path / "q.pt", "--init", files["checkpoint"], "--quantise", quantise]
    line = error_line(train.main, arguments, capsys)
    assert line.startswith(f"python -m golden.train: error: --quantise must be in [1, 30], not {quantise}: ")
    assert "timesteps must be" not in line


def test_train_init_text_file(files, tmp_path, capsys):
    out = tmp_path / "q.pt"
    arguments = ["--dataset", "digits", "--out", out, "--init", files["text_pt"], "--quantise", "3", "--epochs", "1"]
    line = error_line(train.main, arguments, capsys)
    assert line.startswith(f"python -m golden.train: error: {files['text_pt']}: not a checkpoint written by")
    assert not out.exists()


# golden.integer_network


def test_integer_network_text_file(files, capsys):
    line = error_line(integer_network.main, [files["text_npz"]], capsys)
    assert line == (
        f"python -m golden.integer_network: error: {files['text_npz']}: not a .npz network file written by "
        f"python -m golden.export"
    )


def test_integer_network_checkpoint_file(files, capsys):
    line = error_line(integer_network.main, [files["checkpoint"]], capsys)
    assert line == (
        f"python -m golden.integer_network: error: {files['checkpoint']}: not a .npz network file written by "
        f"python -m golden.export; it is a PyTorch checkpoint, so export it first: "
        f"python -m golden.export {files['checkpoint']} --timesteps T --out NET.npz"
    )


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--limit", "-3"], "--limit must be >= 1, not -3"),
        (["--limit", "0"], "--limit must be >= 1, not 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1, not 0"),
    ],
)
def test_integer_network_rejects_option(files, arguments, message, capsys):
    line = error_line(integer_network.main, [files["network"], *arguments], capsys)
    assert line == f"python -m golden.integer_network: error: {message}"


def test_integer_network_other_dataset(files, capsys):
    line = error_line(integer_network.main, [files["network"], "--dataset", "fashion-mnist"], capsys)
    assert line == (
        f"python -m golden.integer_network: error: {files['network']}: the network was exported for 8x8 digits "
        f"images (pixels 0..16), but the fashion-mnist test set has 28x28 images (pixels 0..255); "
        f"use --dataset digits"
    )


# sim.network_bench: every case fails before any simulator starts.


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--images", "0"], "--images must be >= 1, not 0"),
        (["--images", "-3"], "--images must be >= 1, not -3"),
        (["--images", "99999"], "--images must be at most 360, the size of the digits test set, not 99999"),
        (["--simulators", "modelsim"], "argument --simulators: invalid choice: 'modelsim' (choose from 'icarus', 'verilator')"),
        (["--dataset", "mnist"], "argument --dataset: invalid choice: 'mnist' (choose from 'fashion-mnist', 'digits')"),
        (["--idle", "1.5"], "argument --idle: must be a probability in [0, 1), not 1.5"),
        (["--stall", "1"], "argument --stall: must be a probability in [0, 1), not 1"),
        (["--stall", "-0.1"], "argument --stall: must be a probability in [0, 1), not -0.1"),
        (["--idle", "x"], "argument --idle: invalid number: 'x'"),
    ],
)
def test_network_bench_rejects_option(files, arguments, message, tmp_path, capsys):
    line = error_line(network_bench.main, [files["network"], "--build-dir", tmp_path, *arguments], capsys)
    assert line == f"python -m sim.network_bench: error: {message}"


def test_network_bench_other_dataset(files, tmp_path, capsys):
    arguments = [files["network"], "--dataset", "fashion-mnist", "--images", "2", "--build-dir", tmp_path]
    line = error_line(network_bench.main, arguments, capsys)
    assert line.endswith("(pixels 0..255); use --dataset digits")
    assert "was exported for 8x8 digits images" in line
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("missing", "network file {path} not found; write one with 'python -m golden.export'"),
        ("text_npz", "{path}: not a .npz network file written by python -m golden.export"),
    ],
)
def test_network_bench_rejects_file(files, source, message, tmp_path, capsys):
    path = files[source]
    line = error_line(network_bench.main, [path, "--build-dir", tmp_path], capsys)
    assert line == f"python -m sim.network_bench: error: {message.format(path=path)}"


# tmn_hw.gen


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["pe", "--max-timesteps", "0"], "--max-timesteps must be an integer in [1, 62], not 0"),
        (["pe", "--max-timesteps", "-1"], "--max-timesteps must be an integer in [1, 62], not -1"),
        (["pe", "--max-precharge", "-1"], "--max-precharge must be an integer in [0, 62], not -1"),
        (["if-pe", "--max-timesteps", "0"], "--max-timesteps must be an integer in [1, 62], not 0"),
        (["pe", "--threshold", "0"], "--threshold must be an integer >= 1, not 0"),
    ],
)
def test_gen_checks_range_first(arguments, message, tmp_path, capsys):
    out = tmp_path / "pe.v"
    line = error_line(gen.main, [*arguments, "--out", out], capsys)
    assert line == f"python -m tmn_hw.gen {arguments[0]}: error: {message}"
    assert not out.exists()


@pytest.mark.parametrize("command", ["pe", "if-pe", "network"])
@pytest.mark.parametrize("name", ["bad name", "9bad", "bad.name"])
def test_gen_rejects_module_name(files, command, name, tmp_path, capsys):
    flags = ["--network", files["network"], "--out", tmp_path] if command == "network" else ["--out", tmp_path / "x.v"]
    line = error_line(gen.main, [command, "--name", name, *flags], capsys)
    assert line == (
        f"python -m tmn_hw.gen {command}: error: --name must be a Verilog identifier "
        f"(a letter or _, then letters, digits, _ or $), not {name!r}"
    )
    assert not any(tmp_path.iterdir())


def test_gen_network_text_file(files, tmp_path, capsys):
    path = files["text_npz"]
    line = error_line(gen.main, ["network", "--network", path, "--out", tmp_path], capsys)
    assert line == f"python -m tmn_hw.gen network: error: {path}: not a .npz network file written by python -m golden.export"
    assert line.count(str(path)) == 1
    assert "allow_pickle" not in line
