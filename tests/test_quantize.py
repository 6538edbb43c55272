"""quantize: calibration set, Q/DQ flavours per target, cached statistics, keep-float, accuracy budget, bad input."""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from click.testing import CliRunner
from onnx import numpy_helper

from edgedepth.artifacts import is_finished, read_sidecar, sha256
from edgedepth.calibration import CalibrationSet, CalibrationWarning
from edgedepth.cli import main
from edgedepth.data.split import Split
from edgedepth.errors import EdgeDepthError
from edgedepth.quantize import Budget
from edgedepth.quantize.judged import quantize_on_data
from edgedepth.spec import ModelSpec

SAMPLES = 8
SPEC = ModelSpec("lraspp_mobilenet_v3_large", (64, 64))


def quantize_onnx(float_onnx, data, output, accuracy_budget=None, **options):
    """What `edgedepth quantize` runs: calibrated, judged on the held-out images, within a budget if given."""
    return quantize_on_data(float_onnx, data, output, budget=accuracy_budget, **options)[0]


@pytest.fixture(autouse=True)
def statistics_cache(tmp_path_factory, monkeypatch):
    """Calibration statistics cached per test session, never in the user's ~/.cache."""
    monkeypatch.setenv("EDGEDEPTH_CACHE", str(tmp_path_factory.getbasetemp() / "edgedepth-cache"))


@pytest.fixture(scope="module")
def depth_checkpoint(tmp_path_factory):
    """An untrained lraspp 64×64 whose head is rescaled so its output spreads over metres of depth (6 ± 2 m):
    INT8 rounding then moves δ1 and AbsRel measurably, which a near-constant random output would not."""
    import torch

    from edgedepth.models import create_model, save_checkpoint

    torch.manual_seed(0)
    model = create_model("lraspp_mobilenet_v3_large").eval()
    head = model.net.classifier
    with torch.no_grad():
        spread = model(torch.randn(4, 3, 64, 64)).std().item()
        for conv in (head.low_classifier, head.high_classifier):
            conv.weight.mul_(2.0 / spread)
            conv.bias.zero_()
        head.low_classifier.bias.fill_(6.0)
    path = tmp_path_factory.mktemp("ckpt") / "depth.pt"
    return save_checkpoint(path, model, ModelSpec("lraspp_mobilenet_v3_large", (64, 64)))


@pytest.fixture(scope="module")
def float_model(depth_checkpoint, tmp_path_factory):
    from edgedepth.export import export_onnx

    return export_onnx(depth_checkpoint, tmp_path_factory.mktemp("float") / "model.onnx")


@pytest.fixture(scope="module")
def quantized(float_model, synthetic_root, tmp_path_factory):
    """One INT8 model per target, made on first use."""
    made = {}

    def get(target):
        if target not in made:
            output = tmp_path_factory.mktemp(target) / "model.int8.onnx"
            made[target] = quantize_onnx(float_model, synthetic_root, output, target=target, samples=SAMPLES)
        return made[target]

    return get


def zero_points_and_weights(path):
    """(activation zero points, per conv weight (scale, zero point, axis, out channels)) of a Q/DQ model."""
    model = onnx.load(path)
    constants = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    producer = {out: node for node in model.graph.node for out in node.output}
    weight_quantizers = set()
    weights = []
    for conv in (node for node in model.graph.node if node.op_type == "Conv"):
        dequantize = producer.get(conv.input[1])
        if dequantize is None or dequantize.op_type != "DequantizeLinear":
            continue
        stored = dequantize.input[0]
        if stored in producer:  # float initializer → QuantizeLinear → DequantizeLinear
            weight_quantizers.add(producer[stored].name)
            stored = producer[stored].input[0]
        axis = next((a.i for a in dequantize.attribute if a.name == "axis"), 1)
        weights.append((constants[dequantize.input[1]], constants[dequantize.input[2]], axis, constants[stored].shape[0]))
    activations = [constants[node.input[2]] for node in model.graph.node
                   if node.op_type == "QuantizeLinear" and node.name not in weight_quantizers]
    return activations, weights


