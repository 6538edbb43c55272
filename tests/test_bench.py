"""`edgedepth bench`: the JSON schema and the numbers in it, skipped rows, the error maps, bad invocations."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgedepth.bench import PLANS, BenchOptions, run_bench
from edgedepth.cli import main
from edgedepth.measure.heldout import FIDELITY_KEYS
from edgedepth.metrics import METRIC_KEYS
from edgedepth.spec import ModelSpec

LATENCY_KEYS = {"median_ms", "p90_ms", "p99_ms", "fps", "runs"}
ROW_KEYS = {"backend", "precision", "device", "status", "reason", "artifact", "artifact_mb", "settings",
            "latency_model", "latency_e2e", "metrics", "deltas", "fidelity", "breakdown", "peak_memory_mb"}
FAST = ["--warmup", "1", "--runs", "3", "--images", "2", "--calibration-samples", "4", "--threads", "1"]


@pytest.fixture(scope="module")
def bench_run(random_checkpoint, synthetic_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    result = CliRunner().invoke(main, [
        "bench", "--model", str(random_checkpoint), "--data", str(synthetic_root), "--engines", str(out / "engines"),
        "--json", str(out / "bench.json"), "--markdown", str(out / "bench.md"), "--error-maps", str(out / "maps"), *FAST,
    ])
    assert result.exit_code == 0, result.output
    return result.output, json.loads((out / "bench.json").read_text()), out


def test_json_holds_every_cpu_row_with_latency_and_accuracy(bench_run):
    _, report, _ = bench_run
    assert report["schema"] == "edgedepth-bench/3"
    assert [(r["backend"], r["precision"]) for r in report["rows"]] == PLANS["cpu"]
    for row in report["rows"]:
        assert set(row) == ROW_KEYS and row["status"] == "ok", row["reason"]
        for latency in (row["latency_model"], row["latency_e2e"]):
            assert set(latency) == LATENCY_KEYS and latency["runs"] == 3
            assert 0 < latency["median_ms"] <= latency["p90_ms"] <= latency["p99_ms"]
            assert latency["fps"] == pytest.approx(1000 / latency["median_ms"])
        assert row["latency_e2e"]["median_ms"] >= row["latency_model"]["median_ms"] > 0 and row["artifact_mb"] > 0
        assert row["peak_memory_mb"] > 1, "the row's own memory, not pages an earlier row freed"
        assert set(row["metrics"]) == set(METRIC_KEYS) | {"pixels", "excluded"} and set(row["deltas"]) == set(METRIC_KEYS)
        assert set(row["fidelity"]) == set(FIDELITY_KEYS)
    conditions = report["conditions"]
    assert conditions["input_size"] == [64, 64] and conditions["batch"] == 1 and conditions["threads"] == 1
    assert conditions["held_out"]["domains"] == {"indoors": 1, "outdoor": 1}, "bench's images cover both domains"
    assert conditions["held_out"]["window"] == {"min_depth": 0.1, "max_depth": 80.0}
    assert {"torch", "onnxruntime", "openvino"} <= set(conditions["versions"])


def test_deltas_and_fidelity_are_against_the_torch_fp32_row(bench_run):
    rows = {(r["backend"], r["precision"]): r for r in bench_run[1]["rows"]}
    reference = rows["torch", "fp32"]
    assert reference["fidelity"]["rel_deviation"] == 0 and set(reference["deltas"].values()) == {0.0}
    for key, row in rows.items():
        for metric in METRIC_KEYS:
            assert row["deltas"][metric] == pytest.approx(row["metrics"][metric] - reference["metrics"][metric])
        if key[1] == "fp32":  # the same function in another runtime: differences are rounding only
            assert row["fidelity"]["max_abs_diff"] < 1e-4 and row["fidelity"]["delta1_vs_float"] == 1.0
        ranges = row["breakdown"]["depth_ranges"]
        assert sum(r["pixels"] for r in ranges) == row["breakdown"]["total"]["pixels"] == row["metrics"]["pixels"]
        assert {d["domain"] for d in row["breakdown"]["domains"]} == {"indoors", "outdoor"}


def test_table_and_markdown_show_the_json_numbers(bench_run):
    output, report, out = bench_run
    markdown = (out / "bench.md").read_text()
    for row in report["rows"]:
        median = f"{row['latency_model']['median_ms']:.1f}"
        abs_rel = f"{row['metrics']['abs_rel']:.4f}"
        assert median in markdown and abs_rel in markdown
        assert abs_rel in output
        if row["precision"] == "int8":
            deviation = f"{row['fidelity']['rel_deviation']:.2%}"
            assert deviation in markdown and deviation in output
            outdoor = next(d for d in row["breakdown"]["domains"] if d["domain"] == "outdoor")
            assert f"| {row['backend']} int8 | outdoor (1 img) | {outdoor['pixels']} |" in markdown
    assert "lraspp_mobilenet_v3_large @ 64x64" in markdown and "1 indoors, 1 outdoor" in markdown
    for text in (markdown, " ".join(output.split())):  # the legend under the table, in both
        assert "E2E ms: median per image from decoded uint8 RGB to depth in host memory" in text
        assert "MB: artifact size on disk (MiB)" in text and "Mem MB: peak resident memory the row added" in text


def test_error_maps_show_five_captioned_panels_with_scales_and_the_error_against_depth_per_int8_row(bench_run):
    from PIL import Image

    from edgedepth.report import PLOT_HEIGHT

    maps = sorted((bench_run[2] / "maps").glob("*.png"))
    assert len(maps) == 2 * 2  # two INT8 rows × two images
    assert {p.name.rsplit(".", 2)[1] for p in maps} == {"onnxruntime-int8", "openvino-int8"}
    image = np.asarray(Image.open(maps[0]))
    caption = image.shape[0] - 64 - PLOT_HEIGHT
    assert caption > 8 and image.shape[1] > 5 * 64 + 4 * 8 + 4 * 20  # five panels, four of them with a scale bar
    dark = np.flatnonzero((image[:caption] < 128).all(-1).any(0))  # caption text columns
    assert 1 + np.count_nonzero(np.diff(dark) > 12) == 5, "a caption over each of the five panels"
    panels = image[caption : caption + 64]
    rgb = np.asarray(Image.open(maps[0]).crop((0, caption, 64, caption + 64)))
    assert rgb.std() > 0 and (panels[:, 64:72] == 255).all(), "the RGB panel, then the gap"
    plot = image[caption + 64 :]
    red = (plot[..., 0] > 180) & (plot[..., 1] < 80) & (plot[..., 2] < 80)
    assert red.sum() > 20, "the mean |Δ| line against depth is drawn"


def test_cached_artifacts_are_reused(bench_run, random_checkpoint, synthetic_root):
    engines = bench_run[2] / "engines"
    before = {p: p.stat().st_mtime_ns for p in engines.rglob("*") if p.is_file()}
    options = BenchOptions(backends=("openvino",), warmup=0, runs=1, images=1, calibration_samples=4, engines=engines)
    report = run_bench(random_checkpoint, synthetic_root, options)
    assert [r.status for r in report.rows] == ["ok", "ok"]
    assert {p: p.stat().st_mtime_ns for p in engines.rglob("*") if p.is_file()} == before


def test_absent_runtime_gives_skipped_rows_with_the_reason(monkeypatch, random_checkpoint, synthetic_root, tmp_path):
    from edgedepth.backends import onnxruntime as ort_backend
    from edgedepth.report import to_markdown

    monkeypatch.setattr(ort_backend, "unavailable_reason", lambda device: "onnxruntime is not installed")
    options = BenchOptions(backends=("torch", "onnxruntime"), warmup=0, runs=1, images=1, engines=tmp_path)
    report = run_bench(random_checkpoint, synthetic_root, options)
    assert [(r.backend, r.precision, r.status) for r in report.rows] == [
        ("torch", "fp32", "ok"), ("onnxruntime", "fp32", "skipped"), ("onnxruntime", "int8", "skipped")]
    assert report.rows[1].reason == "onnxruntime on cpu: onnxruntime is not installed"
    assert report.rows[1].latency_model is None and report.rows[1].metrics is None
    assert "onnxruntime int8 skipped: onnxruntime on cpu: onnxruntime is not installed" in to_markdown(report)


def test_failed_rows_make_bench_exit_non_zero_after_the_report(random_checkpoint, synthetic_root, tmp_path, read_only):
    """Here the rows fail because the engines folder is read-only: each says so, naming bench's own folder."""
    engines = read_only(tmp_path / "ro") / "engines"
    result = CliRunner().invoke(main, ["bench", "--model", str(random_checkpoint), "--data", str(synthetic_root),
                                       "--backends", "torch,openvino", "--engines", str(engines),
                                       "--json", str(tmp_path / "bench.json"), *FAST])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines()[-1] == ("Error: 2 of 3 bench rows failed (openvino fp32, openvino int8); "
                                                      "the reasons are listed under the table")
    assert "Traceback" not in result.output and " -o" not in result.output
    rows = json.loads((tmp_path / "bench.json").read_text())["rows"]  # the report is written first
    assert [row["status"] for row in rows] == ["ok", "failed", "failed"]
    assert rows[1]["reason"] == (f"the engines folder {engines} is not writable, so the float ONNX this row needs cannot "
                                 "be made there; choose a writable engines folder")
    assert not engines.exists()


