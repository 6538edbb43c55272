"""Small float and Q/DQ INT8 ONNX models for backend tests, made with the plain tools (torch.onnx.export,
ONNX Runtime quantize_static) so these tests exercise the backends alone, not export or quantize."""

import numpy as np
import pytest

from edgedepth.artifacts import write_sidecar


def _sidecar(meta: dict, precision: str) -> dict:
    return {"arch": meta["arch"], "input_size": meta["input_size"], "depth": meta["depth"],
            "preprocessing": meta["preprocessing"], "precision": precision, "dynamic": "none"}


@pytest.fixture(scope="session")
def float_onnx(random_checkpoint, tmp_path_factory):
    import torch

    from edgedepth.models import load_checkpoint

    model, meta = load_checkpoint(random_checkpoint)
    path = tmp_path_factory.mktemp("onnx") / "model.onnx"
    torch.onnx.export(model, torch.zeros(1, 3, *meta["input_size"]), path, input_names=["rgb"],
                      output_names=["depth"], opset_version=17, dynamo=False)
    write_sidecar(path, _sidecar(meta, "fp32"))
    return path


@pytest.fixture(scope="session")
def int8_onnx(float_onnx, random_checkpoint):
    """Per-channel INT8 weights, UINT8 activations, calibrated on 4 seeded noise images."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    from edgedepth.artifacts import read_sidecar

    class Noise(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(0)
            self.batches = iter({"rgb": rng.standard_normal((1, 3, 64, 64)).astype(np.float32)} for _ in range(4))

        def get_next(self):
            return next(self.batches, None)

    path = float_onnx.with_name("model.int8.onnx")
    quantize_static(float_onnx, path, Noise(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    write_sidecar(path, {**read_sidecar(float_onnx), "precision": "int8"})
    return path
