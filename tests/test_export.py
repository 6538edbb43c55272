"""Export: BatchNorm folded, parity with PyTorch for every arch, dynamic axes, sidecar, bad input."""

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from click.testing import CliRunner

from edgedepth import export as export_module
from edgedepth.artifacts import sha256
from edgedepth.cli import main
from edgedepth.export import DEFAULT_OPSET, PRODUCER, export_onnx
from edgedepth.models import ARCHS, create_model, load_checkpoint, save_checkpoint
from edgedepth.spec import ModelSpec


def make_checkpoint(path, arch, size=(64, 64)):
    torch.manual_seed(0)
    return save_checkpoint(path, create_model(arch), ModelSpec(arch, size))


def run_onnx(path, batch):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["depth"], {"rgb": batch})[0]


def run_torch(checkpoint, batch):
    model, _ = load_checkpoint(checkpoint)
    with torch.inference_mode():
        return model(torch.from_numpy(batch)).numpy()


def fresh_batch(n, h, w, seed=123):
    return np.random.default_rng(seed).standard_normal((n, 3, h, w)).astype(np.float32)


def read_json(path):
    return json.loads(path.read_text())


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_arch_exports_without_batchnorm_and_matches_pytorch(tmp_path, arch):
    checkpoint = make_checkpoint(tmp_path / "model.pt", arch)
    output = export_onnx(checkpoint, tmp_path / "model.onnx")

    graph_ops = {node.op_type for node in onnx.load(output).graph.node}
    assert "BatchNormalization" not in graph_ops and "Conv" in graph_ops
    model, _ = load_checkpoint(checkpoint)
    info = read_json(tmp_path / "model.onnx.json")
    assert info["batchnorm_folded"] == sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.modules()) > 0

    parity = info["parity"]
    print(f"{arch}: max abs {parity['max_abs_err']:.3g} m, max rel {parity['max_rel_err']:.3g}")
    assert 0 <= parity["max_abs_err"] <= parity["atol"] == pytest.approx(1e-4 * (80.0 - 0.1))
    assert parity["images"] == 4 and parity["sizes"] == [[64, 64]]
    # independent of the export's own check: other inputs, a fresh PyTorch model
    batch = fresh_batch(1, 64, 64)
    assert np.abs(run_onnx(output, batch) - run_torch(checkpoint, batch)).max() <= parity["atol"]


def test_cli_writes_sidecar_that_records_how_the_onnx_was_made(random_checkpoint, tmp_path):
    output = tmp_path / "out" / "model.onnx"
    result = CliRunner().invoke(main, ["export", str(random_checkpoint), "-o", str(output), "--json", "-"])
    assert result.exit_code == 0, result.output

    info = read_json(tmp_path / "out" / "model.onnx.json")
    assert json.loads(result.stdout) == info
    _, meta = load_checkpoint(random_checkpoint)
    assert info["producer"] == PRODUCER and info["precision"] == "fp32"
    assert info["source"] == {"form": "checkpoint", "origin": f"edgedepth checkpoint {random_checkpoint}",
                              "sha256": {str(random_checkpoint): sha256(random_checkpoint)}}
    assert (info["output_kind"], info["size_multiple"]) == ("metric", ARCHS[meta["arch"]].size_multiple)
    assert (info["arch"], info["input_size"]) == (meta["arch"], meta["input_size"])
    assert (info["depth"], info["preprocessing"]) == (meta["depth"], meta["preprocessing"])
    assert (info["opset"], info["dynamic"]) == (DEFAULT_OPSET, "none")
    assert {"torch", "onnx", "onnxslim", "onnxruntime"} <= set(info["versions"])
    exported, cleaned = info["node_counts"]["exported"], info["node_counts"]["cleaned"]
    assert sum(cleaned.values()) < sum(exported.values()) and cleaned["Conv"] == exported["Conv"]

    model = onnx.load(output)
    assert model.opset_import[0].version == 17
    shape = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    assert (model.graph.input[0].name, shape, model.graph.output[0].name) == ("rgb", [1, 3, 64, 64], "depth")


def test_dynamic_batch_runs_a_batch_of_two(random_checkpoint, tmp_path):
    output = export_onnx(random_checkpoint, tmp_path / "model.onnx", dynamic="batch")
    assert read_json(tmp_path / "model.onnx.json")["parity"]["batch"] == 4

    batch = fresh_batch(2, 64, 64)
    depth = run_onnx(output, batch)
    assert depth.shape == (2, 1, 64, 64)
    assert np.abs(depth - run_torch(random_checkpoint, batch)).max() < 1e-3
    with pytest.raises(Exception, match="(?i)dimension"):  # the spatial size stays static
        run_onnx(output, fresh_batch(2, 80, 64))


