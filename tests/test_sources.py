"""Bring your own model: every form sources.py reads goes export → quantize → build → bench; bad input is one line.

The user's networks are written here, as a user would write them: `--factory test_sources:encoder_decoder`
imports this module (pytest puts tests/ on sys.path, as the current folder is for a user).
"""

import json

import numpy as np
import onnx
import pytest
import torch
import torch.nn.functional as F
from click.testing import CliRunner
from torch import nn

from edgedepth.artifacts import is_finished, read_sidecar
from edgedepth.cli import main
from edgedepth.fitting import DEFAULT_INPUT_SIZE, pick_output
from edgedepth.sources import ModelRequest, resolve_source

FAST = ["--warmup", "1", "--runs", "2", "--images", "2", "--calibration-samples", "4", "--threads", "1"]


class EncoderDecoder(nn.Module):
    """Two stride-2 stages down, two up; a dict of sigmoid disparities at 1/4, 1/2 and full resolution
    (Monodepth-style), the coarsest first."""

    def __init__(self):
        super().__init__()
        self.down1 = nn.Sequential(nn.Conv2d(3, 8, 3, 2, 1), nn.BatchNorm2d(8), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(8, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU())
        self.up1 = nn.Sequential(nn.Conv2d(16, 8, 3, 1, 1), nn.ReLU())
        self.up2 = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1), nn.ReLU())
        self.heads = nn.ModuleList(nn.Conv2d(c, 1, 3, 1, 1) for c in (16, 8, 8))

    def forward(self, x):
        x4 = self.down2(self.down1(x))
        x2 = self.up1(F.interpolate(x4, scale_factor=2.0, mode="nearest"))
        x1 = self.up2(F.interpolate(x2, scale_factor=2.0, mode="nearest"))
        return {f"disp{i}": torch.sigmoid(head(f)) for i, (head, f) in zip((2, 1, 0), zip(self.heads, (x4, x2, x1)))}


class PatchViT(nn.Module):
    """ViT-style: 14×14 patch embedding, one attention block, each token decoded back to its 14×14 pixels;
    forward returns N×H×W metric depth (no channel axis)."""

    PATCH = 14

    def __init__(self, dim: int = 32):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, self.PATCH, self.PATCH)
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, self.PATCH * self.PATCH)

    def forward(self, x):
        n, _, h, w = x.shape
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # N × (h/14·w/14) × dim
        q, k, v = self.qkv(self.norm1(tokens)).chunk(3, dim=-1)
        attention = torch.softmax(q @ k.transpose(1, 2) / q.shape[-1] ** 0.5, dim=-1)
        tokens = tokens + self.proj(attention @ v)
        tokens = tokens + self.mlp(self.norm2(tokens))
        patches = self.head(tokens).transpose(1, 2).reshape(n, self.PATCH * self.PATCH, h // self.PATCH, w // self.PATCH)
        return F.softplus(F.pixel_shuffle(patches, self.PATCH)).squeeze(1) + 0.5


class Stride32Pyramid(nn.Module):
    """YOLO's neck in small: five padded stride-2 convs, then nearest 2× upsampling concatenated with the 1/16
    and 1/8 features, depth resized to the input. It runs wherever those halvings round alike: at 60×90 and
    90×60 too, not at 120."""

    def __init__(self):
        super().__init__()
        self.down = nn.ModuleList(nn.Conv2d(3 if i == 0 else 4, 4, 3, 2, 1) for i in range(5))
        self.up = nn.ModuleList(nn.Conv2d(8, 4, 3, 1, 1) for _ in range(2))
        self.head = nn.Conv2d(4, 1, 1)

    def forward(self, x):
        features = [x]
        for conv in self.down:
            features.append(conv(features[-1]))
        y = features[5]
        for conv, skip in zip(self.up, (features[4], features[3])):
            y = conv(torch.cat([F.interpolate(y, scale_factor=2.0, mode="nearest"), skip], 1))
        return F.softplus(F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear"))


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, 1, 1), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 1, 3, 1, 1))

    def forward(self, x):
        return F.softplus(self.body(x)) + 0.5


