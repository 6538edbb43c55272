"""Accuracy-budget mode: keep float the layers INT8 hurts most, as few as the budget allows.

Each quantized layer's sensitivity is measured, not guessed: starting from the full INT8 model, that one
layer alone is put back to float (its inputs rewired to the float tensors and weights of the source ONNX)
and the output's mean relative deviation from the float model is measured on a few held-out images in
ONNX Runtime; the sensitivity is how much the deviation falls. This is NNCF's accuracy-control ranking
(revert one, measure), done on the output instead of a metric so that it is smooth on few images.
Measured on the demo model (lraspp 96×128, 126 quantized layers in the openvino flavour, the sweep 17 s on
2 cores): the first convolutions ranked first and no head layer was among the 20 most sensitive; the error
is diffuse. In the tensorrt flavour, through OpenVINO on 64 held-out images, keeping the 4 / 32 most
sensitive layers float cut the output's deviation from float by 16 % / 40 %; the 4 / 32 nearest the output
(the order used before) by 8 % / 11 %. The δ1 and AbsRel deltas of that model (full INT8: +0.003, +0.45 %)
moved by chance more than by which layers were float: budgets near δ1's noise on 64 images (≈ 0.004) need
most layers float whatever the order. ResNet50 at 512² (82 quantized layers): ≈ 10 min of sweep on 2 cores.
The search then keeps the k most sensitive float for k = 1, 2, 4, ... until the measured deltas (against
ground truth and fidelity to float) hold, and bisects back to the smallest such k. Calibration coverage
(coverage.py) is recorded beside the ranking but does not reorder it: on an under-trained lraspp whose head
saturated on 27 % of its held-out values, keeping that one layer float lifted δ1-vs-float from 0.90 to 0.99
but left the deviation from float at 6.8 % (from 8.8 %); the error was diffuse, as the sweep measures.

The budget judges INT8 twice, against ground truth and against the float model:
- ground truth: δ1 of INT8 against δ1 of float, and AbsRel likewise (relative to the float model's), on the
  same held-out images, checked on their one-sided 95 % upper bounds over the per-image differences: noise
  moves some images' scores up by chance, so a mean that happens to be ≤ 0 does not prove INT8 free. (Counting
  only the pixels INT8 makes worse was tried first: with the demo model's δ1 ≈ 0.61, unbiased noise flips
  enough pixels around the 1.25 threshold to charge a 0.015 δ1 drop to an INT8 model whose δ1 moved +0.0014.)
- fidelity: the INT8 output's mean relative deviation from the float output (95 % upper bound over images)
  and δ1 with float as the reference (95 % lower bound). Ground truth alone lets a broken artifact through:
  an under-trained float model's errors can be "corrected" by saturated INT8 output that happens to lie
  nearer the truth (measured: lraspp 128×128 after 2 epochs on 24 scans, tensorrt flavour: AbsRel
  0.80 → 0.67 "better" in INT8, the ground-truth budget met, while its output deviated 8.8 % from float,
  13.4 % on the 95 % bound, with δ1-vs-float 0.90: its head saturated on 27 % of the held-out values).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError
from ..onnx_graph import QDQ_OPS, load_graph
from ..spec import ModelSpec
from .float_layers import with_float_layers

#: Default fidelity limits, on the 95 % bounds, set at what well-calibrated INT8 reaches. Measured on two
#: trainings of the demo model (lraspp 96×128, 800 scans × 12 epochs; 64 samples, 64 held-out images through
#: OpenVINO), deviation bound / δ1-vs-float bound: minmax and percentile in the UINT8 flavours 1.7–1.9 % / 1.000,
#: in the tensorrt flavour (symmetric INT8) 2.8–3.3 % / 0.9998; entropy, which clips the head and the
#: squeeze-excite activations (max |Δ| 11–16 m), 3.8–5.6 % / 0.94–0.998; the broken INT8 of the module
#: docstring 13.4 % / 0.79. A 2 % limit would fail every well-calibrated TensorRT build of the demo model.
MAX_REL_DEVIATION = 0.04
MIN_DELTA1_VS_FLOAT = 0.99


@dataclass(frozen=True)
class Budget:
    """How much INT8 may cost against the float model (defaults: the project's stated budget)."""

    delta1_drop: float = 0.01  # absolute, against ground truth
    abs_rel_increase: float = 0.05  # relative to the float model's AbsRel
    rel_deviation: float = MAX_REL_DEVIATION  # mean |INT8 − float| / float
    delta1_vs_float: float = MIN_DELTA1_VS_FLOAT  # share of pixels within 1.25× of float's depth

    @classmethod
    def parse(cls, text: str) -> Budget:
        """'0.01,0.05' (ground-truth limits; fidelity at its defaults) or '0.01,0.05,0.04,0.99' (all four)."""
        try:
            values = [float(v) for v in text.split(",")]
            if len(values) not in (2, 4) or not all(math.isfinite(v) for v in values):
                raise ValueError
        except ValueError:
            raise EdgeDepthError(f"accuracy budget {text!r} is not DELTA1_DROP,ABSREL_INCREASE[,DEVIATION,DELTA1_VS_FLOAT] "
                                 "in finite numbers (e.g. 0.01,0.05 or 0.01,0.05,0.04,0.99)")
        if any(v < 0 for v in values) or (len(values) == 4 and values[3] > 1):
            raise EdgeDepthError(f"accuracy budget {text!r}: every limit must be ≥ 0, and δ1 vs float ≤ 1")
        return cls(*values)

    def misses(self, result: dict[str, float]) -> list[str]:
        """What `result` (evaluation.EvalSet.compare's keys) misses, one phrase per limit, on the 95 % bounds."""
        checks = [
            (result["delta1_drop_bound"] > self.delta1_drop,
             f"δ1 drop {result['delta1_drop_bound']:+.4f} > {self.delta1_drop:g}"),
            (result["abs_rel_increase_bound"] > self.abs_rel_increase,
             f"AbsRel increase {result['abs_rel_increase_bound']:+.2%} > {self.abs_rel_increase:.0%}"),
            (result["rel_deviation_bound"] > self.rel_deviation,
             f"fidelity: deviation from float {result['rel_deviation_bound']:.2%} > {self.rel_deviation:.0%}"),
            (result["delta1_vs_float_bound"] < self.delta1_vs_float,
             f"fidelity: δ1 vs float {result['delta1_vs_float_bound']:.4f} < {self.delta1_vs_float:g}"),
        ]
        return [phrase for missed, phrase in checks if missed]

    def holds(self, result: dict[str, float]) -> bool:
        return not self.misses(result)

    def describe(self) -> str:
        return (f"δ1 drop ≤ {self.delta1_drop:g}, AbsRel +{self.abs_rel_increase:.0%}, deviation from float "
                f"≤ {self.rel_deviation:.0%}, δ1 vs float ≥ {self.delta1_vs_float:g}")

    def record(self) -> dict[str, float]:
        return {"delta1_drop": self.delta1_drop, "abs_rel_increase": self.abs_rel_increase,
                "rel_deviation": self.rel_deviation, "delta1_vs_float": self.delta1_vs_float}


def quantized_layers(int8_onnx: Path) -> list[str]:
    """Names of the nodes that read a dequantized tensor: the layers INT8 actually touches."""
    graph = load_graph(int8_onnx).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return [node.name for node in graph.node if node.op_type not in QDQ_OPS and dequantized.intersection(node.input)]


def rank_by_sensitivity(float_onnx: Path, int8_onnx: Path, layers: Sequence[str], batches: Sequence[np.ndarray],
                        spec: ModelSpec, progress: Callable[[int], None] | None = None) -> list[tuple[str, float]]:
    """(layer, sensitivity) most sensitive first: how much keeping that layer alone float lowers the output's
    mean relative deviation from the float model (`measure.compare`, unclamped) on `batches`, measured in ONNX
    Runtime on the CPU."""
    import onnx

    from ..backends.onnxruntime import session_runner
    from ..measure.compare import distance_sums, distances, merge_sums

    def outputs(model) -> list[np.ndarray]:
        with session_runner(model) as runner:
            return [runner.infer(batch) for batch in batches]

    float_model, int8_model = onnx.load(float_onnx), onnx.load(int8_onnx)
    reference = outputs(float_model)

    def deviation(model) -> float:
        sums = None
        for output, expected in zip(outputs(model), reference):
            sums = merge_sums(sums, distance_sums(output, expected, spec.output, spec.depth.min_depth))
        return distances(sums)["rel_deviation"]

    full = deviation(int8_model)
    ranking = []
    for layer in layers:
        ranking.append((layer, full - deviation(with_float_layers(int8_model, float_model, [layer]))))
        if progress:
            progress(1)
    return sorted(ranking, key=lambda item: -item[1])


@dataclass
class SearchResult:
    kept: list[str]
    trials: list[dict] = field(default_factory=list)  # every (layers kept float, measured deltas) tried


def search(rank: Callable[[], Sequence[str]], budget: Budget, try_keeping: Callable[[list[str]], dict[str, float]],
           full_int8_deltas: dict[str, float]) -> SearchResult:
    """Smallest top-k of the ranking kept float for which `try_keeping` (→ measured deltas) meets `budget`;
    `rank()` (layers, most sensitive first) is called only when full INT8 misses the budget."""
    trials = [{"kept_float": 0, **full_int8_deltas}]
    if budget.holds(full_int8_deltas):
        return SearchResult([], trials)
    ranking = list(rank())
    if not ranking:
        raise EdgeDepthError(f"the accuracy budget is not met ({'; '.join(budget.misses(full_int8_deltas))}) and no "
                             "quantized layer is left to keep float; loosen the budget")

    def attempt(k: int) -> bool:
        deltas = try_keeping(list(ranking[:k]))
        trials.append({"kept_float": k, **deltas})
        return budget.holds(deltas)

    failing, k = 0, 1
    while not attempt(k):
        if k == len(ranking):
            raise EdgeDepthError(
                f"the accuracy budget is not met even with all {k} quantized layers float "
                f"({'; '.join(budget.misses(trials[-1]))}); loosen the budget or check the held-out data"
            )
        failing, k = k, min(2 * k, len(ranking))
    holding = k
    while holding - failing > 1:
        middle = (failing + holding) // 2
        if attempt(middle):
            holding = middle
        else:
            failing = middle
    return SearchResult(list(ranking[:holding]), trials)
