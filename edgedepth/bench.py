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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import artifact_files, is_finished, is_writable_location, sha256, tool_versions
from .backends import BuildOptions, CpuOptions, LoadOptions, runner_for, usable_backend
from .data.split import Split
from .errors import EdgeDepthError, RuntimeMissing
from .measure.breakdown import breakdown
from .measure.heldout import EvalImage, EvalSet, Window
from .measure.timing import Latency, PeakMemory, processor_name, time_runner
from .metrics import METRIC_KEYS
from .progress import Progress, silent
from .sources import ModelRequest, ModelSource, resolve_source

DEMO_CHECKPOINT = Path("runs/demo/model.pt")
DEMO_DATA = Path("runs/demo/data")
#: (backend, precision) rows per device, in table order; the first fp32 row that runs is the reference for deltas.
PLANS = {
    "cpu": [("torch", "fp32"), ("onnxruntime", "fp32"), ("onnxruntime", "int8"), ("openvino", "fp32"), ("openvino", "int8")],
    "cuda": [("torch", "fp32"), ("torch", "fp16"), ("onnxruntime", "fp32"), ("tensorrt", "fp16"), ("tensorrt", "int8")],
}


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
    alignment: str = "none (metric depth)"  # how outputs meet ground truth (spec.OutputKind.alignment)
    unit: str = "m"  # of the model's raw output (what fidelity's differences are in)
    resolution: str = "ground-truth"  # where ground truth is scored (measure.heldout.RESOLUTIONS)
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
    resolution: str = "ground-truth"  # where ground truth is scored (measure.heldout.RESOLUTIONS)
    engines: Path = Path("engines")
    #: ONNX already made for this model, used instead of exporting/quantizing: "fp32" → float ONNX,
    #: a quantize target ("openvino", "onnxruntime", "tensorrt") → its Q/DQ INT8 ONNX.
    onnx_sources: dict[str, Path] = field(default_factory=dict)


def run_bench(model: ModelSource | ModelRequest | str | os.PathLike | None = None,
              data: str | os.PathLike | Split | None = None, options: BenchOptions | None = None,
              progress: Progress = silent) -> Report:
    """Measure every row of the device's plan; rows whose runtime is absent come back skipped with a reason.
    `model`: a resolved source, what the user declared (`ModelRequest`), or a model file (default: the demo's
    checkpoint). The data folder is read once (`Split`) and every row is scored once, on the same images."""
    options = options or BenchOptions()
    if options.device not in PLANS:
        raise EdgeDepthError(f"unknown device {options.device!r}; choose cpu or cuda")
    if options.device == "cuda":
        require_cuda()
    plan = plan_rows(options.device, options.backends)
    if options.warmup < 0 or options.runs < 1 or options.images < 1:
        raise EdgeDepthError("bench needs warm-up runs ≥ 0, timed runs ≥ 1 and images ≥ 1")
    source = model if isinstance(model, ModelSource) else bench_source(model)
    source.require_float("bench")
    split = Split.of(data or DEMO_DATA)
    spec = source.spec
    window = Window.of(spec.depth, options.min_depth, options.max_depth)
    eval_set = EvalSet.held_out(split, spec, window, options.images, resolution=options.resolution)
    if not len(eval_set):
        raise EdgeDepthError(f"{split.root} has no held-out image with ground truth inside {window.min_depth:g}–"
                             f"{window.max_depth:g} m ({split.policy}); give a DIODE root with a val/ split, or a folder of "
                             "several scenes")
    threads = options.cpu.thread_count
    options = replace(options, cpu=replace(options.cpu, threads=threads))  # every runtime gets the same count
    cache = ArtifactCache(source, split, options, progress)
    rows: list[Row] = []
    for done, (backend, precision) in enumerate(plan):
        progress(f"bench: {backend} {precision}", done, len(plan))
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
    progress("bench", len(plan), len(plan))
    reference = reference_row(rows)
    if reference is not None:
        for row in rows:
            add_deltas(row, reference, eval_set)
    conditions = Conditions(
        model=source.origin, arch=spec.arch, input_size=list(spec.input_size), depth=spec.depth.record(),
        device=options.device, processor=processor_name(), cores=os.cpu_count() or 1, threads=threads, batch=1,
        warmup=options.warmup, runs=options.runs, data=str(split.root), images=len(eval_set), held_out=eval_set.describe(),
        versions=tool_versions(),
        memory="peak resident memory the row added over the process's at its start (Linux VmHWM, reset per row, "
        "after freed heap pages are returned)" if options.device == "cpu" else
        "peak CUDA memory allocated by torch during the row (the other runtimes allocate outside it: unmeasured)",
        output_kind=spec.output_kind, alignment=spec.output.alignment, unit=spec.unit, resolution=options.resolution,
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

    def __init__(self, source: ModelSource, split: Split, options: BenchOptions, progress: Progress = silent):
        self.source, self.split, self.options, self.progress = source, split, options, progress
        calibration = f"{split.root.resolve()}|{options.calibration_samples}"
        self.key = source.fingerprint()[:16]
        self.calibration_key = hashlib.sha256(calibration.encode()).hexdigest()[:8]
        self.folder = options.engines / self.key

    def onnx(self, precision: str, target: str) -> Path:
        from .export import export_onnx

        given = self.options.onnx_sources.get(target if precision == "int8" else "fp32")
        if given is not None:
            return Path(given)
        float_onnx = self.options.onnx_sources.get("fp32") or self.folder / "model.onnx"
        if not is_finished(float_onnx):
            self.check_writable("float ONNX")
            export_onnx(self.source, float_onnx, data=self.split, progress=self.progress)
        if precision != "int8":
            return float_onnx
        from .quantize import calibration_set, quantize
        from .quantize.transform import load_source

        int8_onnx = self.folder / f"model.int8.{target}.{self.calibration_key}.onnx"
        if not is_finished(int8_onnx):
            self.check_writable(f"INT8 ONNX ({target} flavour)")
            calibration = calibration_set(load_source(Path(float_onnx)), self.split, self.options.calibration_samples)
            quantize(float_onnx, calibration, int8_onnx, target=target, progress=self.progress)
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
            return runner_for(replace(self.source, model=copy.deepcopy(self.source.model)), options)
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
            row.latency_model, row.latency_e2e = time_runner(runner, eval_set, options.warmup, options.runs)
    row.metrics = eval_set.score(row.predictions)  # outside the memory span: scoring is not the runtime's
    row.peak_memory_mb = memory.peak_mb


def add_deltas(row: Row, reference: Row, eval_set: EvalSet) -> None:
    """Metric deltas, fidelity and their breakdown against the reference row. Fidelity compares the outputs
    as they are (no alignment: both rows are the same model)."""
    if row.status != "ok":
        return
    row.deltas = {key: row.metrics[key] - reference.metrics[key] for key in METRIC_KEYS}
    row.fidelity = eval_set.fidelity(reference.predictions, row.predictions)
    row.breakdown = breakdown(eval_set, row.predictions, reference.predictions)


def _size_mb(artifact: Path) -> float:
    return sum(f.stat().st_size for f in artifact_files(artifact) if f.is_file()) / 2**20