def encoder_decoder():
    torch.manual_seed(0)
    return EncoderDecoder()


def stride32_pyramid():
    torch.manual_seed(0)
    return Stride32Pyramid()


def patch_vit():
    torch.manual_seed(0)
    return PatchViT()


def not_a_network():
    return [nn.Conv2d(3, 1, 1)]


def cli(*args):
    result = CliRunner().invoke(main, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    return result.output


def bench(tmp_path, data, *args):
    """`edgedepth bench` on the synthetic data; its JSON report and Markdown table."""
    out = tmp_path / "bench"
    cli("bench", *args, "--data", data, "--engines", out / "engines", "--json", out / "bench.json", "--markdown", out / "bench.md", *FAST)
    return json.loads((out / "bench.json").read_text()), (out / "bench.md").read_text()


def rows_of(report):
    return {(r["backend"], r["precision"]): r for r in report["rows"]}


# --- what each form becomes ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def deeplab_state_dict(tmp_path_factory):
    """A torchvision DeepLabv3-ResNet50 as a plain training script leaves it: built with the aux head, its
    classifier replaced the classic way for one output, wrapped in DataParallel, state_dict saved."""
    from torchvision.models.segmentation import deeplabv3_resnet50

    torch.manual_seed(0)
    net = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21, aux_loss=True)
    net.classifier[4] = nn.Conv2d(256, 1, 1)
    path = tmp_path_factory.mktemp("r50") / "deeplab.pth"
    torch.save(nn.DataParallel(net).state_dict(), path)
    return path, net.eval()


def test_a_deeplab_state_dict_with_aux_head_and_ddp_prefix_is_the_same_network(deeplab_state_dict):
    path, net = deeplab_state_dict
    source = resolve_source(ModelRequest(path=path, arch="deeplabv3_resnet50", size=(64, 64)))
    spec = source.spec
    assert (source.form, spec.arch, spec.size_multiple, spec.output_kind) == ("state_dict", "deeplabv3_resnet50", 8, "metric")
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(source.model(x), net(x)["out"])


@pytest.mark.parametrize("layout", ["state_dict", "model", "module_prefix"])
def test_state_dict_layouts_of_training_scripts_all_load(layout, tmp_path):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    torch.manual_seed(1)
    net = lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=1).eval()
    state = net.state_dict()
    content = {"state_dict": {"state_dict": state, "epoch": 3}, "model": {"model": state, "optimizer": {}},
               "module_prefix": {f"module.{k}": v for k, v in state.items()}}[layout]
    torch.save(content, tmp_path / "w.pt")
    source = resolve_source(ModelRequest(path=tmp_path / "w.pt", arch="lraspp_mobilenet_v3_large", size=(64, 64)))
    x = torch.randn(1, 3, 64, 64)
    with torch.inference_mode():
        assert torch.equal(source.model(x), net(x)["out"])


def test_the_depth_output_is_the_full_resolution_entry_or_the_declared_one():
    low, full, other = torch.zeros(1, 1, 8, 8), torch.zeros(1, 1, 32, 32), torch.zeros(1, 1, 32, 32)
    assert pick_output({"disp2": low, "disp0": full, "conf": other}, None, "net") == "disp0"  # largest; ties: first
    assert pick_output((low, full, other), None, "net") == 1
    assert pick_output({("disp", 0): full}, "('disp', 0)", "net") == ("disp", 0)  # a key matched by its text
    assert pick_output((full, other), "1", "net") == 1
    assert pick_output(full, None, "net") is None