def int32_dequantizers(path):
    model = onnx.load(path)
    constants = {init.name: init for init in model.graph.initializer}
    return [node.name for node in model.graph.node if node.op_type == "DequantizeLinear"
            and node.input[0] in constants and constants[node.input[0]].data_type == onnx.TensorProto.INT32]


def test_tensorrt_flavour_is_symmetric_int8_with_per_channel_weights(quantized):
    activations, weights = zero_points_and_weights(quantized("tensorrt"))
    assert activations and weights, "no Q/DQ node in the INT8 model"
    for zero_point in activations:
        assert zero_point.dtype == np.int8 and not zero_point.any()
    for scale, zero_point, axis, out_channels in weights:
        assert zero_point.dtype == np.int8 and not zero_point.any()
        assert axis == 0 and scale.shape == (out_channels,)
    assert not int32_dequantizers(quantized("tensorrt")), "TensorRT cannot parse an INT32 (bias) DequantizeLinear"


def test_onnxruntime_flavour_has_uint8_activations_and_int8_per_channel_weights(quantized):
    activations, weights = zero_points_and_weights(quantized("onnxruntime"))
    assert activations and all(zero_point.dtype == np.uint8 for zero_point in activations)
    assert any(zero_point.any() for zero_point in activations), "UINT8 activations should be asymmetric"
    assert weights and all(zp.dtype == np.int8 and scale.shape == (n,) for scale, zp, _, n in weights)
    assert int32_dequantizers(quantized("onnxruntime")), "ONNX Runtime's integer Conv wants the INT32 bias"


@pytest.mark.parametrize("backend", ["onnxruntime", "openvino"])
def test_int8_model_runs_close_to_float_in_both_cpu_runtimes(quantized, float_model, backend, tmp_path):
    from edgedepth.backends import BuildOptions, LoadOptions, get_backend

    module = get_backend(backend)
    batch = np.random.default_rng(1).standard_normal((1, 3, 64, 64), dtype=np.float32)
    outputs = {}
    for name, path in (("float", float_model), ("int8", quantized("tensorrt"))):
        with module.load(module.build(path, tmp_path / name, BuildOptions()), LoadOptions()) as runner:
            outputs[name] = runner.infer(batch)
    assert outputs["int8"].shape == (1, 1, 64, 64) and np.isfinite(outputs["int8"]).all()
    relative = np.abs(outputs["int8"] - outputs["float"]).mean() / np.abs(outputs["float"]).mean()
    assert relative < 0.05, f"INT8 output departs {relative:.1%} from float on average"


def test_sidecar_and_manifest_record_how_it_was_made(quantized, float_model):
    output = quantized("onnxruntime")
    info, source = read_sidecar(output), read_sidecar(float_model)
    for key in ("arch", "input_size", "depth", "preprocessing"):
        assert info[key] == source[key]
    assert info["precision"] == "int8" and info["target"] == "onnxruntime" and info["engine"] == "ort"
    assert info["source_onnx_sha256"] == sha256(float_model)
    assert info["samples"] == SAMPLES == len(info["calibration"]["files"])
    manifest = json.loads(open(info["calibration"]["manifest"]).read())
    assert manifest["sha256"] == info["calibration"]["sha256"] and manifest["seed"] == 0
    assert info["calibration"]["drawn_from"]["images"] == SAMPLES
    assert set(info["calibration"]["drawn_from"]["domains"]) == {"indoors", "outdoor"}
    evaluation = info["evaluation"]
    assert evaluation["held_out_samples"] > 0
    held_out = evaluation["held_out"]
    assert held_out["domains"] == {"indoors": 2, "outdoor": 2} and held_out["window"] == {"min_depth": 0.1, "max_depth": 80.0}
    assert not set(held_out["scenes"]) & {f"{f['split']}/{f['domain']}/{f['scene']}" for f in info["calibration"]["files"]}
    fidelity = evaluation["fidelity"]
    assert 0 < fidelity["rel_deviation"] <= fidelity["rel_deviation_bound"] and fidelity["max_abs_diff"] > 0
    assert fidelity["delta1_vs_float_bound"] <= fidelity["delta1_vs_float"] <= 1
    breakdown = evaluation["breakdown"]
    assert sum(row["pixels"] for row in breakdown["depth_ranges"]) == breakdown["total"]["pixels"] == evaluation["int8"]["pixels"]
    coverage = info["coverage"]
    assert coverage["images"] == evaluation["held_out_samples"] and coverage["tensors_measured"] > 10
    shares = [row["outside"] for row in coverage["tensors"]]
    assert shares == sorted(shares, reverse=True) and all(row["layers"] for row in coverage["tensors"])
    deltas = evaluation["deltas"]
    assert set(deltas) >= {"delta1_drop", "delta1_drop_bound", "abs_rel_increase", "abs_rel_increase_bound"}
    assert deltas["delta1_drop_bound"] >= deltas["delta1_drop"] and deltas["abs_rel_increase_bound"] >= deltas["abs_rel_increase"]
    float_scores, int8_scores = evaluation["float"], evaluation["int8"]
    assert deltas["delta1_drop"] == pytest.approx(float_scores["delta1"] - int8_scores["delta1"], abs=1e-9)
    assert deltas["abs_rel_increase"] == pytest.approx(int8_scores["abs_rel"] / float_scores["abs_rel"] - 1, abs=1e-9)
    assert evaluation["meets_default_budget"] == Budget().holds({**deltas, **fidelity})
    assert evaluation["default_budget_misses"] == Budget().misses({**deltas, **fidelity})


