"""FP16 conversion of the float ONNX (the input of a TensorRT FP16 engine), checked in ONNX Runtime on CPU."""

import numpy as np
import onnx
import pytest

from edgedepth.errors import EdgeDepthError
from edgedepth.export import export_onnx
from edgedepth.fp16 import convert_to_fp16

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


@pytest.fixture(scope="module")
def float_onnx(random_checkpoint, tmp_path_factory):
    return export_onnx(random_checkpoint, tmp_path_factory.mktemp("fp16") / "model.onnx")


def run(path, batch):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {"rgb": batch})[0]


def initializer_types(model):
    return {init.name: init.data_type for init in model.graph.initializer}


def test_fp16_model_runs_within_fp16_tolerance_and_keeps_float32_io(float_onnx, tmp_path):
    out = convert_to_fp16(float_onnx, tmp_path / "model.fp16.onnx")
    model = onnx.load(str(out))
    assert [v.type.tensor_type.elem_type for v in [*model.graph.input, *model.graph.output]] == [FLOAT, FLOAT]
    weights = [t for t in initializer_types(model).values() if t in (FLOAT, FLOAT16)]
    assert weights.count(FLOAT16) > 0.9 * len(weights)
    batch = np.random.default_rng(0).standard_normal((1, 3, 64, 64)).astype(np.float32)
    reference, half = run(float_onnx, batch), run(out, batch)
    assert half.dtype == np.float32 and half.shape == reference.shape
    # FP16 keeps ~3 significant digits (unit roundoff 4.9e-4): the error stays within 1e-3 of the output scale
    assert np.abs(half - reference).max() <= 1e-3 * np.abs(reference).max()
    assert not np.array_equal(half, reference)  # it really ran in FP16


def test_keep_float_layers_stay_float32(float_onnx, tmp_path):
    source = onnx.load(str(float_onnx))
    convs = [node for node in source.graph.node if node.op_type == "Conv"]
    kept, converted = convs[0], convs[1]
    model = onnx.load(str(convert_to_fp16(float_onnx, tmp_path / "kept.onnx", keep_float=(kept.name,))))
    types = initializer_types(model)
    assert types[kept.input[1]] == FLOAT
    assert types[converted.input[1]] == FLOAT16


def test_unknown_keep_float_name_is_refused(float_onnx, tmp_path):
    with pytest.raises(EdgeDepthError, match="not in model.onnx: no_such_node"):
        convert_to_fp16(float_onnx, tmp_path / "x.onnx", keep_float=("no_such_node",))
    assert not (tmp_path / "x.onnx").exists()


def test_sidecar_records_the_conversion(float_onnx, tmp_path):
    from edgedepth.artifacts import read_sidecar, sha256

    out = convert_to_fp16(float_onnx, tmp_path / "model.fp16.onnx")
    sidecar = read_sidecar(out)
    assert sidecar["precision"] == "fp16"
    assert sidecar["source_onnx_sha256"] == sha256(float_onnx)
    assert sidecar["input_size"] == [64, 64] and sidecar["arch"] == "lraspp_mobilenet_v3_large"
