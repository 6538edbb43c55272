"""Depth-edge accuracy: iBims-1's depth boundary errors, and the error in a band around depth edges.

INT8 smears a depth edge into a ramp, and mean metrics hardly see it: edges are a few per cent of the pixels.
Two measures, each of one prediction against a target (ground truth, or the float model's output when judging
fidelity):

- Depth boundary errors (Koch et al., "Evaluation of CNN-based single-image depth estimation methods",
  ECCV-W 2018, the iBims-1 benchmark), in pixels, as its evaluation script computes them: with D_t the
  distance of every pixel to the nearest target edge and D_p to the nearest predicted edge, truncated at
  θ = DBE_TRUNCATION_PX, *accuracy* is the mean D_t over the predicted edges lying within θ of a target edge
  (how far the edges drawn are from true ones), *completeness* the mean of min(D_t, θ) over predicted edges
  and min(D_p, θ) over target edges together (edges missed and edges invented both count). With no predicted
  edge within θ both are θ; with no target edge there is nothing to score (NaN).
- Band error: the metrics of metrics.py over the valid pixels within `band_px` of a target edge (a constant
  offset of c metres reads there as a mean |error| of c, though it moves no edge).

Edges are found the same way in both maps (`depth_edges`), so a prediction equal to its target scores exactly
0. iBims-1 annotates its ground-truth edges by hand and runs Canny (σ = √2) on the min–max normalised
prediction; with no annotation here, Canny runs on both, on log depth: its gradient is the relative change of
depth, so one threshold is a relative depth jump (EDGE_JUMP), the same for a chair at 1 m as for a wall at
40 m, and a constant scale moves no edge. Both maps are seen through the target's validity (normalised
smoothing: invalid pixels take no part), so the boundary of the sky or of a dropout is no edge. What the
detector finds are depth discontinuities and, where a steep surface meets a flat one (a floor seen at a
grazing angle meeting a wall), creases whose log-depth slope changes as much: both are found alike in the
two maps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from functools import lru_cache

import numpy as np

from ..errors import EdgeDepthError
from ..metrics import metrics_from_sums, pixel_sums

#: Canny's smoothing, iBims-1's: σ = √2 pixels.
EDGE_SIGMA = math.sqrt(2)
#: Hysteresis thresholds as the relative depth jump of a sharp step that just reaches them: an edge holds a step
#: of at least 10 % (a box 1 m in front of a wall 1.1 m away), and is traced on along steps of 5 %.
EDGE_JUMP = 0.10
EDGE_JUMP_WEAK = 0.05
#: Pixels next to a large invalid region that hold no edge (`_away_from_holes`): the reach of the smoothing (3σ)
#: and of Sobel's kernel (1). Measured on an outdoor scan at 192×256: the ground's log-depth gradient, cut by the
#: window at 80 m, peaked 3 pixels inside it.
HOLE_MARGIN_PX = 3 * EDGE_SIGMA + 1
#: iBims-1's neighbourhood θ (pixels): farther edges are not the same edge, and a distance counts at most this.
DBE_TRUNCATION_PX = 10.0
#: Half-width (pixels) of the band around target edges: the reach of a σ = √2 blur (2σ ≈ 2.8 pixels).
EDGE_BAND_PX = 3
#: Keys of `edge_errors`: boundary errors in pixels, then the band's metrics (metres for mae, unitless abs_rel).
EDGE_KEYS = ("edge_acc_px", "edge_comp_px", "edge_band_mae", "edge_band_abs_rel", "edge_pixels")
#: Relative margin by which a pixel must beat its neighbour along the gradient to be the thin edge: a step
#: between two pixels gives both the same response up to rounding, and it must fall on the same one whatever
#: the rounding, so the first pixel along the axis wins a tie.
_TIE = 1e-6
#: Neighbour offsets (row, column) along each of the four quantised gradient directions: 0°, 45°, 90°, 135°.
_DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))


def depth_edges(depth: np.ndarray, valid: np.ndarray | None = None) -> np.ndarray:
    """H×W bool: Canny's edges of log `depth` seen through `valid` (None: every pixel with finite depth > 0).

    Smoothing is normalised (Gaussian-weighted mean over valid pixels only), gradients are Sobel's, thin edges
    the local maxima along the gradient, kept by hysteresis (EDGE_JUMP strong, EDGE_JUMP_WEAK weak, 8-connected),
    and only on valid pixels."""
    from scipy import ndimage

    depth = np.asarray(depth, dtype=np.float64)
    usable = np.isfinite(depth) & (depth > 0)
    valid = usable if valid is None else usable & np.asarray(valid, dtype=bool).reshape(depth.shape)
    magnitude, gx, gy = _gradient(np.log(np.where(valid, depth, 1.0)), valid)
    thin = _thin(magnitude, gx, gy, valid) & _away_from_holes(valid)
    unit = _step_response()
    strong = thin & (magnitude >= math.log1p(EDGE_JUMP) * unit)
    weak = thin & (magnitude >= math.log1p(EDGE_JUMP_WEAK) * unit)
    labels, _ = ndimage.label(weak, structure=np.ones((3, 3), dtype=bool))
    kept = np.unique(labels[strong])
    return np.isin(labels, kept[kept > 0])


def _gradient(log_depth: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(|∇|, ∂/∂column, ∂/∂row) of the normalised-smoothed log depth, per pixel."""
    from scipy import ndimage

    weight = ndimage.gaussian_filter(valid.astype(np.float64), EDGE_SIGMA, mode="nearest")
    total = ndimage.gaussian_filter(np.where(valid, log_depth, 0.0), EDGE_SIGMA, mode="nearest")
    smooth = np.divide(total, weight, out=np.zeros_like(total), where=weight > 1e-9)
    gx = ndimage.sobel(smooth, axis=1, mode="nearest") / 8  # Sobel's kernel sums to 8 × the per-pixel slope
    gy = ndimage.sobel(smooth, axis=0, mode="nearest") / 8
    return np.hypot(gx, gy), gx, gy


