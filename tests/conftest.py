import os
import subprocess

import numpy as np
import pytest

from edgedepth.artifacts import write_sidecar
from edgedepth.spec import ModelSpec


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run slow full-size (ResNet50@512) cases")


def pytest_collection_modifyitems(config, items):
    """`slow` runs only with --runslow; `gpu` and `tensorrt` skip, with the reason, where there is none."""
    skips = {}
    if not config.getoption("--runslow"):
        skips["slow"] = "slow case (full-size or minutes long): run with --runslow (benchmarks/ does)"
    if any("gpu" in item.keywords or "tensorrt" in item.keywords for item in items):
        import importlib.util

        import torch

        if not torch.cuda.is_available():
            skips["gpu"] = skips["tensorrt"] = "needs an NVIDIA GPU: torch sees no CUDA device here"
        elif importlib.util.find_spec("tensorrt") is None:
            skips["tensorrt"] = "needs TensorRT: `import tensorrt` fails here"
    for item in items:
        for marker, reason in skips.items():
            if marker in item.keywords:
                item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture
def read_only():
    """make(folder): `folder` (made if missing) is read-only to this process until the test ends. chmod does it
    for a user; root writes through permissions, so there a read-only bind mount of the folder onto itself does
    it (skipped where root may not mount)."""
    undo = []

    def make(folder):
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)
        undo.append(lambda: folder.chmod(0o755))
        if os.access(folder, os.W_OK):  # root
            mounted = subprocess.run(["mount", "--bind", "-o", "ro", str(folder), str(folder)], capture_output=True)
            if mounted.returncode:
                pytest.skip(f"running as root, and a read-only bind mount is refused: {mounted.stderr.decode().strip()}")
            undo.append(lambda: subprocess.run(["umount", str(folder)], check=True))
        assert not os.access(folder, os.W_OK)
        return folder

    yield make
    for step in reversed(undo):
        step()


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    """An untrained lraspp_mobilenet_v3_large checkpoint at 64×64 (fixed seed): fast, for plumbing tests."""
    import torch

    from edgedepth.models import create_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random.pt"
    return save_checkpoint(path, create_model("lraspp_mobilenet_v3_large"), ModelSpec("lraspp_mobilenet_v3_large", (64, 64)))


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A small synthetic DIODE tree: 24 scans at 64×64 (train + val, indoors + outdoor), seed 0."""
    from edgedepth.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("diode") / "diode", 24, seed=0, size=(64, 64))


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, synthetic_root):
    """lraspp_mobilenet_v3_large at 64×64 trained 8 short epochs on `synthetic_root` (~20 s): it beats the
    constant-median baseline on the val/ split, but only modestly; for tests that need a model that learned."""
    from edgedepth.train import TrainConfig, train

    path = tmp_path_factory.mktemp("trained") / "model.pt"
    train(synthetic_root, path, TrainConfig(size=(64, 64), epochs=8, batch_size=4), log=lambda line: None)
    return path



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


@pytest.fixture(scope="session")
def int8_openvino(int8_onnx, tmp_path_factory):
    """The demo's OpenVINO INT8 build in small: `int8_onnx` built as `edgedepth build --backend openvino` does."""
    from edgedepth.backends import BuildOptions, openvino

    return openvino.build(int8_onnx, tmp_path_factory.mktemp("ov-int8") / "build", BuildOptions()).parent
