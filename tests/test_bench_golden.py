"""``python -m golden.bench`` runs at a tiny size and writes every field of its JSON file (speed is not checked)."""

from __future__ import annotations

import json

import pytest

from golden.bench import CASES, TARGET_RATIO, main


def test_bench_writes_all_fields(tmp_path, capsys):
    output = tmp_path / "bench" / "golden_speed.json"
    status = main(["--arch", "mlp", "--dataset", "digits", "--batch", "4", "--timesteps", "2", "--repeats", "1",
                   "--output", str(output)])
    assert status == (0 if json.loads(output.read_text())["runs"][0]["meets_target"] else 1)
    assert f"wrote {output}" in capsys.readouterr().out
    assert [path.name for path in output.parent.iterdir()] == ["golden_speed.json"]  # no temporary file left
    payload = json.loads(output.read_text())
    assert payload["command"].startswith("python -m golden.bench --arch mlp")
    assert set(payload["machine"]) == {
        "processor", "cpu_count", "threads", "python", "torch", "load_average_1min", "neuron_kernel"}
    assert payload["machine"]["neuron_kernel"] == "compiled"
    (run,) = payload["runs"]
    assert (run["arch"], run["dataset"], run["batch"], run["timesteps"], run["precharge"]) == ("mlp", "digits", 4, 2, 1)
    assert set(run["cases"]) == set(CASES)
    for case, result in run["cases"].items():
        assert result["seconds"] > 0, case
        assert result["peak_memory_mib"] >= 0, case
        assert result["baseline_rss_mib"] > 0, case
        # Linux resets the peak before the run, so the figure is the run's own rather than 0 below an earlier peak.
        assert result["peak_memory_method"] == "VmHWM after malloc_trim and clear_refs", case
        assert len(result["rounds_seconds"]) == 1, case
        assert result["seconds"] == result["rounds_seconds"][0], case
        if case != "ann":
            ratio = result["seconds"] / (2 * run["cases"]["ann"]["seconds"])
            assert result["ann_passes_per_step"] == pytest.approx(ratio), case
    assert run["tmn_ann_passes_per_step"] == run["cases"]["tmn"]["ann_passes_per_step"]
    assert run["target_ann_passes_per_step"] == TARGET_RATIO
    assert run["meets_target"] == (run["tmn_ann_passes_per_step"] <= TARGET_RATIO)
    assert run["reference_speedup"] > 0
    assert run["pytorch_neurons_speedup"] > 0


def test_bench_fails_when_the_target_is_missed(tmp_path, capsys):
    output = tmp_path / "golden_speed.json"
    status = main(["--arch", "mlp", "--dataset", "digits", "--batch", "4", "--timesteps", "2", "--repeats", "1",
                   "--target", "1e-9", "--output", str(output)])
    assert status == 1
    assert "the TMN simulation of mlp costs more than 1e-09 ANN passes per step" in capsys.readouterr().err
    (run,) = json.loads(output.read_text())["runs"]
    assert run["target_ann_passes_per_step"] == 1e-9
    assert run["meets_target"] is False


def test_bench_rejects_zero_batch(capsys):
    with pytest.raises(SystemExit):
        main(["--batch", "0"])
    assert "--batch must be >= 1, not 0" in capsys.readouterr().err
