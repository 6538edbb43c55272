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
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError
from ..onnx_graph import QDQ_OPS, load_graph
from .evaluate import Budget
from .float_layers import with_float_layers


def quantized_layers(int8_onnx: Path) -> list[str]:
    """Names of the nodes that read a dequantized tensor: the layers INT8 actually touches."""
    graph = load_graph(int8_onnx).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return [node.name for node in graph.node if node.op_type not in QDQ_OPS and dequantized.intersection(node.input)]


def rank_by_sensitivity(float_onnx: Path, int8_onnx: Path, layers: Sequence[str], batches: Sequence[np.ndarray],
                        progress: Callable[[int], None] | None = None) -> list[tuple[str, float]]:
    """(layer, sensitivity) most sensitive first: how much keeping that layer alone float lowers the output's
    mean relative deviation from the float model on `batches`, measured in ONNX Runtime on the CPU."""
    import onnx
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3

    def outputs(model) -> np.ndarray:
        session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        name = session.get_inputs()[0].name
        return np.stack([session.run(None, {name: batch})[0] for batch in batches])

    float_model, int8_model = onnx.load(float_onnx), onnx.load(int8_onnx)
    reference = outputs(float_model)
    scale = np.maximum(np.abs(reference), 1e-3)

    def deviation(model) -> float:
        return float(np.mean(np.abs(outputs(model) - reference) / scale))

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
