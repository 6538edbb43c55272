"""Facts about an ONNX graph that several steps ask: which ops are Q/DQ or compute, is it quantized, what
precision it holds. One definition each, so export, quantize, every backend and the fusion report agree.

`onnx` is imported inside the functions that read a file: importing this module loads no runtime.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import EdgeDepthError, first_line

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


def precision_of(model) -> str:
    """The precision an ONNX graph (a path or a ModelProto) holds: "int8" for a Q/DQ graph, "fp16" when its
    weights are float16, else "fp32"."""
    import onnx

    model = model if isinstance(model, onnx.ModelProto) else load_graph(Path(model))
    if is_quantized(model):
        return "int8"
    return "fp16" if any(init.data_type == onnx.TensorProto.FLOAT16 for init in model.graph.initializer) else "fp32"


def graph_inputs(model) -> list:
    """The graph's real inputs (ValueInfoProto): old opsets also list the weights as inputs."""
    weights = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in weights]


def static_size(value) -> tuple[int, int] | None:
    """(H, W) of an N×C×H×W ValueInfoProto when both are fixed numbers, else None."""
    dims = value.type.tensor_type.shape.dim
    if len(dims) != 4 or not all(d.HasField("dim_value") for d in dims[2:]):
        return None
    return int(dims[2].dim_value), int(dims[3].dim_value)


def dynamic_axes(value) -> str:
    """Which axes of an N×C×H×W ValueInfoProto are symbolic, in spec.DYNAMIC_AXES' words."""
    dims = value.type.tensor_type.shape.dim
    symbolic = {axis for axis, dim in enumerate(dims) if not dim.HasField("dim_value")}
    batch, size = 0 in symbolic, bool(symbolic & {2, 3})
    return "both" if batch and size else "batch" if batch else "hw" if size else "none"


def read_depth_model(path: str | os.PathLike):
    """The graph at `path` when it is a depth model edgedepth can run: one N×3×H×W image input and one
    N×1×h×w depth output (static channel counts checked; batch and size may be symbolic). One line otherwise,
    in the words the C runtime uses, so a model refused later is refused here first."""
    path = Path(path)
    if not path.is_file():
        raise EdgeDepthError(f"ONNX model {path} not found; export one with `edgedepth export`")
    try:
        model = load_graph(path)
    except Exception as exc:  # protobuf's DecodeError and friends for a damaged or foreign file
        raise EdgeDepthError(f"{path} is not a readable ONNX model ({first_line(exc)}); re-export it")
    if not model.graph.node:
        raise EdgeDepthError(f"{path} holds no ONNX graph (empty or not an ONNX file); re-export it")
    inputs, outputs = graph_inputs(model), list(model.graph.output)
    if len(inputs) != 1 or len(outputs) != 1:
        raise EdgeDepthError(f"{path} has {len(inputs)} inputs and {len(outputs)} outputs; "
                             "an edgedepth model has one of each (rgb, depth)")
    for value, channels, what in ((inputs[0], 3, "input (RGB)"), (outputs[0], 1, "output (depth)")):
        if not value.type.tensor_type.HasField("shape"):
            continue  # no recorded shape: the runtime finds out
        dims = value.type.tensor_type.shape.dim
        if len(dims) != 4 or (dims[1].HasField("dim_value") and dims[1].dim_value != channels):
            shape = "×".join(str(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?") for d in dims)
            raise EdgeDepthError(f"{path}: {what} {value.name!r} is {shape or 'of unknown shape'}; "
                                 f"an edgedepth model maps N×3×H×W to N×1×H×W")
    return model
