"""One evaluation for `evaluate`, `quantize` and `bench`: which held-out images, and how they are scored.

- Which images (`EvalSet.held_out`): the folder's held-out scenes as calibration sees them
  (`calibration.load_split`: the official val/ split, else a scene-level split, so no held-out scene is
  ever calibrated on), in the seeded order that alternates indoors/outdoor and cycles through scenes
  (`calibration.stratified_order`): any prefix covers both domains and as many scenes as it can.
- Loaded once: each image decoded once and preprocessed once with the model's own preprocessing; ground
  truth and mask brought to the model size by nearest neighbour; its domain and scene recorded.
- Scored inside the evaluation window (metrics.py) after the alignment its output kind needs.
- Judged twice against a reference (the float model): paired per-image deltas against ground truth with
  one-sided 95 % bounds, and fidelity to the reference's depth, which needs no ground truth. Neither alone
  is enough: an under-trained float model can make a broken INT8 look better than float.
- Broken down by ground-truth depth range and by domain, so "INT8 hurts far outdoor depth" shows.

Predictions come from the caller (`EvalSet.predict(runner.infer)`): this module runs no runtime.
"""

from __future__ import annotations

import copy
import os
import statistics
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .calibration import load_split, stratified_order
from .data import diode
from .data.transforms import IMAGENET, Preprocessing, preprocess, resize_nearest
from .errors import EdgeDepthError
from .metrics import depth_metrics, mean_metrics, pixel_metrics, scored_mask

#: How each output kind becomes metric depth before it meets ground truth (recorded with every score).
#: Relative outputs get the standard per-image least-squares scale and shift (MiDaS, Ranftl et al. 2020),
#: in inverse-depth space for relative inverse depth.
ALIGNMENTS = {
    "metric": "none (metric depth)",
    "inverse": "1/x (metric inverse depth)",
    "relative": "per-image least-squares scale and shift in depth",
    "relative-inverse": "per-image least-squares scale and shift in inverse depth, then 1/x",
}
#: Upper edges (metres) of the ground-truth depth ranges of the breakdown; the last range is open.
DEPTH_BIN_EDGES = (2.0, 5.0, 10.0, 20.0, 80.0)
#: Metrics the breakdown lists per range and domain (the full set stays in the headline numbers).
BREAKDOWN_KEYS = ("mae", "rmse", "abs_rel", "delta1")
#: One-sided 95 % normal quantile. The held-out set is up to 64 images; below ~10 the bound is optimistic.
Z95 = statistics.NormalDist().inv_cdf(0.95)
#: Keys of a comparison against the reference: ground-truth deltas, then fidelity to the reference.
DELTA_KEYS = ("delta1_drop", "delta1_drop_bound", "abs_rel_increase", "abs_rel_increase_bound")
FIDELITY_KEYS = ("rel_deviation", "rel_deviation_bound", "delta1_vs_float", "delta1_vs_float_bound",
                 "max_abs_diff", "mean_abs_diff")
#: Floor of fidelity's denominator for outputs that are not metric depth (no window to clamp them into),
#: as a share of the reference output's mean magnitude in that image.
RELATIVE_FLOOR = 1e-3


@dataclass(frozen=True)
class Window:
    """The evaluation window in metres: ground truth outside it is excluded (and counted), predictions are
    clamped into it. Defaults come from the model's declared depth range."""

    min_depth: float
    max_depth: float

    @classmethod
    def of(cls, depth_range: dict, min_depth: float | None = None, max_depth: float | None = None) -> Window:
        low = float(depth_range["min_depth"] if min_depth is None else min_depth)
        high = float(depth_range["max_depth"] if max_depth is None else max_depth)
        if not 0 < low < high:
            raise EdgeDepthError(f"evaluation window {low:g}–{high:g} m is empty or not positive; "
                                 "give 0 < --min-depth < --max-depth (metres)")
        return cls(low, high)

    def record(self) -> dict[str, float]:
        return {"min_depth": self.min_depth, "max_depth": self.max_depth}


@dataclass
class EvalImage:
    sample: diode.Sample
    name: str
    domain: str  # indoors | outdoor | "" (a folder without DIODE's domain level)
    scene: str  # the scene id (split/domain/scene), unique in the data folder
    rgb: np.ndarray  # H×W×3 uint8 as decoded (end-to-end timing and error maps start from it)
    batch: np.ndarray  # 1×3×h×w float32, preprocessed for the model
    depth: np.ndarray  # h×w ground truth at the model size, 0 where invalid
    valid: np.ndarray  # h×w bool: ground truth present (window not applied)
    scored: np.ndarray  # h×w bool: valid and inside the window