def test_dynamic_hw_is_checked_at_a_second_non_square_size(random_checkpoint, tmp_path):
    output = export_onnx(random_checkpoint, tmp_path / "model.onnx", dynamic="hw")
    assert read_json(tmp_path / "model.onnx.json")["parity"]["sizes"] == [[64, 64], [80, 96]]
    assert run_onnx(output, fresh_batch(1, 48, 112)).shape == (1, 1, 48, 112)


def test_parity_runs_on_real_images_from_data(random_checkpoint, synthetic_root, tmp_path):
    export_onnx(random_checkpoint, tmp_path / "model.onnx", data=synthetic_root)
    parity = read_json(tmp_path / "model.onnx.json")["parity"]
    assert parity["inputs"] == str(synthetic_root) and parity["images"] == 4
    assert parity["max_abs_err"] <= parity["atol"]


def test_size_option_overrides_the_checkpoint_size(random_checkpoint, tmp_path):
    result = CliRunner().invoke(main, ["export", str(random_checkpoint), "-o", str(tmp_path / "m.onnx"), "--size", "32x48"])
    assert result.exit_code == 0, result.output
    assert "parity vs PyTorch" in result.output
    assert read_json(tmp_path / "m.onnx.json")["input_size"] == [32, 48]
    assert run_onnx(tmp_path / "m.onnx", fresh_batch(1, 32, 48)).shape == (1, 1, 32, 48)


def corrupt_checkpoint(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"not a torch file")
    return path


def unknown_arch_checkpoint(tmp_path):
    return save_checkpoint(tmp_path / "unknown.pt", torch.nn.Conv2d(3, 1, 1), ModelSpec("resnet9000", (64, 64)))


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda tmp, ckpt: [str(tmp / "missing.pt")], "not found"),
        (lambda tmp, ckpt: [str(corrupt_checkpoint(tmp))], "unreadable"),
        (lambda tmp, ckpt: [str(unknown_arch_checkpoint(tmp))], "unknown arch 'resnet9000'"),
        (lambda tmp, ckpt: [str(ckpt), "--size", "60x64"], "multiples of 16"),
        (lambda tmp, ckpt: [str(ckpt), "--opset", "11"], "opset 11"),
        (lambda tmp, ckpt: [str(ckpt), "--dynamic", "width"], "unknown dynamic mode"),
        (lambda tmp, ckpt: [str(ckpt), "--data", str(tmp / "nowhere")], "not found"),
    ],
    ids=["missing", "corrupt", "unknown-arch", "bad-size", "old-opset", "bad-dynamic", "missing-data"],
)
def test_bad_input_is_one_line_and_writes_nothing(random_checkpoint, tmp_path, make_args, message):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    result = CliRunner().invoke(main, ["export", *make_args(inputs, random_checkpoint), "-o", str(out / "m.onnx")])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and message in lines[0], result.output
    assert list(out.iterdir()) == []


def test_unwritable_output_path_is_one_line(random_checkpoint, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(main, ["export", str(random_checkpoint), "-o", str(blocker / "m.onnx")])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot create output folder") and len(result.output.strip().splitlines()) == 1


def test_parity_failure_leaves_no_file(random_checkpoint, tmp_path, monkeypatch):
    """A fold that shifts depth (a mis-folded bias) must be caught, and nothing written."""
    real_fold = export_module.fold_batchnorm

    def misfold(model):
        fused, folded, unfolded = real_fold(model)
        head = [m for m in fused.modules() if isinstance(m, torch.nn.Conv2d) and m.bias is not None][-1]
        with torch.no_grad():
            head.bias += 0.5
        return fused, folded, unfolded

    monkeypatch.setattr(export_module, "fold_batchnorm", misfold)
    with pytest.raises(export_module.EdgeDepthError, match="parity check failed"):
        export_onnx(random_checkpoint, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_reference_resnet50_at_512_exports(tmp_path):
    checkpoint = make_checkpoint(tmp_path / "r50.pt", "deeplabv3_resnet50", (512, 512))
    output = export_onnx(checkpoint, tmp_path / "r50.onnx")
    info = read_json(tmp_path / "r50.onnx.json")
    assert "BatchNormalization" not in info["node_counts"]["cleaned"]
    assert info["input_size"] == [512, 512] and info["parity"]["max_abs_err"] <= info["parity"]["atol"]
    assert run_onnx(output, fresh_batch(1, 512, 512)).shape == (1, 1, 512, 512)
