"""Hugging Face depth models, from a local `save_pretrained` folder (config.json, weights, preprocessor_config.json).

Offline only: a hub id is refused with the command that downloads it. The model class is the config's
architecture (ARCHITECTURES); the preprocessing is what its image processor does, read through transformers
(which fills in the processor class's defaults): resample → an antialiased resize (torchvision's, which the
processors run), keep_aspect_ratio → a letterbox into the input size (at a fixed input size the aspect is
kept by padding with the mean colour; where the image's aspect is the input's, nothing is padded and the
input equals the processor's), rescale factor and mean/std; the depth goes back onto the image bicubically,
as its post_process_depth_estimation does. The input size is the processor's size rounded to
its ensure_multiple_of as the processor rounds; the size multiple is the patch or stride of the network and
that rounding. The output kind is the config's: Depth-Anything's `depth_estimation_type` (relative: relative
inverse depth, as it emits disparity; metric with its `max_depth`), DPT's relative inverse depth (MiDaS),
GLPN's metric depth up to its `max_depth`.

A processor step outside that (padding, centre crop, a resample other than bilinear or bicubic) is refused
in one line rather than approximated. ZoeDepth is not read: its network exports (measured: ONNX within 3e-7
of its forward), but its processor pads every image by reflection and resizes with corner-aligned bilinear
sampling, which no preprocessing here reproduces.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from pathlib import Path
from typing import Any

from ..data.transforms import Preprocessing
from ..errors import EdgeDepthError, first_line
from ..fitting import default_size
from ..loaded import Loaded
from ..spec import ArtifactFacts, DepthRange, ModelSpec, output_kind
from . import require

EXTRA = "transformers"
CONFIG, PROCESSOR = "config.json", "preprocessor_config.json"
#: The depth-estimation classes read, each with its output kind (None: the config's depth_estimation_type says).
ARCHITECTURES = {
    "DepthAnythingForDepthEstimation": None,
    "DPTForDepthEstimation": "relative-inverse",
    "GLPNForDepthEstimation": "metric",
}
#: Depth-Anything's depth_estimation_type → output kind: its relative models emit disparity.
ESTIMATION_TYPES = {"relative": "relative-inverse", "metric": "metric"}
#: PIL resample codes the processors record → the resize that reproduces them (torchvision antialiases).
RESAMPLES = {2: "bilinear-antialias", 3: "bicubic-antialias"}
#: owner/name as the hub writes ids: what a path that is not on disk but looks like one is taken for.
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[\w.-]+")


def is_folder(path: Path) -> bool:
    """A folder holding a Hugging Face model's config."""
    return path.is_dir() and (path / CONFIG).is_file()


def is_hub_id(path: Path) -> bool:
    """Not on disk, and written as the hub writes a model's id (owner/name)."""
    return not path.exists() and HUB_ID.fullmatch(str(path)) is not None


def load(path: Path) -> Loaded:
    """The depth network of a local Hugging Face folder, with the facts its config and processor record."""
    if not path.exists():
        raise EdgeDepthError(f"{path} is a Hugging Face hub id, not a folder here; edgedepth reads models offline: "
                             f"download it first (`hf download {path} --local-dir {path.name}`) and give the folder")
    config = _read_json(path / CONFIG, "its config (save_pretrained writes config.json)")
    architecture = (config.get("architectures") or [None])[0]
    if architecture not in ARCHITECTURES:
        raise EdgeDepthError(f"{path} holds a {architecture or config.get('model_type', 'model of no architecture')}; "
                             f"edgedepth reads the depth models {', '.join(ARCHITECTURES)}")
    _read_json(path / PROCESSOR, "its image processor (save it beside the model: processor.save_pretrained(folder))")
    transformers = require("transformers", EXTRA, f"the Hugging Face model {path}")
    with _quiet(transformers):
        try:
            processor = transformers.AutoImageProcessor.from_pretrained(path, local_files_only=True)
            model = getattr(transformers, architecture).from_pretrained(path, local_files_only=True)
        except (OSError, ValueError, KeyError, RuntimeError) as exc:
            raise EdgeDepthError(f"{path} does not load as {architecture} ({type(exc).__name__}: {first_line(exc)}); "
                                 "save it again with save_pretrained")
    preprocessing, size, rounding = _preprocessing(processor, path)
    multiple = math.lcm(_network_multiple(model.config), rounding)
    kind = ARCHITECTURES[architecture] or ESTIMATION_TYPES.get(config.get("depth_estimation_type"))
    if kind is None:
        raise EdgeDepthError(f"{path / CONFIG} has depth_estimation_type {config.get('depth_estimation_type')!r}, not one "
                             f"of {', '.join(ESTIMATION_TYPES)}; fix the config")
    kind = output_kind(kind)
    depth = DepthRange(max_depth=config["max_depth"]) if kind.metric and config.get("max_depth") else DepthRange()
    spec = ModelSpec(f"{architecture} ({path.name})", size or default_size(multiple), preprocessing, kind, depth, multiple)
    return Loaded(spec.arch, f"Hugging Face folder {path} ({architecture})", model.eval(), path,
                  tuple(sorted(p for p in path.iterdir() if p.is_file())), ArtifactFacts(spec))


