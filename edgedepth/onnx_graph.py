"""Facts about an ONNX graph that several steps ask: which ops are Q/DQ or compute, is it quantized, what
precision it holds. One definition each, so export, quantize, every backend and the fusion report agree.

`onnx` is imported inside the functions that read a file: importing this module loads no runtime.
"""

from __future__ import annotations

import os
from pathlib import Path

QDQ_OPS = ("QuantizeLinear", "DequantizeLinear")
#: The ops that carry a model's multiply-accumulates: what quantization and the INT8 share are about.
COMPUTE_OPS = ("Conv", "ConvTranspose", "MatMul", "Gemm")


def load_graph(path: str | os.PathLike):
    """The ModelProto at `path`, without external weight data (for questions about the graph only)."""
    import onnx

    return onnx.load(str(path), load_external_data=False)


def is_quantized(model) -> bool:
    """Whether a ModelProto holds Q/DQ nodes, i.e. is an explicit-quantization (INT8) model."""
    return any(node.op_type in QDQ_OPS for node in model.graph.node)


def compute_nodes(model) -> list[str]:
    """Names of the Conv/MatMul/Gemm nodes, in graph order."""
    return [node.name for node in model.graph.node if node.op_type in COMPUTE_OPS]


def precision_of(path: str | os.PathLike, sidecar: dict | None = None) -> str:
    """The precision an ONNX holds: its sidecar's word when it has one, else "int8" for a Q/DQ graph and
    "fp32" otherwise."""
    if sidecar and "precision" in sidecar:
        return str(sidecar["precision"])
    return "int8" if is_quantized(load_graph(Path(path))) else "fp32"