def test_the_size_multiple_is_found_by_trial_and_the_output_adapted():
    source = resolve_source(ModelRequest(factory="test_sources:patch_vit", size=(28, 42)))
    assert source.spec.size_multiple == PatchViT.PATCH and source.spec.input_size == (28, 42)
    with torch.inference_mode():
        assert source.model(torch.randn(2, 3, 28, 42)).shape == (2, 1, 28, 42)  # N×H×W given its channel axis
    unsized = resolve_source(ModelRequest(factory="test_sources:encoder_decoder"))
    assert unsized.spec.size_multiple == 4 and unsized.spec.input_size == DEFAULT_INPUT_SIZE  # a multiple of 4 already
    declared = resolve_source(ModelRequest(factory="test_sources:patch_vit", size_multiple=14))
    assert declared.spec.size_multiple == 14 and declared.spec.input_size == (392, 518)  # 384x512 rounded up to multiples of 14



def test_a_multiple_found_by_trial_holds_at_the_size_the_model_is_given():
    """Two small sizes do not prove a multiple: this stride-32 network also takes 60×90 and 90×60, and the
    trial recorded 30 beside a 128×128 input, which evaluate then refused (issue 24)."""
    for size in ((128, 128), None):
        source = resolve_source(ModelRequest(factory="test_sources:stride32_pyramid", size=size))
        assert source.spec.size_multiple == 32 and source.spec.input_size == (size or DEFAULT_INPUT_SIZE)
    net = stride32_pyramid().eval()
    with torch.inference_mode():
        assert net(torch.zeros(1, 3, 60, 90)).shape[-2:] == (60, 90)  # what made the trial take 30


# --- the whole path, per form ----------------------------------------------------------------------------


def test_factory_with_a_dict_of_disparities_goes_export_quantize_build_bench(synthetic_root, tmp_path):
    model = ["--factory", "test_sources:encoder_decoder", "--output-kind", "relative-inverse", "--size", "64x64",
             "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5", "--bgr"]
    onnx_path = tmp_path / "net.onnx"
    cli("export", *model, "-o", onnx_path, "--data", synthetic_root)
    info = read_sidecar(onnx_path)
    assert (info["output_kind"], info["size_multiple"], info["source"]["form"]) == ("relative-inverse", 4, "factory")
    assert info["preprocessing"]["color"] == "BGR" and info["preprocessing"]["mean"] == [0.5] * 3
    assert info["batchnorm_folded"] == 2 and "BatchNormalization" not in info["node_counts"]["cleaned"]
    graph = onnx.load(onnx_path).graph
    assert [v.name for v in graph.input] == ["rgb"] and [v.name for v in graph.output] == ["depth"]

    int8 = tmp_path / "net.int8.onnx"
    cli("quantize", onnx_path, "--data", synthetic_root, "-o", int8, "--samples", "4")
    evaluation = read_sidecar(int8)["evaluation"]
    assert evaluation["output_kind"] == "relative-inverse" and "inverse depth" in evaluation["alignment"]
    for backend in ("openvino", "onnxruntime"):
        cli("build", int8, "--backend", backend, "-o", tmp_path / backend)
        built = read_sidecar(next(p for p in (tmp_path / backend).iterdir() if is_finished(p)))
        assert (built["output_kind"], built["preprocessing"]) == ("relative-inverse", info["preprocessing"])

    report, markdown = bench(tmp_path, synthetic_root, *model, "--error-maps", tmp_path / "maps")
    assert len(list((tmp_path / "maps").glob("*.png"))) == 2 * 2  # 2 INT8 rows × 2 images, on the output's own scale
    rows = rows_of(report)
    assert all(row["status"] == "ok" for row in rows.values()), [r["reason"] for r in report["rows"]]
    conditions = report["conditions"]
    assert (conditions["output_kind"], conditions["reference"]) == ("relative-inverse", "torch fp32")
    assert conditions["model"] == "factory test_sources:encoder_decoder" and conditions["input_size"] == [64, 64]
    assert rows["onnxruntime", "fp32"]["fidelity"]["rel_deviation"] < 1e-4  # fidelity: raw outputs, no alignment
    assert 0 < rows["torch", "fp32"]["metrics"]["delta1"] <= 1
    assert "GT metrics after per-image least-squares scale and shift in inverse depth" in markdown


