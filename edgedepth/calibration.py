"""CalibrationSet: an ordered, reproducible pick of DIODE samples, preprocessed exactly like inference.

Samples are drawn from the data's calibration pool (`data.split.Split`) in its seeded order, alternating
indoor and outdoor and cycling through scenes, so a small set still covers the depth ranges a model sees.
The same object feeds NNCF (`nncf_dataset`) and ONNX Runtime (`data_reader`), and its manifest (files,
SHA-256, seed) lets anyone repeat the calibration exactly.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import atomic_path, sha256
from .data.datasets import load_sample
from .data.samples import Sample
from .data.split import Split, stratified_order
from .data.transforms import preprocess
from .errors import EdgeDepthError
from .spec import ModelSpec

MANIFEST_FORMAT = "edgedepth-calibration/2"


class CalibrationWarning(UserWarning):
    """The calibration goes on, but not as asked (e.g. fewer samples exist than requested)."""


class CalibrationSet:
    """A fixed list of samples and the model they calibrate; iterating yields 1×3×H×W float32 batches made
    with the model's own input size and preprocessing: calibration sees exactly what inference will."""

    def __init__(self, samples: Sequence[Sample], spec: ModelSpec, seed: int = 0, root: Path | None = None):
        if not samples:
            raise EdgeDepthError("the calibration set is empty; give a data folder with images to calibrate on")
        self.samples = list(samples)
        self.spec = spec
        self.size, self.preprocessing = spec.input_size, spec.preprocessing
        self.seed = seed
        self.root = Path(root) if root is not None else None

    @classmethod
    def pick(cls, split: Split, count: int, spec: ModelSpec, seed: int = 0) -> CalibrationSet:
        """The first `count` samples of the split's pool in the seeded stratified order; warns when fewer exist."""
        if count < 1:
            raise EdgeDepthError(f"the number of calibration samples must be at least 1 (got {count})")
        if not split.pool:
            raise EdgeDepthError(f"{split.root} has no images to calibrate on ({split.policy}): calibrating on the held-out "
                                 "images would score INT8 on what it was fitted to; give a folder with a train/ split")
        if len(split.pool) < count:
            warnings.warn(f"asked for {count} calibration samples but only {len(split.pool)} exist; using {len(split.pool)}",
                          CalibrationWarning, stacklevel=2)
        return cls(stratified_order(split.pool, seed)[:count], spec, seed, split.root)

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self.batch(i)

    def batch(self, index: int) -> np.ndarray:
        rgb, _, _ = load_sample(self.samples[index])
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
        hashes: dict[Path, str] = {}  # a container file (NYUv2's .mat) holds many samples: hashed once
        files = []
        for sample in self.samples:
            entry = {"layout": sample.layout, "key": sample.key, "split": sample.split, "domain": sample.domain,
                     "scene": sample.scene, "scan": sample.scan, "index": sample.index, "files": []}
            for path in sample.files:
                digest = hashes.setdefault(path, sha256(path))
                entry["files"].append({"path": os.path.relpath(path, self.root) if self.root else str(path),
                                       "sha256": digest})
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
