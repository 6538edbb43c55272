"""The README's first command, `edgedepth demo`: its whole path as a tiny run (--fast), and its model and INT8 for real."""

import pytest
from click.testing import CliRunner

from edgedepth.artifacts import read_sidecar
from edgedepth.cli import main
from edgedepth.demo import Demo, evaluate_model, export_model, quantize_model, synthesise, train_model
from edgedepth.measure.evaluate import BASELINE_GAIN_BAR
from edgedepth.quantize import Budget
from edgedepth.quantize.budget import quantized_layers


def test_fast_demo_runs_every_step_and_quantizes_within_the_budget(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--fast", "--workdir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    for step in ("synthesise data", "train", "evaluate", "export", "quantize", "build", "bench"):
        assert step in result.output
    info = read_sidecar(tmp_path / "model.int8.onnx")
    evaluation = info["evaluation"]
    assert evaluation["meets_default_budget"], "the budget search must end with the default budget met"
    printed = " ".join(result.output.split())  # rich wraps lines at the console width
    assert "meets the default budget" in printed and "95 % bound" in printed
    fidelity = evaluation["fidelity"]
    assert f"fidelity to float: deviation {fidelity['rel_deviation']:.2%}" in printed
    assert "outdoor" in printed and "dev from float" in printed  # the breakdown table
    assert (tmp_path / "bench.json").is_file() and (tmp_path / "openvino-int8").is_dir()


@pytest.mark.slow
def test_the_demo_model_beats_the_median_baseline_by_the_bar_and_its_int8_meets_the_budget(tmp_path):
    """The demo's own data and training (800 scans at 96×128, 12 epochs; 2–5 min on 2 cores), then its INT8.

    A shorter 64×64 run stood for the bar before: it measured 2.04× on one CPU and 1.60× on another (an
    AVX-512 Xeon, 2 threads), too close to the float kernels' rounding, so this runs what the README promises.
    """
    demo = Demo(tmp_path)
    for step in (synthesise, train_model, evaluate_model, export_model, quantize_model):
        step(demo)
    assert demo.results["abs_rel_gain"] >= BASELINE_GAIN_BAR, demo.results
    info = read_sidecar(demo.int8_onnx)
    evaluation = info["evaluation"]
    assert evaluation["meets_default_budget"], evaluation["default_budget_misses"]
    fidelity = evaluation["fidelity"]  # judged against float too, not only against ground truth
    assert fidelity["rel_deviation_bound"] <= Budget().rel_deviation and fidelity["delta1_vs_float_bound"] >= Budget().delta1_vs_float
    assert info["coverage"]["tensors_measured"] > 0 and evaluation["held_out"]["domains"].keys() == {"indoors", "outdoor"}
    kept, still_int8 = info["keep_float"]["budget"], quantized_layers(demo.int8_onnx)
    assert len(kept) <= 0.1 * (len(kept) + len(still_int8)), f"the budget needed {len(kept)} layers float"
