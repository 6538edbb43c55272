"""`quantize_judged`: quantize, judged on held-out images through the target's runtime (measure.judge), and with a
budget, the layers INT8 hurts most kept float until the budget holds (NNCF's `quantize_with_accuracy_control`
is the anchor: the budget takes its judge, the transform stays a transform).

The sidecar then records who judged (runtime, device, why), what the chosen model measured (scores, deltas,
fidelity, breakdown, latency), the calibration coverage of the held-out data, and, with a budget, every trial.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..calibration import CalibrationSet, CalibrationWarning
from ..data.split import Split
from ..errors import EdgeDepthError
from ..measure.heldout import EvalSet, Window
from ..measure.judge import Judge
from ..progress import Progress, counter, silent
from ..sources import ModelSource
from . import budget as budget_search
from . import coverage as calibration_coverage
from .budget import Budget
from .transform import Quantization, calibration_set, check_options, load_source, quantize

#: Held-out images a candidate is judged on (a stratified, seeded pick when there are more): enough for stable
#: deltas, few enough that DIODE's 771 val images do not make each budget trial minutes long.
HELD_OUT_IMAGES = 64
#: Held-out images the per-layer sensitivity sweep runs (one ONNX Runtime session per quantized layer), and how
#: many of the ranked layers the sidecar lists.
SENSITIVITY_IMAGES, SENSITIVITY_LISTED = 8, 20


def quantize_judged(float_onnx: str | os.PathLike | ModelSource, calibration: CalibrationSet, output: str | os.PathLike, judge: Judge,
                    budget: Budget | None = None, *, target: str = "openvino", method: str = "minmax", engine: str = "ort",
                    keep_float: Sequence[str] = (), keep_float_slow: bool = False,
                    manifest: str | os.PathLike | None = None, progress: Progress = silent) -> tuple[Path, dict[str, Any]]:
    """`quantize`, with the chosen model judged by `judge`; with `budget`, the fewest most sensitive layers kept
    float for it to hold (refused in one line when even all float does not). Returns (output, its judgement)."""
    with Quantization(float_onnx, calibration, output, target, method, engine, keep_float, manifest, progress) as run:
        full_int8 = run.write(run.keep)
        if keep_float_slow:
            full_int8 = run.keep_slow_layers_float(full_int8)
        coverage = _coverage(run, full_int8, judge, progress)
        predictions, latency = judge.run(full_int8)
        latencies = {"int8_before_budget": latency, "int8": latency}
        current = judge.compare(predictions)
        chosen, record = full_int8, {"coverage": coverage}
        if budget is not None:
            try:
                result = _search(run, judge, budget, full_int8, current, record, progress)
            except EdgeDepthError as exc:  # name the calibration's weak spots beside the miss
                raise EdgeDepthError(f"{exc.message}; worst-covered layers: {calibration_coverage.worst_layers(coverage)}")
            run.record["keep_float"]["budget"] = result.kept
            record["budget"] = {**budget.record(), "checked_on": "95 % bounds of the per-image values",
                                "candidates": "quantized layers, most sensitive first", "trials": result.trials,
                                "judged_by": judge.record["runtime"]}
            if result.kept:
                chosen = run.write(run.keep + result.kept)
                predictions, latencies["int8"] = judge.run(chosen)
        judgement = judge.judgement(predictions, latencies)
        judgement.update(verdict({**judgement["deltas"], **judgement["fidelity"]}))
        record["evaluation"] = judgement
        run.publish(chosen, record)
    return run.output, judgement


def quantize_on_data(float_onnx: str | os.PathLike, data: str | os.PathLike | Split, output: str | os.PathLike, *,
                     target: str = "openvino", samples: int = 128, seed: int = 0, budget: Budget | None = None,
                     min_depth: float | None = None, max_depth: float | None = None, resolution: str = "ground-truth",
                     **options: Any) -> tuple[Path, dict[str, Any] | None]:
    """What `edgedepth quantize` runs: calibrate on `samples` images of the data's pool, judge on up to
    HELD_OUT_IMAGES of its held-out images through the target's runtime (`quantize_judged`; `options` are its
    keywords). A folder with no held-out image gives the INT8 model unjudged (None), unless a budget needs them."""
    source = load_source(Path(float_onnx))
    check_options(source, target, options.get("method", "minmax"), options.get("engine", "ort"), options.get("keep_float", ()))
    split = Split.of(data)
    calibration = calibration_set(source, split, samples, seed)
    window = Window.of(source.spec.depth, min_depth, max_depth)
    held_out = EvalSet.held_out(split, source.spec, window, HELD_OUT_IMAGES, seed, resolution)
    if not len(held_out):
        if budget is not None:
            raise EdgeDepthError(f"an accuracy budget needs held-out images with ground truth inside {window.min_depth:g}–"
                                 f"{window.max_depth:g} m, and {split.root} has none ({split.policy})")
        options.pop("progress", None)
        return quantize(source, calibration, output, target=target, **options), None
    judge = Judge.for_target(held_out, source.artifact, target)
    return quantize_judged(source, calibration, output, judge, budget, target=target, **options)


def verdict(current: dict[str, float]) -> dict[str, Any]:
    """The default budget's verdict on a comparison (what every summary states)."""
    default = Budget()
    return {"default_budget": default.record(), "meets_default_budget": default.holds(current),
            "default_budget_misses": default.misses(current)}


def _coverage(run: Quantization, full_int8: Path, judge: Judge, progress: Progress) -> dict[str, Any]:
    """Calibration coverage of the held-out images; a warning when some tensor is not covered."""
    counter(progress, "quantize: calibration coverage", None)
    coverage = calibration_coverage.measure(run.source.artifact, full_int8, judge.held_out.batches)
    if coverage["uncovered"]:
        warnings.warn(
            f"the calibration set does not cover the held-out data: {len(coverage['uncovered'])} quantized "
            f"tensor(s) saturate on more than {coverage['uncovered_share']:.0%} of their held-out values, worst "
            f"{calibration_coverage.worst_layers(coverage)}; calibrate on more or more varied samples, try "
            "the percentile or entropy method, or keep those layers float", CalibrationWarning, stacklevel=4)
    return coverage


def _search(run: Quantization, judge: Judge, budget: Budget, full_int8: Path, current: dict[str, float],
            record: dict[str, Any], progress: Progress) -> budget_search.SearchResult:
    def rank() -> list[str]:
        candidates = [name for name in budget_search.quantized_layers(full_int8) if name not in run.keep]
        probe = judge.held_out.batches[:SENSITIVITY_IMAGES]
        advance = counter(progress, f"quantize: sensitivity of {len(candidates)} layers", len(candidates))
        ranked = budget_search.rank_by_sensitivity(run.source.artifact, full_int8, candidates, probe, run.source.spec, advance)
        record["sensitivity"] = {
            "measure": "fall in the output's mean relative deviation from float when the layer alone is float "
                       f"(ONNX Runtime, {len(probe)} held-out images)",
            "most_sensitive": [{"layer": name, "sensitivity": round(value, 6)} for name, value in ranked[:SENSITIVITY_LISTED]],
        }
        return [name for name, _ in ranked]

    advance = counter(progress, f"quantize: accuracy-budget search (judged by {judge.backend})", None)

    def try_keeping(extra: list[str]) -> dict[str, float]:
        advance()
        return judge.compare(judge.run(run.write(run.keep + extra), timed=False)[0])

    return budget_search.search(rank, budget, try_keeping, current)