class EvalSet:
    """Held-out images loaded once, with what every score needs. Images with no ground truth inside the
    window are left out and counted (`skipped`), as are the valid pixels outside it (`excluded`)."""

    def __init__(self, samples: Sequence[diode.Sample], size: tuple[int, int], window: Window,
                 preprocessing: Preprocessing = IMAGENET):
        self.size, self.window, self.preprocessing = (int(size[0]), int(size[1])), window, preprocessing
        self.images: list[EvalImage] = []
        self.skipped = self.excluded = 0
        for sample in samples:
            rgb, depth, valid = diode.load_sample(sample)
            depth, valid = resize_nearest(depth, self.size), resize_nearest(valid, self.size)
            scored, excluded = scored_mask(depth, valid, window.min_depth, window.max_depth)
            if not scored.any():
                self.skipped += 1
                continue
            self.excluded += excluded
            self.images.append(EvalImage(sample, Path(sample.rgb).stem, sample.domain, sample.scene_id, rgb,
                                         preprocess(rgb, self.size, preprocessing), depth, valid, scored))

    @classmethod
    def held_out(cls, data: str | os.PathLike, size: tuple[int, int], window: Window, limit: int | None = None,
                 seed: int = 0, preprocessing: Preprocessing = IMAGENET) -> EvalSet:
        """The first `limit` (None: all) held-out images of `data` in the stratified order (module docstring)."""
        _, held_out = load_split(data)
        return cls(stratified_order(held_out, seed)[:limit], size, window, preprocessing)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def batches(self) -> list[np.ndarray]:
        return [image.batch for image in self.images]

    def describe(self) -> dict[str, Any]:
        """Which images: counts per domain, the scenes, the window and what it left out."""
        return {**describe_samples([image.sample for image in self.images]), "window": self.window.record(),
                "excluded_pixels": self.excluded, "skipped_images": self.skipped,
                "selection": "held-out scenes; seeded, alternating indoors/outdoor, cycling through scenes"}

    def predict(self, infer: Callable[[np.ndarray], np.ndarray]) -> list[np.ndarray]:
        """h×w outputs of `infer` (1×3×h×w → 1×1×h×w, e.g. a Runner's `infer`) over the images, one at a time."""
        outputs = []
        for image in self.images:
            output = np.asarray(infer(image.batch))
            if output.size != self.size[0] * self.size[1]:
                raise EdgeDepthError(f"the model returned shape {output.shape} for a {image.batch.shape} input; "
                                     f"expected 1×1×{self.size[0]}×{self.size[1]} depth")
            outputs.append(output.reshape(self.size).astype(np.float32, copy=False))
        return outputs

    # --- against ground truth ----------------------------------------------------------------------------

    def per_image(self, predictions: Sequence[np.ndarray], output_kind: str = "metric") -> list[dict[str, float]]:
        """Metrics (and pixel counts) of each image, after the output kind's alignment."""
        self._check(predictions)
        w = self.window
        return [depth_metrics(self.to_depth(pred, image, output_kind), image.depth, image.valid, w.min_depth, w.max_depth)
                for pred, image in zip(predictions, self.images)]

    def score(self, predictions: Sequence[np.ndarray], output_kind: str = "metric") -> dict[str, float]:
        """Mean per-image metrics, with the scored and excluded pixel counts summed."""
        return mean_metrics(self.per_image(predictions, output_kind))

    def to_depth(self, prediction: np.ndarray, image: EvalImage, output_kind: str = "metric") -> np.ndarray:
        """The prediction as metric depth (h×w): converted or aligned on the image's scored pixels."""
        if output_kind not in ALIGNMENTS:
            raise EdgeDepthError(f"output kind {output_kind!r} is not one of: {', '.join(ALIGNMENTS)}")
        pred = np.asarray(prediction, dtype=np.float64).reshape(self.size)
        if output_kind == "metric":
            return pred
        if output_kind == "inverse":
            return 1.0 / np.maximum(pred, 1.0 / self.window.max_depth)
        target = image.depth[image.scored].astype(np.float64)
        inverse = output_kind == "relative-inverse"
        scale, shift = least_squares_scale_shift(pred[image.scored], 1.0 / target if inverse else target)
        aligned = scale * pred + shift
        return 1.0 / np.maximum(aligned, 1.0 / self.window.max_depth) if inverse else aligned

    # --- against a reference -----------------------------------------------------------------------------

    def compare(self, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray],
                output_kind: str = "metric") -> dict[str, float]:
        """Candidate (INT8, FP16) against reference (float): DELTA_KEYS then FIDELITY_KEYS, one flat dict.

        Deltas: mean δ1 drop and AbsRel increase relative to the reference's, both against ground truth, each
        with its one-sided 95 % upper bound over the per-image differences (what a budget checks: noise that
        happens to favour INT8 on a few images cannot pass it). Fidelity: `fidelity`."""
        ref_rows, cand_rows = self.per_image(reference, output_kind), self.per_image(candidate, output_kind)
        delta1_drop = [r["delta1"] - c["delta1"] for r, c in zip(ref_rows, cand_rows)]
        abs_rel_ref = max(float(np.mean([r["abs_rel"] for r in ref_rows])), 1e-12)
        abs_rel_increase = [(c["abs_rel"] - r["abs_rel"]) / abs_rel_ref for r, c in zip(ref_rows, cand_rows)]
        return {
            "delta1_drop": float(np.mean(delta1_drop)),
            "delta1_drop_bound": upper_bound(delta1_drop),
            "abs_rel_increase": float(np.mean(abs_rel_increase)),
            "abs_rel_increase_bound": upper_bound(abs_rel_increase),
            **self.fidelity(reference, candidate, output_kind),
        }

    def fidelity(self, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray],
                 output_kind: str = "metric") -> dict[str, float]:
        """How far the candidate's output is from the reference's over every pixel (no ground truth needed):
        `pixel_fidelity` per image, averaged over images, with the 95 % upper bound of the relative deviation
        and the 95 % lower bound of δ1-vs-float; `max_abs_diff` is the largest over all images."""
        self._check(reference)
        self._check(candidate)
        rows = [pixel_fidelity(np.ravel(c), np.ravel(r), output_kind, self.window) for r, c in zip(reference, candidate)]
        deviation, delta1 = [row["rel_deviation"] for row in rows], [row["delta1_vs_float"] for row in rows]
        return {
            "rel_deviation": float(np.mean(deviation)),
            "rel_deviation_bound": upper_bound(deviation),
            "delta1_vs_float": float(np.mean(delta1)),
            "delta1_vs_float_bound": -upper_bound([-v for v in delta1]),
            "max_abs_diff": float(max(row["max_abs_diff"] for row in rows)),
            "mean_abs_diff": float(np.mean([row["mean_abs_diff"] for row in rows])),
        }

    # --- where the error lives ---------------------------------------------------------------------------

    def breakdown(self, predictions: Sequence[np.ndarray], reference: Sequence[np.ndarray] | None = None,
                  output_kind: str = "metric") -> dict[str, Any]:
        """Metrics by ground-truth depth range and by domain; with a reference, also its metrics, the deltas
        (prediction − reference) and the fidelity to it.

        Depth ranges pool the scored pixels of every image (the ranges' pixel-weighted values add up to the
        `total` row); domains average per image as the headline numbers do (their image-weighted values add
        up to the headline). Fidelity per domain is over every pixel, as in the headline; per depth range
        over the scored pixels of that range."""
        self._check(predictions)
        gt = np.concatenate([image.depth[image.scored] for image in self.images]).astype(np.float64)
        scored = lambda maps: np.concatenate([np.reshape(m, self.size)[i.scored] for m, i in zip(maps, self.images)])  # noqa: E731
        depth = scored([self.to_depth(p, image, output_kind) for p, image in zip(predictions, self.images)])
        outputs = None if reference is None else (
            scored([self.to_depth(r, image, output_kind) for r, image in zip(reference, self.images)]),
            scored(predictions), scored(reference))

        def pooled(where: np.ndarray) -> dict[str, Any]:
            row: dict[str, Any] = {"pixels": int(np.count_nonzero(where)), "metrics": self._pixel_metrics(depth[where], gt[where])}
            if outputs is not None:
                ref_depth, cand, ref = outputs
                row.update(self._against_reference(row["metrics"], self._pixel_metrics(ref_depth[where], gt[where])))
                row["fidelity"] = pixel_fidelity(cand[where], ref[where], output_kind, self.window)
            return row

        bins = np.digitize(gt, DEPTH_BIN_EDGES, right=True)  # (lo, hi]: a pixel at exactly 80 m is in 20–80 m
        edges = (0.0, *DEPTH_BIN_EDGES, np.inf)
        ranges = []
        for index in np.unique(bins):
            lo, hi = edges[index], edges[index + 1]
            label = f"> {lo:g} m" if np.isinf(hi) else f"{lo:g}–{hi:g} m"
            ranges.append({"range": label, "min_m": lo, "max_m": None if np.isinf(hi) else hi, **pooled(bins == index)})
        domains = []
        for domain in sorted({image.domain for image in self.images}):
            chosen = [i for i, image in enumerate(self.images) if image.domain == domain]
            part, preds = self.subset(chosen), [predictions[i] for i in chosen]
            metrics = part.score(preds, output_kind)
            row: dict[str, Any] = {"domain": domain or "(none)", "images": len(chosen), "pixels": metrics["pixels"],
                                   "metrics": {key: metrics[key] for key in BREAKDOWN_KEYS}}
            if reference is not None:
                refs = [reference[i] for i in chosen]
                row.update(self._against_reference(row["metrics"], part.score(refs, output_kind)))
                row["fidelity"] = part.fidelity(refs, preds, output_kind)
            domains.append(row)
        return {"depth_ranges": ranges, "total": pooled(np.ones(gt.size, bool)), "domains": domains,
                "alignment": ALIGNMENTS[output_kind], "pooling": "depth ranges pool scored pixels; domains average per image"}

    def subset(self, indices: Sequence[int]) -> EvalSet:
        """The same evaluation over some of the images (nothing reloaded)."""
        part = copy.copy(self)
        part.images = [self.images[i] for i in indices]
        return part

    def _pixel_metrics(self, depth: np.ndarray, gt: np.ndarray) -> dict[str, float]:
        metrics = pixel_metrics(np.clip(depth, self.window.min_depth, self.window.max_depth), gt)
        return {key: metrics[key] for key in BREAKDOWN_KEYS}

    @staticmethod
    def _against_reference(metrics: dict[str, float], reference: dict[str, float]) -> dict[str, Any]:
        reference = {key: reference[key] for key in BREAKDOWN_KEYS}
        return {"reference": reference, "deltas": {key: metrics[key] - reference[key] for key in BREAKDOWN_KEYS}}

    def _check(self, predictions: Sequence[np.ndarray]) -> None:
        if len(predictions) != len(self.images):
            raise EdgeDepthError(f"{len(predictions)} predictions for {len(self.images)} evaluation images")


