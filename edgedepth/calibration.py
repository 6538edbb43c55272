"""CalibrationSet: an ordered, reproducible pick of DIODE samples, preprocessed exactly like inference.

Samples are drawn with a seed, alternating indoor and outdoor and cycling through scenes, so a small set
still covers the depth ranges a model sees. The same object feeds NNCF (`nncf_dataset`) and ONNX Runtime
(`data_reader`), and its manifest (files, SHA-256, seed) lets anyone repeat the calibration exactly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import random
import warnings
from collections import defaultdict
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import atomic_path, sha256
from .data import diode
from .data.transforms import IMAGENET, Preprocessing, preprocess
from .errors import EdgeDepthError

MANIFEST_FORMAT = "edgedepth-calibration/1"


class CalibrationWarning(UserWarning):
    """The calibration goes on, but not as asked (e.g. fewer samples exist than requested)."""


def stratified_order(samples: Sequence[diode.Sample], seed: int) -> list[diode.Sample]:
    """All samples in a seeded order that alternates domains and, within a domain, cycles through scenes."""
    rng = random.Random(seed)
    per_domain: dict[str, list[diode.Sample]] = {}
    for domain in sorted({s.domain for s in samples}):
        by_scene: dict[str, list[diode.Sample]] = defaultdict(list)
        for sample in sorted((s for s in samples if s.domain == domain), key=lambda s: str(s.rgb)):
            by_scene[sample.scene_id].append(sample)
        scenes = sorted(by_scene)
        rng.shuffle(scenes)
        for scene in scenes:
            rng.shuffle(by_scene[scene])
        per_domain[domain] = _round_robin([by_scene[scene] for scene in scenes])
    return _round_robin(list(per_domain.values()))


def _round_robin(groups: list[list[Any]]) -> list[Any]:
    longest = max((len(g) for g in groups), default=0)
    return [group[i] for i in range(longest) for group in groups if i < len(group)]


class CalibrationSet:
    """A fixed list of samples and the model input size; iterating yields 1×3×H×W float32 batches."""

    def __init__(self, samples: Sequence[diode.Sample], size: tuple[int, int], seed: int = 0, root: Path | None = None,
                 preprocessing: Preprocessing = IMAGENET):
        if not samples:
            raise EdgeDepthError("the calibration set is empty; give a DIODE-layout data folder with images")
        self.samples = list(samples)
        self.size = (int(size[0]), int(size[1]))
        self.preprocessing = preprocessing  # the model's own: calibration sees exactly what inference will
        self.seed = seed
        self.root = Path(root) if root is not None else None

    @classmethod
    def pick(cls, samples: Sequence[diode.Sample], count: int, size: tuple[int, int], seed: int = 0,
             root: Path | None = None, preprocessing: Preprocessing = IMAGENET) -> CalibrationSet:
        """The first `count` samples of the seeded stratified order; warns when fewer exist."""
        if count < 1:
            raise EdgeDepthError(f"the number of calibration samples must be at least 1 (got {count})")
        if not samples:
            raise EdgeDepthError(f"no valid sample under {root or 'the data folder'}; give a DIODE-layout data folder")
        if len(samples) < count:
            warnings.warn(f"asked for {count} calibration samples but only {len(samples)} exist; using {len(samples)}",
                          CalibrationWarning, stacklevel=2)
        return cls(stratified_order(samples, seed)[:count], size, seed, root, preprocessing)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.batch(i)

    def batch(self, index: int) -> np.ndarray:
        rgb, _, _ = diode.load_sample(self.samples[index])
        return preprocess(rgb, self.size, self.preprocessing)

    def nncf_dataset(self, input_name: str = "rgb"):
        """`nncf.Dataset` over this set (NNCF's interface: an iterable plus one transform)."""
        import nncf

        return nncf.Dataset(self, lambda batch: {input_name: batch})

    def data_reader(self, input_name: str = "rgb", start: int = 0, stop: int | None = None):
        """An ONNX Runtime `CalibrationDataReader` over samples [start, stop): chunks keep calibration memory bounded."""
        from onnxruntime.quantization import CalibrationDataReader

        calibration_set = self
        indices = range(start, len(self) if stop is None else min(stop, len(self)))

        class _Reader(CalibrationDataReader):
            def __init__(self):
                self._next = iter(indices)

            def get_next(self) -> dict[str, np.ndarray] | None:
                index = next(self._next, None)
                return None if index is None else {input_name: calibration_set.batch(index)}

            def __len__(self) -> int:
                return len(indices)

        return _Reader()

    @functools.cached_property
    def manifest(self) -> dict[str, Any]:
        """Which files, in which order, with their hashes: enough to repeat the calibration exactly."""
        files = []
        for sample in self.samples:
            entry = {"split": sample.split, "domain": sample.domain, "scene": sample.scene, "scan": sample.scan}
            for kind in ("rgb", "depth", "mask"):
                path = getattr(sample, kind)
                entry[kind] = os.path.relpath(path, self.root) if self.root else str(path)
                entry[f"{kind}_sha256"] = sha256(path)
            files.append(entry)
        body = {
            "format": MANIFEST_FORMAT,
            "root": str(self.root) if self.root else None,
            "seed": self.seed,
            "count": len(files),
            "input_size": list(self.size),
            "preprocessing": self.preprocessing.record(),
            "selection": "seeded; alternates indoors/outdoor, cycles through scenes within each",
            "files": files,
        }
        digest = hashlib.sha256(json.dumps({k: body[k] for k in ("seed", "input_size", "preprocessing", "files")},
                                           sort_keys=True).encode()).hexdigest()
        return {**body, "sha256": digest}

    def write_manifest(self, path: str | os.PathLike) -> Path:
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(self.manifest, indent=2) + "\n")
        return Path(path)


def load_split(data: str | os.PathLike, val_fraction: float = 0.1) -> tuple[list[diode.Sample], list[diode.Sample]]:
    """(calibration pool, held-out) of a DIODE-layout folder: its train and official val/ splits, as
    `edgedepth train` uses them (val/ is never trained or calibrated on); a folder without both splits is
    divided by scene instead, so no held-out scene is calibrated on."""
    samples = diode.find_samples(data)
    pool = [s for s in samples if s.split != "val"]
    held_out = [s for s in samples if s.split == "val"]
    return (pool, held_out) if pool and held_out else diode.split_by_scene(samples, val_fraction=val_fraction)