def test_a_user_onnx_goes_export_quantize_build_bench_with_a_skipped_torch_row(synthetic_root, tmp_path):
    torch.manual_seed(0)
    user = tmp_path / "user.onnx"
    torch.onnx.export(TinyNet().eval(), torch.zeros(1, 3, 64, 64), user, input_names=["image"], output_names=["pred"],
                      dynamic_axes={"image": {0: "n"}, "pred": {0: "n"}}, opset_version=17, dynamo=False)
    ours = tmp_path / "ours.onnx"
    output = cli("export", user, "-o", ours)
    info = read_sidecar(ours)
    assert "parity vs the original user.onnx in ONNX Runtime" in output and info["parity"]["max_abs_err"] <= info["parity"]["atol"]
    assert (info["source"]["form"], info["input_size"], info["dynamic"]) == ("onnx", [64, 64], "none")
    graph = onnx.load(ours).graph
    assert [v.name for v in graph.input] == ["rgb"] and [v.name for v in graph.output] == ["depth"]
    assert [d.dim_value for d in graph.input[0].type.tensor_type.shape.dim] == [1, 3, 64, 64]
    assert all(node.name for node in graph.node)

    cli("quantize", ours, "--data", synthetic_root, "-o", tmp_path / "ours.int8.onnx", "--samples", "4", "--target", "onnxruntime")
    for backend in ("openvino", "onnxruntime"):
        cli("build", tmp_path / "ours.int8.onnx", "--backend", backend, "-o", tmp_path / backend)

    report, markdown = bench(tmp_path, synthetic_root, "--model", user)
    rows = rows_of(report)
    torch_row = rows["torch", "fp32"]
    assert torch_row["status"] == "skipped" and "no PyTorch model" in torch_row["reason"] and "is an ONNX" in torch_row["reason"]
    assert report["conditions"]["reference"] == "onnxruntime fp32"
    assert all(row["status"] == "ok" for key, row in rows.items() if key != ("torch", "fp32"))
    assert rows["openvino", "fp32"]["fidelity"]["rel_deviation"] < 1e-4  # against the onnxruntime fp32 reference
    assert rows["openvino", "int8"]["deltas"] is not None and "float: onnxruntime fp32" in markdown
    assert "torch fp32 skipped: no PyTorch model" in markdown


def test_a_deeplab_state_dict_reaches_bench(deeplab_state_dict, synthetic_root, tmp_path):
    report, _ = bench(tmp_path, synthetic_root, "--model", deeplab_state_dict[0], "--arch", "deeplabv3_resnet50", "--size", "64x64",
                      "--backends", "torch,openvino")
    rows = rows_of(report)
    assert [r["status"] for r in report["rows"]] == ["ok", "ok", "ok"], [r["reason"] for r in report["rows"]]
    assert report["conditions"]["arch"] == "deeplabv3_resnet50" and "state_dict" in report["conditions"]["model"]
    assert rows["openvino", "fp32"]["fidelity"]["max_abs_diff"] < 1e-2


def test_a_patch_14_vit_returning_nxhxw_reaches_bench(synthetic_root, tmp_path):
    report, _ = bench(tmp_path, synthetic_root, "--factory", "test_sources:patch_vit", "--size", "56x70", "--backends", "torch,onnxruntime")
    assert [r["status"] for r in report["rows"]] == ["ok", "ok", "ok"], [r["reason"] for r in report["rows"]]
    exported = read_sidecar(next((tmp_path / "bench" / "engines").glob("*/model.onnx")))
    assert (exported["size_multiple"], exported["input_size"]) == (14, [56, 70])


