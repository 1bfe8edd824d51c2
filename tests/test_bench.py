"""Tests for cnnkit.bench: recipes, the Markdown table, and an end-to-end run on a stand-in."""

import json

import pytest

from cnnkit import bench
from cnnkit.__main__ import main as cli

REQUIRED = {
    "model",
    "dataset",
    "budget",
    "test_accuracy",
    "epochs",
    "wall_s",
    "train_images_per_s",
    "infer_images_per_s",
    "peak_rss_mb",
    "plain_keras_wall_s",
    "overhead_ratio",
    "overhead_ratio_cpu",
    "cpu_s",
    "machine",
}


def test_recipes_cover_the_default_models_and_every_budget():
    assert set(bench.DEFAULT_MODELS) <= set(bench.RECIPES)
    for name in bench.DEFAULT_MODELS:
        fast, cpu, gpu = (bench.recipe(name, b) for b in ("fast", "cpu", "gpu"))
        assert fast["epochs"] <= cpu["epochs"] <= gpu["epochs"]
        assert fast["limit"] and gpu["limit"] is None
        assert cpu["limit"] is None or cpu["limit"] > 10 * fast["limit"]
    assert bench.recipe("lenet", "cpu")["dataset"] == "mnist"
    assert bench.recipe("resnet", "gpu")["dataset"] == "cifar10"
    copy = bench.recipe("lenet", "fast")
    copy["epochs"] = 99
    assert bench.recipe("lenet", "fast")["epochs"] == 1


def test_recipe_and_run_validate_names():
    with pytest.raises(ValueError, match=r"`model` must be one of .* Received: model='vgg19'"):
        bench.recipe("vgg19", "cpu")
    with pytest.raises(ValueError, match=r"`budget` must be one of .* Received: budget='tpu'"):
        bench.recipe("lenet", "tpu")
    with pytest.raises(
        ValueError, match=r"`models` must name .* Received: models=\['lenet', 'x'\]"
    ):
        bench.run(["lenet", "x"], budget="fast")


def test_bench_command_runs_end_to_end_on_a_stand_in(tmp_path, capsys):
    out = tmp_path / "results" / "bench.json"
    assert cli(["bench", "--models", "lenet", "--budget", "fast", "--out", str(out)]) == 0
    (record,) = json.loads(out.read_text())
    assert set(record) >= REQUIRED
    assert record["model"] == "lenet" and record["budget"] == "fast"
    assert record["dataset"] == "digits" and record["real_data"] is False  # offline stand-in
    assert record["epochs"] == 1 and record["plain_keras_epochs"] == 1
    assert 0.0 <= record["test_accuracy"] <= 1.0
    assert record["eval_images"] == 256  # the fast recipe's limit on the test split
    assert record["wall_s"] > 0 and record["plain_keras_wall_s"] > 0
    assert record["overhead_ratio"] == pytest.approx(
        record["wall_s"] / record["plain_keras_wall_s"], rel=0.01
    )
    assert record["overhead_ratio_cpu"] == pytest.approx(
        record["cpu_s"] / record["plain_keras_cpu_s"], rel=0.05
    )
    assert record["peak_rss_mb"] > 100 and record["infer_images_per_s"] > 0
    assert record["machine"]["keras"].startswith("3.")
    table = out.with_suffix(".md").read_text()
    assert table.splitlines()[1].startswith("| model | data |")  # after the bench's marker
    assert "| lenet | digits (stand-in, " in table
    assert table.split("\n", 1)[1] in capsys.readouterr().out  # printed without the marker


def test_bench_refuses_an_out_it_did_not_write_before_training(tmp_path, capsys, monkeypatch):
    def no_training(*args, **kwargs):
        raise AssertionError("must not train")

    monkeypatch.setattr(bench, "run", no_training)
    notes = tmp_path / "notes.md"
    notes.write_text("my notes")
    assert cli(["bench", "--out", str(tmp_path / "notes.json")]) == 2
    assert "notes.md exists and was not written by the benchmark" in capsys.readouterr().err
    assert notes.read_text() == "my notes"
    assert cli(["bench", "--out", str(notes)]) == 2
    assert "`--out` names the JSON file" in capsys.readouterr().err
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert cli(["bench", "--out", str(blocked / "bench.json")]) == 2
    assert "cannot write in" in capsys.readouterr().err


def test_markdown_table_formats_each_record():
    record = {
        "model": "mini_vgg",
        "dataset": "cifar10",
        "real_data": True,
        "train_images": 36000,
        "budget": "cpu",
        "epochs": 12,
        "test_accuracy": 0.81234,
        "eval_split": "test",
        "wall_s": 800.04,
        "train_images_per_s": 612.3,
        "infer_images_per_s": 2400.0,
        "peak_rss_mb": 1500.2,
        "plain_keras_wall_s": 61.0,
        "plain_keras_epochs": 1,
        "overhead_ratio": 0.98,
        "overhead_ratio_cpu": 1.012,
    }
    row = bench.markdown_table([record]).splitlines()[2]
    assert row == (
        "| mini_vgg | cifar10 (real, 36,000 train) | cpu | 12 | 0.8123 (test) | 800.0 | 612 "
        "| 2,400 | 1,500 | 61.0 (1 ep) | 0.980 / 1.012 |"
    )