def pixel_fidelity(candidate: np.ndarray, reference: np.ndarray, output_kind: str, window: Window) -> dict[str, float]:
    """Fidelity over paired pixels: mean relative deviation |c − r| / r, δ1 with the reference as truth
    (share of pixels within 1.25× of it), the largest and the mean |c − r|. Metric depth is clamped into the
    window first (as for ground truth), so the units are metres; other outputs are compared as magnitudes,
    floored at RELATIVE_FLOOR of the reference's mean."""
    c, r = np.asarray(candidate, dtype=np.float64), np.asarray(reference, dtype=np.float64)
    if output_kind == "metric":
        c, r = np.clip(c, window.min_depth, window.max_depth), np.clip(r, window.min_depth, window.max_depth)
    else:
        floor = max(RELATIVE_FLOOR * float(np.abs(r).mean()), 1e-12)
        c, r = np.maximum(np.abs(c), floor), np.maximum(np.abs(r), floor)
    diff = np.abs(c - r)
    return {"rel_deviation": float(np.mean(diff / r)), "delta1_vs_float": float(np.mean(np.maximum(c / r, r / c) < 1.25)),
            "max_abs_diff": float(diff.max()), "mean_abs_diff": float(diff.mean())}


def least_squares_scale_shift(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(s, t) minimising Σ (s·prediction + t − target)² over the given pixels."""
    design = np.stack([prediction, np.ones_like(prediction)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(scale), float(shift)


def upper_bound(values: Sequence[float]) -> float:
    """Mean + 1.645 standard errors: the paired per-image value stays under it with 95 % confidence."""
    values = np.asarray(values, dtype=np.float64)
    spread = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean() + Z95 * spread)


def describe_samples(samples: Sequence[diode.Sample]) -> dict[str, Any]:
    """Where a set of images came from: how many per domain, and which scenes."""
    return {"images": len(samples), "domains": dict(sorted(Counter(s.domain or "(none)" for s in samples).items())),
            "scenes": sorted({s.scene_id for s in samples})}

