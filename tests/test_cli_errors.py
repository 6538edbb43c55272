"""Bad input to the foundation commands: one clear line, a non-zero exit, no traceback, nothing half-written."""

import re
import shutil

import numpy as np
import pytest
from click.testing import CliRunner

from edgedepth.cli import main
from edgedepth.models import create_model, save_checkpoint
from edgedepth.spec import ModelSpec


def run(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, (AttributeError, TypeError, KeyError))
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
    return lines[0]


@pytest.fixture
def broken_data(tmp_path, synthetic_root):
    """A copy of two synthetic scenes (enough to train on); each test damages the first image."""
    scenes = sorted((synthetic_root / "train" / "indoors").iterdir())[:2]
    for scene in scenes:
        shutil.copytree(scene, tmp_path / "data" / "train" / "indoors" / scene.name)
    return tmp_path / "data", sorted((tmp_path / "data").rglob("*.png"))[0]


def test_missing_folder(tmp_path):
    assert "not found" in run("train", "--data", tmp_path / "nope", "-o", tmp_path / "m.pt")


def test_empty_folder(tmp_path):
    (tmp_path / "empty").mkdir()
    assert "is empty; give a dataset folder" in run("train", "--data", tmp_path / "empty", "-o", tmp_path / "m.pt")


def test_image_without_depth(broken_data, tmp_path):
    data, png = broken_data
    png.with_name(png.stem + "_depth.npy").unlink()
    line = run("train", "--data", data, "-o", tmp_path / "m.pt")
    assert png.name in line and "no depth file" in line


def test_corrupt_npy(broken_data, tmp_path):
    data, png = broken_data
    png.with_name(png.stem + "_depth.npy").write_bytes(b"garbage")
    line = run("train", "--data", data, "--size", "64x64", "-o", tmp_path / "m.pt")
    assert png.stem in line and "corrupt" in line
    assert not (tmp_path / "m.pt").exists()


def test_unknown_arch_lists_the_registered_ones(synthetic_root, tmp_path):
    from edgedepth.models import ARCHS

    result = CliRunner().invoke(main, ["train", "--data", str(synthetic_root), "--arch", "nope", "-o", str(tmp_path / "m.pt")])
    assert result.exit_code == 2 and "Invalid value for '--arch': 'nope' is not one of" in result.output
    assert all(arch in result.output for arch in ARCHS)


def test_size_the_arch_cannot_tile(synthetic_root, tmp_path):
    assert "multiples of 16" in run("train", "--data", synthetic_root, "--size", "60x64", "-o", tmp_path / "m.pt")


def test_checkpoint_of_another_arch(synthetic_root, tmp_path):
    path = save_checkpoint(tmp_path / "m.pt", create_model("lraspp_mobilenet_v3_large"),
                           ModelSpec("deeplabv3_resnet50", (64, 64)))
    assert "do not fit arch 'deeplabv3_resnet50'" in run("evaluate", path, "--data", synthetic_root)


def test_corrupt_checkpoint(synthetic_root, tmp_path):
    (tmp_path / "m.pt").write_bytes(np.arange(100, dtype=np.uint8).tobytes())
    assert "corrupt" in run("evaluate", tmp_path / "m.pt", "--data", synthetic_root)


def test_bad_synth_size(tmp_path):
    assert "HxW" in run("synth", tmp_path / "out", "--size", "big")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("size, message", [("256,192", "not HxW"), ("192x", "not HxW"), ("0x64", "must be positive")])
def test_sizes_are_hxw_everywhere_and_other_spellings_are_refused(size, message, tmp_path):
    assert message in run("synth", tmp_path / "out", "--size", size)
    assert message in run("export", tmp_path / "m.pt", "--size", size)
    assert not (tmp_path / "out").exists()


def test_synth_refuses_the_old_wxh_spelling_of_a_landscape_size(tmp_path):
    line = run("synth", tmp_path / "out", "--size", "256x192")
    assert "portrait" in line and "did you mean 192x256" in line and not (tmp_path / "out").exists()


@pytest.mark.parametrize("command", ["export", "synth", "train"])
def test_a_size_the_machine_cannot_hold_is_refused_up_front_with_the_estimate(command, random_checkpoint, synthetic_root,
                                                                               tmp_path):
    out = tmp_path / "out"
    args = {"export": [random_checkpoint, "-o", out / "model.onnx"], "synth": [out, "--count", 2],
            "train": ["--data", synthetic_root, "-o", out / "model.pt", "--epochs", 1]}[command]
    line = run(command, *args, "--size", "100000x100000")
    assert re.search(r"needs at least [\d,]+ GiB of memory and this machine has [\d.,]+ GiB available; \w+", line), line
    assert not out.exists()


@pytest.mark.parametrize("command", ["synth", "build"])
def test_a_read_only_output_location_is_one_line(command, float_onnx, tmp_path, read_only):
    folder = read_only(tmp_path / "read-only")
    args = {"synth": [folder / "data", "--count", 2, "--size", "32x48"],
            "build": [float_onnx, "--backend", "openvino", "-o", folder / "ov"]}[command]
    assert "writable" in run(command, *args)
    assert not any(folder.iterdir())


def test_json_dash_puts_only_json_on_stdout_and_the_summary_on_stderr(random_checkpoint, tmp_path):
    import json

    result = CliRunner().invoke(main, ["export", str(random_checkpoint), "-o", str(tmp_path / "m.onnx"), "--json", "-"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["producer"] == "edgedepth-export"
    assert "parity vs PyTorch" in result.stderr and "parity vs PyTorch" not in result.stdout
    written = CliRunner().invoke(main, ["export", str(random_checkpoint), "-o", str(tmp_path / "n.onnx"),
                                        "--json", str(tmp_path / "n.json")])
    assert written.exit_code == 0 and "parity vs PyTorch" in written.stdout
    assert json.loads((tmp_path / "n.json").read_text())["producer"] == "edgedepth-export"
