"""What every dataset layout gives the rest of edgedepth: samples, their roles, crops and a fingerprint.

A `Sample` names one RGB image with its ground truth, wherever the layout keeps them (files beside each
other, a depth tree parallel to the images, one HDF5 file holding them all). A `Dataset` is one folder
read in one layout: its samples in a stable order, which of its official splits train and calibrate and
which are held out (`partition`), the evaluation crop its literature uses and the images it skipped, with
why. The readers live in one module per layout; `datasets.open_dataset` picks the layout from the folder.

Every layout reads a sample as a `Reading` (RGB, depth in metres as stored, an optional validity mask);
`fold` turns it into the one form downstream code uses: depth float32 metres with every invalid pixel 0,
and a boolean `valid`. A depth that is negative wherever it is not zero is refused rather than read as
"no ground truth": it is a sign convention, and every image of the set would silently drop out.
"""

from __future__ import annotations

import hashlib
import math
import os
from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgeDepthError
from .images import IMAGE_SUFFIXES


@dataclass(frozen=True)
class Sample:
    """One image and its ground truth. `key` is unique within the dataset and stable across runs (the
    manifest and the fingerprint use it); `name` is unique too and fit for output file names.

    Where the files lie: `rgb` and `depth` (and DIODE's `mask`) are files of their own; a sample inside a
    container file (NYUv2's .mat) has `container` and its 0-based `index` there instead. `files` lists
    whatever it reads, for manifests and hashing. `has_depth` is False for a plain image: it calibrates
    and measures fidelity, and `load_sample` gives it an all-False `valid`."""

    layout: str
    key: str
    name: str
    split: str  # the layout's own split name ("train", "val", "test"), "" where the folder has none
    domain: str  # "indoors", "outdoor" or "" where the layout does not say
    scene: str
    scan: str
    rgb: Path | None = None
    depth: Path | None = None
    mask: Path | None = None
    container: Path | None = None
    index: int | None = None
    depth_scale: float | None = None  # stored units per metre for integer depth files (PNG); None for float metres
    has_depth: bool = True

    @property
    def scene_id(self) -> str:
        """Unique across splits and domains: the unit the train/val split never cuts through."""
        return "/".join(part for part in (self.split, self.domain, self.scene) if part)

    @property
    def files(self) -> tuple[Path, ...]:
        return tuple(p for p in (self.rgb, self.depth, self.mask, self.container) if p is not None)

    @property
    def depth_source(self) -> str:
        """Where its depth is read from, for messages: the file, or the container and the 1-based image number."""
        return str(self.depth) if self.depth is not None else f"{self.container} image {(self.index or 0) + 1}"


@dataclass(frozen=True)
class Skip:
    """An image left out, and why, for every summary to list (`Skip.line`)."""

    name: str
    reason: str

    def line(self) -> str:
        return f"{self.name}: {self.reason}"


@dataclass(frozen=True)
class Crop:
    """An evaluation crop as fractions of the ground truth's height and width: rows [top, bottom), columns
    [left, right), each bound floored (`int(fraction * size)`, as the literature's evaluation scripts do).
    Fractions are exact, so the crop a paper states in pixels comes out exactly at that paper's size."""

    name: str
    top: Fraction
    bottom: Fraction
    left: Fraction
    right: Fraction
    source: str  # where the numbers come from

    def bounds(self, height: int, width: int) -> tuple[int, int, int, int]:
        return (math.floor(self.top * height), math.floor(self.bottom * height), math.floor(self.left * width),
                math.floor(self.right * width))

    def mask(self, height: int, width: int) -> np.ndarray:
        """H×W bool, True inside the crop: AND it with `valid` to score as the literature does."""
        top, bottom, left, right = self.bounds(height, width)
        inside = np.zeros((height, width), dtype=bool)
        inside[top:bottom, left:right] = True
        return inside

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "rows": [str(self.top), str(self.bottom)], "columns": [str(self.left), str(self.right)],
                "source": self.source}


@dataclass(frozen=True)
class Partition:
    """Samples that train and calibrate, samples held out, and the rule that divided them (for summaries)."""

    training: list[Sample]
    held_out: list[Sample]
    rule: str


