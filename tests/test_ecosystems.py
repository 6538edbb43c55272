"""Other ecosystems' depth models in directly (issue 24): an Ultralytics checkpoint made by Ultralytics itself and
Hugging Face folders written by `save_pretrained`, each at tiny sizes with random weights, against the
library's own export or forward and its own prediction."""

import json
import os
import re

import numpy as np
import pytest
import torch
from click.testing import CliRunner

import edgedepth
from edgedepth.cli import main
from edgedepth.errors import EdgeDepthError
from edgedepth.export import export_onnx
from edgedepth.sources import ModelRequest, resolve_source

os.environ.setdefault("YOLO_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

#: The issue's targets: an exported graph against the library's own export or forward, relative to the
#: output's largest value; `edgedepth.load(...).predict` against the library's own prediction of the image.
PARITY_RTOL, PREDICT_RTOL = 1e-3, 1e-2


def relative_error(ours: np.ndarray, theirs: np.ndarray) -> float:
    return float(np.abs(ours - theirs).max() / np.abs(theirs).max())


def photo(shape: tuple[int, int], seed: int = 0, grain: int = 8) -> np.ndarray:
    """An RGB image of noise upsampled from 1/grain of its size: smooth as a photo at 8, edgy at 2 (where a
    resize's filter shows)."""
    coarse = torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (1, 3, shape[0] // grain, shape[1] // grain))).float()
    fine = torch.nn.functional.interpolate(coarse, size=shape, mode="bilinear", align_corners=False)
    return fine[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


def onnx_depth(path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


# --- Ultralytics --------------------------------------------------------------------------------------------

#: What `yolo depth train` is given here: 4 + 4 random images at 64 px, one epoch (13 s on 2 cores).
UL_SIZE = 64


@pytest.fixture(scope="module")
def ultralytics_run(tmp_path_factory):
    """best.pt from `yolo depth train` (Ultralytics' own trainer, its depth-scale calibration included) and the
    ONNX Ultralytics' own export writes of it."""
    root = tmp_path_factory.mktemp("ultralytics")
    os.environ.setdefault("YOLO_CONFIG_DIR", str(root / "settings"))
    pytest.importorskip("ultralytics", reason="needs ultralytics (pip install 'edgedepth[ultralytics]')")
    from PIL import Image
    from ultralytics import YOLO

    rng = np.random.default_rng(0)
    for split in ("train", "val"):  # Ultralytics' depth layout: images/<split>, depth/<split> 16-bit PNG / depth_scale
        (root / "data" / "images" / split).mkdir(parents=True)
        (root / "data" / "depth" / split).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(photo((48, 64), seed=i)).save(root / "data" / "images" / split / f"{i}.png")
            Image.fromarray((rng.uniform(0.5, 10, (48, 64)) * 1000).astype(np.uint16)).save(root / "data" / "depth" / split / f"{i}.png")
    (root / "data.yaml").write_text(f"path: {root / 'data'}\ntrain: images/train\nval: images/val\nnc: 1\nnames:\n  0: depth\n"
                                    "channels: 3\ndepth_scale: 1000\n")
    torch.manual_seed(0)
    YOLO("yolo26n-depth.yaml", task="depth").train(data=str(root / "data.yaml"), epochs=1, imgsz=UL_SIZE, batch=4, workers=0,
                                                   device="cpu", project=str(root / "runs"), name="t", plots=False, amp=False,
                                                   verbose=False)
    best = root / "runs" / "t" / "weights" / "best.pt"
    theirs = YOLO(str(best)).export(format="onnx", imgsz=UL_SIZE, simplify=False, verbose=False)
    return best, theirs


def test_an_ultralytics_checkpoint_is_the_graph_ultralytics_exports(ultralytics_run, tmp_path):
    best, theirs = ultralytics_run
    source = resolve_source(ModelRequest(path=best, trust_pickle=True))
    assert (source.form, source.spec.arch, source.spec.output_kind) == ("ultralytics", "yolo26n-depth", "metric")
    assert source.spec.input_size == (UL_SIZE, UL_SIZE) and source.spec.size_multiple == 32  # imgsz, stride
    p = source.spec.preprocessing
    assert (p.mean, p.std, p.scale, p.color, p.fit) == ((0, 0, 0), (1, 1, 1), 1 / 255, "RGB", "stretch")
    ours = export_onnx(source, tmp_path / "ul.onnx")
    x = np.random.default_rng(1).random((1, 3, UL_SIZE, UL_SIZE), dtype=np.float32)
    error = relative_error(onnx_depth(ours, x), onnx_depth(theirs, x))
    print(f"edgedepth's ONNX vs Ultralytics' own: max relative difference {error:.2g}")
    assert error <= PARITY_RTOL


def test_predict_of_the_export_matches_ultralytics_prediction(ultralytics_run, tmp_path):
    """At an image size that is not the model's: the stretch in, the depth resized back to the image."""
    from ultralytics import YOLO

    best, _ = ultralytics_run
    export_onnx(resolve_source(ModelRequest(path=best, trust_pickle=True)), tmp_path / "ul.onnx")
    rgb = photo((96, 128), seed=7)
    theirs = YOLO(str(best)).predict(rgb[..., ::-1].copy(), imgsz=UL_SIZE, verbose=False)[0].depth.data  # it takes BGR
    theirs = np.asarray(theirs.cpu() if hasattr(theirs, "cpu") else theirs)
    for model_file, trust in ((tmp_path / "ul.onnx", False), (best, True)):  # its export, and the checkpoint itself
        with edgedepth.load(model_file, trust_pickle=trust) as model:
            ours = model.predict(rgb)
        error = relative_error(ours, theirs)
        print(f"edgedepth.load({model_file.name}).predict vs Ultralytics' predict: max relative difference {error:.2g}")
        assert ours.shape == theirs.shape == rgb.shape[:2] and error <= PREDICT_RTOL


def test_ultralytics_checkpoints_that_do_not_fit_are_refused_in_one_line(ultralytics_run, tmp_path):
    from ultralytics import YOLO

    best, _ = ultralytics_run
    with pytest.raises(EdgeDepthError, match="Ultralytics checkpoint, a pickled model") as refused:
        resolve_source(best)
    assert "\n" not in str(refused.value)
    with pytest.raises(EdgeDepthError, match=r"a pickled model: .*`edgedepth ... --trust-pickle`"):
        edgedepth.load(best)  # predict runs it directly once trusted
    YOLO("yolo26n.yaml").save(tmp_path / "detect.pt")  # a detector, saved as Ultralytics saves models
    with pytest.raises(EdgeDepthError, match="Ultralytics detect model; edgedepth takes its depth models"):
        resolve_source(ModelRequest(path=tmp_path / "detect.pt", trust_pickle=True))


def test_an_ultralytics_checkpoint_is_told_apart_without_unpickling_it(ultralytics_run, tmp_path):
    from edgedepth.ecosystems import ultralytics

    best, _ = ultralytics_run
    torch.save({"net.weight": torch.zeros(1)}, tmp_path / "state.pt")
    assert ultralytics.is_checkpoint(best) and not ultralytics.is_checkpoint(tmp_path / "state.pt")


# --- Hugging Face -------------------------------------------------------------------------------------------


def _dinov2(transformers):
    return transformers.Dinov2Config(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64,
                                     patch_size=14, image_size=56, out_features=["stage1", "stage2", "stage3", "stage4"],
                                     reshape_hidden_states=False)


def _depth_of_usable_scale(model, last: torch.nn.Conv2d, size: tuple[int, int]) -> None:
    """Random init shrinks the head's features to ~1e-8, so its ReLU'd depth is ~0: the last conv rescaled
    and biased to give 1 ± 0.1 before the head's last activation (seeded input), as a trained head's
    depth varies, so a fault of orientation or placement shows (a random network also turns the processor's
    one pixel level of rounding into more output change than a trained one does)."""
    with torch.no_grad():
        features = []
        hook = last.register_forward_hook(lambda module, inputs, output: features.append(output))
        model.eval()(pixel_values=torch.randn(1, 3, *size, generator=torch.Generator().manual_seed(0)))
        hook.remove()
        spread = float((features[0] - last.bias.view(1, -1, 1, 1)).std())
        last.weight.mul_(0.1 / spread)
        last.bias.fill_(1.0)


def _save(folder, model, processor):
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def hf_folders(tmp_path_factory):
    """save_pretrained folders of random-init depth models at tiny sizes, with their image processors."""
    transformers = pytest.importorskip("transformers", reason="needs transformers (pip install 'edgedepth[transformers]')")
    root = tmp_path_factory.mktemp("huggingface")
    torch.manual_seed(0)
    T = transformers
    da = T.DepthAnythingConfig(backbone_config=_dinov2(T), reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 32, 32],
                               fusion_hidden_size=16, head_hidden_size=8)
    relative = T.DepthAnythingForDepthEstimation(da)
    _depth_of_usable_scale(relative, relative.head.conv3, (56, 56))
    da_processor = T.DPTImageProcessor(size={"height": 56, "width": 56}, keep_aspect_ratio=True, ensure_multiple_of=14,
                                       resample=3, image_mean=[0.485, 0.456, 0.406], image_std=[0.229, 0.224, 0.225])
    metric = T.DepthAnythingForDepthEstimation(T.DepthAnythingConfig(**{**da.to_dict(), "depth_estimation_type": "metric",
                                                                        "max_depth": 20}))
    _depth_of_usable_scale(metric, metric.head.conv3, (56, 56))
    dpt = T.DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
                      patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16)
    glpn = T.GLPNConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 32], num_attention_heads=[1, 1, 2, 2],
                        decoder_hidden_size=16, max_depth=10)
    dpt_model = T.DPTForDepthEstimation(dpt)
    _depth_of_usable_scale(dpt_model, dpt_model.head.head[4], (64, 64))
    glpn_model = T.GLPNForDepthEstimation(glpn)
    _depth_of_usable_scale(glpn_model, glpn_model.head.head[2], (64, 64))
    return {
        "depth_anything": _save(root / "depth_anything", relative, da_processor),
        "depth_anything_metric": _save(root / "depth_anything_metric", metric, da_processor),
        "dpt": _save(root / "dpt", dpt_model, T.DPTImageProcessor(size={"height": 64, "width": 64})),
        "dpt_padded": _save(root / "dpt_padded", dpt_model, T.DPTImageProcessor(do_pad=True, size_divisor=32)),
        "glpn": _save(root / "glpn", glpn_model, T.GLPNImageProcessor()),
    }


