"""Flicker on video: how much a depth prediction changes from one frame to the next beyond what the scene did.

A per-frame model's output trembles from frame to frame, and a planner reading it oscillates; INT8 can add to
it. Two measures, both on log depth, whose change is relative (0.01 is 1 %) and blind to a constant scale, so a
prediction that is consistently 10 % off does not flicker, and raw relative outputs compare without alignment
(a scale or shift that jumps per frame still counts, as it should):

- `temporal_error` (against ground truth): the mean over pixels and consecutive frame pairs of
  |Δ log prediction − Δ log ground truth|, the change of the prediction that the ground truth did not make.
- `flicker_ratio` (no ground truth, for a candidate such as INT8 beside its float model): the candidate's mean
  |Δ log| over the float model's, so 1.1 reads "INT8's output changes 10 % more from frame to frame".

Both are taken at fixed pixels, without warping one frame onto the next. Video-Depth-Anything's temporal
alignment error (TAE) reprojects each prediction with the ground-truth poses and intrinsics, and other work
warps with optical flow; here the ground truth's own change stands in for the camera's motion, which needs
neither. It is exact for a static camera; for a moving one an error that travels with the scene (an edge drawn
a pixel off in every frame) is charged where it crosses pixels, which stays small while the image moves by a
pixel or two a frame (data/sequences.py). The GT-free ratio is diluted by true motion (both outputs change
with the scene), so it is most telling on slow or static video. A value pools pixels over all pairs; the sums
([Σ |change|, pixels]) of disjoint pairs add up, so a long video can be measured a pair at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ..errors import EdgeDepthError


def _usable(*maps: np.ndarray) -> np.ndarray:
    """Pixels where every map holds a finite value > 0."""
    keep = np.ones(np.shape(maps[0]), dtype=bool)
    for values in maps:
        if np.shape(values) != keep.shape:
            raise EdgeDepthError(f"frames of shapes {np.shape(values)} and {keep.shape} differ; a sequence's frames share one size")
        keep &= np.isfinite(values) & (np.asarray(values) > 0)
    return keep


def change_sums(previous: np.ndarray, current: np.ndarray, valid: np.ndarray | None = None,
                previous_target: np.ndarray | None = None, current_target: np.ndarray | None = None) -> np.ndarray:
    """[Σ |Δ log|, pixels] between two frames: of the prediction alone, or, given the target's two frames, of
    the prediction's change minus the target's. Over pixels positive and finite in every map, and `valid`."""
    maps = [np.asarray(m, dtype=np.float64) for m in (previous, current)]
    targets = [] if previous_target is None else [np.asarray(m, dtype=np.float64) for m in (previous_target, current_target)]
    keep = _usable(*maps, *targets)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool).reshape(keep.shape)
    change = np.log(maps[1][keep]) - np.log(maps[0][keep])
    if targets:
        change -= np.log(targets[1][keep]) - np.log(targets[0][keep])
    return np.array([np.abs(change).sum(), change.size])


def mean_from_sums(sums: np.ndarray) -> float:
    total, pixels = (float(v) for v in sums)
    if pixels == 0:
        raise EdgeDepthError("no pixel is valid in two consecutive frames; a flicker needs two frames that overlap")
    return total / pixels


def temporal_error(predictions: Sequence[np.ndarray], targets: Sequence[np.ndarray],
                   valid: Sequence[np.ndarray] | None = None) -> float:
    """Mean |Δ log prediction − Δ log target| over consecutive frames (module docstring); `valid` per frame
    (a pair scores pixels valid in both frames)."""
    _check_lengths(predictions, targets, valid)
    sums = sum(change_sums(predictions[i - 1], predictions[i], _both(valid, i), targets[i - 1], targets[i])
               for i in range(1, len(predictions)))
    return mean_from_sums(sums)


def flicker_ratio(candidate: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                  valid: Sequence[np.ndarray] | None = None) -> float:
    """The candidate's mean frame-to-frame |Δ log| over the reference's, on the same pixels (module docstring):
    1 when neither changes, infinite when only the candidate does."""
    _check_lengths(candidate, reference, valid)
    pairs = range(1, len(candidate))
    mine, theirs = np.zeros(2), np.zeros(2)
    for i in pairs:
        keep = _usable(candidate[i - 1], candidate[i], reference[i - 1], reference[i])
        both = _both(valid, i)
        keep = keep if both is None else keep & both
        mine += change_sums(candidate[i - 1], candidate[i], keep)
        theirs += change_sums(reference[i - 1], reference[i], keep)
    return ratio_from_sums(mine, theirs)


def ratio_from_sums(candidate: np.ndarray, reference: np.ndarray) -> float:
    """`flicker_ratio` from the `change_sums` of each, summed over the same pairs and pixels."""
    mine, theirs = mean_from_sums(candidate), mean_from_sums(reference)
    if theirs == 0:
        return 1.0 if mine == 0 else math.inf
    return mine / theirs


def _both(valid: Sequence[np.ndarray] | None, i: int) -> np.ndarray | None:
    return None if valid is None else np.asarray(valid[i - 1], dtype=bool) & np.asarray(valid[i], dtype=bool)


def _check_lengths(a: Sequence[np.ndarray], b: Sequence[np.ndarray], valid: Sequence[np.ndarray] | None) -> None:
    if len(a) != len(b) or (valid is not None and len(valid) != len(a)):
        raise EdgeDepthError(f"{len(a)} frames against {len(b)}" + ("" if valid is None else f" and {len(valid)} masks")
                             + "; give one of each per frame")
    if len(a) < 2:
        raise EdgeDepthError(f"flicker needs at least 2 frames, not {len(a)}")
