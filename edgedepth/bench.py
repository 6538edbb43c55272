"""The bench loop: every available backend × precision on the same images with the same preprocessing.

From a model in any form (sources.ModelSource) it exports, quantizes and builds whatever is missing (cached
under `engines/<model fingerprint>/`; INT8 ONNX named by calibration settings, engines by the hash of their
source ONNX), or takes ONNX already made (`BenchOptions.onnx_sources`), then measures each row: latency after
warm-up (model-only and end-to-end), accuracy against ground truth on held-out images (evaluation.EvalSet:
both domains, decoded and preprocessed once, scored after the alignment the model's output kind needs),
deltas and fidelity against the reference row (the float PyTorch model; for a bare ONNX, which has none, the
first float row) with their breakdown by depth range and domain, peak memory and artifact size. It returns a
`Report` of dataclasses; report.py renders it.
"""

from __future__ import annotations

import copy
import hashlib
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import is_finished, is_writable_location, sha256, tool_versions
from .backends import BuildOptions, CpuOptions, LoadOptions, usable_backend
from .data.transforms import one_torch_thread, preprocess
from .errors import EdgeDepthError, RuntimeMissing
from .evaluation import ALIGNMENTS, EvalImage, EvalSet, Window
from .metrics import METRIC_KEYS
from .sources import ModelRequest, ModelSource, resolve_source