def _read_json(file: Path, what: str) -> dict[str, Any]:
    if not file.is_file():
        raise EdgeDepthError(f"{file.parent} holds no {file.name}, {what}; a Hugging Face model folder holds "
                             f"{CONFIG}, the weights and {PROCESSOR}")
    try:
        return json.loads(file.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise EdgeDepthError(f"{file} is not JSON ({first_line(exc)}); save the folder again with save_pretrained")


def _preprocessing(processor: Any, path: Path) -> tuple[Preprocessing, tuple[int, int] | None, int]:
    """(the processor's preprocessing, the input size it resizes to (None: each image's own), the multiple
    its resize rounds sides to)."""
    for step in ("do_pad", "do_center_crop", "do_reduce_labels"):
        if getattr(processor, step, False):
            raise EdgeDepthError(f"the image processor of {path} sets {step}, a step edgedepth's preprocessing does not "
                                 f"have; save the processor with {step}=False if the model works without it")
    resample = int(getattr(processor, "resample", 2))
    if resample not in RESAMPLES:
        raise EdgeDepthError(f"the image processor of {path} resamples with PIL mode {resample}; edgedepth reproduces "
                             f"bilinear (2) and bicubic (3): save the processor with one of them")
    normalize = getattr(processor, "do_normalize", False)
    mean = tuple(processor.image_mean) if normalize else (0.0, 0.0, 0.0)
    std = tuple(processor.image_std) if normalize else (1.0, 1.0, 1.0)
    scale = float(processor.rescale_factor) if getattr(processor, "do_rescale", False) else 1.0
    keep_aspect = bool(getattr(processor, "keep_aspect_ratio", False))
    pad = tuple(min(255, max(0, round(m / scale))) for m in mean) if keep_aspect else None  # pads to 0 after normalising
    preprocessing = Preprocessing(mean=mean, std=std, scale=scale, resize=RESAMPLES[resample],
                                  fit="letterbox" if keep_aspect else "stretch", pad=pad, restore="bicubic")
    rounding = max(1, int(getattr(processor, "ensure_multiple_of", None) or getattr(processor, "size_divisor", None) or 1))
    size = getattr(processor, "size", None)
    height, width = getattr(size, "height", None), getattr(size, "width", None)
    if not (height and width):
        return preprocessing, None, rounding
    return preprocessing, tuple(max(rounding, round(side / rounding) * rounding) for side in (height, width)), rounding


def _network_multiple(config: Any) -> int:
    """The input-side multiple of the network: its patch size (ViT backbones), or its total stride (GLPN)."""
    backbone = getattr(config, "backbone_config", None)
    patch = getattr(backbone, "patch_size", None) or getattr(config, "patch_size", None)
    if isinstance(patch, int):
        return patch
    strides = getattr(config, "strides", None)
    return math.prod(strides) if strides else 1


@contextlib.contextmanager
def _quiet(transformers: Any):
    """transformers' loading progress bars off while the folder loads (edgedepth reports its own progress)."""
    logging = transformers.utils.logging
    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()