def test_skipped_rows_leave_the_exit_code_zero(monkeypatch, random_checkpoint, synthetic_root, tmp_path):
    from edgedepth.backends import onnxruntime as ort_backend

    reason = "onnxruntime is not installed (pip install 'edgedepth[cpu]')"  # brackets: printed as written
    monkeypatch.setattr(ort_backend, "unavailable_reason", lambda device: reason)
    result = CliRunner().invoke(main, ["bench", "--model", str(random_checkpoint), "--data", str(synthetic_root),
                                       "--backends", "torch,onnxruntime", "--engines", str(tmp_path), *FAST])
    assert result.exit_code == 0, result.output
    assert f"onnxruntime int8 skipped: onnxruntime on cpu: {reason}" in " ".join(result.output.split())


def test_cuda_without_a_gpu_is_one_clear_line(monkeypatch, random_checkpoint):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = CliRunner().invoke(main, ["bench", "--device", "cuda", "--model", str(random_checkpoint)])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: device cuda: no CUDA device is visible to PyTorch on this machine; bench on the cpu"


@pytest.mark.parametrize("args, message", [
    (["--model", "absent.pt"], "model absent.pt not found"),
    (["--backends", "tensorrt"], "not benched on cpu"),
])
def test_bad_invocations_are_one_line(args, message, random_checkpoint):
    result = CliRunner().invoke(main, ["bench", "--model", str(random_checkpoint), *args])
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_given_onnx_are_used_instead_of_exporting(random_checkpoint, synthetic_root, float_onnx, int8_onnx, tmp_path):
    from edgedepth.artifacts import read_sidecar

    options = BenchOptions(backends=("openvino",), warmup=0, runs=1, images=1, engines=tmp_path,
                           onnx_sources={"fp32": float_onnx, "openvino": int8_onnx})
    report = run_bench(random_checkpoint, synthetic_root, options)
    assert [read_sidecar(r.artifact)["source_onnx"] for r in report.rows] == [str(float_onnx), str(int8_onnx)]
    assert not list(tmp_path.rglob("model.onnx"))  # nothing exported


