"""Calibration coverage: how much of the held-out data falls outside the ranges INT8 was calibrated for.

Each quantized activation has the range its QuantizeLinear can represent, [(qmin − zero point) · scale,
(qmax − zero point) · scale]; a value beyond it by more than half a step saturates. The ranges are read from
the written INT8 model rather than from the calibration statistics: the flavour changes them (the tensorrt
flavour's symmetric ranges span ±max(|min|, |max|), wider than the statistics; UINT8 ranges always include
0), and the NNCF engine keeps no statistics file. The float model then runs the held-out images with those
tensors exposed as outputs (ONNX Runtime, graph optimisations off so no tensor is fused away), one image
at a time so memory stays bounded, and each tensor's share of saturating values is counted.

A held-out set that saturates a tensor the calibration set did not is a calibration set that does not cover
the data: the remedy is more (or more varied) samples, another method, or keeping the layers that read that
tensor float. Measured: the under-trained lraspp of evaluate.py (20 calibration samples, 4 held-out images):
its head's output saturated on 27 % of held-out values, 30 tensors over UNCOVERED_SHARE; the demo model
(64 samples, 64 held-out images): ≤ 0.1 % in the UINT8 flavours and ≤ 0.8 % in the tensorrt flavour with
minmax or percentile, while entropy, which clips on purpose, saturated 13–16 tensors over it, up to 16 %,
the clipped head costing up to 16 m of far depth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..onnx_graph import QDQ_OPS

#: A tensor counts as not covered when more than this share of its held-out values saturates: above what
#: minmax and percentile calibration leave on the demo model (≤ 0.8 %), below the broken and the clipped
#: cases (module docstring). A squeeze-excite vector holds few values per image, so one saturating value
#: there weighs more: read the share with the tensor's size in mind.
UNCOVERED_SHARE = 0.01
#: Tensors listed in the printed summary (the sidecar lists them all, worst first).
WORST_SHOWN = 3


def quantized_ranges(int8_onnx: Path) -> dict[str, dict[str, Any]]:
    """tensor name → {"range": [lo, hi] it saturates beyond, "layers": the nodes reading it through Q/DQ}
    for every quantized activation (weights, which are initializers, are left out)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(int8_onnx).graph
    constants = {init.name: numpy_helper.to_array(init) for init in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant":
            constants[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    ranges = {}
    for node in graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] in constants:
            continue
        scale = float(np.asarray(constants[node.input[1]]).reshape(-1)[0])
        zero_point = constants.get(node.input[2]) if len(node.input) > 2 else None
        dtype = zero_point.dtype if zero_point is not None else np.dtype(np.uint8)
        zero = float(np.asarray(zero_point).reshape(-1)[0]) if zero_point is not None else 0.0
        info = np.iinfo(dtype)
        lo, hi = (info.min - zero - 0.5) * scale, (info.max - zero + 0.5) * scale
        layers = [reader.name for dq in readers.get(node.output[0], []) if dq.op_type == "DequantizeLinear"
                  for reader in readers.get(dq.output[0], []) if reader.op_type not in QDQ_OPS]
        entry = ranges.setdefault(node.input[0], {"range": [lo, hi], "layers": []})
        entry["layers"] += [layer for layer in layers if layer not in entry["layers"]]
    return ranges


def measure(float_onnx: Path, int8_onnx: Path, batches: Sequence[np.ndarray]) -> dict[str, Any]:
    """Per quantized tensor, the share of held-out activations that saturate (worst first), and the tensors
    over UNCOVERED_SHARE."""
    import onnx

    from ..backends.onnxruntime import session_runner

    ranges = quantized_ranges(int8_onnx)
    model = onnx.load(float_onnx)
    inputs = {i.name for i in model.graph.input}
    known = {v.name for v in (*model.graph.value_info, *model.graph.output)} | {n for node in model.graph.node for n in node.output}
    names = [name for name in ranges if name in known and name not in inputs]
    present = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.ValueInfoProto(name=name) for name in names if name not in present)
    runner = session_runner(model, optimize=False)  # no tensor fused away
    measured = [name for name in ranges if name in inputs or name in names]
    outside = dict.fromkeys(measured, 0)
    total = dict.fromkeys(measured, 0)
    low = dict.fromkeys(measured, np.inf)
    high = dict.fromkeys(measured, -np.inf)
    for batch in batches:
        values = runner.outputs(batch, names)
        values.update({name: batch for name in measured if name in inputs})
        for name in measured:
            x, (lo, hi) = values[name], ranges[name]["range"]
            outside[name] += int(np.count_nonzero((x < lo) | (x > hi)))
            total[name] += x.size
            low[name], high[name] = min(low[name], float(x.min())), max(high[name], float(x.max()))
    tensors = sorted(({"tensor": name, "layers": ranges[name]["layers"], "outside": outside[name] / max(total[name], 1),
                       "range": [round(v, 6) for v in ranges[name]["range"]], "held_out": [round(low[name], 6), round(high[name], 6)]}
                      for name in measured), key=lambda row: -row["outside"])
    every = sum(total.values())
    return {
        "measure": "share of held-out activations beyond the INT8 range (by more than half a step): they saturate",
        "images": len(batches),
        "tensors_measured": len(tensors),
        "outside_overall": sum(outside.values()) / every if every else 0.0,
        "uncovered_share": UNCOVERED_SHARE,
        "uncovered": [row["tensor"] for row in tensors if row["outside"] > UNCOVERED_SHARE],
        "tensors": tensors,
    }


def worst_layers(coverage: dict[str, Any], count: int = WORST_SHOWN) -> str:
    """'/Add_10 (input /high_classifier/Conv_output_0 26.9 % saturated), ...' for the worst-covered tensors."""
    return ", ".join(f"{', '.join(row['layers'][:2]) or '(graph output)'} (input {row['tensor']} {row['outside']:.1%} saturated)"
                     for row in coverage["tensors"][:count])
