"""`edgedepth predict`: folders, videos and --compare through the CLI, each output checked against the runner;
every bad input refused in one line with nothing written."""

import json
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

import edgedepth
from edgedepth.cli import main
from edgedepth.data.transforms import preprocess, resize_bilinear

#: As in test_runtime.py: the same runner and preprocessing, only the resize's float rounding may differ.
RTOL = 1e-6


def photo(h: int, w: int, seed: int) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([x * (2.0 + seed), y * 3.1, (x + y) * 1.4 + 40 * seed], axis=-1) % 256
    return rgb.astype(np.uint8)


def predict(*args: str):
    result = CliRunner().invoke(main, ["predict", *map(str, args)])
    return result


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Three photos, one in a subfolder, one at the model's 64×64 and two at other sizes."""
    root = tmp_path_factory.mktemp("photos") / "photos"
    (root / "sub").mkdir(parents=True)
    for name, (h, w), seed in (("a.png", (64, 64), 0), ("b.jpg", (80, 96), 1), ("sub/c.png", (45, 70), 2)):
        Image.fromarray(photo(h, w, seed)).save(root / name, quality=95)
    return root


def read_pfm(path):
    with open(path, "rb") as fh:
        assert fh.readline() == b"Pf\n"
        w, h = (int(v) for v in fh.readline().split())
        assert float(fh.readline()) < 0
        return np.flipud(np.frombuffer(fh.read(), "<f4").reshape(h, w))


@pytest.mark.parametrize("artifact", ["int8_openvino", "float_onnx"])
def test_a_folder_gives_every_format_equal_to_the_runner(folder, artifact, request, tmp_path):
    model_path = request.getfixturevalue(artifact)
    out = tmp_path / "out"
    result = predict(folder, "-m", model_path, "-o", out, "--format", "png,npy,pfm,png16", "--json", "-")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["images"] == 3 and summary["images_per_s"] > 0 and summary["output_dir"] == str(out)
    assert [r["input"] for r in summary["inputs"]] == [str(folder / n) for n in ("a.png", "b.jpg", "sub/c.png")]
    with edgedepth.load(model_path) as model:
        for name in ("a", "b", "sub/c"):
            source = next(folder.glob(f"{name}.*"))
            rgb = np.asarray(Image.open(source).convert("RGB"))
            at_model = model.runner.infer(preprocess(rgb, model.input_size, model.preprocessing))
            expected = resize_bilinear(torch.from_numpy(at_model), rgb.shape[:2])[0, 0].numpy()
            depth = np.load(out / f"{name}.depth.npy")
            scale = np.abs(expected).max()
            assert depth.shape == rgb.shape[:2] and np.abs(depth - expected).max() <= RTOL * scale
            assert np.median(depth) == pytest.approx(np.median(expected), rel=RTOL)
            if rgb.shape[:2] == model.input_size:  # at the model's size the median is the runner's own
                assert np.median(depth) == pytest.approx(float(np.median(at_model)), rel=RTOL)
            assert np.array_equal(read_pfm(out / f"{name}.depth.pfm"), depth)
            mm = np.asarray(Image.open(out / f"{name}.depth16.png"))
            assert mm.dtype == np.uint16 and np.array_equal(mm, np.rint(np.clip(depth, 0, 65.535) * 1000))
            with Image.open(out / f"{name}.depth.png") as png:  # the depth map, then its scale bar on the right
                assert png.mode == "RGB" and png.height == rgb.shape[0] and png.width > rgb.shape[1] + 20


def make_video(path, frames: int, size=(72, 96)):
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("mpeg4", rate=10)
        stream.height, stream.width = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.roll(photo(*size, 0), 5 * i, axis=1), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_a_video_gives_a_depth_video_beside_the_images(folder, int8_openvino, tmp_path):
    av = pytest.importorskip("av", reason="PyAV (the video extra) is not installed")
    clip = make_video(tmp_path / "clip.mp4", 10)
    out = tmp_path / "out"
    result = predict(clip, folder / "a.png", "-m", int8_openvino, "-o", out, "--json", "-")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["images"] == 11
    video = summary["inputs"][0]
    assert (video["kind"], video["frames"], video["size"]) == ("video", 10, [72, 96])
    assert sorted(p.name for p in out.iterdir()) == ["a.depth.png", "clip.depth.mp4"]
    with av.open(str(out / "clip.depth.mp4")) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 10 and frames[0].shape[0] == 72 and frames[0].shape[1] > 96  # depth + scale bar


