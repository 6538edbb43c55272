"""The DIODE dataset as it lies on disk.

    <root>/<train|val>/<indoors|outdoor>/scene_XXXXX/scan_XXXXX/<name>.png
                                                          <name>_depth.npy       H×W×1 float32, metres
                                                          <name>_depth_mask.npy  H×W, 1 = valid

`find_samples` accepts the root, a split, a domain or a single scene folder; a scan without its depth or its
mask file is an error naming the file (read as all-valid, a missing mask would score sky and dropouts as
truth). `load_sample` folds every
invalid pixel (mask 0, depth ≤ 0, non-finite) into one boolean `valid`, so nothing downstream can score or
train on one. `split_by_scene` makes the deterministic scene-level train/val split.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import EdgeDepthError

DOMAINS = ("indoors", "outdoor")
_SCENE = re.compile(r"scene_\d+")
_SCAN = re.compile(r"scan_\d+")


@dataclass(frozen=True)
class Sample:
    rgb: Path
    depth: Path
    mask: Path
    split: str  # "train", "val" or "" when the folder given sits below the split
    domain: str  # "indoors", "outdoor" or ""
    scene: str
    scan: str

    @property
    def scene_id(self) -> str:
        """Unique across splits and domains: the unit the train/val split never cuts through."""
        return "/".join(part for part in (self.split, self.domain, self.scene) if part)


def find_samples(path: str | os.PathLike) -> list[Sample]:
    """Every RGB image with its depth and mask under `path`, in a stable order; a missing one is an error."""
    path = Path(path)
    if not path.exists():
        raise EdgeDepthError(f"data folder {path} not found; give a DIODE root, split or scene folder (or make one with `edgedepth synth`)")
    if not path.is_dir():
        raise EdgeDepthError(f"data path {path} is not a folder; give a DIODE root, split or scene folder")
    samples = []
    for rgb in sorted(path.rglob("*.png")):
        depth = rgb.with_name(rgb.stem + "_depth.npy")
        if not depth.is_file():
            raise EdgeDepthError(f"image {rgb} has no depth file {depth.name} beside it; DIODE pairs every image with one")
        mask = rgb.with_name(rgb.stem + "_depth_mask.npy")
        if not mask.is_file():
            raise EdgeDepthError(f"image {rgb} has no validity mask {mask.name} beside it; DIODE pairs every depth "
                                 "with one (1 = valid), write it or remove the scan")
        samples.append(_describe(rgb, depth, mask))
    if not samples:
        raise EdgeDepthError(f"no DIODE sample (<name>.png with <name>_depth.npy) under {path}")
    return samples


def _describe(rgb: Path, depth: Path, mask: Path) -> Sample:
    parts = rgb.resolve().parent.parts
    scene = next((p for p in reversed(parts) if _SCENE.fullmatch(p)), rgb.parent.parent.name)
    scan = next((p for p in reversed(parts) if _SCAN.fullmatch(p)), rgb.parent.name)
    domain_at = next((i for i in range(len(parts) - 1, -1, -1) if parts[i] in DOMAINS), None)
    domain = parts[domain_at] if domain_at is not None else ""
    split = parts[domain_at - 1] if domain_at else ""
    return Sample(rgb, depth, mask, split, domain, scene, scan)


def load_sample(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8 H×W×3, depth float32 H×W in metres with invalid pixels set to 0, valid bool H×W)."""
    try:
        with Image.open(sample.rgb) as image:
            rgb = np.asarray(image.convert("RGB"))
    except OSError as exc:
        raise EdgeDepthError(f"image {sample.rgb} is unreadable ({exc}); replace or remove it")
    depth = _load_npy(sample.depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[:, :, 0]
    if depth.shape != rgb.shape[:2]:
        raise EdgeDepthError(
            f"depth {sample.depth} has shape {depth.shape}; expected {rgb.shape[0]}×{rgb.shape[1]}(×1) like its image"
        )
    depth = depth.astype(np.float32)
    mask = _load_npy(sample.mask)
    if mask.shape != depth.shape:
        raise EdgeDepthError(f"mask {sample.mask} has shape {mask.shape}; expected {depth.shape} like its depth")
    valid = np.isfinite(depth) & (depth > 0) & (mask != 0)
    return rgb, np.where(valid, depth, 0).astype(np.float32), valid


def _load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise EdgeDepthError(f"{path} is not a readable .npy array ({type(exc).__name__}); it is corrupt, replace it")


def split_by_scene(samples: list[Sample], val_fraction: float = 0.1) -> tuple[list[Sample], list[Sample]]:
    """Deterministic scene-level split: the ⌈fraction × scenes⌉ scenes with the smallest id hash go to val.

    Hashing the scene id (not shuffling) keeps each scene's side fixed as the dataset grows, and no scene is
    ever on both sides. With a single scene everything is train."""
    scenes = sorted({s.scene_id for s in samples}, key=lambda sid: hashlib.sha256(sid.encode()).hexdigest())
    n_val = math.ceil(val_fraction * len(scenes)) if len(scenes) > 1 else 0
    val_scenes = set(scenes[:n_val])
    train = [s for s in samples if s.scene_id not in val_scenes]
    val = [s for s in samples if s.scene_id in val_scenes]
    return train, val
