"""Accuracy-budget mode: keep the layers INT8 hurts most in float, as few as the budget allows.

Layers are ranked by the error each one adds: the relative RMS error (INT8 model vs float model) of its
output minus that of its worst input, on a few held-out images. The search then keeps the top-k float for
k = 1, 2, 4, ... until the measured deltas hold, and bisects back to the smallest such k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import EdgeDepthError
from .evaluate import Budget

RANKING_IMAGES = 4


def quantized_layers(int8_onnx: Path) -> list[str]:
    """Names of the nodes that read a dequantized tensor: the layers INT8 actually touches."""
    import onnx

    graph = onnx.load(int8_onnx, load_external_data=False).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return [
        node.name for node in graph.node
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") and dequantized.intersection(node.input)
    ]


def rank_by_sensitivity(float_onnx: Path, int8_onnx: Path, layers: Sequence[str], batches: Sequence[np.ndarray]) -> list[str]:
    """`layers` ordered by the output error each adds in the INT8 model, most harmful first."""
    import onnx

    float_graph = onnx.load(float_onnx, load_external_data=False).graph
    constants = {init.name for init in float_graph.initializer}
    nodes = {node.name: node for node in float_graph.node if node.name in set(layers)}
    tensors = sorted({t for node in nodes.values() for t in (*node.input, *node.output) if t and t not in constants})
    batches = list(batches)[:RANKING_IMAGES]
    reference, quantized = _activations(float_onnx, tensors, batches), _activations(int8_onnx, tensors, batches)

    def error(tensor: str) -> float:
        if tensor not in reference or tensor not in quantized:
            return 0.0
        ref, q = reference[tensor], quantized[tensor]
        return float(np.linalg.norm(q - ref) / (np.linalg.norm(ref) + 1e-12))

    def added(name: str) -> float:
        node = nodes[name]
        inputs = [error(t) for t in node.input if t and t not in constants]
        return max(error(t) for t in node.output) - max(inputs, default=0.0)

    return sorted(nodes, key=added, reverse=True)


def _activations(onnx_path: Path, tensors: Sequence[str], batches: Sequence[np.ndarray]) -> dict[str, np.ndarray]:
    """The named float tensors of a model, concatenated over the batches (names it lacks are left out)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(onnx_path)
    present = {t for node in model.graph.node for t in node.output}
    wanted = [t for t in tensors if t in present and t not in {o.name for o in model.graph.output}]
    model.graph.output.extend(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT, None) for t in wanted)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    runs = [dict(zip(names, session.run(None, {session.get_inputs()[0].name: batch}))) for batch in batches]
    return {name: np.concatenate([run[name].ravel() for run in runs]) for name in names
            if runs and np.issubdtype(runs[0][name].dtype, np.floating)}


@dataclass
class SearchResult:
    kept: list[str]
    trials: list[dict] = field(default_factory=list)  # every (layers kept float, measured deltas) tried


def search(ranking: Sequence[str], budget: Budget, try_keeping: Callable[[list[str]], dict[str, float]],
           full_int8_deltas: dict[str, float]) -> SearchResult:
    """Smallest top-k of `ranking` kept float for which `try_keeping` (→ measured deltas) meets `budget`."""
    trials = [{"kept_float": 0, **full_int8_deltas}]
    if budget.holds(full_int8_deltas):
        return SearchResult([], trials)
    if not ranking:
        raise EdgeDepthError("the accuracy budget is not met and no quantized layer is left to keep float; loosen the budget")

    def attempt(k: int) -> bool:
        deltas = try_keeping(list(ranking[:k]))
        trials.append({"kept_float": k, **deltas})
        return budget.holds(deltas)

    failing, k = 0, 1
    while not attempt(k):
        if k == len(ranking):
            raise EdgeDepthError(
                f"the accuracy budget (δ1 drop ≤ {budget.delta1_drop}, AbsRel increase ≤ {budget.abs_rel_increase:.0%}) "
                f"is not met even with all {k} quantized layers float; loosen the budget or check the held-out data"
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
