"""What an INT8 model cost: depth accuracy on held-out samples and latency, both measured through OpenVINO.

The budget is on the deltas the issue names: δ1 of INT8 against δ1 of float, and AbsRel likewise (relative
to the float model's), both scored against ground truth on the same held-out images. The budget is checked
on their one-sided 95 % upper confidence bounds over the per-image differences, not on the means alone:
quantization noise moves some images' scores up by chance, so a mean that happens to be ≤ 0 does not prove
INT8 free, and a budget of 0 passes only when INT8 changes nothing measurable. (Counting only the pixels
INT8 makes worse was tried first: with the demo model's δ1 ≈ 0.61, unbiased noise flips enough pixels
around the 1.25 threshold to charge a 0.015 δ1 drop to an INT8 model whose δ1 moved by +0.0014.)
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..data import diode
from ..data.transforms import preprocess, resize_nearest
from ..errors import EdgeDepthError
from ..metrics import depth_metrics, mean_metrics, valid_mask

LATENCY_WARMUP, LATENCY_RUNS = 3, 20


@dataclass(frozen=True)
class Budget:
    """How much INT8 may cost against the float model (defaults: the project's stated budget)."""

    delta1_drop: float = 0.01  # absolute
    abs_rel_increase: float = 0.05  # relative to the float model's AbsRel

    @classmethod
    def parse(cls, text: str) -> Budget:
        """'0.01,0.05' → Budget(δ1 drop 0.01, AbsRel increase 5 %)."""
        try:
            delta1_drop, abs_rel_increase = (float(v) for v in text.split(","))
        except ValueError:
            raise EdgeDepthError(f"accuracy budget {text!r} is not DELTA1_DROP,ABSREL_INCREASE (e.g. 0.01,0.05)")
        if delta1_drop < 0 or abs_rel_increase < 0:
            raise EdgeDepthError(f"accuracy budget {text!r}: both limits must be ≥ 0")
        return cls(delta1_drop, abs_rel_increase)

    def holds(self, deltas: dict[str, float]) -> bool:
        """Both deltas' 95 % upper bounds within the budget (see the module docstring)."""
        return (deltas["delta1_drop_bound"] <= self.delta1_drop
                and deltas["abs_rel_increase_bound"] <= self.abs_rel_increase)


class HeldOut:
    """Preprocessed held-out images with ground truth brought to the model size, loaded once."""

    def __init__(self, samples: Sequence[diode.Sample], size: tuple[int, int], depth_range: dict):
        self.batches, self.depths, self.valids = [], [], []
        for sample in samples:
            rgb, depth, valid = diode.load_sample(sample)
            depth = resize_nearest(depth, size)
            valid = valid_mask(depth, resize_nearest(valid, size))
            if valid.any():
                self.batches.append(preprocess(rgb, size))
                self.depths.append(depth)
                self.valids.append(valid)
        self.min_depth, self.max_depth = depth_range["min_depth"], depth_range["max_depth"]
        self.count = len(self.batches)

    def predict(self, onnx_path: Path, time_it: bool = False) -> tuple[list[np.ndarray], float | None]:
        """Predictions of `onnx_path` run through OpenVINO, and its median batch-1 latency (ms) if asked."""
        with openvino_runner(onnx_path) as runner:
            predictions = [runner.infer(batch) for batch in self.batches]
            return predictions, median_latency_ms(runner, self.batches[0]) if time_it else None

    def score(self, predictions: Sequence[np.ndarray]) -> dict[str, float]:
        return mean_metrics(self.per_image(predictions))

    def deltas(self, reference: Sequence[np.ndarray], quantized: Sequence[np.ndarray]) -> dict[str, float]:
        """INT8 against float, both scored against ground truth: mean δ1 drop and relative AbsRel increase,
        each with its 95 % upper bound over the per-image differences (the bounds are what a Budget checks)."""
        float_rows, int8_rows = self.per_image(reference), self.per_image(quantized)
        delta1_drop = [f["delta1"] - q["delta1"] for f, q in zip(float_rows, int8_rows)]
        abs_rel_float = max(float(np.mean([f["abs_rel"] for f in float_rows])), 1e-12)
        abs_rel_increase = [(q["abs_rel"] - f["abs_rel"]) / abs_rel_float for f, q in zip(float_rows, int8_rows)]
        return {
            "delta1_drop": float(np.mean(delta1_drop)),
            "delta1_drop_bound": _upper_bound(delta1_drop),
            "abs_rel_increase": float(np.mean(abs_rel_increase)),
            "abs_rel_increase_bound": _upper_bound(abs_rel_increase),
        }

    def per_image(self, predictions: Sequence[np.ndarray]) -> list[dict[str, float]]:
        return [depth_metrics(pred, gt, valid, self.min_depth, self.max_depth)
                for pred, gt, valid in zip(predictions, self.depths, self.valids)]


#: One-sided 95 % normal quantile. The held-out set is up to 64 images; below ~10 the bound is optimistic.
_Z95 = statistics.NormalDist().inv_cdf(0.95)


def _upper_bound(differences: Sequence[float]) -> float:
    """Mean + 1.645 standard errors: the paired per-image difference INT8 stays under with 95 % confidence."""
    values = np.asarray(differences, dtype=np.float64)
    spread = values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return float(values.mean() + _Z95 * spread)


def openvino_runner(onnx_path: Path):
    """The project's OpenVINO runner with bench's default settings, straight from the ONNX."""
    from ..backends import LoadOptions, get_backend

    return get_backend("openvino").load(onnx_path, LoadOptions())


def latency_ms(onnx_path: Path, batch: np.ndarray) -> float:
    with openvino_runner(onnx_path) as runner:
        return median_latency_ms(runner, batch)


def median_latency_ms(runner, batch: np.ndarray) -> float:
    """Median of LATENCY_RUNS timed runs after LATENCY_WARMUP untimed ones, in milliseconds."""
    for _ in range(LATENCY_WARMUP):
        runner.infer(batch)
    return 1000 * statistics.median(runner.timed_infer(batch)[1] for _ in range(LATENCY_RUNS))
