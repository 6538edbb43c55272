"""Timing and memory, measured the same way for every runtime: latency after warm-up (model-only and end to
end, from the same runs) and the peak memory a row adds. Nothing here scores anything.
"""

from __future__ import annotations

import platform
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data.transforms import one_torch_thread, preprocess
from .heldout import EvalSet

#: Quantize's quick latency of a candidate: median of LATENCY_RUNS timed runs after LATENCY_WARMUP untimed ones.
LATENCY_WARMUP, LATENCY_RUNS = 3, 20


@dataclass
class Latency:
    median_ms: float
    p90_ms: float
    p99_ms: float
    fps: float  # 1 / median, batch 1
    runs: int

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = np.asarray(seconds) * 1000.0
        median = float(np.median(ms))
        return cls(median, float(np.percentile(ms, 90)), float(np.percentile(ms, 99)), 1000.0 / median, len(ms))


def time_runner(runner, eval_set: EvalSet, warmup: int, runs: int) -> tuple[Latency, Latency]:
    """(model-only, end-to-end) latency from one loop over the images, after its warm-up. Each run takes one
    decoded uint8 image: end-to-end spans preprocessing, the input checks, inference and the output copy;
    model-only is the inference alone inside it (`timed_infer`). Both come from the same runs, so for every row
    E2E ≥ model-only run by run, and E2E − p50 is what preprocessing and copies cost.

    The preprocessing runs on one torch thread (`one_torch_thread`, which says why) for every row. Before,
    with torch's threads, E2E was 10–90 ms against 1–2 ms of inference for ONNX Runtime and OpenVINO on 2
    cores (lraspp 96×128), the time spent waiting for cores the other thread pool held; with
    OMP_WAIT_POLICY=PASSIVE as with one thread, E2E came back to the inference plus 0.1–0.4 ms. And the two
    latencies came from separate loops, so the torch row's E2E could land below its p50 by noise alone."""
    model_s, e2e_s = [], []
    images = eval_set.images
    for i in range(-warmup, runs):  # i < 0: untimed warm-up of the same path
        start = time.perf_counter()
        with one_torch_thread():
            batch = preprocess(images[i % len(images)].rgb, eval_set.size, eval_set.spec.preprocessing)
        _, seconds = runner.timed_infer(batch)
        if i >= 0:
            e2e_s.append(time.perf_counter() - start)
            model_s.append(seconds)
    return Latency.of(model_s), Latency.of(e2e_s)


def median_latency_ms(runner, batch: np.ndarray) -> float:
    """Median of LATENCY_RUNS timed runs after LATENCY_WARMUP untimed ones, in milliseconds."""
    for _ in range(LATENCY_WARMUP):
        runner.infer(batch)
    return 1000 * statistics.median(runner.timed_infer(batch)[1] for _ in range(LATENCY_RUNS))


class PeakMemory:
    """Peak memory a row adds over its span, measured the same way whatever runtime allocates it.

    CPU: the process's peak resident set (Linux VmHWM, reset on entry) over its resident set on entry, after
    the C heap hands back to the system the pages earlier rows freed (glibc's malloc_trim). Without that, a
    row reused pages the previous one had freed but the heap kept resident, and they never showed: ONNX
    Runtime INT8 measured 0.4 MB after ONNX Runtime FP32, 13 MB with the trim (lraspp 96×128).
    CUDA: torch's allocator peak, which sees only torch's own tensors: the other runtimes allocate device
    memory themselves, so their rows are left unmeasured (None) rather than shown near 0."""

    def __init__(self, device: str, backend: str = "torch"):
        self.device = "unmeasured" if device == "cuda" and backend != "torch" else device
        self.peak_mb = None

    def __enter__(self) -> PeakMemory:
        if self.device == "cuda":
            import torch

            torch.cuda.reset_peak_memory_stats()
        elif self.device == "cpu":
            _release_free_heap()
            try:
                Path("/proc/self/clear_refs").write_text("5")
                self.baseline_kb = _proc_status_kb("VmRSS")
            except OSError:
                self.device = "unmeasured"
        return self

    def __exit__(self, *exc) -> None:
        if self.device == "cuda":
            import torch

            self.peak_mb = torch.cuda.max_memory_allocated() / 2**20
        elif self.device == "cpu":
            self.peak_mb = (_proc_status_kb("VmHWM") - self.baseline_kb) / 1024


def _release_free_heap() -> None:
    """glibc's malloc_trim(0): free heap pages go back to the system (a no-op elsewhere)."""
    import ctypes

    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _proc_status_kb(key: str) -> int:
    status = Path("/proc/self/status").read_text()
    return next(int(line.split()[1]) for line in status.splitlines() if line.startswith(key))


def processor_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()