def test_manifest_picks_the_same_samples_for_the_same_seed(synthetic_root):
    split = Split.of(synthetic_root)
    pool = split.pool
    pick = lambda seed: CalibrationSet.pick(split, 6, SPEC, seed).manifest  # noqa: E731
    first, again, other = pick(0), pick(0), pick(1)
    assert first["files"] == again["files"] and first["sha256"] == again["sha256"]
    assert [f["key"] for f in first["files"]] != [f["key"] for f in other["files"]]
    domains = [f["domain"] for f in first["files"]]
    if len(set(f.domain for f in pool)) == 2:  # stratified: indoor and outdoor alternate
        assert all(a != b for a, b in zip(domains, domains[1:]))


def test_calibration_set_feeds_ort_and_nncf_with_inference_preprocessing(synthetic_root):
    from edgedepth.data import diode
    from edgedepth.data.transforms import preprocess

    calibration = CalibrationSet.pick(Split.of(synthetic_root), 3, SPEC)
    reader = calibration.data_reader(start=1)
    fed = [reader.get_next()["rgb"] for _ in range(2)]
    assert reader.get_next() is None
    expected = preprocess(diode.load_sample(calibration.samples[1])[0], (64, 64))
    np.testing.assert_array_equal(fed[0], expected)
    first = next(iter(calibration.nncf_dataset().get_inference_data()))
    np.testing.assert_array_equal(first["rgb"], calibration.batch(0))


def test_statistics_are_computed_once_and_reused_by_another_flavour(quantized, monkeypatch, float_model,
                                                                     synthetic_root, tmp_path):
    quantized("tensorrt")  # the statistics of (this ONNX, this manifest, minmax) are cached now

    def no_calibration(*args, **kwargs):
        raise AssertionError("statistics were recomputed")

    monkeypatch.setattr("onnxruntime.quantization.calibrate.create_calibrator", no_calibration)
    output = quantize_onnx(float_model, synthetic_root, tmp_path / "again.onnx", target="openvino", samples=SAMPLES,
                           keep_float=["*high_classifier*"])
    info = read_sidecar(output)
    assert info["statistics"]["reused"] is True and info["statistics"]["cache"]
    kept = info["keep_float"]["all"]
    assert kept and all("high_classifier" in name for name in kept)
    graph = onnx.load(output).graph
    float_weights = {init.name for init in graph.initializer if init.data_type == onnx.TensorProto.FLOAT}
    producer = {out: node.op_type for node in graph.node for out in node.output}
    for node in graph.node:
        if node.name in kept:
            assert node.input[1] in float_weights, f"{node.name} still has INT8 weights"
            assert producer.get(node.input[0]) != "DequantizeLinear", f"{node.name} still reads an 8-bit activation"


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_methods_calibrate_in_bounded_chunks(method, float_model, synthetic_root, tmp_path, monkeypatch):
    from onnxruntime.quantization import calibrate

    from edgedepth.quantize import ort_engine

    fed = []
    create = calibrate.create_calibrator

    def spied(*args, **kwargs):
        calibrator = create(*args, **kwargs)
        collect = calibrator.collect_data
        calibrator.collect_data = lambda reader: (fed.append(len(reader)), collect(reader))
        return calibrator

    monkeypatch.setattr(calibrate, "create_calibrator", spied)
    output = quantize_onnx(float_model, synthetic_root, tmp_path / f"{method}.onnx", target="tensorrt", samples=6,
                           method=method)
    assert sum(fed) == 6 and max(fed) <= ort_engine.CHUNK
    assert read_sidecar(output)["method"] == method and zero_points_and_weights(output)[0]