@dataclass(frozen=True)
class Dataset:
    """One folder read in one layout (`open_dataset`).

    `training_splits` and `held_out_splits` name the layout's official roles (DIODE: train/ and val/;
    NYUv2: trainNdxs and testNdxs); samples of any other split are in neither role, as `partition` says.
    `metadata` are files that change what the samples mean (a dataset YAML's depth scale, NYUv2's split
    file): the fingerprint covers them too."""

    layout: str
    root: Path
    samples: tuple[Sample, ...]
    training_splits: tuple[str, ...] = ()
    held_out_splits: tuple[str, ...] = ()
    crop: Crop | None = None
    depth: str = "float32 metres"  # how depth is stored, in words
    metadata: tuple[Path, ...] = ()
    skipped: tuple[Skip, ...] = ()
    notes: tuple[str, ...] = ()  # facts a summary should carry (e.g. "annotated val/ unused")

    def __post_init__(self) -> None:
        """Names are unique within a split (outputs of one split share a folder), keys across the dataset."""
        named: dict[tuple[str, str], Sample] = {}
        for sample in self.samples:
            other = named.setdefault((sample.split, sample.name), sample)
            if other is not sample:
                raise EdgeDepthError(f"{other.key} and {sample.key} are both named {sample.name}; rename one of them")
        assert len({s.key for s in self.samples}) == len(self.samples), "a layout gave two samples one key"

    @property
    def has_depth(self) -> bool:
        return any(s.has_depth for s in self.samples)

    def partition(self, val_fraction: float = 0.1) -> Partition:
        """The official roles where the folder has a held-out split: its training splits (possibly none: a
        DIODE root holding only val/ is a held-out set on its own) and its held-out splits, nothing else.
        Without one, the scene-level `split_by_scene` of the training samples (or of every sample where the
        folder has no split at all), so no held-out scene is trained or calibrated on."""
        held_out = [s for s in self.samples if s.split in self.held_out_splits]
        training = [s for s in self.samples if s.split in self.training_splits]
        if held_out:
            trains = f"{'+'.join(self.training_splits)} for training" if training else "no training split"
            return Partition(training, held_out, f"official split: {'+'.join(self.held_out_splits)} held out, {trains}")
        training, held_out = split_by_scene(training or list(self.samples), val_fraction)
        return Partition(training, held_out, f"no held-out split in the folder: {val_fraction:.0%} of the scenes held "
                         "out, picked by scene hash")

    def fingerprint(self, samples: list[Sample] | tuple[Sample, ...] | None = None) -> str:
        """SHA-256 over the names and sizes of the files `samples` (default: all) read, and the metadata:
        equal for the same data in any order, different when a file is renamed, added, removed or changes
        size. Cheap (one stat per file), so every run can record and compare it."""
        files = {path for s in (self.samples if samples is None else samples) for path in s.files} | set(self.metadata)
        lines = []
        for path in files:
            try:
                size = path.stat().st_size
            except OSError as exc:
                raise EdgeDepthError(f"data file {path} cannot be read ({exc.strerror}); it was moved or removed")
            lines.append(f"{os.path.relpath(path, self.root)}\t{size}")
        return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        """Where the images come from, for every report: layout, root, counts per split and role, crop, how
        depth is stored, what was skipped and why."""
        part = self.partition()
        return {"layout": self.layout, "root": str(self.root), "images": len(self.samples),
                "splits": dict(sorted(Counter(s.split or "(none)" for s in self.samples).items())),
                "training_images": len(part.training), "held_out_images": len(part.held_out), "rule": part.rule,
                "ground_truth": self.has_depth, "depth": self.depth,
                "crop": self.crop.record() if self.crop else None, "skipped": [skip.line() for skip in self.skipped],
                "notes": list(self.notes)}

    def summary(self) -> str:
        """One line: layout, root, images per split, held-out count, crop and skips."""
        counts = ", ".join(f"{name} {n}" for name, n in self.describe()["splits"].items())
        part = self.partition()
        text = f"{self.layout} at {self.root}: {len(self.samples)} images ({counts}); {len(part.held_out)} held out ({part.rule})"
        if not self.has_depth:
            text += "; no ground truth"
        if self.crop:
            text += f"; {self.crop.name} crop"
        if self.skipped:
            text += f"; {len(self.skipped)} skipped"
        return text


def hidden(root: Path, path: Path) -> bool:
    """Whether `path` is hidden below `root` (a dot folder or file on the way: macOS' ._ copies, an
    interrupted synth's staging folder, Ultralytics' caches): no layout reads hidden files."""
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def image_files(root: Path) -> list[Path]:
    """Every image file below `root` (any of IMAGE_SUFFIXES, any case), nothing hidden, in sorted order."""
    return sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not hidden(root, p) and p.is_file())


def split_by_scene(samples: list[Sample], val_fraction: float = 0.1) -> tuple[list[Sample], list[Sample]]:
    """Deterministic scene-level split: the ⌈fraction × scenes⌉ scenes with the smallest id hash go to val.

    Hashing the scene id (not shuffling) keeps each scene's side fixed as the dataset grows, and no scene is
    ever on both sides. With a single scene everything is train."""
    scenes = sorted({s.scene_id for s in samples}, key=lambda sid: hashlib.sha256(sid.encode()).hexdigest())
    n_val = math.ceil(val_fraction * len(scenes)) if len(scenes) > 1 else 0
    val_scenes = set(scenes[:n_val])
    return [s for s in samples if s.scene_id not in val_scenes], [s for s in samples if s.scene_id in val_scenes]


@dataclass(frozen=True)
class Reading:
    """A sample as its layout stores it: uint8 RGB, depth in metres as stored (NaN, zero and negative
    values kept), and the layout's own validity mask where it has one (DIODE's), all H×W."""

    rgb: np.ndarray
    depth: np.ndarray | None  # None: the sample has no ground truth
    mask: np.ndarray | None = None


def fold(reading: Reading, sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8 H×W×3, depth float32 H×W metres with invalid 0, valid bool H×W) of `sample`'s reading: a
    pixel is valid where its depth is finite and positive and its mask (if any) is non-zero."""
    h, w = reading.rgb.shape[:2]
    if reading.depth is None:
        return reading.rgb, np.zeros((h, w), np.float32), np.zeros((h, w), bool)
    depth = reading.depth
    with np.errstate(invalid="ignore"):
        positive, negative = depth > 0, depth < 0
    if negative.any() and not positive.any():
        raise EdgeDepthError(f"depth {sample.depth_source} is negative wherever it is not zero (down to {np.nanmin(depth):g}); depth is "
                             "positive metres from the camera: negate it")
    valid = positive & np.isfinite(depth)
    if reading.mask is not None:
        valid &= reading.mask
    return reading.rgb, np.where(valid, depth, 0).astype(np.float32), valid


def why_no_ground_truth(reading: Reading) -> str:
    """Why a reading has no valid pixel, in words, for the line that names a skipped image."""
    if reading.depth is None:
        return "no ground truth (a plain image)"
    depth = reading.depth
    if not np.isfinite(depth).any():
        return "its depth is NaN or infinite everywhere"
    if reading.mask is not None and not reading.mask.any():
        return "its validity mask is 0 everywhere"
    return "its depth is 0 (invalid) everywhere"
