"""`edgedepth build` and the fusion report: counts, fusions, runtime precision, the INT8 share of MACs."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from edgedepth.artifacts import read_sidecar
from edgedepth.backends import BuildOptions, CpuOptions, get_backend
from edgedepth.cli import main
from edgedepth.errors import EdgeDepthError
from edgedepth.fusion import compute_macs


def test_conv_and_matmul_macs_are_counted_from_shapes():
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "w")
    matrix = numpy_helper.from_array(np.zeros((64, 10), np.float32), "m")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
         helper.make_node("Reshape", ["y", "shape"], ["flat"], name="flatten"),
         helper.make_node("MatMul", ["flat", "m"], ["z"], name="fc")],
        "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, None)],
        [weight, matrix, numpy_helper.from_array(np.array([32, 64], np.int64), "shape")],
    )
    macs = compute_macs(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]))
    assert macs == {"conv": 8 * 16 * 16 * 3 * 3 * 3, "fc": 32 * 10 * 64}


@pytest.fixture(scope="module")
def reports(float_onnx, int8_onnx, tmp_path_factory):
    """{(backend, precision): fusion report from the sidecar}."""
    out = tmp_path_factory.mktemp("engines")
    return {
        (name, precision): read_sidecar(get_backend(name).build(onnx, out / f"{name}-{precision}", BuildOptions()))["fusion"]
        for name in ("openvino", "onnxruntime")
        for precision, onnx in (("fp32", float_onnx), ("int8", int8_onnx))
    }


@pytest.mark.parametrize("name", ["openvino", "onnxruntime"])
def test_float_engine_fuses_and_runs_no_int8(name, reports, float_onnx):
    report = reports[name, "fp32"]
    assert report["engine_layers"] < report["onnx_nodes"]
    assert any(pattern.startswith("Conv+") for pattern in report["fusions"])  # conv + activation fusions
    assert report["int8_mac_share"] == 0.0
    assert sum(report["precision_macs"].values()) == sum(compute_macs_of(float_onnx).values())
    assert report["unmatched_compute_nodes"] == []


@pytest.mark.parametrize("name", ["openvino", "onnxruntime"])
def test_int8_engine_reports_where_int8_runs(name, reports):
    report = reports[name, "int8"]
    int8_layers = [layer for layer in report["layers"] if layer["precision"] in ("u8", "i8", "int8")]
    assert int8_layers and report["qdq_absorbed"] > 0
    int8_macs = sum(layer["macs"] for layer in int8_layers)
    assert report["int8_mac_share"] == pytest.approx(int8_macs / sum(report["precision_macs"].values()))
    assert report["int8_mac_share"] > 0.5  # every conv was quantized; most MACs must run in INT8
    assert report["unmatched_compute_nodes"] == []


def test_onnxruntime_keeps_depthwise_convs_float(reports):
    """ONNX Runtime has no depthwise QLinearConv fast path on this CPU: those stay float, and the share says so."""
    report = reports["onnxruntime", "int8"]
    assert 0.5 < report["int8_mac_share"] < 1.0
    assert {layer["type"] for layer in report["layers"] if layer["precision"] == "fp32" and layer["macs"]} == {"Conv"}


def test_build_sidecar_records_the_model_and_its_source(float_onnx, tmp_path):
    xml = get_backend("openvino").build(float_onnx, tmp_path / "ov", BuildOptions(cpu=CpuOptions(threads=1)))
    sidecar = read_sidecar(xml)
    assert xml.name == "model.xml" and xml.with_suffix(".bin").is_file()
    assert sidecar["input_size"] == [64, 64] and sidecar["precision"] == "fp32"
    assert sidecar["compress_to_fp16"] is False and len(sidecar["source_onnx_sha256"]) == 64
    assert not [p for p in (tmp_path / "ov").iterdir() if p.name.startswith(".")]  # no staging left behind


def test_build_command_prints_the_report_and_writes_json(int8_onnx, tmp_path):
    result = CliRunner().invoke(main, ["build", str(int8_onnx), "--backend", "openvino", "-o", str(tmp_path / "ov"),
                                       "--threads", "1", "--json", str(tmp_path / "fusion.json")])
    assert result.exit_code == 0, result.output
    fusion = json.loads((tmp_path / "fusion.json").read_text())
    assert f"INT8 share of compute: {fusion['int8_mac_share']:.1%}" in result.output
    assert f"engine layers {fusion['engine_layers']}" in result.output
    assert (tmp_path / "ov" / "model.xml.json").is_file()


def test_failed_build_leaves_nothing_that_looks_finished(tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(EdgeDepthError, match="not a readable ONNX model"):
        get_backend("openvino").build(broken, tmp_path / "ov", BuildOptions())
    assert not (tmp_path / "ov").exists()  # the folder it created is gone again, no staging left


@pytest.mark.parametrize("args, message", [
    (["missing.onnx", "--backend", "openvino"], "not found"),
    (["missing.onnx", "--backend", "onnxruntime"], "not found"),
])
def test_build_command_errors_are_one_line(args, message, tmp_path):
    result = CliRunner().invoke(main, ["build", *args, "-o", str(tmp_path / "out")])
    assert result.exit_code != 0 and message in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output


def compute_macs_of(path):
    import onnx

    return compute_macs(onnx.load(str(path)))


def write_two_output_onnx(path):
    import torch

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return x[:, :1], x[:, 1:2]

    torch.onnx.export(TwoHeads(), torch.zeros(1, 3, 16, 16), path, input_names=["rgb"], output_names=["a", "b"],
                      opset_version=17, dynamo=False)


BAD_SOURCES = {
    "two outputs": (write_two_output_onnx, "has 1 inputs and 2 outputs; an edgedepth model has one of each (rgb, depth)"),
    "empty file": (lambda path: path.write_bytes(b""), "holds no ONNX graph"),
    "random bytes": (lambda path: path.write_bytes(np.random.default_rng(0).bytes(4096)), "is not a readable ONNX model"),
}


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
@pytest.mark.parametrize("bad", BAD_SOURCES)
def test_build_refuses_what_the_c_runtime_would_in_one_line_and_leaves_nothing(backend, bad, tmp_path):
    source = tmp_path / "model.onnx"
    write, message = BAD_SOURCES[bad]
    write(source)
    result = CliRunner().invoke(main, ["build", str(source), "--backend", backend, "-o", str(tmp_path / "out")])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and "E0000" not in result.output  # no frontend-probe noise
    assert not (tmp_path / "out").exists()


def test_building_another_runtimes_flavour_warns_with_the_reason(int8_onnx, tmp_path):
    from edgedepth.artifacts import write_sidecar

    trt_flavoured = tmp_path / "model.int8.onnx"
    trt_flavoured.write_bytes(int8_onnx.read_bytes())
    write_sidecar(trt_flavoured, {**read_sidecar(int8_onnx), "target": "tensorrt"})
    result = CliRunner().invoke(main, ["build", str(trt_flavoured), "--backend", "openvino", "-o", str(tmp_path / "ov")])
    assert result.exit_code == 0, result.output
    assert "warning: this Q/DQ model was quantized for tensorrt" in result.stderr
    assert "quantize --target openvino" in result.stderr
    same = CliRunner().invoke(main, ["build", str(int8_onnx), "--backend", "openvino", "-o", str(tmp_path / "ov2")])
    assert same.exit_code == 0 and "warning" not in same.stderr
