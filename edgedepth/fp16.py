"""Float ONNX → FP16 ONNX, the input of a strongly typed TensorRT FP16 engine.

TensorRT 11 removed BuilderFlag.FP16: a strongly typed network runs each layer in the type the ONNX gives it,
so FP16 has to be in the graph before parsing. The conversion is ONNX Runtime's maintained float16 converter
(shipped with onnxruntime, no extra dependency, no onnx downgrade). Inputs and outputs stay float32 so callers
feed and read the same arrays as for the FP32 model; nodes named in `keep_float` stay float32 (Casts around
them), for layers whose range or precision FP16 cannot hold.
"""

from __future__ import annotations

import os
from pathlib import Path

from .artifacts import publishing
from .errors import EdgeDepthError
from .sources import resolve_source


def convert_to_fp16(onnx_path: str | os.PathLike, output: str | os.PathLike, *, keep_float: tuple[str, ...] = ()) -> Path:
    """Write an FP16 copy of the float ONNX at `onnx_path` to `output` (+ sidecar); returns `output`."""
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx_path, output = Path(onnx_path), Path(output)
    source = resolve_source(onnx_path)
    model = onnx.load(str(onnx_path))
    if source.precision == "int8":
        raise EdgeDepthError(f"{onnx_path} is a Q/DQ INT8 model; FP16 conversion needs the float ONNX from `edgedepth export`")
    names = {node.name for node in model.graph.node}
    unknown = sorted(set(keep_float) - names)
    if unknown:
        raise EdgeDepthError(f"keep-float layers not in {onnx_path.name}: {', '.join(unknown)}; use ONNX node names")
    converted = convert_float_to_float16(model, keep_io_types=True, node_block_list=list(keep_float))
    with publishing(output) as staging:
        onnx.save(converted, str(staging.artifact))
        staging.sidecar = {
            **source.facts().with_changes(precision="fp16").to_record(),
            "converter": "onnxruntime.transformers.float16 (keep_io_types=True)",
            "keep_float": sorted(keep_float),
            "source_onnx": str(onnx_path),
            "source_onnx_sha256": source.hashes[str(onnx_path)],
        }
    return output