@pytest.fixture(scope="module")
def trained_float_model(trained_checkpoint, tmp_path_factory):
    from edgedepth.export import export_onnx

    return export_onnx(trained_checkpoint, tmp_path_factory.mktemp("trained-float") / "model.onnx")


def test_budget_of_zero_keeps_layers_float_until_int8_costs_nothing(trained_float_model, synthetic_root, tmp_path):
    """On a model that learned, INT8 noise costs accuracy (on the untrained one above, its rounding can move the
    output towards the ground truth on every image, and a budget of 0 is then honestly met by full INT8)."""
    output = quantize_onnx(trained_float_model, synthetic_root, tmp_path / "strict.onnx", target="onnxruntime",
                           samples=SAMPLES, accuracy_budget=Budget(0.0, 0.0))
    info = read_sidecar(output)
    assert len(info["keep_float"]["budget"]) >= 1
    assert Budget(0.0, 0.0).holds({**info["evaluation"]["deltas"], **info["evaluation"]["fidelity"]})
    assert info["budget"]["trials"][0]["kept_float"] == 0 and not Budget(0.0, 0.0).holds(info["budget"]["trials"][0])
    assert info["evaluation"]["latency_ms"]["int8_before_budget"] is not None
    ranked = info["sensitivity"]["most_sensitive"]
    assert ranked and [row["sensitivity"] for row in ranked] == sorted((row["sensitivity"] for row in ranked), reverse=True)
    assert info["keep_float"]["budget"][0] == ranked[0]["layer"], "the most sensitive layer is kept float first"


FAITHFUL = {"rel_deviation": 0.001, "rel_deviation_bound": 0.002, "delta1_vs_float": 1.0, "delta1_vs_float_bound": 0.999}


def test_budget_holds_on_upper_bounds_so_a_lucky_mean_does_not_pass():
    lucky = {"delta1_drop": -0.001, "delta1_drop_bound": 0.002, "abs_rel_increase": -0.01, "abs_rel_increase_bound": 0.01,
             **FAITHFUL}
    assert not Budget(0.0, 0.0).holds(lucky) and Budget(0.002, 0.01).holds(lucky)
    assert not Budget(0.001, 0.05).holds(lucky)


def test_int8_better_than_float_against_ground_truth_but_far_from_float_misses_the_default_budget():
    """The issue's case: saturated INT8 output that happens to sit nearer the truth than an under-trained float."""
    better = {"delta1_drop": -0.05, "delta1_drop_bound": -0.02, "abs_rel_increase": -0.16, "abs_rel_increase_bound": -0.01,
              "rel_deviation": 0.088, "rel_deviation_bound": 0.134, "delta1_vs_float": 0.897, "delta1_vs_float_bound": 0.792}
    misses = Budget().misses(better)
    assert not Budget().holds(better) and len(misses) == 2 and all(m.startswith("fidelity:") for m in misses)
    assert "deviation from float 13.40% > 4%" in misses[0]
    assert Budget.parse("0.01,0.05,0.2,0.7").holds(better)
    with pytest.raises(EdgeDepthError, match="DEVIATION,DELTA1_VS_FLOAT"):
        Budget.parse("0.01,0.05,0.2")