def _thin(magnitude: np.ndarray, gx: np.ndarray, gy: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: valid pixels whose gradient magnitude peaks along the gradient's direction
    between two valid neighbours. Where a steep ramp (the ground towards the horizon) meets invalid pixels, its
    last valid pixel peaks for want of a neighbour, not at an edge; with both neighbours required it does not."""
    sector = np.round(np.mod(np.arctan2(gy, gx), np.pi) / (np.pi / 4)).astype(int) % 4
    h, w = magnitude.shape
    padded, padded_valid = np.pad(magnitude, 1), np.pad(valid, 1)
    peak = np.zeros(magnitude.shape, dtype=bool)
    for index, (dy, dx) in enumerate(_DIRECTIONS):
        ahead, behind = (slice(1 + dy, 1 + dy + h), slice(1 + dx, 1 + dx + w)), (slice(1 - dy, 1 - dy + h), slice(1 - dx, 1 - dx + w))
        peak |= ((sector == index) & padded_valid[ahead] & padded_valid[behind]
                 & (magnitude > padded[behind] * (1 + _TIE)) & (magnitude >= padded[ahead] * (1 - _TIE)))
    return peak & valid & (magnitude > 0)


def _away_from_holes(valid: np.ndarray) -> np.ndarray:
    """Pixels farther than HOLE_MARGIN_PX from an invalid region at least 3 pixels across (sky, the far side of
    the window, a large dropout). Next to one, smoothing sees one side only and flattens a ramp, whose gradient
    then peaks a few pixels inside: an edge of the mask, not of the depth. Specks (a sensor's single-pixel
    dropouts) leave their neighbours eligible: a margin around each would blank a third of an indoor scan."""
    from scipy import ndimage

    regions = ndimage.binary_opening(~valid, structure=np.ones((3, 3), dtype=bool))
    if not regions.any():
        return np.ones(valid.shape, dtype=bool)
    return ndimage.distance_transform_edt(~regions) > HOLE_MARGIN_PX


@lru_cache(maxsize=1)
def _step_response() -> float:
    """The detector's gradient magnitude at a sharp step of 1 in log depth: thresholds are steps times this."""
    step = np.zeros((16, 16))
    step[:, 8:] = 1.0
    return float(_gradient(step, np.ones(step.shape, dtype=bool))[0].max())


def boundary_errors(predicted: np.ndarray, target: np.ndarray, truncation: float = DBE_TRUNCATION_PX) -> tuple[float, float]:
    """(accuracy, completeness) in pixels of `predicted` edges against `target` edges (module docstring)."""
    from scipy import ndimage

    predicted, target = np.asarray(predicted, dtype=bool), np.asarray(target, dtype=bool)
    if not target.any():
        return math.nan, math.nan
    to_target = ndimage.distance_transform_edt(~target)
    near = predicted & (to_target < truncation)
    if not near.any():
        return truncation, truncation
    to_predicted = ndimage.distance_transform_edt(~predicted)
    accuracy = float(to_target[near].mean())
    charged = np.minimum(to_target[predicted], truncation).sum() + np.minimum(to_predicted[target], truncation).sum()
    return accuracy, float(charged / (predicted.sum() + target.sum()))


def edge_band(edges: np.ndarray, valid: np.ndarray, band_px: float = EDGE_BAND_PX) -> np.ndarray:
    """H×W bool: valid pixels within `band_px` (Euclidean) of an edge pixel."""
    from scipy import ndimage

    if not edges.any():
        return np.zeros(edges.shape, dtype=bool)
    return valid & (ndimage.distance_transform_edt(~edges) <= band_px)


def edge_errors(prediction: np.ndarray, target: np.ndarray, valid: np.ndarray | None = None,
                band_px: float = EDGE_BAND_PX) -> dict[str, float]:
    """EDGE_KEYS of one prediction against its target (H×W depths in metres, > 0 where `valid`; clamp them
    into the evaluation window first): boundary errors of their edges, and the mean |error| (m) and AbsRel
    within `band_px` of the target's edges, with the count of target edge pixels. Without a target edge every
    value but the count is NaN (`mean_edge_errors` leaves such an image out)."""
    prediction, target = np.asarray(prediction, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if prediction.shape != target.shape:
        raise EdgeDepthError(f"prediction shape {prediction.shape} differs from the target's {target.shape}")
    scored = np.isfinite(target) & (target > 0)
    valid = scored if valid is None else scored & np.asarray(valid, dtype=bool).reshape(target.shape)
    if not np.isfinite(prediction[valid]).all() or (prediction[valid] <= 0).any():
        raise EdgeDepthError("prediction holds values that are not positive finite depths on valid pixels; the model "
                             "or its input is broken")
    target_edges = depth_edges(target, valid)
    accuracy, completeness = boundary_errors(depth_edges(prediction, valid), target_edges)
    band = edge_band(target_edges, valid, band_px)
    if band.any():
        band_metrics = metrics_from_sums(pixel_sums(prediction[band], target[band]))
        mae, abs_rel = band_metrics["mae"], band_metrics["abs_rel"]
    else:
        mae = abs_rel = math.nan
    return {"edge_acc_px": accuracy, "edge_comp_px": completeness, "edge_band_mae": mae, "edge_band_abs_rel": abs_rel,
            "edge_pixels": int(target_edges.sum())}


def mean_edge_errors(per_image: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-image `edge_errors` → their mean over the images that have target edges (as iBims-1 averages);
    edge pixels summed. NaN values when no image has one."""
    rows = [row for row in per_image if row["edge_pixels"] > 0]
    means = {key: float(np.mean([row[key] for row in rows])) if rows else math.nan for key in EDGE_KEYS[:-1]}
    return {**means, "edge_pixels": int(sum(row["edge_pixels"] for row in rows))}