def test_a_torchscript_trace_reaches_bench(synthetic_root, tmp_path):
    traced = torch.jit.trace(encoder_decoder().eval(), torch.zeros(1, 3, 64, 64), strict=False)
    torch.jit.save(traced, tmp_path / "net.ts")
    report, _ = bench(tmp_path, synthetic_root, "--model", tmp_path / "net.ts", "--output-key", "disp0", "--output-kind", "relative",
                      "--size", "64x64", "--backends", "torch,openvino")
    assert [r["status"] for r in report["rows"]] == ["ok", "ok", "ok"], [r["reason"] for r in report["rows"]]
    assert report["conditions"]["model"] == f"TorchScript {tmp_path / 'net.ts'}"
    assert rows_of(report)["openvino", "fp32"]["fidelity"]["rel_deviation"] < 1e-4


def test_a_trusted_pickled_module_exports_evaluates_and_reaches_bench(synthetic_root, tmp_path):
    torch.manual_seed(0)
    torch.save(TinyNet(), tmp_path / "whole.pth")
    cli("export", tmp_path / "whole.pth", "--trust-pickle", "--size", "64x64", "-o", tmp_path / "whole.onnx")
    assert read_sidecar(tmp_path / "whole.onnx")["source"]["form"] == "pickle"
    cli("evaluate", tmp_path / "whole.pth", "--trust-pickle", "--size", "64x64", "--data", synthetic_root,
        "--json", tmp_path / "metrics.json")
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["source"] == f"pickled TinyNet {tmp_path / 'whole.pth'}" and metrics["baseline_median_depth"] > 0
    report, _ = bench(tmp_path, synthetic_root, "--model", tmp_path / "whole.pth", "--trust-pickle", "--size", "64x64",
                      "--backends", "torch,onnxruntime")
    assert [r["status"] for r in report["rows"]] == ["ok", "ok", "ok"], [r["reason"] for r in report["rows"]]
    assert rows_of(report)["onnxruntime", "fp32"]["fidelity"]["max_abs_diff"] < 1e-3


# --- bad input: one line, nothing written ----------------------------------------------------------------


def _two_input_onnx(path):
    class Two(nn.Module):
        def forward(self, a, b):
            return a[:, :1] + b[:, :1]

    torch.onnx.export(Two(), (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)), path, opset_version=17, dynamo=False)
    return path


def _grey_input_onnx(path):
    torch.onnx.export(nn.Conv2d(1, 1, 1), torch.zeros(1, 1, 8, 8), path, opset_version=17, dynamo=False)
    return path


def _lraspp_state_dict(path):
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large

    torch.save(lraspp_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=1).state_dict(), path)
    return path


def _pickled(path):
    torch.save(TinyNet(), path)
    return path


@pytest.mark.parametrize("make_args, message", [
    (lambda tmp: [_lraspp_state_dict(tmp / "w.pt"), "--arch", "deeplabv3_resnet50", "--size", "64x64"],
     "does not fit deeplabv3_resnet50: keys"),
    (lambda tmp: ["--factory", "no_such_package.nets:build"], "module no_such_package.nets does not import"),
    (lambda tmp: ["--factory", "test_sources:not_a_network"], "returned a list, not a torch.nn.Module"),
    (lambda tmp: [_two_input_onnx(tmp / "two.onnx")], "has 2 inputs and 1 outputs"),
    (lambda tmp: [_grey_input_onnx(tmp / "grey.onnx")], "input (RGB)"),
    (lambda tmp: ["--factory", "test_sources:encoder_decoder", "--output-key", "disp9", "--size", "64x64"],
     "output key 'disp9' is not among the outputs of test_sources:encoder_decoder: disp2, disp1, disp0"),
    (lambda tmp: [_pickled(tmp / "whole.pth")], "loading it runs arbitrary code from the file; trust pickles explicitly"),
    (lambda tmp: ["--factory", "test_sources:patch_vit", "--size", "64x64"],
     "cannot take a 64x64 input (its depth output is 1×56×56"),
], ids=["other-arch", "factory-import", "factory-non-module", "onnx-two-inputs", "onnx-grey-input", "output-key",
        "pickle-untrusted", "size"])
