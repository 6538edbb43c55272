"""Near-range and tail errors: p95/p99 |error| and the worst image, per ground-truth depth range.

A 10 % error at 1 m matters far more to a robot than at 40 m, and a mean hides the pixels that make it brake
(or not). Per depth range of the breakdown (evaluation.DEPTH_BIN_EDGES: 0–2 m and 2–5 m are where robots
stop), `Tails` holds a histogram of |error| in metres (metrics.error_histogram, so percentiles add up over
images, chunks and ranks; resolution there) and the worst image's mean |error|: the largest over the images
that see that range, an image seeing it when at least WORST_MIN_SHARE of its scored pixels lie in it (a
sliver of a few pixels is noise, not a view of the range). Against ground truth the error is prediction −
ground truth; for fidelity, candidate − float, ranged by the ground truth (or by float's depth without it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..metrics import DEPTH_BIN_EDGES, ERROR_BIN_TOPS, error_histogram, histogram_percentile

#: Share of an image's scored pixels that must lie in a range for the image to count there as the worst.
WORST_MIN_SHARE = 0.01
#: Ranges that have figure names (`Tails.figures`), by index into the breakdown's ranges: where robots stop.
NAMED_RANGES = {"near": 0, "mid": 1}
#: Percentiles reported per range.
PERCENTILES = (95, 99)
RANGES = len(DEPTH_BIN_EDGES) + 1
_EDGES = (0.0, *DEPTH_BIN_EDGES, np.inf)


def range_label(index: int) -> str:
    """"0–2 m", ..., "> 80 m": the breakdown's name of depth range `index`."""
    lo, hi = _EDGES[index], _EDGES[index + 1]
    return f"> {lo:g} m" if np.isinf(hi) else f"{lo:g}–{hi:g} m"


@dataclass
class Tails:
    """Per depth range: `counts` (ranges × error bins) of |error| and `worst`, the largest per-image mean
    |error| (m; NaN where no image counted). Tails of disjoint images add (`+`)."""

    counts: np.ndarray
    worst: np.ndarray

    @classmethod
    def empty(cls) -> Tails:
        return cls(np.zeros((RANGES, len(ERROR_BIN_TOPS)), dtype=np.int64), np.full(RANGES, np.nan))

    @classmethod
    def of_image(cls, error: np.ndarray, depth: np.ndarray) -> Tails:
        """One image's tails from its scored pixels: `error` (m, signed or not) and the depth (m) that ranges
        each pixel, in the breakdown's (lo, hi] ranges."""
        error, depth = np.abs(np.ravel(error)).astype(np.float64), np.ravel(depth)
        ranges = np.digitize(depth, DEPTH_BIN_EDGES, right=True)
        tails = cls.empty()
        for index in np.unique(ranges):
            here = error[ranges == index]
            tails.counts[index] = error_histogram(here)
            if here.size >= WORST_MIN_SHARE * error.size:
                tails.worst[index] = here.mean()
        return tails

    def __add__(self, other: Tails) -> Tails:
        return Tails(self.counts + other.counts, np.fmax(self.worst, other.worst))

    def percentile(self, index: int, q: float) -> float:
        return histogram_percentile(self.counts[index], q)

    def rows(self) -> list[dict[str, Any]]:
        """A row per range holding pixels: its bounds, pixels, p95/p99 |error| and the worst image's mean (m)."""
        rows = []
        for index in range(RANGES):
            pixels = int(self.counts[index].sum())
            if pixels:
                lo, hi = _EDGES[index], _EDGES[index + 1]
                rows.append({"range": range_label(index), "min_m": lo, "max_m": None if np.isinf(hi) else hi, "pixels": pixels,
                             **{f"p{q}_m": self.percentile(index, q) for q in PERCENTILES},
                             "worst_mae_m": None if np.isnan(self.worst[index]) else float(self.worst[index])})
        return rows

    def figures(self, suffix: str = "") -> dict[str, float | None]:
        """The named ranges' figures for gates and tables: near_p95, near_p99, near_worst, mid_..., each name
        followed by `suffix` (e.g. "_vs_float"); None where the range holds no pixel."""
        found: dict[str, float | None] = {}
        for name, index in NAMED_RANGES.items():
            seen = bool(self.counts[index].sum())
            for q in PERCENTILES:
                found[f"{name}_p{q}{suffix}"] = self.percentile(index, q) if seen else None
            found[f"{name}_worst{suffix}"] = None if np.isnan(self.worst[index]) else float(self.worst[index])
        return found