def test_reverting_one_layer_rewires_it_to_float_and_ranks_sensitivity(quantized, float_model, tmp_path):
    from edgedepth.quantize.budget import quantized_layers, rank_by_sensitivity
    from edgedepth.quantize.float_layers import with_float_layers

    int8 = quantized("openvino")
    layers = quantized_layers(int8)
    conv = next(name for name in layers if "Conv" in name)
    reverted = with_float_layers(onnx.load(int8), onnx.load(float_model), [conv])
    onnx.checker.check_model(reverted)
    node = next(n for n in reverted.graph.node if n.name == conv)
    source = onnx.load(float_model)
    source_node = next(n for n in source.graph.node if n.name == conv)
    weights = {init.name: numpy_helper.to_array(init) for init in reverted.graph.initializer}
    source_weights = {init.name: numpy_helper.to_array(init) for init in source.graph.initializer}
    assert node.input[0] == source_node.input[0], "the reverted layer reads the float activation"
    for got, want in zip(node.input[1:], source_node.input[1:]):  # weight and bias: the float originals
        np.testing.assert_array_equal(weights[got], source_weights[want])
    onnx.save(with_float_layers(onnx.load(int8), onnx.load(float_model), layers), tmp_path / "reverted.onnx")
    assert not quantized_layers(tmp_path / "reverted.onnx"), "with every layer reverted none reads a dequantized tensor"
    batches = [np.random.default_rng(i).standard_normal((1, 3, 64, 64), dtype=np.float32) for i in range(2)]
    ranked = rank_by_sensitivity(float_model, int8, layers[:6], batches, SPEC)
    assert sorted(name for name, _ in ranked) == sorted(layers[:6])
    assert [value for _, value in ranked] == sorted((value for _, value in ranked), reverse=True)


def test_budget_search_finds_the_fewest_top_ranked_layers():
    from edgedepth.quantize.budget import search

    ranking = [f"layer{i}" for i in range(20)]
    needed = set(ranking[:5])  # the budget holds once these five are float

    def try_keeping(layers):
        missing = len(needed - set(layers))
        return {"delta1_drop_bound": 0.004 * missing, "abs_rel_increase_bound": 0.0, **FAITHFUL}

    result = search(lambda: ranking, Budget(0.003, 0.05), try_keeping, try_keeping([]))
    assert result.kept == ranking[:5]
    assert [t["kept_float"] for t in result.trials][:5] == [0, 1, 2, 4, 8]
    assert search(lambda: ranking, Budget(), try_keeping, try_keeping([])).kept == ranking[:3]
    far = {"delta1_drop_bound": 0.0, "abs_rel_increase_bound": 0.0, **FAITHFUL, "rel_deviation_bound": 0.1}
    with pytest.raises(EdgeDepthError, match=r"not met even with all 20 .*\(fidelity: deviation from float 10.00% > 4%\)"):
        search(lambda: ranking, Budget(), lambda layers: far, far)


def test_budget_met_by_full_int8_skips_the_sensitivity_sweep():
    from edgedepth.quantize.budget import search

    def rank():
        raise AssertionError("the sweep ran although full INT8 met the budget")

    free = {"delta1_drop_bound": 0.001, "abs_rel_increase_bound": 0.01, **FAITHFUL}
    assert search(rank, Budget(), lambda layers: free, free).kept == []


def test_coverage_names_the_layer_a_narrow_calibration_set_leaves_uncovered(tmp_path):
    """Conv → Relu calibrated on inputs in [0, 1], held-out inputs in [0, 2]: the conv reads a saturating input."""
    from onnx import TensorProto, helper
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edgedepth.quantize.coverage import UNCOVERED_SHARE, measure, quantized_ranges, worst_layers

    weight = numpy_helper.from_array(np.eye(3, dtype=np.float32).reshape(3, 3, 1, 1), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"), helper.make_node("Relu", ["c"], ["y"], name="relu")],
        "narrow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])], [weight])
    float_path, int8_path = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), float_path)
    rng = np.random.default_rng(0)

    class Narrow(CalibrationDataReader):
        def __init__(self):
            self.batches = iter({"x": rng.uniform(0, 1, (1, 3, 8, 8)).astype(np.float32)} for _ in range(4))

        def get_next(self):
            return next(self.batches, None)

    quantize_static(float_path, int8_path, Narrow(), quant_format=QuantFormat.QDQ, activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QInt8)
    ranges = quantized_ranges(int8_path)
    assert ranges["x"]["layers"] == ["conv"] and ranges["x"]["range"][1] == pytest.approx(1.0, abs=0.01)
    held_out = [rng.uniform(0, 2, (1, 3, 8, 8)).astype(np.float32) for _ in range(3)]
    coverage = measure(float_path, int8_path, held_out)
    worst = coverage["tensors"][0]
    assert worst["tensor"] == "x" and worst["outside"] == pytest.approx(0.5, abs=0.06)  # half of U(0, 2) is > 1
    assert "x" in coverage["uncovered"] and worst["held_out"][1] > 1.9
    assert worst_layers(coverage) == f"conv (input x {worst['outside']:.1%} saturated)"
    assert measure(float_path, int8_path, [b / 2 for b in held_out])["outside_overall"] < UNCOVERED_SHARE


