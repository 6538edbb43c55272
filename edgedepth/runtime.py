"""The Python runtime: `edgedepth.load(path)` → a `DepthModel` whose `predict` takes 8-bit RGB photos of any
size and gives depth in metres at their size, whatever the artifact (checkpoint, ONNX, OpenVINO or ONNX
Runtime build, TensorRT engine). It is the Python twin of the C runtime (capi/include/edgedepth.h): the same
preprocessing, read from the artifact's own record, and the same bilinear half-pixel resizes of the image
and of the depth map (capi/src/resize.c follows torch's), so the two agree to float rounding.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .backends import BACKENDS, DEVICES, CpuOptions, LoadOptions, Runner, get_backend, runner_for
from .data.transforms import check_rgb, one_torch_thread, preprocess, restore_depth
from .errors import EdgeDepthError
from .sources import ModelRequest, ModelSource, resolve_source

#: Images per inference call when the artifact takes a batch: bounds the memory of a long list
#: (8 × 3 × 512 × 512 float32 is 25 MB), and TensorRT's default profile takes up to 8.
MAX_BATCH = 8
OUTPUT_SIZES = ("input", "model")


def load(path: str | os.PathLike, device: str = "cpu", *, backend: str | None = None, threads: int | None = None,
         trust_pickle: bool = False) -> DepthModel:
    """Load any model that records what it outputs and expects, for `device` ("cpu" or "cuda"): an edgedepth
    artifact, an Ultralytics depth checkpoint (a pickle: only with `trust_pickle`), a Hugging Face folder.
    `threads` caps the CPU threads (None: every core). Refuses, in one line, a model that does not run on
    `device`, or that records nothing of itself (export it first)."""
    if device not in DEVICES:
        raise EdgeDepthError(f"device {device!r} is not one of {', '.join(DEVICES)}")
    if backend is not None and backend not in BACKENDS:
        raise EdgeDepthError(f"unknown backend {backend!r}; choose one of: {', '.join(BACKENDS)}")
    source = resolve_source(ModelRequest(path=Path(path), trust_pickle=trust_pickle))
    name = backend or source.readers[0]
    if not source.recorded:  # most likely a model of the user's own: what it outputs and expects is unknown
        what = f"has no sidecar {source.artifact.name}.json" if source.form == "onnx" else "records nothing of its model"
        raise EdgeDepthError(f"{source.origin} {what}, so what the model outputs and expects is unknown; export it first "
                             f"(`edgedepth export {path} [--output-kind ...] -o model.onnx`) and load what export writes")
    devices = get_backend(name).DEVICES
    built_for = source.meta.get("device")  # ONNX Runtime builds fuse for one execution provider
    if name in source.readers and (device not in devices or built_for not in (None, device)):
        runs_on = built_for or devices[0]
        raise EdgeDepthError(f"{path} is built for {name} on {runs_on}, not {device}; load it on {runs_on}, "
                             f"or build a {device} artifact from the ONNX with `edgedepth build`")
    runner = runner_for(source, LoadOptions(device=device, cpu=CpuOptions(threads=threads)), backend)
    return DepthModel(runner, source)


class DepthModel:
    """A loaded model: `predict(rgb)` → its depth output: metres for a metric model; for one of another
    `output_kind` (a user model declared at export) its raw values, in `unit` (1/m, or relative: affine-invariant).

    It applies exactly the preprocessing recorded with the artifact (`preprocessing`), at the model's input
    size (`input_size`). Threads: `predict` may be called from several threads; calls on one model run one
    at a time (a runtime's inference request must not be entered twice), so for parallel throughput load one
    model per thread, as with the C runtime's runners. A context manager: leaving it releases the runtime.
    """

    def __init__(self, runner: Runner, source: ModelSource):
        self.runner: Runner | None = runner
        self.artifact = source.artifact
        self.spec = source.spec
        self.backend, self.precision, self.device = runner.name, runner.precision, runner.device
        self.preprocessing, self.output_kind, self.unit = self.spec.preprocessing, self.spec.output_kind, self.spec.unit
        self.input_size = runner.input_size or self.spec.input_size
        self.batch_limit = MAX_BATCH if runner.name == "torch" or source.dynamic in ("batch", "both") else 1
        self._lock = threading.Lock()

    def predict(self, images: np.ndarray | Sequence[np.ndarray],
                size: str | tuple[int, int] = "input") -> np.ndarray | list[np.ndarray]:
        """Depth (float32, in `unit`: metres for a metric model) of H×W×3 uint8 RGB images of any size.

        `images`: one image (→ an H×W map), an N×H×W×3 array (→ N×H×W), or a list (→ a list; sizes may
        differ). `size`: "input" (each image's own size), "model" (the model's input size, no resize) or
        (H, W). Images go through the model `batch_limit` at a time."""
        single = isinstance(images, np.ndarray) and images.ndim == 3
        if isinstance(images, np.ndarray) and images.ndim not in (3, 4):
            raise EdgeDepthError(f"images have shape {images.shape}; expected H×W×3 (one image) or N×H×W×3 uint8 RGB")
        batch = [check_rgb(image, f"image {i}") for i, image in enumerate([images] if single else images)]
        if not batch:
            raise EdgeDepthError("predict was given no images")
        targets = [self._output_size(image, size) for image in batch]
        depths = []
        for start in range(0, len(batch), self.batch_limit):
            chunk = batch[start : start + self.batch_limit]
            depths.extend(self._infer(chunk))
        with self._torch_work():
            maps = [self._resize(depth, image.shape[:2], target) for depth, image, target in zip(depths, batch, targets)]
        if single:
            return maps[0]
        return np.stack(maps) if isinstance(images, np.ndarray) else maps

    def _torch_work(self):
        """Beside another runtime, torch's own steps (preprocessing, resizing the output) run on one thread."""
        return contextlib.nullcontext() if self.backend == "torch" else one_torch_thread()

    def _infer(self, chunk: list[np.ndarray]) -> np.ndarray:
        with self._torch_work():
            batch = preprocess(chunk, self.input_size, self.preprocessing)
        with self._lock:
            if self.runner is None:
                raise EdgeDepthError(f"the model {self.artifact} was closed; load it again")
            return self.runner.infer(batch)

    def _output_size(self, image: np.ndarray, size: str | tuple[int, int]) -> tuple[int, int] | None:
        if size == "input":
            return image.shape[:2]
        if size == "model":
            return None
        if isinstance(size, str) or len(size) != 2 or not all(isinstance(v, int | np.integer) and v > 0 for v in size):
            raise EdgeDepthError(f"size {size!r} is not 'input', 'model' or (height, width) in positive integers")
        return int(size[0]), int(size[1])

    def _resize(self, depth: np.ndarray, image_size: tuple[int, int], size: tuple[int, int] | None) -> np.ndarray:
        """1×h×w model output → the image's part of it (`restore_depth`) at `size`, float32 (None: as it is)."""
        if size is None:
            return np.ascontiguousarray(depth[0], dtype=np.float32)
        return restore_depth(depth, image_size, self.preprocessing, size)

    def close(self) -> None:
        with self._lock:
            if self.runner is not None:
                self.runner.close()
            self.runner = None

    def __enter__(self) -> DepthModel:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        h, w = self.input_size
        return f"<DepthModel {self.artifact} {self.backend} {self.precision} on {self.device}, {h}x{w}>"
