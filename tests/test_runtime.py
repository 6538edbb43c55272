"""edgedepth.load → DepthModel: every artifact kind, resolved by what is on disk; uint8 RGB of any size in,
metres out, equal to the runner fed the recorded preprocessing. (Agreement with the C runtime: test_capi.py.)"""

import json
import threading

import numpy as np
import pytest
import torch

import edgedepth
from edgedepth.artifacts import write_sidecar
from edgedepth.backends import BuildOptions, get_backend
from edgedepth.data.transforms import Preprocessing, preprocess, resize_bilinear
from edgedepth.errors import EdgeDepthError
from edgedepth.runtime import DepthModel
from edgedepth.sources import resolve_source
from edgedepth.spec import ModelSpec

#: predict against the runner it wraps: the same preprocessing and runtime, so only the float rounding of
#: the final resize may differ (none at model size). 1e-6 of the largest depth is far below any slip a wrong
#: resize (nearest, align_corners) or preprocessing would make, even on the untrained fixtures' flat maps.
RTOL = 1e-6


@pytest.fixture(scope="module")
def artifacts(random_checkpoint, float_onnx, int8_onnx, int8_openvino, tmp_path_factory):
    ort_build = get_backend("onnxruntime").build(float_onnx, tmp_path_factory.mktemp("ort") / "build", BuildOptions())
    return {"checkpoint": random_checkpoint, "float_onnx": float_onnx, "int8_onnx": int8_onnx,
            "openvino_int8": int8_openvino, "onnxruntime_build": ort_build.parent}


@pytest.fixture(scope="module")
def photo():
    """An 80×96 image (not the model's 64×64) with structure, so the depth map is not flat."""
    y, x = np.mgrid[0:80, 0:96]
    rgb = np.stack([x * 2.6, y * 3.1, (x + y) * 1.4], axis=-1) % 256
    return rgb.astype(np.uint8)


def runner_depth(model: DepthModel, rgb: np.ndarray) -> np.ndarray:
    """What the runner gives at model size for the image preprocessed as the artifact records."""
    return model.runner.infer(preprocess(rgb, model.input_size, model.preprocessing))[0, 0]


@pytest.mark.parametrize("kind, backend, precision", [
    ("checkpoint", "torch", "fp32"), ("float_onnx", "onnxruntime", "fp32"), ("int8_onnx", "onnxruntime", "int8"),
    ("openvino_int8", "openvino", "int8"), ("onnxruntime_build", "onnxruntime", "fp32"),
])
def test_predict_equals_the_runner_on_every_artifact(artifacts, photo, kind, backend, precision):
    with edgedepth.load(artifacts[kind]) as model:
        assert (model.backend, model.precision, model.device, model.input_size) == (backend, precision, "cpu", (64, 64))
        expected = runner_depth(model, photo)
        at_model = model.predict(photo, size="model")
        at_input = model.predict(photo)
    assert at_model.dtype == at_input.dtype == np.float32
    assert at_model.shape == (64, 64) and at_input.shape == photo.shape[:2]
    scale = np.abs(expected).max()
    assert np.abs(at_model - expected).max() <= RTOL * scale
    resized = resize_bilinear(torch.from_numpy(expected)[None, None], photo.shape[:2])[0, 0].numpy()
    assert np.abs(at_input - resized).max() <= RTOL * scale
    assert np.ptp(expected) > 1e3 * RTOL * scale  # the map has structure for the comparison to see


def test_the_recorded_preprocessing_is_applied(float_onnx, photo, tmp_path):
    """A sidecar that records BGR order and other statistics changes the input the runner sees."""
    bgr = tmp_path / "bgr.onnx"
    bgr.write_bytes(float_onnx.read_bytes())
    record = json.loads(float_onnx.with_name(float_onnx.name + ".json").read_text())
    spec = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), color="BGR")
    write_sidecar(bgr, {**record, "preprocessing": spec.record()})
    with edgedepth.load(bgr) as model, edgedepth.load(float_onnx) as plain:
        assert model.preprocessing == spec
        expected = model.runner.infer(preprocess(photo, (64, 64), spec))[0, 0]
        assert np.abs(model.predict(photo, size="model") - expected).max() <= RTOL * np.abs(expected).max()
        assert np.abs(plain.predict(photo, size="model") - expected).max() > 1e-3 * np.abs(expected).max()


def test_lists_and_stacks_are_batched_and_keep_each_size(artifacts, photo):
    small = photo[:50, :70]
    with edgedepth.load(artifacts["checkpoint"]) as model:
        assert model.batch_limit > 1
        one, two = model.predict(photo), model.predict(small)
        listed = model.predict([photo, small, photo])
        stacked = model.predict(np.stack([photo, photo]))
        fixed = model.predict([photo, small], size=(30, 40))
    assert [d.shape for d in listed] == [(80, 96), (50, 70), (80, 96)]
    np.testing.assert_allclose(listed[1], two, rtol=1e-5)
    assert stacked.shape == (2, 80, 96)
    np.testing.assert_allclose(stacked[1], one, rtol=1e-5)
    assert [d.shape for d in fixed] == [(30, 40), (30, 40)]


