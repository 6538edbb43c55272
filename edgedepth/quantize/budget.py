"""Accuracy-budget mode: keep float the layers nearest the output, as few as the budget allows.

Candidates are ranked output-first (reverse topological order). In a dense depth regressor the error a late
layer adds reaches the output undamped, and the output's own 8-bit grid is coarse against metric depth,
while noise added early is averaged away by the layers after it. Measured on the demo model (lraspp 96×128,
tensorrt flavour): ranking layers by the relative error each adds to its own output needed 117 of 128 layers
float to bring the δ1 drop under 0.0005; the 3 output-side layers alone took it from 0.0011 to 0.0002 and
the AbsRel increase from 0.17 % to 0.05 %. A float tail is also the cheapest island: one INT8→float boundary.
The search keeps the first k float for k = 1, 2, 4, ... until the measured deltas hold, then bisects back to
the smallest such k.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from ..errors import EdgeDepthError
from .evaluate import Budget


def quantized_layers(int8_onnx: Path) -> list[str]:
    """Names of the nodes that read a dequantized tensor: the layers INT8 actually touches."""
    import onnx

    graph = onnx.load(int8_onnx, load_external_data=False).graph
    dequantized = {out for node in graph.node if node.op_type == "DequantizeLinear" for out in node.output}
    return [
        node.name for node in graph.node
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") and dequantized.intersection(node.input)
    ]


def output_first(float_onnx: Path, layers: Sequence[str]) -> list[str]:
    """`layers` in reverse topological order: the one producing the output first."""
    import onnx

    wanted = set(layers)
    return [node.name for node in reversed(onnx.load(float_onnx, load_external_data=False).graph.node)
            if node.name in wanted]


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