DEMO_CHECKPOINT = Path("runs/demo/model.pt")
DEMO_DATA = Path("runs/demo/data")
#: (backend, precision) rows per device, in table order; the first fp32 row that runs is the reference for deltas.
PLANS = {
    "cpu": [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8")],
    "cuda": [("torch", "fp32"), ("torch", "fp16"), ("onnxruntime", "fp32"), ("tensorrt", "fp16"), ("tensorrt", "int8")],
}


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


@dataclass
class Row:
    backend: str
    precision: str
    device: str
    status: str = "ok"  # ok | skipped (runtime absent) | failed (it ran and broke; reason says how)
    reason: str = ""
    artifact: str | None = None
    artifact_mb: float | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    latency_model: Latency | None = None
    latency_e2e: Latency | None = None  # preprocessing (decode excluded) + model + output copy
    metrics: dict[str, float] | None = None
    deltas: dict[str, float] | None = None  # metric − reference metric
    fidelity: dict[str, float] | None = None  # against the reference row's depth (evaluation.EvalSet.fidelity)
    breakdown: dict[str, Any] | None = None  # by depth range and domain, against the reference row
    peak_memory_mb: float | None = None
    predictions: list[np.ndarray] = field(default_factory=list, repr=False)  # not serialised

    @property
    def label(self) -> str:
        return f"{self.backend} {self.precision}"


@dataclass
class Conditions:
    model: str  # where the model came from (sources.ModelSource.origin)
    arch: str
    input_size: list[int]
    depth: dict[str, Any]
    device: str
    processor: str
    cores: int
    threads: int
    batch: int
    warmup: int
    runs: int
    data: str
    images: int
    held_out: dict[str, Any]  # domains, scenes, evaluation window and what it excluded
    versions: dict[str, str]
    memory: str
    output_kind: str = "metric"
    alignment: str = ALIGNMENTS["metric"]  # how outputs meet ground truth (evaluation.ALIGNMENTS)
    reference: str | None = None  # the row deltas and fidelity are taken against


@dataclass
class Report:
    conditions: Conditions
    rows: list[Row]
    images: list[EvalImage] = field(default_factory=list, repr=False)  # not serialised


@dataclass
class BenchOptions:
    device: str = "cpu"
    backends: tuple[str, ...] | None = None  # None: every backend of the device's plan
    warmup: int = 3
    runs: int = 20
    cpu: CpuOptions = field(default_factory=CpuOptions)  # threads for every runtime; OpenVINO's streams/hint
    images: int = 8
    calibration_samples: int = 128
    min_depth: float | None = None  # evaluation window (None: the model's depth range)
    max_depth: float | None = None
    engines: Path = Path("engines")
    #: ONNX already made for this model, used instead of exporting/quantizing: "fp32" → float ONNX,
    #: a quantize target ("openvino", "onnxruntime", "tensorrt") → its Q/DQ INT8 ONNX.
    onnx_sources: dict[str, Path] = field(default_factory=dict)


def run_bench(model: ModelSource | ModelRequest | str | os.PathLike | None = None, data: str | os.PathLike | None = None,
              options: BenchOptions | None = None, progress: Callable[[int, str], None] | None = None) -> Report:
    """Measure every row of the device's plan; rows whose runtime is absent come back skipped with a reason.
    `model`: a resolved source, what the user declared (`ModelRequest`), or a model file (default: the demo's
    checkpoint)."""
    options = options or BenchOptions()
    data = Path(data or DEMO_DATA)
    say = progress or (lambda done, label: None)
    if options.device not in PLANS:
        raise EdgeDepthError(f"unknown device {options.device!r}; choose cpu or cuda")
    if options.device == "cuda":
        require_cuda()
    plan_rows(options.device, options.backends)
    if options.warmup < 0 or options.runs < 1 or options.images < 1:
        raise EdgeDepthError("bench needs warm-up runs ≥ 0, timed runs ≥ 1 and images ≥ 1")
    source = model if isinstance(model, ModelSource) else bench_source(model)
    size = source.input_size
    window = Window.of(source.depth, options.min_depth, options.max_depth)
    eval_set = EvalSet.held_out(data, size, window, options.images, preprocessing=source.preprocessing)
    if not len(eval_set):
        raise EdgeDepthError(f"{data} has no held-out scene with ground truth inside {window.min_depth:g}–{window.max_depth:g} m; "
                             "give a DIODE root with a val/ split, or a folder of several scenes")
    threads = options.cpu.thread_count
    options = replace(options, cpu=replace(options.cpu, threads=threads))  # every runtime gets the same count
    cache = ArtifactCache(source, data, options)
    rows: list[Row] = []
    for done, (backend, precision) in enumerate(plan_rows(options.device, options.backends)):
        say(done, f"{backend} {precision}")
        row = Row(backend, precision, options.device)
        rows.append(row)
        if backend == "torch" and source.model is None:
            row.status, row.reason = "skipped", (f"no PyTorch model: {source.origin} is an ONNX; bench the PyTorch "
                                                 "model it was exported from for this row")
            continue
        try:
            measure_row(row, cache, eval_set, threads, options)
        except EdgeDepthError as exc:
            row.status, row.reason = ("skipped" if isinstance(exc, RuntimeMissing) else "failed"), exc.message
    reference = reference_row(rows)
    if reference is not None:
        for row in rows:
            add_deltas(row, reference, eval_set, source.output_kind)
    conditions = Conditions(
        model=source.origin, arch=source.arch, input_size=list(size), depth=source.depth,
        device=options.device, processor=processor_name(), cores=os.cpu_count() or 1, threads=threads, batch=1,
        warmup=options.warmup, runs=options.runs, data=str(data), images=len(eval_set), held_out=eval_set.describe(),
        versions=tool_versions(),
        memory="peak resident memory the row added over the process's at its start (Linux VmHWM, reset per row, "
        "after freed heap pages are returned)" if options.device == "cpu" else
        "peak CUDA memory allocated by torch during the row (the other runtimes allocate outside it: unmeasured)",
        output_kind=source.output_kind, alignment=ALIGNMENTS[source.output_kind],
        reference=reference.label if reference is not None else None,
    )
    return Report(conditions, rows, eval_set.images)


def bench_source(model: ModelRequest | str | os.PathLike | None) -> ModelSource:
    """The model to bench: what was declared or given, else the demo's checkpoint."""
    request = model if isinstance(model, ModelRequest) else ModelRequest(path=Path(model) if model else None)
    if request.path is None and not request.factory:
        request = replace(request, path=DEMO_CHECKPOINT)
    if request.path is not None and not request.path.is_file():
        hint = "run `edgedepth demo` first" if request.path == DEMO_CHECKPOINT else "check the model path"
        raise EdgeDepthError(f"model {request.path} not found; {hint}")
    return resolve_source(request)


def reference_row(rows: list[Row]) -> Row | None:
    """The row the others are compared with: torch fp32 (the float PyTorch model, first in every plan) when it
    ran, else the first float row that ran (a bare ONNX has no PyTorch row: its float ONNX Runtime row)."""
    return next((row for row in rows if row.status == "ok" and row.precision == "fp32"), None)


def check_rows(report: Report) -> None:
    """Fail (after the report is out) when a requested row ran and broke; a row skipped because its runtime is
    absent here is not a failure."""
    failed = [row.label for row in report.rows if row.status == "failed"]
    if failed:
        raise EdgeDepthError(f"{len(failed)} of {len(report.rows)} bench rows failed ({', '.join(failed)}); "
                             "the reasons are listed under the table")


def plan_rows(device: str, backends: tuple[str, ...] | None = None) -> list[tuple[str, str]]:
    """(backend, precision) rows to measure on `device`, restricted to `backends` when given."""
    plan = PLANS[device]
    unknown = set(backends or ()) - {backend for backend, _ in plan}
    if unknown:
        names = ", ".join(dict.fromkeys(b for b, _ in plan))
        raise EdgeDepthError(f"backend(s) {', '.join(sorted(unknown))} not benched on {device}; choose among {names}")
    return [(b, p) for b, p in plan if backends is None or b in backends]


def require_cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        raise RuntimeMissing("device cuda: no CUDA device is visible to PyTorch on this machine; bench on the cpu")


class ArtifactCache:
    """Exports, quantizes and builds on demand under `engines/<model fingerprint>/`; a finished artifact has its
    sidecar. A built engine's folder is named after the hash of the ONNX it came from, so a new source never
    reuses a stale engine."""

    def __init__(self, source: ModelSource, data: Path, options: BenchOptions):
        self.source, self.data, self.options = source, data, options
        calibration = f"{data.resolve()}|{options.calibration_samples}"
        self.key = source.fingerprint()[:16]
        self.calibration_key = hashlib.sha256(calibration.encode()).hexdigest()[:8]
        self.folder = options.engines / self.key

    def onnx(self, precision: str, target: str) -> Path:
        from .export import export_onnx

        given = self.options.onnx_sources.get(target if precision == "int8" else "fp32")
        if given is not None:
            return Path(given)
        float_onnx = self.folder / "model.onnx"
        if not is_finished(float_onnx):
            self.check_writable("float ONNX")
            export_onnx(self.source, float_onnx, data=self.data)
        if precision != "int8":
            return float_onnx
        from .quantize import quantize_onnx

        int8_onnx = self.folder / f"model.int8.{target}.{self.calibration_key}.onnx"
        if not is_finished(int8_onnx):
            self.check_writable(f"INT8 ONNX ({target} flavour)")
            quantize_onnx(float_onnx, self.data, int8_onnx, target=target, samples=self.options.calibration_samples)
        return int8_onnx

    def artifact(self, backend, precision: str, device: str) -> Path | None:
        """The built artifact for a row (for torch: the file the model came from, None for code alone)."""
        if backend.NAME == "torch":
            return self.source.files[0] if self.source.files else None
        source = self.onnx(precision, backend.NAME)
        if not source.is_file():
            raise EdgeDepthError(f"ONNX {source} not found; export or quantize it again")
        on_device = "" if device == "cpu" else f"-{device}"
        out_dir = self.folder / f"{backend.NAME}-{precision}-{sha256(source)[:12]}{on_device}"
        cached = [p for p in out_dir.glob("*") if is_finished(p)] if out_dir.is_dir() else []
        if cached:
            return cached[0]
        self.check_writable(f"{backend.NAME} {precision} build")
        return backend.build(source, out_dir, BuildOptions(device=device, precision=precision, cpu=self.options.cpu))

    def load(self, backend, artifact: Path | None, options: LoadOptions):
        """A runner for the row. The torch row runs a copy of the source's module, made inside the row's memory
        span so its weights count as the other rows' do."""
        if backend.NAME == "torch":
            return backend.load_module(copy.deepcopy(self.source.model), self.source.input_size, options)
        return backend.load(artifact, options)

    def check_writable(self, what: str) -> None:
        """Making an artifact needs the engines folder writable; reading cached ones does not."""
        if not is_writable_location(self.folder):
            raise EdgeDepthError(f"the engines folder {self.options.engines} is not writable, so the {what} this row "
                                 "needs cannot be made there; choose a writable engines folder")


def measure_row(row: Row, cache: ArtifactCache, eval_set: EvalSet, threads: int, options: BenchOptions) -> None:
    backend = usable_backend(row.backend, row.device)
    artifact = cache.artifact(backend, row.precision, row.device)
    row.artifact, row.artifact_mb = (str(artifact), _size_mb(artifact)) if artifact else (None, None)
    with PeakMemory(row.device, row.backend) as memory:
        runner = cache.load(backend, artifact, LoadOptions(device=row.device, precision=row.precision, cpu=options.cpu))
        with runner:
            row.settings = {"threads": threads, **runner.settings}
            row.predictions = eval_set.predict(runner.infer)
            row.latency_model, row.latency_e2e = time_runner(runner, eval_set, options)
    row.metrics = eval_set.score(row.predictions, cache.source.output_kind)  # outside the memory span: scoring is not the runtime's
    row.peak_memory_mb = memory.peak_mb


def time_runner(runner, eval_set: EvalSet, options: BenchOptions) -> tuple[Latency, Latency]:
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
    for i in range(-options.warmup, options.runs):  # i < 0: untimed warm-up of the same path
        start = time.perf_counter()
        with one_torch_thread():
            batch = preprocess(images[i % len(images)].rgb, eval_set.size, eval_set.preprocessing)
        _, seconds = runner.timed_infer(batch)
        if i >= 0:
            e2e_s.append(time.perf_counter() - start)
            model_s.append(seconds)
    return Latency.of(model_s), Latency.of(e2e_s)


def add_deltas(row: Row, reference: Row, eval_set: EvalSet, output_kind: str = "metric") -> None:
    """Metric deltas, fidelity and their breakdown against the reference row. Fidelity compares the outputs
    as they are (no alignment: both rows are the same model)."""
    if row.status != "ok":
        return
    row.deltas = {key: row.metrics[key] - reference.metrics[key] for key in METRIC_KEYS}
    row.fidelity = eval_set.fidelity(reference.predictions, row.predictions, output_kind)
    row.breakdown = eval_set.breakdown(row.predictions, reference.predictions, output_kind)


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


def _size_mb(artifact: Path) -> float:
    files = [artifact, artifact.with_suffix(".bin")] if artifact.suffix == ".xml" else [artifact]
    return sum(f.stat().st_size for f in files if f.is_file()) / 2**20
