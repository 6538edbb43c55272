"""The DIODE dataset as it lies on disk.

    <root>/<train|val>/<indoors|outdoor>/scene_XXXXX/scan_XXXXX/<name>.png
                                                          <name>_depth.npy       H×W×1 float32, metres
                                                          <name>_depth_mask.npy  H×W, 1 = valid

`find_samples` accepts the root, a split, a domain or a single scene folder, and reads the split and domain
from the folder names above each scan. Any image file (not only .png) beside its `_depth.npy` is a scan: an
image without its depth or its mask is an error naming the file, never skipped (a val/ of .jpg images once
went unread and a train scene was scored instead; read as all-valid, a missing mask would score sky and
dropouts as truth). train/ trains and calibrates, val/ is held out; a root holding only val/ (how most
users get DIODE: val is 2.6 GB, train 81 GB) is a held-out set on its own.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError
from .depthfiles import check_float_dtype, npy_header, read_npy
from .images import IMAGE_SUFFIXES, image_hw, read_rgb
from .samples import Dataset, Reading, Sample, fold, hidden, image_files
from .samples import split_by_scene as split_by_scene  # callers use diode.split_by_scene

NAME = "diode"
DOMAINS = ("indoors", "outdoor")
DEPTH_SUFFIX = "_depth.npy"
MASK_SUFFIX = "_depth_mask.npy"
FORM = "DIODE's <name>_depth.npy"
_SCENE = re.compile(r"scene_\d+")
_SCAN = re.compile(r"scan_\d+")


def detect(path: Path) -> str | None:
    """What marks `path` as DIODE (a depth file beside an image), or None; stops at the first one."""
    for depth in path.rglob(f"*{DEPTH_SUFFIX}"):
        stem = depth.name[: -len(DEPTH_SUFFIX)]
        if not hidden(path, depth) and any(depth.with_name(stem + suffix).is_file() for suffix in IMAGE_SUFFIXES):
            return f"{depth.relative_to(path)} beside its image"
    return None


def open_folder(path: Path) -> Dataset:
    return Dataset(NAME, path, tuple(find_samples(path)), training_splits=("train",), held_out_splits=("val",),
                   depth="float32 metres (.npy) with a validity mask")


def find_samples(path: str | os.PathLike) -> list[Sample]:
    """Every image with its depth and mask under `path`, in a stable order; a missing one is an error."""
    path = Path(path)
    if not path.exists():
        raise EdgeDepthError(f"data folder {path} not found; give a DIODE root, split or scene folder (or make one with `edgedepth synth`)")
    if not path.is_dir():
        raise EdgeDepthError(f"data path {path} is not a folder; give a DIODE root, split or scene folder")
    samples = []
    for rgb in image_files(path):
        depth = rgb.with_name(rgb.stem + DEPTH_SUFFIX)
        if not depth.is_file():
            raise EdgeDepthError(f"image {rgb} has no depth file {depth.name} beside it; DIODE pairs every image with one")
        mask = rgb.with_name(rgb.stem + MASK_SUFFIX)
        if not mask.is_file():
            raise EdgeDepthError(f"image {rgb} has no validity mask {mask.name} beside it; DIODE pairs every depth "
                                 "with one (1 = valid), write it or remove the scan")
        samples.append(_describe(path, rgb, depth, mask))
    if not samples:
        raise EdgeDepthError(f"no DIODE sample (<name>.png with <name>_depth.npy) under {path}")
    shared = [depth for depth, n in Counter(s.depth for s in samples).items() if n > 1]
    if shared:
        raise EdgeDepthError(f"two images share the depth file {shared[0]}; keep one image per scan")
    return samples


def _describe(root: Path, rgb: Path, depth: Path, mask: Path) -> Sample:
    parts = rgb.resolve().parent.parts
    scene = next((p for p in reversed(parts) if _SCENE.fullmatch(p)), rgb.parent.parent.name)
    scan = next((p for p in reversed(parts) if _SCAN.fullmatch(p)), rgb.parent.name)
    domain_at = next((i for i in range(len(parts) - 1, -1, -1) if parts[i] in DOMAINS), None)
    domain = parts[domain_at] if domain_at is not None else ""
    split = parts[domain_at - 1] if domain_at else ""
    key = rgb.relative_to(root).as_posix()
    return Sample(NAME, key, rgb.stem, split, domain, scene, scan, rgb=rgb, depth=depth, mask=mask)


def check_sample(sample: Sample) -> None:
    """Refuse, from the files' headers alone, a scan `load_sample` would refuse."""
    hw = image_hw(sample.rgb)
    _check_depth(sample, *npy_header(sample.depth), hw)
    _check_mask(sample, npy_header(sample.mask)[0], hw)


def _check_depth(sample: Sample, shape: tuple[int, ...], dtype: np.dtype, image_hw: tuple[int, int]) -> None:
    check_float_dtype(sample.depth, dtype, FORM)
    if tuple(shape) not in (image_hw, (*image_hw, 1)):
        raise EdgeDepthError(f"depth {sample.depth} has shape {tuple(shape)}; expected {image_hw[0]}×{image_hw[1]}(×1) like its image")


def _check_mask(sample: Sample, shape: tuple[int, ...], image_hw: tuple[int, int]) -> None:
    if tuple(shape) != image_hw:
        raise EdgeDepthError(f"mask {sample.mask} has shape {tuple(shape)}; expected {image_hw} like its depth")


def read(sample: Sample) -> Reading:
    rgb = read_rgb(sample.rgb)
    depth = read_npy(sample.depth)
    _check_depth(sample, depth.shape, depth.dtype, rgb.shape[:2])
    mask = read_npy(sample.mask)
    _check_mask(sample, mask.shape, rgb.shape[:2])
    return Reading(rgb, depth.reshape(rgb.shape[:2]).astype(np.float32), mask != 0)


def load_sample(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8 H×W×3, depth float32 H×W in metres with invalid pixels set to 0, valid bool H×W)."""
    return fold(read(sample), sample)
