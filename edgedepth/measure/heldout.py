"""The held-out set every score is taken on: which images, loaded once, and how a prediction meets the truth.

- Which images (`EvalSet.held_out`): the data's held-out samples as calibration sees them (`calibration.Split`:
  the official val/ split, else a scene-level split, so no held-out scene is ever calibrated on), in the seeded
  order that alternates indoors/outdoor and cycles through scenes (`calibration.stratified_order`): any prefix
  covers both domains and as many scenes as it can.
- Loaded once: each image decoded once and preprocessed once with the model's own preprocessing; ground truth
  kept at its own resolution (the literature's protocol: every valid pixel is scored, the prediction upsampled
  to it, bilinear with half-pixel centres as the runtimes resize) or, as a faster option, brought to the model
  size by nearest neighbour (`RESOLUTIONS`); its domain and scene recorded.
- Scored inside the evaluation window (metrics.py) after the alignment its output kind needs.
- Judged twice against a reference (the float model): paired per-image deltas against ground truth with
  one-sided 95 % bounds, and fidelity to the reference's output (`compare.distance_sums`), which needs no
  ground truth and is taken at the model's resolution, where both outputs are.

Predictions come from the caller (`EvalSet.predict(runner.infer)`): this module runs no runtime.
"""

from __future__ import annotations

import copy
import os
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.datasets import load_sample, no_ground_truth_reason
from ..data.samples import Sample
from ..data.split import Split, stratified_order
from ..data.transforms import preprocess, resize_nearest
from ..errors import EdgeDepthError
from ..metrics import depth_metrics, mean_metrics, scored_mask
from ..spec import DepthRange, ModelSpec, OutputKind, output_kind
from .compare import distance_sums, distances, upper_bound

#: Where ground truth is scored: at its own resolution (the default, as papers report), or at the model's.
RESOLUTIONS = {"ground-truth": "every valid ground-truth pixel at its own resolution, the prediction upsampled",
               "model": "ground truth brought to the model's input size by nearest neighbour (faster)"}
#: The median-depth baseline reads at most this many evenly spaced training depth maps: all of any synthetic
#: set here, a bounded read on DIODE (its 25,458 maps at 512×512 are 27 GB of float32).
MEDIAN_IMAGES = 1024
#: Keys of a comparison against the reference: ground-truth deltas, then fidelity to the reference.
DELTA_KEYS = ("delta1_drop", "delta1_drop_bound", "abs_rel_increase", "abs_rel_increase_bound")
FIDELITY_KEYS = ("rel_deviation", "rel_deviation_bound", "delta1_vs_float", "delta1_vs_float_bound",
                 "max_abs_diff", "mean_abs_diff")


@dataclass(frozen=True)
class Window:
    """The evaluation window in metres: ground truth outside it is excluded (and counted), predictions are
    clamped into it. Defaults come from the model's declared depth range."""

    min_depth: float
    max_depth: float

    @classmethod
    def of(cls, depth: DepthRange, min_depth: float | None = None, max_depth: float | None = None) -> Window:
        low = float(depth.min_depth if min_depth is None else min_depth)
        high = float(depth.max_depth if max_depth is None else max_depth)
        if not 0 < low < high or not np.isfinite(high):
            raise EdgeDepthError(f"evaluation window {low:g}–{high:g} m is empty or not positive; "
                                 "give 0 < min depth < max depth (finite metres)")
        return cls(low, high)

    def record(self) -> dict[str, float]:
        return {"min_depth": self.min_depth, "max_depth": self.max_depth}


@dataclass
class EvalImage:
    sample: Sample
    name: str
    rgb: np.ndarray  # H×W×3 uint8 as decoded (end-to-end timing and error maps start from it)
    batch: np.ndarray  # 1×3×h×w float32, preprocessed for the model
    depth: np.ndarray  # ground truth at the scoring resolution, 0 where invalid
    valid: np.ndarray  # bool, same shape: ground truth present (window not applied)
    scored: np.ndarray  # bool, same shape: valid and inside the window


