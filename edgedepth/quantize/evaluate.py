"""What an INT8 model cost: depth accuracy on held-out samples and latency, both measured through OpenVINO.

The budgeted deltas charge INT8 for every valid pixel it makes worse and credit none it happens to make
better: quantization noise on an imperfect model moves some pixels towards the ground truth, and netting
those against the losses would let a damaging INT8 model pass (and a budget of 0 pass by luck). So
`delta1_drop` is the share of pixels inside the δ1 threshold in float but not in INT8, and
`abs_rel_increase` is the mean per-pixel AbsRel worsening relative to the float model's AbsRel; both bound
the net changes, which are reported beside them.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

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
    def parse(cls, text: str) -> "Budget":
        """'0.01,0.05' → Budget(δ1 drop 0.01, AbsRel increase 5 %)."""
        try:
            delta1_drop, abs_rel_increase = (float(v) for v in text.split(","))
        except ValueError:
            raise EdgeDepthError(f"--accuracy-budget {text!r} is not DELTA1_DROP,ABSREL_INCREASE (e.g. 0.01,0.05)")
        if delta1_drop < 0 or abs_rel_increase < 0:
            raise EdgeDepthError(f"--accuracy-budget {text!r}: both limits must be ≥ 0")
        return cls(delta1_drop, abs_rel_increase)

    def holds(self, deltas: dict[str, float]) -> bool:
        return deltas["delta1_drop"] <= self.delta1_drop and deltas["abs_rel_increase"] <= self.abs_rel_increase


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
        return mean_metrics(
            depth_metrics(pred, gt, valid, self.min_depth, self.max_depth)
            for pred, gt, valid in zip(predictions, self.depths, self.valids)
        )

    def deltas(self, reference: Sequence[np.ndarray], quantized: Sequence[np.ndarray]) -> dict[str, float]:
        """INT8 against float on the same valid pixels: charged deltas (budgeted) and net ones (reported)."""
        lost, worse = [], []
        for ref, q, gt, valid in zip(reference, quantized, self.depths, self.valids):
            g = gt[valid]
            f, i = (np.clip(p.squeeze()[valid], self.min_depth, self.max_depth) for p in (ref, q))
            lost.append(np.mean(_within_delta1(f, g) & ~_within_delta1(i, g)))
            worse.append(np.mean(np.maximum(np.abs(i - g) - np.abs(f - g), 0.0) / g))
        float_metrics, int8_metrics = self.score(reference), self.score(quantized)
        abs_rel = max(float_metrics["abs_rel"], 1e-12)
        return {
            "delta1_drop": float(np.mean(lost)),
            "abs_rel_increase": float(np.mean(worse)) / abs_rel,
            "delta1_drop_net": float_metrics["delta1"] - int8_metrics["delta1"],
            "abs_rel_increase_net": (int8_metrics["abs_rel"] - float_metrics["abs_rel"]) / abs_rel,
        }


def _within_delta1(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    return np.maximum(pred / gt, gt / pred) < 1.25


def openvino_runner(onnx_path: Path):
    """The project's OpenVINO runner with bench's default settings, compiled straight from the ONNX (OpenVINO
    reads ONNX itself; the IR that `build` saves would be the same graph, written and read back)."""
    from ..backends import openvino as ov_backend

    return ov_backend.OpenVINORunner(Path(onnx_path), dict(ov_backend.DEFAULT_OPTIONS))


def latency_ms(onnx_path: Path, batch: np.ndarray) -> float:
    with openvino_runner(onnx_path) as runner:
        return median_latency_ms(runner, batch)


def median_latency_ms(runner, batch: np.ndarray) -> float:
    """Median of LATENCY_RUNS timed runs after LATENCY_WARMUP untimed ones, in milliseconds."""
    for _ in range(LATENCY_WARMUP):
        runner.infer(batch)
    return 1000 * statistics.median(runner.timed_infer(batch)[1] for _ in range(LATENCY_RUNS))
