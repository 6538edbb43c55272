"""Depth accuracy on valid pixels only: MAE, RMSE, AbsRel and the δ thresholds.

A pixel is valid when the mask says so, the ground truth is finite and > 0. Predictions are clamped to
[min_depth, max_depth] first (the usual evaluation protocol: a ratio needs a positive prediction).
Over a dataset, `mean_metrics` averages per-image values (each image weighs the same, whatever its number
of valid pixels), which is how DIODE and most depth benchmarks report.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .errors import EdgeDepthError

METRIC_KEYS = ("mae", "rmse", "abs_rel", "delta1", "delta2", "delta3")
#: Metrics where larger is better; the others are errors (smaller is better).
HIGHER_IS_BETTER = {"delta1", "delta2", "delta3"}


def valid_mask(gt: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Boolean mask of pixels that may be scored: mask != 0, gt finite and > 0."""
    gt = np.asarray(gt)
    valid = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != gt.shape:
            raise EdgeDepthError(f"mask shape {mask.shape} differs from depth shape {gt.shape}")
        valid &= mask != 0
    return valid


def depth_metrics(
    pred: np.ndarray,
    gt: np.ndarray,
    mask: np.ndarray | None = None,
    min_depth: float = 1e-3,
    max_depth: float | None = None,
) -> dict[str, float]:
    """Metrics of one prediction against its ground truth (same shape; leading 1-sized axes are dropped)."""
    pred = np.squeeze(np.asarray(pred, dtype=np.float64))
    gt = np.squeeze(np.asarray(gt, dtype=np.float64))
    if mask is not None:
        mask = np.squeeze(np.asarray(mask))
    if pred.shape != gt.shape:
        raise EdgeDepthError(f"prediction shape {pred.shape} differs from ground-truth shape {gt.shape}")
    valid = valid_mask(gt, mask)
    if not valid.any():
        raise EdgeDepthError("no valid ground-truth pixel to score (all masked, ≤ 0 or non-finite)")
    p, g = pred[valid], gt[valid]
    if not np.isfinite(p).all():
        raise EdgeDepthError("prediction holds NaN or Inf on valid pixels; the model or its input is broken")
    p = np.clip(p, min_depth, max_depth)
    ratio = np.maximum(p / g, g / p)
    err = p - g
    return {
        "mae": float(np.mean(np.abs(err))),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "abs_rel": float(np.mean(np.abs(err) / g)),
        "delta1": float(np.mean(ratio < 1.25)),
        "delta2": float(np.mean(ratio < 1.25**2)),
        "delta3": float(np.mean(ratio < 1.25**3)),
    }


def mean_metrics(per_image: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-image metrics → their mean over images (each image weighs the same)."""
    rows = list(per_image)
    if not rows:
        raise EdgeDepthError("no image was scored; the data folder holds no valid sample")
    return {key: float(np.mean([row[key] for row in rows])) for key in METRIC_KEYS}
