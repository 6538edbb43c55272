"""One module per runtime, each imported only when asked for, so a missing runtime costs nothing until used.

Every backend module satisfies `Backend`: a name, the devices it runs on, why it cannot run here (if it
cannot), `build` (ONNX → the runtime's artifact, published with its sidecar) and `load` (artifact → Runner).
Options are typed: `BuildOptions` for building, `LoadOptions` for loading, both carrying one `CpuOptions`.
A `Runner` is a loaded model: `infer` checks the batch (`check_batch`) and `_infer` runs it, the template
of Polygraphy's `infer`/`infer_impl`; `timed_infer` also returns the model-only seconds.
"""

from __future__ import annotations

import importlib
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from ..errors import EdgeDepthError, RuntimeMissing
from ..spec import PRECISIONS

if TYPE_CHECKING:
    from ..sources import ModelSource

#: Every backend, in the order tables list them. torch runs the checkpoint itself; the others build an
#: artifact from ONNX.
BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
BUILT_BACKENDS = BACKENDS[1:]
DEVICES = ("cpu", "cuda")
__all__ = ["BACKENDS", "BUILT_BACKENDS", "DEVICES", "HINTS", "PRECISIONS", "Backend", "BuildOptions", "CpuOptions",
           "LoadOptions", "Runner", "build_source", "built_record", "get_backend", "runner_for", "usable_backend"]
#: OpenVINO's performance hints.
HINTS = ("LATENCY", "THROUGHPUT")


@dataclass(frozen=True)
class CpuOptions:
    """How a runtime uses the CPU. `threads` applies to every runtime (None: every core); `streams`, `hint`
    and `inference_precision` are OpenVINO's (one stream, the latency hint and f32 suit single-image
    latency; f32 is pinned because OpenVINO would pick bf16 on CPUs that have it, and the "FP32" row would
    silently not be)."""

    threads: int | None = None
    streams: int = 1
    hint: str = "LATENCY"
    inference_precision: str = "f32"

    @property
    def thread_count(self) -> int:
        return self.threads or os.cpu_count() or 1


@dataclass(frozen=True)
class BuildOptions:
    """What `build` is asked for; a backend reads the fields that concern it."""

    device: str = "cpu"
    precision: str | None = None  # None: what the ONNX holds (TensorRT can also make fp16 from a float ONNX)
    cpu: CpuOptions = field(default_factory=CpuOptions)
    keep_float: tuple[str, ...] = ()  # TensorRT fp16: ONNX nodes that stay float32
    max_batch: int = 8  # TensorRT: largest batch of the profile when the batch axis is dynamic
    workspace_mb: int | None = None  # TensorRT: builder workspace limit (None: TensorRT's default)


@dataclass(frozen=True)
class LoadOptions:
    """What `load` is asked for; a backend reads the fields that concern it."""

    device: str = "cpu"
    precision: str = "fp32"  # torch: fp16 runs under CUDA autocast; built artifacts carry their own
    cpu: CpuOptions = field(default_factory=CpuOptions)
    warmup: int = 3  # TensorRT: untimed runs at load, so the first timed one is not the slowest


class Runner:
    """Base of every loaded model. Subclasses set the attributes and implement `_infer` and `close`."""

    name: str = "?"
    precision: str = "fp32"
    device: str = "cpu"
    input_size: tuple[int, int] | None = None  # (H, W) when the artifact has a static size
    settings: dict  # how the runtime was set up (threads, provider, ...), for the bench conditions

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

    def __enter__(self) -> Runner:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.precision} on {self.device}>"


@runtime_checkable
class Backend(Protocol):
    """What every module in this package provides (checked by tests/test_backends.py)."""

    NAME: str
    DEVICES: tuple[str, ...]  # where it runs; the first is where `edgedepth build` builds for

    def unavailable_reason(self, device: str) -> str:
        """"" when the runtime is usable on `device` here, else one line saying why not."""

    def build(self, onnx_path: str | os.PathLike, out_dir: str | os.PathLike, options: BuildOptions) -> Path:
        """Fuse/compile the ONNX for this runtime; publish the artifact + sidecar under `out_dir`."""

    def load(self, artifact: str | os.PathLike, options: LoadOptions) -> Runner:
        """A runner over a built artifact (for torch: the checkpoint)."""


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise EdgeDepthError(f"unknown backend {name!r}; choose one of: {', '.join(BACKENDS)}")
    return importlib.import_module(f"{__name__}.{name}")


def usable_backend(name: str, device: str = "cpu") -> Backend:
    """The backend module, or RuntimeMissing with the reason it cannot run on `device` here."""
    try:
        backend = get_backend(name)
    except ImportError as exc:
        raise RuntimeMissing(f"the {name} backend cannot be imported here ({exc})")
    reason = backend.unavailable_reason(device)
    if reason:
        raise RuntimeMissing(f"{name} on {device}: {reason}")
    return backend


def wrong_device(name: str, devices: tuple[str, ...], device: str) -> str:
    """The unavailable-reason line for a device a backend does not run on ("" when it does)."""
    if device in devices:
        return ""
    return f"{name} runs on {' or '.join(devices)}, not {device}"


def runner_for(source: ModelSource, options: LoadOptions, backend: str | None = None) -> Runner:
    """A runner over a resolved model: its torch module in PyTorch, else its artifact in `backend` (default: the
    first of the runtimes that read its form)."""
    name = backend or source.readers[0]
    if backend is not None and backend not in source.readers:
        path = source.artifact
        raise EdgeDepthError(f"backend {backend} does not read {path.suffix} files; for {path.name} use "
                             f"{' or '.join(source.readers)}")
    module = usable_backend(name, options.device)
    return module.load_module(source.model, source.spec.input_size, options) if name == "torch" else \
        module.load(source.artifact, options)


def build_source(onnx_path: str | os.PathLike) -> ModelSource:
    """The exported ONNX a build starts from, with the spec it records; a bare ONNX is refused, since an engine
    of it could not say what its model outputs and expects."""
    from ..sources import resolve_source

    source = resolve_source(Path(onnx_path))
    if source.form != "onnx":
        raise EdgeDepthError(f"{onnx_path} is {source.origin}, not an ONNX; build from the ONNX of `edgedepth export` "
                             "or `edgedepth quantize`")
    if not source.recorded:
        raise EdgeDepthError(f"{onnx_path} has no sidecar {Path(onnx_path).name}.json, so an engine of it could not say what "
                             f"the model outputs and expects; export it first (`edgedepth export {onnx_path} "
                             "[--output-kind ...] -o model.onnx`) and build what export writes")
    return source


def built_record(source: ModelSource, backend: str, **fields: Any) -> dict[str, Any]:
    """The sidecar of an artifact built from `source`: its facts, the backend, the ONNX it came from, `fields`."""
    onnx = str(source.artifact)
    return {**source.facts().to_record(), "backend": backend, "source_onnx": onnx, "source_onnx_sha256": source.hashes[onnx],
            **fields}


class FlavourWarning(UserWarning):
    """A Q/DQ model quantized for another runtime than the one it is built for: it runs, but not at its best."""


def warn_if_other_flavour(source: ModelSource, backend: str, why: str) -> None:
    """Warn when the source ONNX was quantized for another target than `backend`; `why` is the measured reason
    that target's form suits `backend` better."""
    if source.target and source.target != backend:
        warnings.warn(f"this Q/DQ model was quantized for {source.target}; {why}: `edgedepth quantize --target {backend}` "
                      "makes the form it runs best", FlavourWarning, stacklevel=3)
