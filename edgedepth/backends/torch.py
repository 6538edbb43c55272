"""PyTorch eager: the float reference every other row is measured against.

It runs the checkpoint itself, or a user's model already in memory (`load_module`): there is nothing to build.
On CUDA it runs channels-last, in FP32 or FP16 autocast, and times the model with CUDA events so host-side
launch overhead is not mistaken for GPU time.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError, RuntimeMissing
from . import BuildOptions, LoadOptions, Runner, wrong_device

NAME = "torch"
DEVICES = ("cpu", "cuda")
PRECISIONS = ("fp32", "fp16")


def unavailable_reason(device: str) -> str:
    import torch

    if device == "cuda" and not torch.cuda.is_available():
        return "PyTorch sees no CUDA device (no NVIDIA GPU, driver or CUDA build of torch)"
    return wrong_device(NAME, DEVICES, device)


def build(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, options: BuildOptions) -> Path:
    raise EdgeDepthError("the torch backend runs the checkpoint (.pt) itself; there is nothing to build from ONNX")


def load(artifact: str | os.PathLike, options: LoadOptions) -> TorchRunner:
    from ..sources import resolve_source

    _check(options)
    source = resolve_source(Path(artifact))
    if source.model is None:
        raise EdgeDepthError(f"{artifact} is {source.origin}, not a PyTorch model; run it with {' or '.join(source.readers)}")
    return TorchRunner(source.model, source.spec.input_size, options)


def load_module(model, input_size: tuple[int, int], options: LoadOptions) -> TorchRunner:
    """A runner over a module already in memory (a user's model resolved by sources: forward N×3×H×W → N×1×H×W)."""
    _check(options)
    return TorchRunner(model, input_size, options)


def _check(options: LoadOptions) -> None:
    reason = unavailable_reason(options.device)
    if reason:
        raise RuntimeMissing(f"cannot run PyTorch on {options.device}: {reason}")
    if options.precision not in PRECISIONS or (options.precision == "fp16" and options.device != "cuda"):
        raise EdgeDepthError(f"torch precision {options.precision!r} on {options.device} is not offered; "
                             "use fp32 (fp16 is CUDA-only)")


class TorchRunner(Runner):
    def __init__(self, model, input_size: tuple[int, int], options: LoadOptions):
        import torch

        if options.cpu.threads:
            torch.set_num_threads(options.cpu.threads)
        device, precision = options.device, options.precision
        self.name, self.device, self.precision = NAME, device, precision
        self.input_size = tuple(input_size)
        self.memory_format = torch.channels_last if device == "cuda" else torch.contiguous_format
        self.model = model.eval().to(device, memory_format=self.memory_format)
        self.settings = {
            "intra_op_threads": torch.get_num_threads(),
            "memory_format": "channels_last" if device == "cuda" else "contiguous",
            "autocast": "fp16" if precision == "fp16" else "off",
            "timing": "CUDA events around the forward pass" if device == "cuda" else "host clock",
        }

    def _forward(self, batch):
        import torch

        with torch.autocast("cuda", dtype=torch.float16, enabled=self.precision == "fp16"):
            return self.model(batch).float()

    def _to_device(self, batch: np.ndarray):
        import torch

        return torch.from_numpy(batch).to(self.device).contiguous(memory_format=self.memory_format)

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        import torch

        with torch.inference_mode():
            return self._forward(self._to_device(batch)).cpu().numpy()

    def timed_infer(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        if self.device != "cuda":
            return super().timed_infer(batch)
        import torch

        batch = self.check_batch(batch)
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        with torch.inference_mode():
            device_batch = self._to_device(batch)
            start.record()
            output = self._forward(device_batch)
            end.record()
            end.synchronize()
            return output.cpu().numpy(), start.elapsed_time(end) / 1000.0

    def close(self) -> None:
        self.model = None