def test_bench_and_report_import_no_runtime():
    """The runtimes load when a row needs them, so a machine without one can still bench the others."""
    import subprocess
    import sys

    code = ("import sys, edgedepth.bench, edgedepth.report, edgedepth.fusion; "
            "print([m for m in ('openvino', 'onnxruntime', 'onnx', 'tensorrt', 'edgedepth.train') if m in sys.modules])")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"


def test_artifact_for_another_size_gives_a_failed_row_not_a_crash(random_checkpoint, synthetic_root, tmp_path):
    import torch

    from edgedepth.artifacts import read_sidecar, write_sidecar
    from edgedepth.models import load_checkpoint

    model, meta = load_checkpoint(random_checkpoint)
    other = tmp_path / "model-96.onnx"
    torch.onnx.export(model, torch.zeros(1, 3, 96, 96), other, input_names=["rgb"], output_names=["depth"],
                      opset_version=17, dynamo=False)
    write_sidecar(other, {**ModelSpec(meta["arch"], (96, 96)).to_record(), "precision": "fp32"})
    options = BenchOptions(backends=("torch", "openvino"), warmup=0, runs=1, images=1, engines=tmp_path,
                           onnx_sources={"fp32": other, "openvino": other})
    report = run_bench(random_checkpoint, synthetic_root, options)
    assert [r.status for r in report.rows] == ["ok", "failed", "failed"]
    assert "was built for 96x96" in report.rows[1].reason and read_sidecar(report.rows[1].artifact)["input_size"] == [96, 96]


@pytest.mark.gpu
def test_cuda_bench_runs_torch_fp32_and_fp16_on_the_gpu(random_checkpoint, synthetic_root, tmp_path):
    options = BenchOptions(device="cuda", backends=("torch",), warmup=1, runs=3, images=2, engines=tmp_path)
    report = run_bench(random_checkpoint, synthetic_root, options)
    assert [(r.precision, r.status) for r in report.rows] == [("fp32", "ok"), ("fp16", "ok")], report.rows
    fp32, fp16 = report.rows
    assert fp16.fidelity["rel_deviation"] < 1e-2  # FP16 rounding, not another function
    assert fp16.settings["autocast"] == "fp16" and fp32.latency_model.median_ms > 0