#: folder → (output kind, size multiple, resize, fit, the image (a 2-3× downscale to the model's input, whose
#: aspect is the input's: the letterbox pads nothing and the processor resizes it to the same size), the
#: size declared (GLPN's processor keeps each image's own size, floored to 32)).
HF_CASES = {
    "depth_anything": ("relative-inverse", 14, "bicubic-antialias", "letterbox", (168, 168), None),
    "depth_anything_metric": ("metric", 14, "bicubic-antialias", "letterbox", (112, 112), None),
    "dpt": ("relative-inverse", 16, "bicubic-antialias", "stretch", (160, 240), None),
    "glpn": ("metric", 32, "bilinear-antialias", "stretch", (150, 200), (128, 192)),
}
#: The processor resizes 8-bit images to 8-bit images (torchvision's kernels); edgedepth resizes in float:
#: they differ by one pixel level at most (measured), the plain bilinear resize by several.
PIXEL_LEVELS = 1.5


@pytest.mark.parametrize("name", HF_CASES)
def test_a_hugging_face_folder_exports_as_its_forward_and_predicts_as_its_pipeline(hf_folders, name, tmp_path):
    import dataclasses

    import transformers

    from edgedepth.data.transforms import preprocess

    kind, multiple, resize, fit, image_hw, size = HF_CASES[name]
    folder = hf_folders[name]
    source = resolve_source(ModelRequest(path=folder, size=size))
    spec = source.spec.preprocessing
    assert (source.form, source.spec.output_kind, source.spec.size_multiple) == ("huggingface", kind, multiple)
    assert (spec.resize, spec.fit, spec.restore) == (resize, fit, "bicubic")
    if name == "depth_anything_metric":
        assert source.spec.depth.max_depth == 20

    processor = transformers.AutoImageProcessor.from_pretrained(folder)
    rgb = photo(image_hw, seed=3, grain=2)
    pixels = processor(images=rgb, return_tensors="pt")["pixel_values"]
    assert tuple(pixels.shape[-2:]) == source.spec.input_size  # the processor resizes this image to the model's size
    level = spec.scale / min(spec.std)  # one pixel level, normalised
    ours = preprocess(rgb, source.spec.input_size, spec)
    plain = preprocess(rgb, source.spec.input_size, dataclasses.replace(spec, resize="bilinear"))
    levels = [float(np.abs(x - pixels.numpy()).max() / level) for x in (ours, plain)]
    print(f"{name}: input vs the processor's {levels[0]:.2f} pixel levels (a plain bilinear resize: {levels[1]:.2f})")
    assert levels[0] <= PIXEL_LEVELS < levels[1]

    onnx = export_onnx(source, tmp_path / "hf.onnx")
    model = transformers.AutoModelForDepthEstimation.from_pretrained(folder).eval()
    with torch.no_grad():
        outputs = model(pixel_values=pixels)
    parity = relative_error(onnx_depth(onnx, pixels.numpy())[:, 0], outputs.predicted_depth.numpy())
    theirs = processor.post_process_depth_estimation(outputs, target_sizes=[image_hw])[0]["predicted_depth"].numpy()
    with edgedepth.load(onnx) as loaded:
        predicted = relative_error(loaded.predict(rgb), theirs)
    print(f"{name}: ONNX vs its forward {parity:.2g}, predict vs its pipeline {predicted:.2g} (max relative)")
    assert parity <= PARITY_RTOL and predicted <= PREDICT_RTOL