def test_cli_warns_when_one_calibration_image_does_not_cover_the_held_out_scenes(float_model, synthetic_root, tmp_path):
    output = tmp_path / "narrow.int8.onnx"
    result = run_cli(float_model, "--data", synthetic_root, "-o", output, "--samples", 1, "--target", "tensorrt")
    assert result.exit_code == 0, result.output
    coverage = read_sidecar(output)["coverage"]
    assert coverage["uncovered"], "one calibration image should leave some tensor uncovered on held-out scenes"
    printed = " ".join(result.output.split())
    assert "warning: the calibration set does not cover the held-out data" in printed
    assert coverage["tensors"][0]["tensor"] in printed and "calibration coverage:" in printed


def test_slow_int8_layers_are_profiled_per_layer(quantized, float_model):
    from edgedepth.quantize.speed import layer_times_us

    convs = [node.name for node in onnx.load(float_model).graph.node if node.op_type == "Conv"]
    batch = np.zeros((1, 3, 64, 64), dtype=np.float32)
    for path in (float_model, quantized("openvino")):
        times = layer_times_us(path, convs, batch)
        timed = sum(t > 0 for t in times.values())
        assert timed >= 0.9 * len(convs), f"only {timed}/{len(convs)} convs found in OpenVINO's counters for {path.name}"


def test_keep_float_slow_records_the_profile(float_model, synthetic_root, tmp_path):
    output = quantize_onnx(float_model, synthetic_root, tmp_path / "fast.onnx", samples=SAMPLES, keep_float_slow=True)
    info = read_sidecar(output)
    profile = info["speed_profile"]
    assert profile["layers_profiled"] == sum(node.op_type == "Conv" for node in onnx.load(float_model).graph.node)
    assert all(row["int8_us"] > row["float_us"] for row in profile["slow_in_int8"])
    kept = info["keep_float"]["slow_in_int8"]
    if profile["kept"]:  # only when the whole model measured faster with them float
        assert kept == [row["layer"] for row in profile["slow_in_int8"]]
        assert profile["latency_ms"]["slow_layers_float"] < profile["latency_ms"]["all_int8"]
    else:
        assert kept == []


def test_nncf_engine_writes_an_openvino_qdq_model(float_model, synthetic_root, tmp_path):
    output = quantize_onnx(float_model, synthetic_root, tmp_path / "nncf.onnx", engine="nncf", samples=4)
    activations, weights = zero_points_and_weights(output)
    assert activations and weights
    assert read_sidecar(output)["engine"] == "nncf"


# --- the command line -----------------------------------------------------------------------------------


def run_cli(*args):
    return CliRunner().invoke(main, ["quantize", *map(str, args)])


def assert_fails_cleanly(result, output, *words):
    assert result.exit_code != 0 and isinstance(result.exception, SystemExit), result.output
    message = result.output.strip()
    assert len(message.splitlines()) == 1 and "Traceback" not in message, message
    assert all(word in message for word in words), message
    assert not output.exists() and not list(output.parent.glob(f".{output.name}*")), "partial output left"