def test_bad_input_is_one_line_and_writes_nothing(make_args, message, tmp_path):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    out.mkdir()
    result = CliRunner().invoke(main, ["export", *map(str, make_args(inputs)), "-o", str(out / "m.onnx")])
    lines = result.output.strip().splitlines()
    assert result.exit_code == 1 and len(lines) == 1 and lines[0].startswith("Error:"), result.output
    assert message in lines[0]
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("args, message", [
    (["--mean", "0.5,0.5"], "mean '0.5,0.5' is not three comma-separated numbers"),
    (["--std", "a,b,c"], "std 'a,b,c' is not three comma-separated numbers"),
    (["--size-multiple", "0"], "size multiple 0 must be a positive integer"),
    (["--output-kind", "relative", "--arch", "deeplabv3_resnet50"], "an arch names the network of a plain state_dict"),
], ids=["mean", "std", "multiple", "arch-with-a-pickle"])
def test_bad_declarations_are_one_line(args, message, tmp_path):
    torch.save(TinyNet(), tmp_path / "whole.pth")
    result = CliRunner().invoke(main, ["export", str(tmp_path / "whole.pth"), "--trust-pickle", *args, "-o", str(tmp_path / "m.onnx")])
    lines = result.output.strip().splitlines()
    assert result.exit_code != 0 and len(lines) == 1 and message in lines[0], result.output
    assert not (tmp_path / "m.onnx").exists()


def test_declared_preprocessing_keeps_imagenet_in_the_declared_channel_order():
    from edgedepth.data.transforms import IMAGENET, declared_preprocessing

    assert declared_preprocessing() is None
    bgr = declared_preprocessing(bgr=True)
    assert (bgr.color, bgr.mean, bgr.std) == ("BGR", IMAGENET.mean[::-1], IMAGENET.std[::-1])
    raw = declared_preprocessing(mean="123.7,116.3,103.5", std="58.4,57.1,57.4", value_range="0-255")
    assert raw.scale == 1.0 and raw.mean == (123.7, 116.3, 103.5) and raw.color == "RGB"


def test_the_size_refusal_names_the_multiple_found_by_trial():
    with pytest.raises(Exception, match=r"positive multiples of 14 \(e.g. 56x56 or 70x70\)"):
        resolve_source(ModelRequest(factory="test_sources:patch_vit", size=(64, 64)))


def test_an_unexported_user_onnx_is_refused_by_predict_with_the_way_through_export(tmp_path):
    import edgedepth

    torch.onnx.export(TinyNet().eval(), torch.zeros(1, 3, 16, 16), tmp_path / "user.onnx", opset_version=17, dynamo=False)
    with pytest.raises(Exception, match="export it first"):
        edgedepth.load(tmp_path / "user.onnx")


def test_predict_reads_what_export_recorded_of_a_user_model(tmp_path):
    import edgedepth

    cli("export", "--factory", "test_sources:encoder_decoder", "--output-kind", "relative-inverse", "--size", "32x48",
        "--value-range", "0-255", "-o", tmp_path / "net.onnx")
    with edgedepth.load(tmp_path / "net.onnx") as model:
        assert model.preprocessing.scale == 1.0 and model.input_size == (32, 48)
        depth = model.predict(np.zeros((40, 60, 3), np.uint8))
        assert (model.output_kind, model.unit) == ("relative-inverse", "(relative)")
    assert depth.shape == (40, 60) and np.all((depth > 0) & (depth < 1))  # the sigmoid disparity, as declared
    from PIL import Image

    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(tmp_path / "photo.png")
    out = tmp_path / "out"
    refused = CliRunner().invoke(main, ["predict", str(tmp_path / "photo.png"), "-m", str(tmp_path / "net.onnx"),
                                        "-o", str(out), "--format", "png16"])
    assert refused.exit_code == 1 and "png16 writes millimetres" in refused.output and not out.exists()
    cli("predict", tmp_path / "photo.png", "-m", tmp_path / "net.onnx", "-o", out, "--format", "png,npy")
    assert np.load(out / "photo.depth.npy").shape == (40, 60)