def test_the_cli_takes_a_hugging_face_folder(hf_folders, tmp_path):
    """click took no folder as the model ("File ... is a directory")."""
    result = CliRunner().invoke(main, ["export", str(hf_folders["dpt"]), "-o", str(tmp_path / "dpt.onnx")])
    assert result.exit_code == 0, result.output
    assert json.loads((tmp_path / "dpt.onnx.json").read_text())["source"]["form"] == "huggingface"


def test_hugging_face_folders_that_do_not_fit_are_refused_in_one_line(hf_folders, tmp_path):
    """Nothing is downloaded or guessed: a hub id, a folder that is not a model, another task, a step edgedepth's
    preprocessing does not have."""
    cases = {"depth-anything/Depth-Anything-V2-Small-hf": "download it first (`hf download depth-anything/Depth-Anything-V2-Small-hf",
             tmp_path: "no Hugging Face model (config.json)",
             hf_folders["dpt_padded"]: "sets do_pad, a step edgedepth's preprocessing does not have"}
    for architecture in ("DPTForSemanticSegmentation", "ZoeDepthForDepthEstimation"):  # another task; a processor not reproduced
        folder = tmp_path / architecture
        folder.mkdir()
        (folder / "config.json").write_text(json.dumps({"architectures": [architecture]}))
        cases[folder] = f"holds a {architecture}; edgedepth reads the depth models"
    for given, message in cases.items():
        with pytest.raises(EdgeDepthError, match=re.escape(message)) as refused:
            resolve_source(str(given))
        assert "\n" not in str(refused.value)
