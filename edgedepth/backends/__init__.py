"""One module per runtime, each imported only when asked for, so a missing runtime costs nothing until used.

A backend module is stateless and provides:
    NAME: str
    available() -> bool                     is the runtime importable and usable here?
    unavailable_reason(device="cpu") -> str one line for a skipped row ("" when available); device optional
    build(onnx_path, out_dir, options: dict) -> Path    fuse/compile; writes the artifact + sidecar JSON
    load(artifact, device="cpu", **options) -> Runner
A Runner is a loaded model: infer(N×3×H×W float32) -> N×1×H×W float32, with name, precision, device.
`timed_infer` also returns the model-only seconds; a GPU runner overrides it to time with device events.
"""

from __future__ import annotations

import importlib
import inspect
import time
from types import ModuleType

import numpy as np

from ..errors import EdgeDepthError, RuntimeMissing

BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")

#: Sidecar keys that describe the model rather than the artifact; every build copies them forward.
MODEL_META_KEYS = ("arch", "input_size", "depth", "preprocessing")


def model_meta(sidecar: dict) -> dict:
    return {key: sidecar[key] for key in MODEL_META_KEYS if key in sidecar}


def first_line(exc: BaseException) -> str:
    """A runtime's exception as one short line, for an EdgeDepthError message."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:200]


def input_size_of(sidecar: dict) -> tuple[int, int] | None:
    """(H, W) recorded in a sidecar, or None when the artifact accepts any size."""
    size = sidecar.get("input_size")
    return (int(size[0]), int(size[1])) if size and sidecar.get("dynamic", "none") in ("none", "batch") else None


def get_backend(name: str) -> ModuleType:
    if name not in BACKENDS:
        raise EdgeDepthError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return importlib.import_module(f"{__name__}.{name}")


def usable_backend(name: str, device: str = "cpu") -> ModuleType:
    """The backend module, or RuntimeMissing with the reason it cannot run on `device` here."""
    try:
        backend = get_backend(name)
    except ImportError as exc:
        raise RuntimeMissing(f"the {name} backend cannot be imported here ({exc})")
    # unavailable_reason(device) where a backend distinguishes devices; the bare contract takes none
    takes_device = bool(inspect.signature(backend.unavailable_reason).parameters)
    reason = backend.unavailable_reason(device) if takes_device else backend.unavailable_reason()
    if reason:
        raise RuntimeMissing(f"{name} on {device}: {reason}")
    return backend


class Runner:
    """Base of every loaded model. Subclasses set the attributes and implement `_infer` and `close`."""

    name: str = "?"
    precision: str = "fp32"
    device: str = "cpu"
    input_size: tuple[int, int] | None = None  # (H, W) when the artifact has a static size

    def infer(self, batch: np.ndarray) -> np.ndarray:
        return self._infer(self.check_batch(batch))

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def timed_infer(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """(output, seconds the model took). The checks are outside the timed span; the default clock is the
        host's, which is honest for CPU runtimes that return only when done."""
        batch = self.check_batch(batch)
        start = time.perf_counter()
        output = self._infer(batch)
        return output, time.perf_counter() - start

    def close(self) -> None:
        """Release the runtime's resources; the runner is unusable afterwards."""

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        """Refuse what would give garbage silently: wrong rank/channels/size, non-float, NaN or Inf."""
        batch = np.asarray(batch)
        if batch.ndim != 4 or batch.shape[1] != 3:
            raise EdgeDepthError(f"input batch has shape {batch.shape}; expected N×3×H×W (preprocessed RGB)")
        if self.input_size is not None and tuple(batch.shape[2:]) != tuple(self.input_size):
            h, w = self.input_size
            raise EdgeDepthError(
                f"input is {batch.shape[2]}x{batch.shape[3]} but {self.name} was built for {h}x{w}; "
                "preprocess to the model's input size or rebuild the artifact"
            )
        if not np.issubdtype(batch.dtype, np.floating):
            raise EdgeDepthError(f"input batch has dtype {batch.dtype}; expected float32 (use data.transforms.preprocess)")
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if not np.isfinite(batch).all():
            raise EdgeDepthError("input batch holds NaN or Inf; check the image decoding and preprocessing")
        return batch

    def __enter__(self) -> "Runner":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.precision} on {self.device}>"