def test_a_batch_one_artifact_takes_a_list_one_image_at_a_time(artifacts, photo):
    with edgedepth.load(artifacts["openvino_int8"]) as model:
        assert model.batch_limit == 1
        depths = model.predict([photo, photo[::-1]])
        np.testing.assert_allclose(depths[1], model.predict(photo[::-1]), rtol=1e-6)


def test_onnx_can_be_read_by_openvino_instead(artifacts, photo):
    with edgedepth.load(artifacts["float_onnx"], backend="openvino") as ov, edgedepth.load(artifacts["float_onnx"]) as ort:
        assert ov.backend == "openvino" and ort.backend == "onnxruntime"
        a, b = ov.predict(photo), ort.predict(photo)
    assert np.abs(a - b).max() <= 1e-4 * np.abs(b).max()


def test_threads_share_one_model_safely(artifacts, photo):
    with edgedepth.load(artifacts["openvino_int8"]) as model:
        images = [np.roll(photo, shift, axis=1) for shift in range(0, 96, 12)]
        expected = [model.predict(image) for image in images]
        results = [None] * len(images)

        def work(i):
            results[i] = model.predict(images[i])

        threads = [threading.Thread(target=work, args=(i,)) for i in range(len(images))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert all(np.array_equal(r, e) for r, e in zip(results, expected))


def test_resolve_reads_what_is_on_disk(artifacts):
    ir = resolve_source(artifacts["openvino_int8"])
    assert (ir.readers[0], ir.artifact) == ("openvino", artifacts["openvino_int8"] / "model.xml")
    assert resolve_source(artifacts["onnxruntime_build"]).readers[0] == "onnxruntime"
    assert resolve_source(artifacts["checkpoint"]).readers[0] == "torch"
    assert resolve_source(artifacts["float_onnx"]).readers == ("onnxruntime", "openvino")


def tensorrt_folder(tmp_path):
    folder = tmp_path / "trt"
    folder.mkdir()
    (folder / "model.engine").write_bytes(b"not really an engine")
    write_sidecar(folder / "model.engine", {**ModelSpec("net", (64, 64)).to_record(), "backend": "tensorrt", "precision": "int8"})
    return folder


@pytest.mark.parametrize("case, message", [
    ("tensorrt_on_cpu", "is built for tensorrt on cuda, not cpu; load it on cuda, or build"),
    ("openvino_on_cuda", "is built for openvino on cpu, not cuda; load it on cpu, or build"),
    ("ort_build_on_cuda", "is built for onnxruntime on cpu, not cuda"),
    ("missing", "not found"),
    ("empty_folder", "holds no built model"),
    ("text_file", "is not a model edgedepth reads"),
    ("checkpoint_by_openvino", "backend openvino does not read .pt files; for random.pt use torch"),
    ("no_sidecar", "has no sidecar"),
    ("quantum", "device 'quantum' is not one of cpu, cuda"),
])
def test_what_cannot_be_loaded_is_refused_in_one_line(artifacts, tmp_path, case, message):
    no_sidecar = tmp_path / "bare.onnx"
    no_sidecar.write_bytes(artifacts["float_onnx"].read_bytes())
    (tmp_path / "empty").mkdir()
    (tmp_path / "notes.txt").write_text("hello")
    path, device, backend = {
        "tensorrt_on_cpu": (tensorrt_folder(tmp_path), "cpu", None),
        "openvino_on_cuda": (artifacts["openvino_int8"], "cuda", None),
        "ort_build_on_cuda": (artifacts["onnxruntime_build"], "cuda", None),
        "missing": (tmp_path / "nowhere.onnx", "cpu", None),
        "empty_folder": (tmp_path / "empty", "cpu", None),
        "text_file": (tmp_path / "notes.txt", "cpu", None),
        "checkpoint_by_openvino": (artifacts["checkpoint"], "cpu", "openvino"),
        "no_sidecar": (no_sidecar, "cpu", None),
        "quantum": (artifacts["float_onnx"], "quantum", None),
    }[case]
    with pytest.raises(EdgeDepthError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")) as info:
        edgedepth.load(path, device, backend=backend)
    assert "\n" not in info.value.message


@pytest.mark.parametrize("images, size, message", [
    (np.zeros((8, 8), np.uint8), "input", "expected H×W×3"),
    (np.zeros((8, 8, 3), np.float32), "input", "dtype float32; expected uint8"),
    (np.zeros((8, 8, 4), np.uint8), "input", "expected H×W×3 RGB"),
    ([], "input", "no images"),
    (np.zeros((8, 8, 3), np.uint8), "half", "is not 'input', 'model' or"),
    (np.zeros((8, 8, 3), np.uint8), (0, 5), "is not 'input', 'model' or"),
])
def test_bad_images_are_refused_in_one_line(artifacts, images, size, message):
    with edgedepth.load(artifacts["checkpoint"]) as model:
        with pytest.raises(EdgeDepthError, match=message):
            model.predict(images, size=size)


def test_a_closed_model_says_so(artifacts, photo):
    model = edgedepth.load(artifacts["float_onnx"])
    model.close()
    with pytest.raises(EdgeDepthError, match="was closed; load it again"):
        model.predict(photo)
