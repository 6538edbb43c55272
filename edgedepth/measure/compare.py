"""The one distance between two outputs of a model, whoever asks: parity (export vs its source), fidelity (a
lower precision vs float), sensitivity (one layer kept float vs the rest INT8).

Polygraphy's `Comparator.run` then `compare_accuracy(compare_func=...)` is the anchor: outputs are produced
once, then compared by one function. Distances are kept as sums (`DistanceSums`) so parts (images, depth
ranges, ranks) add up; `distances` reads the figures from them.

Relative deviation divides by the reference, floored so near-zero outputs do not divide by ~0: metric depth by
the nearest depth the model claims (its min_depth), other outputs (inverse, relative: no depth range) by
RELATIVE_FLOOR of the reference's mean magnitude in that image. With `clamp`, metric depth is first clamped
into the window, as it is for ground truth: what a lower precision changes outside the range scored does not
count. Parity compares unclamped: an export fault outside the range is still a fault.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence

import numpy as np

from ..errors import EdgeDepthError
from ..spec import OutputKind

#: Floor of the relative deviation's denominator for outputs that are not metric depth, as a share of the
#: reference output's mean magnitude in that image.
RELATIVE_FLOOR = 1e-3
#: One-sided 95 % normal quantile. The held-out set is up to 64 images; below ~10 the bound is optimistic.
Z95 = statistics.NormalDist().inv_cdf(0.95)
#: The figures of a distance, as `distances` names them.
DISTANCE_KEYS = ("rel_deviation", "delta1_vs_float", "max_abs_diff", "mean_abs_diff", "max_rel_diff")
#: [pixels, Σ relative deviation, pixels within 1.25×, Σ|c − r|, max |c − r|, max relative deviation]: the
#: first four add over parts, the last two take the largest.
SUMS = 6


def distance_sums(candidate: np.ndarray, reference: np.ndarray, kind: OutputKind, min_depth: float,
                  max_depth: float | None = None, names: tuple[str, str] = ("the candidate", "the reference")) -> np.ndarray:
    """The sums of the distance between paired outputs (any shape); `max_depth` given: metric depth is clamped
    into [min_depth, max_depth] first. A NaN or Inf in either is refused, naming it (`names`)."""
    c, r = np.asarray(candidate, dtype=np.float64).ravel(), np.asarray(reference, dtype=np.float64).ravel()
    for values, name in ((c, names[0]), (r, names[1])):
        finite = np.isfinite(values)
        if not finite.all():
            raise EdgeDepthError(f"{name}'s output holds NaN or Inf ({1 - finite.mean():.0%} of its values); the model or "
                                 "its input is broken")
    if kind.metric:
        if max_depth is not None:
            c, r = np.clip(c, min_depth, max_depth), np.clip(r, min_depth, max_depth)
        floor = min_depth
    else:
        c, r = np.abs(c), np.abs(r)
        floor = max(RELATIVE_FLOOR * float(r.mean()), 1e-12)
    c_floored, r_floored = np.maximum(np.abs(c), floor), np.maximum(np.abs(r), floor)
    diff = np.abs(c - r)
    relative = diff / r_floored
    within = np.maximum(c_floored / r_floored, r_floored / c_floored) < 1.25
    return np.array([c.size, relative.sum(), within.sum(), diff.sum(), diff.max(initial=0.0), relative.max(initial=0.0)])


def merge_sums(a: np.ndarray | None, b: np.ndarray) -> np.ndarray:
    """The sums of two disjoint parts as one."""
    return b if a is None else np.array([*(a[:4] + b[:4]), max(a[4], b[4]), max(a[5], b[5])])


def distances(sums: np.ndarray) -> dict[str, float]:
    """DISTANCE_KEYS from `distance_sums`: mean relative deviation, share within 1.25× (δ1 with the reference as
    the truth), the largest and the mean |c − r|, the largest relative deviation."""
    n, deviation, within, abs_diff, largest, largest_relative = (float(v) for v in sums)
    return {"rel_deviation": deviation / n, "delta1_vs_float": within / n, "max_abs_diff": largest,
            "mean_abs_diff": abs_diff / n, "max_rel_diff": largest_relative}


def distance(candidate: np.ndarray, reference: np.ndarray, kind: OutputKind, min_depth: float,
             max_depth: float | None = None, names: tuple[str, str] = ("the candidate", "the reference")) -> dict[str, float]:
    """`distances` of one pair of outputs."""
    return distances(distance_sums(candidate, reference, kind, min_depth, max_depth, names))


def upper_bound(values: Sequence[float]) -> float:
    """Mean + 1.645 standard errors: the paired per-image value stays under it with 95 % confidence."""
    values = np.asarray(values, dtype=np.float64)
    spread = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean() + Z95 * spread)