def test_cli_warns_when_fewer_samples_exist_and_prints_the_deltas(float_model, synthetic_root, tmp_path):
    output = tmp_path / "cli.int8.onnx"
    result = run_cli(float_model, "--data", synthetic_root, "-o", output, "--samples", 10_000, "--target", "tensorrt")
    assert result.exit_code == 0, result.output
    assert "warning: asked for 10000 calibration samples" in result.output
    assert "δ1" in result.output and "AbsRel" in result.output and output.exists()
    assert read_sidecar(output)["samples"] == read_sidecar(output)["calibration"]["count"] < 10_000


@pytest.fixture
def output(tmp_path):
    return tmp_path / "out" / "model.int8.onnx"


def test_cli_empty_data_folder(float_model, tmp_path, output):
    (tmp_path / "empty").mkdir()
    assert_fails_cleanly(run_cli(float_model, "--data", tmp_path / "empty", "-o", output), output, "is empty; give a dataset folder")


def test_cli_onnx_not_from_edgedepth_export(float_model, synthetic_root, tmp_path, output):
    stranger = tmp_path / "stranger.onnx"
    shutil.copyfile(float_model, stranger)
    assert_fails_cleanly(run_cli(stranger, "--data", synthetic_root, "-o", output), output, "not from edgedepth export")


def test_cli_corrupt_onnx(float_model, synthetic_root, tmp_path, output):
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(float_model.read_bytes()[:5000])
    shutil.copyfile(f"{float_model}.json", f"{corrupt}.json")
    assert_fails_cleanly(run_cli(corrupt, "--data", synthetic_root, "-o", output), output, "not a valid ONNX")


def test_cli_unknown_keep_float_pattern_and_nncf_for_tensorrt(float_model, synthetic_root, output):
    assert_fails_cleanly(run_cli(float_model, "--data", synthetic_root, "-o", output, "--keep-float", "nope*"),
                         output, "matches no node")
    assert_fails_cleanly(run_cli(float_model, "--data", synthetic_root, "-o", output, "--engine", "nncf",
                                 "--target", "tensorrt"), output, "use engine ort")


def test_cli_budget_miss_is_one_line_naming_the_fidelity_miss_and_the_worst_covered_layers(float_model, synthetic_root,
                                                                                           output, monkeypatch):
    from edgedepth.quantize import budget

    def unmet(rank, accuracy_budget, try_keeping, full_int8):  # as search ends when even all-float misses
        raise EdgeDepthError(f"the accuracy budget is not met even with all 3 quantized layers float "
                             f"({'; '.join(accuracy_budget.misses({**full_int8, 'rel_deviation_bound': 0.5}))})")

    monkeypatch.setattr(budget, "search", unmet)
    result = run_cli(float_model, "--data", synthetic_root, "-o", output, "--accuracy-budget", "--target", "tensorrt",
                     "--samples", SAMPLES)
    assert result.exit_code == 1 and "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if not line.startswith("warning: ")]  # warnings may precede it
    assert len(errors) == 1 and errors[0].startswith("Error: the accuracy budget is not met"), result.output
    assert "fidelity: deviation from float 50.00% > 4%" in errors[0] and "; worst-covered layers: " in errors[0]
    assert "saturated)" in errors[0] and not output.exists()


def copy_with_sidecar(model, folder):
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(model, folder / model.name)
    shutil.copyfile(f"{model}.json", folder / f"{model.name}.json")
    return folder / model.name


def test_source_in_a_read_only_folder_quantizes_and_nothing_is_written_beside_it(float_model, synthetic_root, tmp_path,
                                                                                  read_only, monkeypatch):
    monkeypatch.setenv("EDGEDEPTH_CACHE", str(tmp_path / "cache"))  # nothing cached: the calibrator runs too
    source = copy_with_sidecar(float_model, tmp_path / "models")
    before = sorted(p.name for p in read_only(source.parent).iterdir())
    output = tmp_path / "out" / "model.int8.onnx"
    result = run_cli(source, "--data", synthetic_root, "-o", output, "--samples", 2)
    assert result.exit_code == 0, result.output
    assert is_finished(output) and sorted(p.name for p in source.parent.iterdir()) == before


