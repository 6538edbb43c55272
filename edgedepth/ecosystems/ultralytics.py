"""Ultralytics depth checkpoints (`yolo depth train` → best.pt) as the graph Ultralytics itself exports.

Ultralytics is AGPL-3.0: an optional extra (`pip install 'edgedepth[ultralytics]'`), imported here only, to
read its files. A checkpoint is a pickled dict, {"model" or "ema": DepthModel (float16), "train_args": {...}},
so loading it runs Ultralytics' code and needs trusted pickles.

Made ready as its exporter makes it (ultralytics/engine/exporter.py, `Exporter.__call__`): float32, eval,
Conv+BatchNorm fused (`fuse`), the Depth head in export mode — depth exp(cal_a·log d + cal_b) with the
calibration buffers its trainer fits, upsampled 4× to the input size (bilinear, align_corners=True) — and
C2f's split forward. Preprocessing as its DepthPredictor: RGB, /255, no mean/std, stretched to the input size
(the depth predictor and validator set scale_fill: depth models are not letterboxed, unlike its detectors) by
cv2's bilinear resize, which samples half-pixel centres without antialias as the default resize here does.
Input size: the training imgsz (Ultralytics' default when none is recorded) rounded up to the stride, as its
exporter rounds it; the size multiple is the stride. Output: metric depth; the checkpoint records no depth
range (its dataset YAML's max_depth stays with the dataset), so the evaluation window is edgedepth's default.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from ..data.transforms import Preprocessing
from ..errors import EdgeDepthError, first_line
from ..loaded import Loaded
from ..spec import METRIC, ArtifactFacts, DepthRange, ModelSpec
from ..torchfiles import TRUST_ADVICE
from . import require

#: What a pickle of Ultralytics' models names: the module of DetectionModel, DepthModel and the rest.
MODEL_MODULE = b"ultralytics.nn.tasks"
#: Its depth predictor's input: RGB pixels / 255, no mean or std, stretched to the input size.
PREPROCESSING = Preprocessing(mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), scale=1.0 / 255.0)
EXTRA = "ultralytics"


def is_checkpoint(path: Path) -> bool:
    """A torch.save zip whose pickle names Ultralytics' model classes (read without unpickling anything)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        pickles = [name for name in archive.namelist() if name.endswith("/data.pkl")]
        return len(pickles) == 1 and MODEL_MODULE in archive.read(pickles[0])


def load(path: Path, trust_pickle: bool) -> Loaded:
    """The depth model of an Ultralytics checkpoint, in export mode, with what it records (module docstring)."""
    if not trust_pickle:
        raise EdgeDepthError(f"{path} is an Ultralytics checkpoint, a pickled model: loading it runs code from the file; "
                             f"{TRUST_ADVICE}")
    require("ultralytics", EXTRA, f"the Ultralytics checkpoint {path}")
    import torch
    from ultralytics.cfg import DEFAULT_CFG_DICT
    from ultralytics.nn.modules import C2f, Depth
    from ultralytics.nn.tasks import DepthModel, guess_model_task

    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch and the unpickled classes raise many types for a damaged file
        raise EdgeDepthError(f"{path} is unreadable as an Ultralytics checkpoint ({type(exc).__name__}: {first_line(exc)}); "
                             "check the file, and that it was written by the installed ultralytics' release line")
    model = checkpoint.get("ema") or checkpoint.get("model")
    args = checkpoint.get("train_args") or {}
    if not isinstance(model, torch.nn.Module):
        raise EdgeDepthError(f"{path} holds no model under 'model' or 'ema' ({type(model).__name__}); give the "
                             "checkpoint Ultralytics' training writes (weights/best.pt)")
    if not isinstance(model, DepthModel):
        raise EdgeDepthError(f"{path} holds an Ultralytics {args.get('task') or guess_model_task(model)} model; edgedepth "
                             "takes its depth models (YOLO26-depth, `yolo depth train`)")
    if checkpoint.get("modelopt"):
        raise EdgeDepthError(f"{path} holds a quantization-aware-trained model (fake-quantized); give the float "
                             "checkpoint, which edgedepth quantizes itself")
    model = model.float().eval()
    model.requires_grad_(False)
    model.fuse(verbose=False)
    for module in model.modules():
        if isinstance(module, Depth):
            module.export, module.format = True, "onnx"
        elif isinstance(module, C2f):
            module.forward = module.forward_split
    stride = int(max(model.stride))
    imgsz = args.get("imgsz", DEFAULT_CFG_DICT["imgsz"])
    sides = [imgsz] * 2 if isinstance(imgsz, int) else (list(imgsz) * 2)[:2]  # 640, [640] or [480, 640]
    size = tuple(-(-int(side) // stride) * stride for side in sides)
    name = Path(model.yaml.get("yaml_file") or path.name).stem
    spec = ModelSpec(name, size, PREPROCESSING, METRIC, DepthRange(), stride)
    return Loaded(name, f"Ultralytics checkpoint {path} ({name})", model, path, (path,), ArtifactFacts(spec))
