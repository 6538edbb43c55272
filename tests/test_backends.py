"""Every runner against the float PyTorch reference, and every way a runner must refuse its input."""

import numpy as np
import pytest

from edgedepth.backends import BuildOptions, CpuOptions, LoadOptions, get_backend, usable_backend
from edgedepth.errors import EdgeDepthError, RuntimeMissing

BUILT = ("onnxruntime", "openvino")


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)


@pytest.fixture(scope="module")
def reference(random_checkpoint, images):
    with get_backend("torch").load(random_checkpoint, LoadOptions()) as runner:
        return np.concatenate([runner.infer(image[None]) for image in images])


@pytest.fixture(scope="module")
def built(float_onnx, tmp_path_factory):
    """{backend: artifact} built from the float ONNX."""
    out = tmp_path_factory.mktemp("built")
    return {name: get_backend(name).build(float_onnx, out / name, BuildOptions()) for name in BUILT}


@pytest.mark.parametrize("name", BUILT)
def test_fp32_runner_matches_torch(name, built, images, reference):
    with get_backend(name).load(built[name], LoadOptions(cpu=CpuOptions(threads=1))) as runner:
        assert (runner.name, runner.precision, runner.device, runner.input_size) == (name, "fp32", "cpu", (64, 64))
        outputs = np.concatenate([runner.infer(image[None]) for image in images])
    assert outputs.shape == (2, 1, 64, 64) and outputs.dtype == np.float32
    # summation order differs between runtimes; 1e-4 of the output's scale is far below any real fault
    np.testing.assert_allclose(outputs, reference, atol=1e-4 * np.abs(reference).max())


def test_onnxruntime_runs_an_unbuilt_onnx(float_onnx, images, reference):
    with get_backend("onnxruntime").load(float_onnx, LoadOptions()) as runner:
        np.testing.assert_allclose(runner.infer(images[:1]), reference[:1], atol=1e-4 * np.abs(reference).max())


@pytest.mark.parametrize("name", BUILT)
def test_int8_runner_tracks_the_float_model(name, int8_onnx, tmp_path, images, reference):
    artifact = get_backend(name).build(int8_onnx, tmp_path / name, BuildOptions())
    with get_backend(name).load(artifact, LoadOptions()) as runner:
        assert runner.precision == "int8"
        output = runner.infer(images[:1])
    # quantisation noise, not a different function: the outputs stay strongly correlated
    assert np.corrcoef(output.ravel(), reference[:1].ravel())[0, 1] > 0.9


def test_timed_infer_returns_output_and_seconds(built, images, reference):
    with get_backend("openvino").load(built["openvino"], LoadOptions()) as runner:
        output, seconds = runner.timed_infer(images[:1])
    assert output.shape == (1, 1, 64, 64) and 0 < seconds < 60


def test_openvino_settings_are_applied(built):
    with get_backend("openvino").load(built["openvino"], LoadOptions(cpu=CpuOptions(threads=1))) as runner:
        assert runner.settings == {"threads": 1, "streams": 1, "hint": "LATENCY", "inference_precision": "f32"}


@pytest.mark.parametrize("name", BUILT)
def test_missing_artifact_is_a_clear_error(name, tmp_path):
    with pytest.raises(EdgeDepthError, match="not found"):
        get_backend(name).load(tmp_path / "absent" / ("model.xml" if name == "openvino" else "model.onnx"), LoadOptions())


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(EdgeDepthError, match="not found"):
        get_backend("torch").load(tmp_path / "absent.pt", LoadOptions())


@pytest.mark.parametrize("name", [*BUILT, "torch"])
def test_input_of_another_size_is_refused(name, built, random_checkpoint):
    artifact = built.get(name, random_checkpoint)
    with get_backend(name).load(artifact, LoadOptions()) as runner:
        with pytest.raises(EdgeDepthError, match="was built for 64x64"):
            runner.infer(np.zeros((1, 3, 96, 96), np.float32))


@pytest.mark.parametrize("batch, message", [
    (np.zeros((1, 4, 64, 64), np.float32), "expected N×3×H×W"),
    (np.zeros((3, 64, 64), np.float32), "expected N×3×H×W"),
    (np.full((1, 3, 64, 64), np.nan, np.float32), "NaN or Inf"),
    (np.zeros((1, 3, 64, 64), np.uint8), "expected float32"),
])
@pytest.mark.parametrize("name", BUILT)
def test_bad_batches_are_refused(name, built, batch, message):
    with get_backend(name).load(built[name], LoadOptions()) as runner:
        with pytest.raises(EdgeDepthError, match=message):
            runner.infer(batch)


def test_corrupt_ir_is_a_clear_error(built, tmp_path):
    xml = tmp_path / "model.xml"
    xml.write_text("<net><layers><layer id='0'")  # truncated, as after a failed copy
    xml.with_suffix(".bin").write_bytes(built["openvino"].with_suffix(".bin").read_bytes())
    with pytest.raises(EdgeDepthError, match="unreadable"):
        get_backend("openvino").load(xml, LoadOptions())


def test_corrupt_onnx_is_a_clear_error(tmp_path):
    broken = tmp_path / "model.onnx"
    broken.write_bytes(b"\x08\x07garbage")
    with pytest.raises(EdgeDepthError, match="cannot load"):
        get_backend("onnxruntime").load(broken, LoadOptions())


def test_fp16_torch_on_cpu_is_refused(random_checkpoint):
    with pytest.raises(EdgeDepthError, match="fp16 is CUDA-only"):
        get_backend("torch").load(random_checkpoint, LoadOptions(precision="fp16"))


def test_unusable_backend_says_why(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(RuntimeMissing, match="torch on cuda: PyTorch sees no CUDA device"):
        usable_backend("torch", "cuda")
    with pytest.raises(RuntimeMissing, match="openvino on cuda: openvino runs on cpu, not cuda"):
        usable_backend("openvino", "cuda")