def test_compare_writes_reference_other_and_difference(folder, int8_openvino, float_onnx, tmp_path):
    out = tmp_path / "out"
    result = predict(folder / "a.png", "-m", int8_openvino, "-o", out, "--compare", float_onnx, "--json", "-")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["compare"]["precision"] == "fp32" and summary["model"]["precision"] == "int8"
    assert summary["inputs"][0]["outputs"] == [str(out / "a.depth.png"), str(out / "a.compare.png")]
    single = np.asarray(Image.open(out / "a.depth.png"))
    panels = np.asarray(Image.open(out / "a.compare.png"))
    assert panels.shape[0] > 64 and panels.shape[1] >= 3 * single.shape[1]  # caption row; three panels, each with a bar
    # the second panel is the INT8 map on the float map's scale: not the first panel again
    caption = panels.shape[0] - 64
    first, second = panels[caption:, :64], panels[caption:, single.shape[1] + 8 : single.shape[1] + 8 + 64]
    assert not np.array_equal(first, second)


def test_outputs_beside_the_photos_are_not_read_back(tmp_path, float_onnx):
    Image.fromarray(photo(64, 64, 0)).save(tmp_path / "a.png")
    for _ in range(2):
        result = predict(tmp_path, "-m", float_onnx, "-o", tmp_path, "--format", "png,png16", "--compare", float_onnx,
                         "--json", "-")
        assert result.exit_code == 0, result.output
        assert [r["input"] for r in json.loads(result.stdout)["inputs"]] == [str(tmp_path / "a.png")]


def test_grey_images_are_converted_and_said_so(tmp_path, float_onnx):
    Image.fromarray(photo(64, 64, 0)[..., 0]).save(tmp_path / "grey.png")
    result = predict(tmp_path / "grey.png", "-m", float_onnx, "-o", tmp_path / "out", "--json", "-")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["inputs"][0]["converted"] == "grayscale → RGB"
    assert "1 converted to RGB" in result.stderr


def bad_input(case, tmp_path, monkeypatch):
    """The input folder of one bad call: a good photo that sorts first (so a late refusal would have written
    its outputs already), then what is wrong."""
    src = tmp_path / "in"
    src.mkdir()
    if case not in ("empty_folder", "text"):
        Image.fromarray(photo(64, 64, 0)).save(src / "ok.png")
    if case == "unreadable":
        (src / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    elif case == "grey16":
        Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 15).astype(np.uint16)).save(src / "x.png")
    elif case == "cmyk":
        Image.new("CMYK", (64, 64), (10, 20, 30, 0)).save(src / "x.jpg")
    elif case == "video_without_av":
        (src / "x.mp4").write_bytes(b"\x00" * 64)
        monkeypatch.setitem(sys.modules, "av", None)  # `import av` now raises ImportError
    elif case == "text":
        (src / "x.txt").write_text("hello")
    return src


@pytest.mark.parametrize("case, extra, message", [
    ("unreadable", [], "x.png is unreadable"),
    ("grey16", [], "is a 16-bit single-channel image"),
    ("cmyk", [], "is CMYK; convert it to RGB with its colour profile first"),
    ("empty_folder", [], "holds no images"),
    ("text", [], "holds no images"),
    ("video_without_av", [], "reading video needs PyAV, which is not installed: pip install 'edgedepth[video]'"),
    ("another_device", ["--device", "cuda"], "is built for openvino on cpu, not cuda"),
    ("output_is_a_file", [], "is a file; pass a folder"),
    ("bad_format", ["--format", "png,jpeg"], "format jpeg is not one of png, npy, pfm, png16"),
    ("missing_input", [], "not found"),
])
def test_bad_input_is_one_line_and_writes_nothing(case, extra, message, int8_openvino, tmp_path, monkeypatch):
    src = bad_input(case, tmp_path, monkeypatch)
    inputs = [tmp_path / "nowhere.png"] if case == "missing_input" else [src]
    out = tmp_path / "out"
    if case == "output_is_a_file":
        out.write_text("a file")
    result = predict(*inputs, "-m", int8_openvino, "-o", out, *extra)
    assert result.exit_code == 1 and result.output.strip().count("\n") == 0, result.output
    assert message in result.output
    assert out.is_file() if case == "output_is_a_file" else not out.exists()


def test_a_damaged_image_is_named_in_one_line(tmp_path):
    """Truncation shows only when the pixels are decoded (after the header check), and is still one line."""
    from edgedepth.data.images import read_rgb
    from edgedepth.errors import EdgeDepthError

    Image.fromarray(photo(64, 64, 0)).save(tmp_path / "whole.png")
    data = (tmp_path / "whole.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(EdgeDepthError, match=r"cut.png is damaged \(.*\); re-save or re-copy it"):
        read_rgb(tmp_path / "cut.png")
