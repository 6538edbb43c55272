import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from edgedepth.cli import main
from edgedepth.measure.evaluate import evaluate_model
from edgedepth.metrics import METRIC_KEYS
from edgedepth.models import load_checkpoint
from edgedepth.sources import resolve_source
from edgedepth.train import TrainConfig, last_checkpoint_path, train


def test_training_logs_each_epoch_and_keeps_the_best(synthetic_root, tmp_path):
    lines = []
    meta = train(synthetic_root, tmp_path / "m.pt", TrainConfig(size=(64, 64), epochs=2, batch_size=8), log=lines.append)
    assert len(lines) == 2 and all("AbsRel" in line for line in lines)  # one validation line per epoch
    assert meta["train"]["best_epoch"] in (1, 2) and load_checkpoint(tmp_path / "m.pt")[1]["train"] == meta["train"]
    assert load_checkpoint(last_checkpoint_path(tmp_path / "m.pt"))[1]["train"]["epoch"] == 2  # the latest, beside it


def test_off_a_terminal_training_prints_plain_progress_lines(synthetic_root, tmp_path, monkeypatch):
    import edgedepth.ui as ui

    monkeypatch.setattr(ui, "PLAIN_LINE_SECONDS", 0.0)  # a line every step instead of every 30 s
    result = CliRunner().invoke(main, ["train", "--data", str(synthetic_root), "--size", "64x64", "--epochs", "1",
                                       "--batch-size", "8", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    progress = [line for line in lines if line.startswith("training: ")]
    steps = len(progress)
    assert steps >= 2 and progress[-1].startswith(f"training: epoch 1/1, step {steps}/{steps} (100%), ")
    assert progress[-1].endswith(" steps/s") and any(line.startswith("epoch   1") for line in lines)  # and the epoch's line


def test_the_trained_checkpoint_rebuilds_records_how_it_was_made_and_beats_the_baseline(trained_checkpoint, synthetic_root):
    model, loaded = load_checkpoint(trained_checkpoint)
    assert loaded["arch"] == "lraspp_mobilenet_v3_large" and loaded["input_size"] == [64, 64]
    assert loaded["train"]["optimizer"] == "Adam" and 1 <= loaded["train"]["best_epoch"] <= loaded["train"]["epochs"]
    assert set(loaded["metrics"]) >= {"abs_rel", "delta1"} and loaded["baseline"]["median_depth"] > 0
    assert model(torch.zeros(1, 3, 64, 64)).shape == (1, 1, 64, 64)
    held_out = evaluate_model(resolve_source(trained_checkpoint), synthetic_root)
    assert held_out["model"]["abs_rel"] < held_out["baseline"]["abs_rel"]


def test_evaluate_command_prints_the_table_and_writes_json(trained_checkpoint, synthetic_root, tmp_path):
    result = CliRunner().invoke(main, ["evaluate", str(trained_checkpoint), "--data", str(synthetic_root),
                                       "--json", str(tmp_path / "m.json"), "--max-depth", "30"])
    assert result.exit_code == 0, result.output
    assert "median baseline" in result.output and "abs_rel" in result.output and "outdoor (2 img)" in result.output
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["images"] == 4  # the val/ split of the fixture
    assert set(data["model"]) == set(data["baseline"]) == set(METRIC_KEYS) | {"pixels", "excluded"}
    held_out = data["held_out"]
    assert held_out["domains"] == {"indoors": 2, "outdoor": 2} and held_out["window"] == {"min_depth": 0.1, "max_depth": 30.0}
    assert data["model"]["excluded"] == held_out["excluded_pixels"] > 0  # outdoor ground beyond 30 m
    assert sum(row["pixels"] for row in data["breakdown"]["depth_ranges"]) == data["model"]["pixels"]


def test_evaluate_in_chunks_scores_as_one_pass(trained_checkpoint, synthetic_root, monkeypatch):
    from edgedepth.measure import evaluate as evaluating

    whole = evaluate_model(resolve_source(trained_checkpoint), synthetic_root)
    monkeypatch.setattr(evaluating, "EVAL_CHUNK", 1)  # one image loaded at a time
    chunked = evaluate_model(resolve_source(trained_checkpoint), synthetic_root)
    assert chunked["model"] == pytest.approx(whole["model"]) and chunked["baseline"] == pytest.approx(whole["baseline"])
    ranges = lambda result: [value for r in result["breakdown"]["depth_ranges"]  # noqa: E731
                             for value in (r["pixels"], r["metrics"]["abs_rel"], r["metrics"]["rmse"])]
    assert ranges(chunked) == pytest.approx(ranges(whole))  # a flat list: pytest 9 refuses nested structures
    assert chunked["held_out"] == whole["held_out"]


def test_a_single_scene_cannot_be_validated(tmp_path, synthetic_root):
    scene = next((synthetic_root / "train" / "indoors").iterdir())
    shutil.copytree(scene, tmp_path / scene.name)
    result = CliRunner().invoke(main, ["train", "--data", str(tmp_path / scene.name), "--size", "64x64", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code != 0 and "single scene" in result.output
    assert not (tmp_path / "m.pt").exists()
