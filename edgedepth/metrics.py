"""Depth accuracy on valid pixels inside an evaluation window: the standard metrics of the literature.

A pixel is scored when the mask says so, the ground truth is finite and lies inside the window
[min_depth, max_depth]; valid ground truth outside the window is excluded and counted (`excluded`), never
silently scored against a prediction that cannot reach it (DIODE's outdoor depth runs to the scanner's
350 m; a model with an 80 m range would be charged δ1 0.33 for a perfect prediction of a 300 m scene).
Predictions are clamped to the window first (the usual protocol: a ratio or logarithm needs a positive
prediction, and the window is the range the model claims). Over a dataset, `mean_metrics` averages
per-image values (each image weighs the same, whatever its number of valid pixels), which is how DIODE
and most depth benchmarks report; `pixel_metrics` pools pixels instead (for breakdowns by depth range).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import EdgeDepthError

METRIC_KEYS = ("mae", "rmse", "abs_rel", "sq_rel", "rmse_log", "log10", "delta1", "delta2", "delta3")
#: Metrics where larger is better; the others are errors (smaller is better).
HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}
#: Pixel counts reported beside the metrics: scored, and valid ground truth outside the window.
COUNT_KEYS = ("pixels", "excluded")
#: Upper edges (metres) of the ground-truth depth ranges every breakdown reports; the last range is open.
DEPTH_BIN_EDGES = (2.0, 5.0, 10.0, 20.0, 80.0)
#: The window when none is given: every positive depth.
NO_WINDOW = (1e-3, np.inf)


def valid_mask(gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of pixels with ground truth: mask != 0, gt finite and > 0."""
    gt = np.asarray(gt)
    valid = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gt.shape:
            raise EdgeDepthError(f"mask shape {mask.shape} differs from depth shape {gt.shape}")
        valid &= mask != 0
    return valid


def scored_mask(gt: np.ndarray, mask: np.ndarray | None, min_depth: float, max_depth: float) -> tuple[np.ndarray, int]:
    """(pixels scored: valid ground truth inside [min_depth, max_depth], count of valid pixels outside it)."""
    valid = valid_mask(gt, mask)
    with np.errstate(invalid="ignore"):
        inside = (gt >= min_depth) & (gt <= max_depth)
    scored = valid & inside
    return scored, int(np.count_nonzero(valid) - np.count_nonzero(scored))


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    min_depth: float = NO_WINDOW[0],
    max_depth: float | None = None,
) -> dict[str, float]:
    """Metrics of one prediction against its ground truth (same shape; leading 1-sized axes are dropped),
    with the counts of scored and excluded pixels."""
    pred = np.squeeze(np.asarray(pred, dtype=np.float64))
    gt = np.squeeze(np.asarray(gt, dtype=np.float64))
    if mask is not None:
        mask = np.squeeze(np.asarray(mask))
    if pred.shape != gt.shape:
        raise EdgeDepthError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    max_depth = np.inf if max_depth is None else max_depth
    scored, excluded = scored_mask(gt, mask, min_depth, max_depth)
    if not scored.any():
        raise EdgeDepthError(f"no valid ground-truth pixel inside the {min_depth:g}–{max_depth:g} m window to score "
                             "(all masked, ≤ 0, non-finite or outside the window)")
    p = pred[scored]
    if not np.isfinite(p).all():
        raise EdgeDepthError("prediction holds NaN or Inf on valid pixels; the model or its input is broken")
    return {**pixel_metrics(np.clip(p, min_depth, max_depth), gt[scored]), "pixels": int(p.size), "excluded": excluded}


def pixel_metrics(p: np.ndarray, g: np.ndarray) -> dict[str, float]:
    """The metrics over paired pixel arrays, pooled: predictions `p` (already clamped, > 0), ground truth `g`."""
    return metrics_from_sums(pixel_sums(p, g))


def pixel_sums(p: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The sums every metric is computed from (`metrics_from_sums`): sums of disjoint pixel sets add up, so
    pooled metrics of a dataset can be built from its parts (chunks of images, ranks, depth ranges)."""
    p, g = np.asarray(p, dtype=np.float64), np.asarray(g, dtype=np.float64)
    ratio = np.maximum(p / g, g / p)
    err = p - g
    log_err = np.log(p) - np.log(g)
    return np.array([p.size, np.abs(err).sum(), (err**2).sum(), (np.abs(err) / g).sum(), (err**2 / g).sum(),
                     (log_err**2).sum(), np.abs(log_err).sum() / np.log(10), (ratio < 1.25).sum(),
                     (ratio < 1.25**2).sum(), (ratio < 1.25**3).sum()])


def metrics_from_sums(sums: np.ndarray) -> dict[str, float]:
    n, abs_err, sq_err, abs_rel, sq_rel, log_sq, log10_abs, d1, d2, d3 = (float(v) for v in sums)
    return {
        "mae": abs_err / n,
        "rmse": float(np.sqrt(sq_err / n)),
        "abs_rel": abs_rel / n,
        "sq_rel": sq_rel / n,
        "rmse_log": float(np.sqrt(log_sq / n)),
        "log10": log10_abs / n,
        "delta1": d1 / n,
        "delta2": d2 / n,
        "delta3": d3 / n,
    }


def mean_metrics(per_image: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-image metrics → their mean over images (each image weighs the same); pixel counts are summed."""
    rows = list(per_image)
    if not rows:
        raise EdgeDepthError("no image was scored; the data folder holds no valid sample")
    means = {key: float(np.mean([row[key] for row in rows])) for key in METRIC_KEYS}
    return {**means, **{key: int(sum(row[key] for row in rows)) for key in COUNT_KEYS if all(key in row for row in rows)}}


#: Tail percentiles that add up over parts (images, chunks, ranks), where percentiles themselves do not: a fixed
#: histogram of |error| in metres, ERROR_BINS_PER_DECADE log-spaced bins from 0.1 mm to 1 km, one bin below
#: and one above. A percentile read from it (`histogram_percentile`) is the upper edge of the bin holding it:
#: never below the exact value, at most 10^(1/200) − 1 = 1.2 % above it (or 0.1 mm, below the floor). At 50
#: bins a decade (4.7 %), float and INT8 of the demo-recipe model read the same p95 in every depth range.
ERROR_BINS_PER_DECADE = 200
ERROR_EDGES = np.logspace(-4, 3, 7 * ERROR_BINS_PER_DECADE + 1)
#: The upper edge of each bin of `error_histogram`: bin 0 holds [0, 0.1 mm), the last [1 km, ∞).
ERROR_BIN_TOPS = np.append(ERROR_EDGES, np.inf)


def error_histogram(abs_error: np.ndarray) -> np.ndarray:
    """Counts of |error| (metres, ≥ 0) per bin of ERROR_BIN_TOPS; histograms of disjoint pixel sets add up."""
    bins = np.searchsorted(ERROR_EDGES, np.ravel(abs_error), side="right")
    return np.bincount(bins, minlength=len(ERROR_BIN_TOPS)).astype(np.int64)


def histogram_percentile(counts: np.ndarray, q: float) -> float:
    """The q-th percentile (0 < q ≤ 100) of the values an `error_histogram` counted, as the upper edge of the bin
    holding it (ERROR_EDGES' resolution); NaN for an empty histogram."""
    total = int(np.sum(counts))
    if total == 0:
        return float("nan")
    rank = max(1, int(np.ceil(q / 100 * total)))  # the rank-th smallest value, as numpy's "inverted_cdf" method
    return float(ERROR_BIN_TOPS[np.searchsorted(np.cumsum(counts), rank)])
