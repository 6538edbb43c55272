"""Where the error lives: metrics by ground-truth depth range and by domain, against ground truth and, with a
reference, the deltas and the fidelity to it.

A `Tally` is a scored prediction set: a row per image and pixel sums per depth range. Tallies of disjoint
images add up (`Tally.total`): chunks of a large held-out set, or the ranks of a torchrun job, give the
numbers one pass over every image gives.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.samples import Sample
from ..metrics import DEPTH_BIN_EDGES, mean_metrics, metrics_from_sums, pixel_sums
from ..spec import OutputKind, output_kind
from .compare import distances, merge_sums
from .heldout import EvalSet, Window, held_out_record, upsample

#: Metrics the breakdown lists per range and domain (the full set stays in the headline numbers).
BREAKDOWN_KEYS = ("mae", "rmse", "abs_rel", "delta1")


@dataclass
class ImageRow:
    sample: Sample
    metrics: dict[str, float]  # depth_metrics of the prediction (with its pixel counts)
    reference: dict[str, float] | None  # depth_metrics of the reference's prediction
    fidelity: dict[str, float] | None  # the distance to the reference's output over every pixel


@dataclass
class Tally:
    """A row per image and pixel sums per ground-truth depth range (bin index → {"metrics", "reference",
    "fidelity"} sums)."""

    images: list[ImageRow]
    ranges: dict[int, dict[str, np.ndarray]]
    window: Window
    kind: OutputKind
    resolution: str
    excluded: int = 0  # valid ground-truth pixels outside the window
    skipped: tuple[dict[str, str], ...] = ()  # images with no ground truth inside it, with the reason

    @classmethod
    def total(cls, parts: Iterable[Tally]) -> Tally:
        parts = list(parts)
        ranges: dict[int, dict[str, np.ndarray]] = {}
        for part in parts:
            for index, sums in part.ranges.items():
                merged = ranges.setdefault(index, {})
                for key, value in sums.items():
                    merged[key] = merge_sums(merged.get(key), value) if key == "fidelity" else merged.get(key, 0) + value
        first = parts[0]
        return cls([row for part in parts for row in part.images], ranges, first.window, first.kind, first.resolution,
                   sum(p.excluded for p in parts), tuple(s for p in parts for s in p.skipped))

    def score(self) -> dict[str, float]:
        """Mean per-image metrics, pixel counts summed (the headline numbers)."""
        return mean_metrics(row.metrics for row in self.images)

    def describe(self) -> dict[str, Any]:
        return held_out_record([row.sample for row in self.images], self.window, self.excluded, list(self.skipped),
                               self.resolution)

    def breakdown(self) -> dict[str, Any]:
        """Metrics by ground-truth depth range and by domain; with a reference, also its metrics, the deltas
        (prediction − reference) and the fidelity to it.

        Depth ranges pool the scored pixels of every image (the ranges' pixel-weighted values add up to the
        `total` row); domains average per image as the headline numbers do (their image-weighted values add
        up to the headline). Fidelity per domain is over every pixel, as in the headline; per depth range
        over the scored pixels of that range."""
        edges = (0.0, *DEPTH_BIN_EDGES, np.inf)

        def pooled(sums: dict[str, np.ndarray]) -> dict[str, Any]:
            row: dict[str, Any] = {"pixels": int(sums["metrics"][0]), "metrics": _keys(metrics_from_sums(sums["metrics"]))}
            if "reference" in sums:
                row.update(_against_reference(row["metrics"], metrics_from_sums(sums["reference"])))
                row["fidelity"] = distances(sums["fidelity"])
            return row

        ranges = []
        for index in sorted(self.ranges):
            lo, hi = edges[index], edges[index + 1]
            label = f"> {lo:g} m" if np.isinf(hi) else f"{lo:g}–{hi:g} m"
            ranges.append({"range": label, "min_m": lo, "max_m": None if np.isinf(hi) else hi, **pooled(self.ranges[index])})
        total: dict[str, np.ndarray] = {}
        for sums in self.ranges.values():
            for key, value in sums.items():
                total[key] = merge_sums(total.get(key), value) if key == "fidelity" else total.get(key, 0) + value
        domains = []
        for domain in sorted({row.sample.domain for row in self.images}):
            rows = [row for row in self.images if row.sample.domain == domain]
            metrics = mean_metrics(row.metrics for row in rows)
            entry: dict[str, Any] = {"domain": domain or "(none)", "images": len(rows), "pixels": metrics["pixels"],
                                     "metrics": _keys(metrics)}
            if rows[0].reference is not None:
                entry.update(_against_reference(entry["metrics"], mean_metrics(row.reference for row in rows)))
                entry["fidelity"] = {key: float(np.mean([row.fidelity[key] for row in rows])) for key in rows[0].fidelity}
                entry["fidelity"]["max_abs_diff"] = max(row.fidelity["max_abs_diff"] for row in rows)
            domains.append(entry)
        return {"depth_ranges": ranges, "total": pooled(total), "domains": domains, "alignment": self.kind.alignment,
                "pooling": "depth ranges pool scored pixels; domains average per image"}


def tally(held_out: EvalSet, predictions: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None = None,
          kind: str | None = None) -> Tally:
    """Each image's metrics (and its reference's, and the fidelity to it), and pixel sums per ground-truth depth
    range: what headline numbers and breakdowns are read from, and what adds up over parts."""
    depths = held_out.depths(predictions, kind)
    rows = held_out.per_image(predictions, kind)
    ref_depths = None if reference is None else held_out.depths(reference, kind)
    ref_rows = None if reference is None else held_out.per_image(reference, kind)
    ranges: dict[int, dict[str, np.ndarray]] = {}
    images = []
    for i, image in enumerate(held_out.images):
        paired = None if reference is None else (reference[i], ref_depths[i])
        _add_range_sums(held_out, ranges, image, (predictions[i], depths[i]), paired)
        fidelity = None if paired is None else held_out.image_fidelity(predictions[i], reference[i])
        images.append(ImageRow(image.sample, rows[i], None if ref_rows is None else ref_rows[i], fidelity))
    return Tally(images, ranges, held_out.window, _kind(held_out, kind), held_out.resolution, held_out.excluded, tuple(held_out.skipped))


def breakdown(held_out: EvalSet, predictions: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None = None) -> dict[str, Any]:
    """Metrics by ground-truth depth range and by domain (`Tally.breakdown`)."""
    return tally(held_out, predictions, reference).breakdown()


def _kind(held_out: EvalSet, kind: str | None) -> OutputKind:
    return held_out.kind if kind is None else output_kind(kind)


def _add_range_sums(held_out: EvalSet, ranges: dict, image, prediction: tuple, reference: tuple | None) -> None:
    """Add one image's pixel sums to `ranges`, per ground-truth depth range its scored pixels fall in.
    `prediction` and `reference`: (raw output at the model size, metric depth at the scoring resolution)."""
    w, scored = held_out.window, image.scored
    gt = image.depth[scored].astype(np.float64)
    bins = np.digitize(gt, DEPTH_BIN_EDGES, right=True)  # (lo, hi]: a pixel at exactly 80 m is in 20–80 m
    depth = {"metrics": np.clip(prediction[1][scored], w.min_depth, w.max_depth)}
    if reference is not None:
        depth["reference"] = np.clip(reference[1][scored], w.min_depth, w.max_depth)
        outputs = [upsample(np.asarray(raw, np.float64).reshape(held_out.size), image, held_out.spec)[scored]
                   for raw in (prediction[0], reference[0])]
    for index in np.unique(bins):
        here, sums = bins == index, ranges.setdefault(int(index), {})
        for key, values in depth.items():
            sums[key] = sums.get(key, 0) + pixel_sums(values[here], gt[here])
        if reference is not None:
            sums["fidelity"] = merge_sums(sums.get("fidelity"), held_out.fidelity_sums(outputs[0][here], outputs[1][here]))


def _keys(metrics: dict[str, float]) -> dict[str, float]:
    return {key: metrics[key] for key in BREAKDOWN_KEYS}


def _against_reference(metrics: dict[str, float], reference: dict[str, float]) -> dict[str, Any]:
    reference = _keys(reference)
    return {"reference": reference, "deltas": {key: metrics[key] - reference[key] for key in BREAKDOWN_KEYS}}
