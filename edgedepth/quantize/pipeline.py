"""quantize_onnx: float ONNX from `edgedepth export` + DIODE data → Q/DQ INT8 ONNX + manifest + sidecar.

Steps: check the source → pick the calibration set (seeded, stratified) → statistics (cached) → Q/DQ in
the target's flavour → measure calibration coverage on held-out scenes → optionally keep float the layers
slower in INT8 → optionally keep float the layers INT8 hurts most until the accuracy budget (ground truth
and fidelity to float) holds → score float and INT8 on held-out scenes through OpenVINO (deltas, fidelity,
breakdown by depth range and domain, latency) → write the model atomically, then its manifest and sidecar.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..artifacts import ensure_writable_parent, model_meta, publishing, read_sidecar, sha256
from ..calibration import CalibrationSet, CalibrationWarning, load_split
from ..data.transforms import Preprocessing
from ..errors import EdgeDepthError, first_line
from ..evaluation import ALIGNMENTS, DELTA_KEYS, FIDELITY_KEYS, EvalSet, Window, describe_samples
from ..onnx_graph import compute_nodes, is_quantized, load_graph
from . import budget as budget_search
from . import coverage as calibration_coverage
from .evaluate import Budget, latency_ms, predict_onnx
from .flavours import FLAVOURS, Flavour
from .nncf_engine import NncfQuantizer
from .ort_engine import OrtQuantizer
from .speed import slow_int8_layers

PRODUCER = "edgedepth-quantize"
SOURCE_PRODUCER = "edgedepth-export"
ENGINES = {"ort": OrtQuantizer, "nncf": NncfQuantizer}
#: Held-out images scored per candidate (a stratified, seeded pick when there are more): enough for stable
#: deltas, few enough that DIODE's 771 val images at 512² do not make each budget trial minutes long.
HELD_OUT_IMAGES = 64
#: Held-out images the per-layer sensitivity sweep runs (one ONNX Runtime session per quantized layer), and
#: how many of the ranked layers the sidecar lists.
SENSITIVITY_IMAGES, SENSITIVITY_LISTED = 8, 20


def quantize_onnx(
    onnx_path: str | os.PathLike,
    data: str | os.PathLike,
    output: str | os.PathLike,
    *,
    target: str = "openvino",
    samples: int = 128,
    method: str = "minmax",
    engine: str = "ort",
    keep_float: Sequence[str] = (),
    accuracy_budget: Budget | None = None,
    keep_float_slow: bool = False,
    seed: int = 0,
    manifest: str | os.PathLike | None = None,
    min_depth: float | None = None,
    max_depth: float | None = None,
) -> Path:
    """Write `output` (Q/DQ INT8 ONNX), its calibration manifest (default `<output stem>.calibration.json`)
    and its sidecar `<output>.json`; returns `output`. `min_depth`/`max_depth`: the evaluation window
    (default: the model's depth range)."""
    _check_choice("target", target, FLAVOURS)
    _check_choice("engine", engine, ENGINES)
    _check_choice(f"method (with engine {engine})", method, ENGINES[engine].methods)
    if target not in ENGINES[engine].targets:
        raise EdgeDepthError(f"engine {engine} cannot emit the {target} flavour (NNCF picks activation signedness "
                             "itself); use engine ort")
    source, output = Path(onnx_path), ensure_writable_parent(output)
    meta, graph = load_source(source)
    if source.resolve() == output.resolve():
        raise EdgeDepthError(f"output {output} would overwrite the float model; choose another output path")
    keep = resolve_patterns(keep_float, [node.name for node in graph.node])
    size = tuple(meta["input_size"])
    preprocessing = Preprocessing.from_record(meta.get("preprocessing"))
    window = Window.of(meta["depth"], min_depth, max_depth)
    pool, _ = load_split(data)
    calibration = CalibrationSet.pick(pool, samples, size, seed, root=Path(data), preprocessing=preprocessing)
    held_out = EvalSet.held_out(data, size, window, HELD_OUT_IMAGES, seed, preprocessing)
    held_out = held_out if len(held_out) else None
    if accuracy_budget is not None and held_out is None:
        raise EdgeDepthError(f"an accuracy budget needs held-out scenes with valid depth, but {data} has too few scenes")
    flavour = FLAVOURS[target]
    manifest_path = Path(manifest) if manifest else output.with_name(output.name.removesuffix(".onnx") + ".calibration.json")

    source_sha256 = sha256(source)
    with tempfile.TemporaryDirectory(prefix=".quantize.", dir=output.parent) as work:
        # ONNX Runtime's calibrator and quantize_static write `<stem>-inferred.onnx` beside the model path they
        # are given (quant_utils.load_model_with_shape_infer): a read-only source folder broke them, and two runs
        # from one source removed each other's file. The engines get a private copy; nothing is written beside
        # the user's input.
        private_source = Path(work) / "source.onnx"
        shutil.copyfile(source, private_source)
        with _progress(f"quantize: calibrating on {len(calibration)} samples", len(calibration)) as advance, _quiet():
            quantizer = ENGINES[engine](private_source, source_sha256, calibration, method, progress=advance)
        session = _Session(quantizer, flavour, source, Path(work), held_out, calibration.batch(0),
                           meta.get("output_kind", "metric"))
        final, record = session.run(keep, keep_float_slow, accuracy_budget)
        calibration.write_manifest(manifest_path)
        with publishing(output) as staging:
            os.replace(final, staging.artifact)
            staging.sidecar = {
                "producer": PRODUCER,
                **model_meta(meta),
                "precision": "int8",
                "target": target,
                "flavour": flavour.describe(),
                "engine": engine,
                "method": method,
                "samples": len(calibration),
                "samples_requested": samples,
                "seed": seed,
                "source_onnx": str(source),
                "source_onnx_sha256": source_sha256,
                "opset": meta.get("opset"),
                "dynamic": meta.get("dynamic", "none"),
                "calibration": {"manifest": str(manifest_path), **calibration.manifest,
                                "drawn_from": describe_samples(calibration.samples)},
                "statistics": {"cache": quantizer.stats_path and str(quantizer.stats_path),
                               "reused": quantizer.stats_cached},
                **record,
            }
    return output


class _Session:
    """One quantization run: writes candidate models into `work`, measures them, records what was decided."""

    def __init__(self, quantizer, flavour: Flavour, source: Path, work: Path, held_out: EvalSet | None, probe_batch,
                 output_kind: str = "metric"):
        self.quantizer, self.flavour, self.source, self.work = quantizer, flavour, source, work
        self.held_out, self.probe_batch = held_out, probe_batch  # probe_batch: one input for per-layer timing
        self.output_kind = output_kind  # how outputs meet ground truth (evaluation.ALIGNMENTS)
        self.written = 0

    def write(self, keep_float: Sequence[str]) -> Path:
        self.written += 1
        path = self.work / f"candidate{self.written}.onnx"
        with _quiet():
            self.quantizer.write(path, self.flavour, keep_float)
        return path

    def run(self, keep: list[str], keep_float_slow: bool, accuracy_budget: Budget | None) -> tuple[Path, dict[str, Any]]:
        """(the chosen INT8 model in `work`, the record of how it was chosen and what it measured)."""
        record: dict[str, Any] = {"keep_float": {"requested": list(keep), "slow_in_int8": [], "budget": []}}
        full_int8 = self.write(keep)
        if keep_float_slow:
            full_int8, keep = self._keep_slow_layers_float(full_int8, keep, record)
        if self.held_out is None:
            record["keep_float"]["all"] = keep
            record["evaluation"] = record["coverage"] = None
            record["evaluation_skipped"] = "the data folder has too few scenes to hold any out"
            return full_int8, record
        coverage = record["coverage"] = self._coverage(full_int8)
        reference, float_ms = predict_onnx(self.held_out, self.source, time_it=True)
        predictions, int8_ms = predict_onnx(self.held_out, full_int8, time_it=True)
        latency = {"float": float_ms, "int8_before_budget": int8_ms, "int8": int8_ms}
        current = self.held_out.compare(reference, predictions, self.output_kind)
        final = full_int8
        if accuracy_budget is not None:
            try:
                result = self._search(full_int8, keep, accuracy_budget, reference, current, record)
            except EdgeDepthError as exc:  # name the calibration's weak spots beside the miss
                raise EdgeDepthError(f"{exc.message}; worst-covered layers: {calibration_coverage.worst_layers(coverage)}")
            record["keep_float"]["budget"] = result.kept
            record["budget"] = {**accuracy_budget.record(), "checked_on": "95 % bounds of the per-image values",
                                "candidates": "quantized layers, most sensitive first", "trials": result.trials}
            keep = keep + result.kept
            if result.kept:
                final = self.write(keep)
                predictions, latency["int8"] = predict_onnx(self.held_out, final, time_it=True)
                current = self.held_out.compare(reference, predictions, self.output_kind)
        record["keep_float"]["all"] = keep
        record["evaluation"] = {
            "runtime": "openvino (CPU, f32 inference precision)",
            "held_out_samples": len(self.held_out),
            "held_out": self.held_out.describe(),
            "output_kind": self.output_kind,
            "alignment": ALIGNMENTS[self.output_kind],
            "float": self.held_out.score(reference, self.output_kind),
            "int8": self.held_out.score(predictions, self.output_kind),
            "deltas": {key: current[key] for key in DELTA_KEYS},
            "fidelity": {key: current[key] for key in FIDELITY_KEYS},
            "breakdown": self.held_out.breakdown(predictions, reference, self.output_kind),
            "default_budget": Budget().record(),
            "meets_default_budget": Budget().holds(current),
            "default_budget_misses": Budget().misses(current),
            "latency_ms": latency,
            "latency_note": "median of 20 batch-1 runs after warm-up on a shared CPU: indicative, noisy",
        }
        return final, record

    def _coverage(self, full_int8: Path) -> dict[str, Any]:
        """Calibration coverage of the held-out images; a warning when some tensor is not covered."""
        with _progress("quantize: calibration coverage", None):
            coverage = calibration_coverage.measure(self.source, full_int8, self.held_out.batches)
        if coverage["uncovered"]:
            warnings.warn(
                f"the calibration set does not cover the held-out data: {len(coverage['uncovered'])} quantized "
                f"tensor(s) saturate on more than {coverage['uncovered_share']:.0%} of their held-out values, worst "
                f"{calibration_coverage.worst_layers(coverage)}; calibrate on more or more varied samples, try "
                "the percentile or entropy method, or keep those layers float", CalibrationWarning, stacklevel=4)
        return coverage

    def _search(self, full_int8: Path, keep: list[str], accuracy_budget: Budget, reference, current: dict, record: dict):
        def rank() -> list[str]:
            candidates = [name for name in budget_search.quantized_layers(full_int8) if name not in keep]
            probe = self.held_out.batches[:SENSITIVITY_IMAGES]
            with _progress(f"quantize: sensitivity of {len(candidates)} layers", len(candidates)) as advance:
                ranked = budget_search.rank_by_sensitivity(self.source, full_int8, candidates, probe, advance)
            record["sensitivity"] = {
                "measure": "fall in the output's mean relative deviation from float when the layer alone is float "
                           f"(ONNX Runtime, {len(probe)} held-out images)",
                "most_sensitive": [{"layer": name, "sensitivity": round(value, 6)}
                                   for name, value in ranked[:SENSITIVITY_LISTED]],
            }
            return [name for name, _ in ranked]

        with _progress("quantize: accuracy-budget search", None) as advance:
            def try_keeping(extra: list[str]) -> dict[str, float]:
                advance(1)
                candidate = predict_onnx(self.held_out, self.write(keep + extra))[0]
                return self.held_out.compare(reference, candidate, self.output_kind)

            return budget_search.search(rank, accuracy_budget, try_keeping, current)

    def _keep_slow_layers_float(self, full_int8: Path, keep: list[str], record: dict) -> tuple[Path, list[str]]:
        """Keep float the layers OpenVINO profiles as slower in INT8, if the whole model then runs faster."""
        layers = self._compute_layers()
        slow = slow_int8_layers(self.source, full_int8, layers, self.probe_batch)
        profile = {"runtime": "openvino", "layers_profiled": len(layers), "slow_in_int8": slow, "kept": False}
        record["speed_profile"] = profile
        extra = [row["layer"] for row in slow if row["layer"] not in keep]
        if extra:
            candidate = self.write(keep + extra)
            before, after = latency_ms(full_int8, self.probe_batch), latency_ms(candidate, self.probe_batch)
            profile["latency_ms"] = {"all_int8": before, "slow_layers_float": after}
            if after < before:
                profile["kept"] = True
                record["keep_float"]["slow_in_int8"] = extra
                return candidate, keep + extra
        return full_int8, keep

    def _compute_layers(self) -> list[str]:
        return compute_nodes(load_graph(self.source))


def load_source(path: Path):
    """The float ONNX's sidecar and graph, refusing anything `edgedepth export` did not make."""
    import onnx

    if not path.is_file():
        raise EdgeDepthError(f"ONNX model {path} not found; export one with `edgedepth export CKPT -o {path.name}`")
    try:
        model = onnx.load(path)
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError... for a damaged file
        raise EdgeDepthError(f"{path} is not a valid ONNX model ({first_line(exc)}); re-export it with `edgedepth export`")
    meta = read_sidecar(path, required=False)
    if meta.get("producer") != SOURCE_PRODUCER or "input_size" not in meta:
        raise EdgeDepthError(
            f"{path} is not from edgedepth export (no {path.name}.json sidecar naming it); export the model with "
            f"`edgedepth export MODEL -o model.onnx` (an ONNX of your own too: `edgedepth export {path.name} "
            "--output-kind KIND -o model.onnx`) and quantize that"
        )
    if is_quantized(model):
        raise EdgeDepthError(f"{path} is already quantized; quantize the float ONNX from `edgedepth export`")
    return meta, model.graph


def resolve_patterns(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    """Node names matching any glob pattern (e.g. '/net/classifier/*'); a pattern matching nothing is an error."""
    chosen: list[str] = []
    for pattern in patterns:
        matches = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise EdgeDepthError(f"keep-float pattern {pattern!r} matches no node of the model; node names look like {names[0]!r}")
        chosen += [name for name in matches if name not in chosen]
    return chosen


def _check_choice(option: str, value: str, choices) -> None:
    if value not in choices:
        raise EdgeDepthError(f"{option} {value!r} is not one of: {', '.join(choices)}")


@contextlib.contextmanager
def _progress(description: str, total: int | None) -> Iterator[Callable[[int], None]]:
    """A rich progress bar on stderr; yields advance(n)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task(description, total=total)
        yield lambda n: progress.advance(task, n)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the calibrators' prints and ONNX Runtime's advisory log lines (they are not ours to show)."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