class EvalSet:
    """Held-out images loaded once, with what every score needs. Images with no ground truth inside the window
    are left out and named with the reason (`skipped`), as are counted the valid pixels outside it (`excluded`)."""

    def __init__(self, samples: Sequence[Sample], spec: ModelSpec, window: Window, resolution: str = "ground-truth"):
        if resolution not in RESOLUTIONS:
            raise EdgeDepthError(f"scoring resolution {resolution!r} is not one of: {', '.join(RESOLUTIONS)}")
        if resolution == "model" and spec.preprocessing.fit != "stretch":
            raise EdgeDepthError(f"{spec.arch} letterboxes its input, so its output is not the image at the model's "
                                 "resolution; score it at ground-truth resolution")
        self.spec, self.window, self.resolution = spec, window, resolution
        self.size = spec.input_size
        self.images: list[EvalImage] = []
        self.skipped: list[dict[str, str]] = []
        self.excluded = 0
        for sample in samples:
            rgb, depth, valid = load_sample(sample)
            if resolution == "model":
                depth, valid = resize_nearest(depth, self.size), resize_nearest(valid, self.size)
            scored, excluded = scored_mask(depth, valid, window.min_depth, window.max_depth)
            if not scored.any():
                reason = no_ground_truth_reason(sample) if not valid.any() else \
                    f"no ground truth inside {window.min_depth:g}–{window.max_depth:g} m"
                self.skipped.append({"image": sample.key, "reason": reason})
                continue
            self.excluded += excluded
            self.images.append(EvalImage(sample, sample.name, rgb, preprocess(rgb, self.size, spec.preprocessing),
                                         depth, valid, scored))

    @classmethod
    def held_out(cls, data: str | os.PathLike | Split, spec: ModelSpec, window: Window, limit: int | None = None,
                 seed: int = 0, resolution: str = "ground-truth") -> EvalSet:
        """The first `limit` (None: all) of `held_out_samples(data)`, loaded."""
        return cls(held_out_samples(data, limit, seed), spec, window, resolution)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def batches(self) -> list[np.ndarray]:
        return [image.batch for image in self.images]

    @property
    def kind(self) -> OutputKind:
        return self.spec.output

    def describe(self) -> dict[str, Any]:
        """Which images: counts per domain, the scenes, the window, the resolution, and what was left out."""
        return held_out_record([image.sample for image in self.images], self.window, self.excluded, self.skipped,
                               self.resolution)

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

    def depths(self, predictions: Sequence[np.ndarray], kind: str | None = None) -> list[np.ndarray]:
        """The predictions as metric depth at the scoring resolution: converted or aligned as their output kind
        says (`kind`: a name, default the model's), on each image's scored pixels."""
        self._check(predictions)
        chosen = output_kind(kind) if kind else self.kind
        return [self.to_depth(prediction, image, chosen) for prediction, image in zip(predictions, self.images)]

    def per_image(self, predictions: Sequence[np.ndarray], kind: str | None = None) -> list[dict[str, float]]:
        """Metrics (and pixel counts) of each image, after the output kind's alignment."""
        w = self.window
        return [depth_metrics(depth, image.depth, image.valid, w.min_depth, w.max_depth)
                for depth, image in zip(self.depths(predictions, kind), self.images)]

    def score(self, predictions: Sequence[np.ndarray], kind: str | None = None) -> dict[str, float]:
        """Mean per-image metrics, with the scored and excluded pixel counts summed."""
        return mean_metrics(self.per_image(predictions, kind))

    def to_depth(self, prediction: np.ndarray, image: EvalImage, kind: OutputKind) -> np.ndarray:
        """One prediction (h×w at the model size) as metric depth at the image's scoring resolution."""
        pred = upsample(np.asarray(prediction, dtype=np.float64).reshape(self.size), image, self.spec)
        if not kind.relative:
            return 1.0 / np.maximum(pred, 1.0 / self.window.max_depth) if kind.inverse else pred
        target = image.depth[image.scored].astype(np.float64)
        scale, shift = least_squares_scale_shift(pred[image.scored], 1.0 / target if kind.inverse else target)
        aligned = scale * pred + shift
        return 1.0 / np.maximum(aligned, 1.0 / self.window.max_depth) if kind.inverse else aligned

    # --- against a reference -----------------------------------------------------------------------------

    def compare(self, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> dict[str, float]:
        """Candidate (INT8, FP16) against reference (float): DELTA_KEYS then FIDELITY_KEYS, one flat dict.

        Deltas: mean δ1 drop and AbsRel increase relative to the reference's, both against ground truth, each
        with its one-sided 95 % upper bound over the per-image differences (what a budget checks: noise that
        happens to favour INT8 on a few images cannot pass it). Fidelity: `fidelity`."""
        ref_rows, cand_rows = self.per_image(reference), self.per_image(candidate)
        delta1_drop = [r["delta1"] - c["delta1"] for r, c in zip(ref_rows, cand_rows)]
        abs_rel_ref = max(float(np.mean([r["abs_rel"] for r in ref_rows])), 1e-12)
        abs_rel_increase = [(c["abs_rel"] - r["abs_rel"]) / abs_rel_ref for r, c in zip(ref_rows, cand_rows)]
        return {
            "delta1_drop": float(np.mean(delta1_drop)),
            "delta1_drop_bound": upper_bound(delta1_drop),
            "abs_rel_increase": float(np.mean(abs_rel_increase)),
            "abs_rel_increase_bound": upper_bound(abs_rel_increase),
            **self.fidelity(reference, candidate),
        }

    def fidelity(self, reference: Sequence[np.ndarray], candidate: Sequence[np.ndarray]) -> dict[str, float]:
        """How far the candidate's output is from the reference's over every pixel (no ground truth needed):
        `image_fidelity` per image, averaged over images, with the 95 % upper bound of the relative deviation
        and the 95 % lower bound of δ1-vs-float; `max_abs_diff` is the largest over all images."""
        self._check(reference)
        self._check(candidate)
        rows = [self.image_fidelity(c, r) for r, c in zip(reference, candidate)]
        deviation, delta1 = [row["rel_deviation"] for row in rows], [row["delta1_vs_float"] for row in rows]
        return {
            "rel_deviation": float(np.mean(deviation)),
            "rel_deviation_bound": upper_bound(deviation),
            "delta1_vs_float": float(np.mean(delta1)),
            "delta1_vs_float_bound": -upper_bound([-v for v in delta1]),
            "max_abs_diff": float(max(row["max_abs_diff"] for row in rows)),
            "mean_abs_diff": float(np.mean([row["mean_abs_diff"] for row in rows])),
        }

    def image_fidelity(self, candidate: np.ndarray, reference: np.ndarray) -> dict[str, float]:
        """The distance of one image's candidate output from the reference's, metric depth clamped into the window."""
        return distances(self.fidelity_sums(candidate, reference))

    def fidelity_sums(self, candidate: np.ndarray, reference: np.ndarray) -> np.ndarray:
        return distance_sums(candidate, reference, self.kind, self.window.min_depth, self.window.max_depth,
                             ("the lower-precision model", "the reference"))

    def subset(self, indices: Sequence[int]) -> EvalSet:
        """The same evaluation over some of the images (nothing reloaded)."""
        part = copy.copy(self)
        part.images = [self.images[i] for i in indices]
        return part

    def _check(self, predictions: Sequence[np.ndarray]) -> None:
        if len(predictions) != len(self.images):
            raise EdgeDepthError(f"{len(predictions)} predictions for {len(self.images)} evaluation images")


def upsample(prediction: np.ndarray, image: EvalImage, spec: ModelSpec) -> np.ndarray:
    """An h×w output at the image's scoring resolution, as the runtimes map it back (`restore_depth`: a letterbox's
    padding cut off, resized as the model's preprocessing says); unchanged at its own size."""
    if prediction.shape == image.depth.shape and spec.preprocessing.fit == "stretch":
        return prediction
    from ..data.transforms import restore_depth

    return restore_depth(prediction, image.rgb.shape[:2], spec.preprocessing, image.depth.shape).astype(np.float64)


def held_out_samples(data: str | os.PathLike | Split, limit: int | None = None, seed: int = 0) -> list[Sample]:
    """The one held-out policy (module docstring): held-out scenes, stratified order, the first `limit`."""
    return stratified_order(Split.of(data).held_out, seed)[:limit]


def held_out_record(samples: Sequence[Sample], window: Window, excluded: int, skipped: list[dict[str, str]],
                    resolution: str) -> dict[str, Any]:
    return {**describe_samples(samples), "window": window.record(), "excluded_pixels": excluded,
            "skipped_images": len(skipped), "skipped": skipped, "resolution": resolution,
            "selection": "held-out scenes; seeded, alternating indoors/outdoor, cycling through scenes"}


def least_squares_scale_shift(prediction: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """(s, t) minimising Σ (s·prediction + t − target)² over the given pixels."""
    design = np.stack([prediction, np.ones_like(prediction)], axis=1)
    (scale, shift), *_ = np.linalg.lstsq(design, target, rcond=None)
    return float(scale), float(shift)


def describe_samples(samples: Sequence[Sample]) -> dict[str, Any]:
    """Where a set of images came from: how many per domain, and which scenes."""
    return {"images": len(samples), "domains": dict(sorted(Counter(s.domain or "(none)" for s in samples).items())),
            "scenes": sorted({s.scene_id for s in samples})}


def median_depth(samples: Sequence[Sample], size: tuple[int, int], depth: DepthRange) -> float:
    """Median valid depth inside the model's range, at model size, over at most MEDIAN_IMAGES evenly spaced samples."""
    values = []
    for i in evenly_spaced(len(samples), MEDIAN_IMAGES):
        _, gt, valid = load_sample(samples[i])
        gt, valid = resize_nearest(gt, size), resize_nearest(valid, size)
        scored, _ = scored_mask(gt, valid, depth.min_depth, depth.max_depth)
        values.append(gt[scored])
    return float(np.median(np.concatenate(values)))


def evenly_spaced(count: int, at_most: int) -> np.ndarray:
    """At most `at_most` indices spread evenly over range(count) (the items are in path order, indoors before
    outdoor, so a prefix would see one domain only)."""
    return np.unique(np.linspace(0, count - 1, min(at_most, count)).round().astype(int))
