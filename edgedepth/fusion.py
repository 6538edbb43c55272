"""Fusion report: what a backend made of an ONNX graph, and how much of the compute really runs in INT8.

A backend describes its engine as a list of `Layer`s (type, runtime precision, the ONNX nodes it absorbed);
this module matches them against the ONNX graph and counts. The INT8 share weighs each Conv/MatMul/Gemm by
its multiply-accumulates, because "58 of 66 convolutions are INT8" hides that the 8 float ones may be the
expensive ones.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from .onnx_graph import COMPUTE_OPS, QDQ_OPS, load_graph

INT8_PRECISIONS = ("i8", "u8", "int8", "uint8")


@dataclass
class Layer:
    """One layer of a built engine, as the runtime reports it."""

    name: str
    type: str
    precision: str  # the precision it executes in, lower-case as the runtime names it (f32, bf16, u8, int8...)
    originals: list[str] = field(default_factory=list)  # names the runtime gives for the source nodes
    absorbed_ops: list[str] = field(default_factory=list)  # op types folded in that `originals` cannot name


@dataclass
class FusionReport:
    backend: str
    onnx_nodes: int
    onnx_compute_nodes: int
    engine_layers: int
    fusions: dict[str, int]  # "Conv+Relu → FusedConv": how many times
    qdq_absorbed: int  # ONNX Q/DQ nodes that no longer exist as engine layers (folded into quantized ones)
    layers: list[dict]  # name, type, precision, onnx_ops, macs
    precision_macs: dict[str, int]  # precision → MACs of the Conv/MatMul work executed in it
    int8_mac_share: float  # share of Conv/MatMul/Gemm MACs executed in INT8 (0..1)
    unmatched_compute_nodes: list[str]  # ONNX compute nodes no engine layer claims (should be empty)


def compute_macs(model) -> dict[str, int]:
    """Multiply-accumulates of every Conv/ConvTranspose/MatMul/Gemm node of an ONNX model (static shapes)."""
    import onnx

    inferred = onnx.shape_inference.infer_shapes(model)
    shapes = {init.name: list(init.dims) for init in inferred.graph.initializer}
    for value in [*inferred.graph.input, *inferred.graph.value_info, *inferred.graph.output]:
        dims = value.type.tensor_type.shape.dim
        shapes[value.name] = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    macs = {}
    for node in inferred.graph.node:
        if node.op_type not in COMPUTE_OPS:
            continue
        weight, out = shapes.get(node.input[1]), shapes.get(node.output[0])
        if not weight or not out or 0 in out:
            continue
        if node.op_type == "Conv":  # out N×Cout×H×W, weight Cout×Cin/g×kH×kW
            macs[node.name] = int(np.prod(out, dtype=np.int64) * np.prod(weight[1:], dtype=np.int64))
        elif node.op_type == "ConvTranspose":  # weight Cin×Cout/g×kH×kW: every input pixel scatters a kernel
            data = shapes.get(node.input[0])
            macs[node.name] = int(np.prod(data or [0], dtype=np.int64) * np.prod(weight[1:], dtype=np.int64))
        else:  # out …×M×N, reduced over K = the weight's second-last (or, transposed Gemm, last) dim
            transposed = node.op_type == "Gemm" and any(a.name == "transB" and a.i for a in node.attribute)
            k = weight[-1] if transposed else weight[-2] if len(weight) > 1 else weight[0]
            macs[node.name] = int(np.prod(out, dtype=np.int64) * k)
    return macs


def onnx_node_of(original: str, node_names: set[str]) -> str | None:
    """The ONNX node a runtime's 'original layer name' came from: exact, or its longest '/'-prefix
    (OpenVINO splits a Conv into '<node>/WithoutBiases' + a bias Add, for instance)."""
    name = original
    while name:
        if name in node_names:
            return name
        name = name.rpartition("/")[0]
    return None


def fusion_report(onnx_path: str | os.PathLike, layers: list[Layer], backend: str) -> FusionReport:
    model = load_graph(onnx_path)
    op_type = {node.name: node.op_type for node in model.graph.node if node.name}
    macs = compute_macs(model)
    node_names = set(op_type)
    fusions: Counter[str] = Counter()
    precision_macs: Counter[str] = Counter()
    claimed: set[str] = set()
    rows = []
    for layer in layers:
        nodes = list(dict.fromkeys(n for n in (onnx_node_of(o, node_names) for o in layer.originals) if n))
        all_ops = [op_type[n] for n in nodes] + layer.absorbed_ops
        ops = [op for op in all_ops if op not in QDQ_OPS]
        qdq = len(all_ops) - len(ops)
        layer_macs = sum(macs.get(n, 0) for n in nodes if n not in claimed)
        claimed.update(nodes)
        precision = layer.precision.lower()
        if layer_macs:
            precision_macs[precision] += layer_macs
        if ops and (len(ops) > 1 or qdq):
            fusions[f"{'+'.join(dict.fromkeys(ops))}{'+Q/DQ' if qdq else ''} → {layer.type}"] += 1
        rows.append({"name": layer.name, "type": layer.type, "precision": precision, "onnx_ops": ops, "macs": layer_macs})
    total = sum(precision_macs.values())
    int8 = sum(v for k, v in precision_macs.items() if k in INT8_PRECISIONS)
    return FusionReport(
        backend=backend,
        onnx_nodes=len(model.graph.node),
        onnx_compute_nodes=sum(node.op_type in COMPUTE_OPS for node in model.graph.node),
        engine_layers=len(layers),
        fusions=dict(fusions.most_common()),
        qdq_absorbed=sum(node.op_type in QDQ_OPS for node in model.graph.node) - sum(layer.type in QDQ_OPS for layer in layers),
        layers=rows,
        precision_macs=dict(precision_macs.most_common()),
        int8_mac_share=int8 / total if total else 0.0,
        unmatched_compute_nodes=sorted(n for n in macs if n not in claimed),
    )