def test_two_runs_from_one_source_at_once_both_succeed_and_write_nothing_beside_it(float_model, synthetic_root, tmp_path):
    """ONNX Runtime wrote <stem>-inferred.onnx beside its input and deleted it: two runs deleted each other's."""
    import os
    import subprocess
    import sys
    import time

    import edgedepth

    source = copy_with_sidecar(float_model, tmp_path / "models")
    before = {p.name for p in source.parent.iterdir()}
    env = {**os.environ, "EDGEDEPTH_CACHE": str(tmp_path / "cache")}  # both calibrate: nothing cached yet
    runs = [subprocess.Popen([sys.executable, "-m", "edgedepth.cli", "quantize", str(source), "--data", str(synthetic_root),
                              "-o", str(tmp_path / f"out{i}" / "model.int8.onnx"), "--samples", "2"],
                             cwd=Path(edgedepth.__file__).parents[1], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True) for i in range(2)]
    appeared = set()
    while any(run.poll() is None for run in runs):  # watch the source's folder while they run
        appeared |= {p.name for p in source.parent.iterdir()} - before
        time.sleep(0.005)
    outputs = [run.communicate()[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert appeared == set(), "files were written beside the source ONNX"
    assert all(is_finished(tmp_path / f"out{i}" / "model.int8.onnx") for i in range(2))


def test_no_valid_sample_fails(synthetic_root):
    split = Split.of(synthetic_root)
    with pytest.raises(EdgeDepthError, match="has no images to calibrate on"):
        CalibrationSet.pick(Split(split.root, (), split.held_out, "val/ only"), 4, SPEC)
    with pytest.warns(CalibrationWarning):
        assert len(CalibrationSet.pick(Split(split.root, split.pool[:2], split.held_out, "two"), 4, SPEC)) == 2


@pytest.mark.slow
def test_reference_model_at_full_size_quantizes_for_tensorrt_with_entropy(synthetic_root, tmp_path):
    """deeplabv3_resnet50 at 512²: entropy calibration (one sample per pass keeps it near 2.4 GB), TensorRT form."""
    import torch

    from edgedepth.export import export_onnx
    from edgedepth.models import create_model, save_checkpoint

    torch.manual_seed(0)
    checkpoint = save_checkpoint(tmp_path / "r50.pt", create_model("deeplabv3_resnet50"),
                                 ModelSpec("deeplabv3_resnet50", (512, 512)))
    output = quantize_onnx(export_onnx(checkpoint, tmp_path / "r50.onnx"), synthetic_root, tmp_path / "r50.int8.onnx",
                           target="tensorrt", samples=4, method="entropy")
    activations, weights = zero_points_and_weights(output)
    assert activations and all(zp.dtype == np.int8 and not zp.any() for zp in activations)
    assert weights and all(scale.shape == (n,) for scale, _, _, n in weights)
    assert read_sidecar(output)["evaluation"]["held_out_samples"] > 0


def test_a_float_layer_after_a_folded_relu_reads_it_through_the_relu(quantized, float_model):
    """ONNX Runtime folds the Relu after a quantized conv into its UINT8 range and hands the conv the Relu's
    output name; an SE block's Mul kept float (with the conv after it) must not read that tensor raw."""
    from edgedepth.backends.onnxruntime import session_runner
    from edgedepth.quantize.float_layers import with_float_layers

    int8, source = onnx.load(quantized("openvino")), onnx.load(float_model)
    producers = {out: node for node in int8.graph.node for out in node.output}
    mul = next(node for node in source.graph.node if node.op_type == "Mul"
               and any(producers.get(name) is not None and producers[name].op_type == "Conv" and name.endswith("Relu_output_0")
                       for name in node.input))
    consumer = next(node for node in source.graph.node if mul.output[0] in node.input)
    kept = with_float_layers(int8, source, [mul.name, consumer.name])
    assert any(node.op_type == "Relu" and node.name.endswith(".float") for node in kept.graph.node)
    batches = [np.random.default_rng(i).uniform(-2, 2, (1, 3, 64, 64)).astype(np.float32) for i in range(2)]
    reference = [session_runner(float_model).infer(b) for b in batches]
    deviation = lambda model: max(float(np.abs(session_runner(model).infer(b) - r).max())  # noqa: E731
                                  for b, r in zip(batches, reference))
    assert deviation(kept) <= 2 * deviation(int8), "the float layers read pre-Relu values"
