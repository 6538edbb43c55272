"""TensorRT 10 and 11 on an NVIDIA GPU: a strongly typed engine parsed from ONNX.

A strongly typed network runs every layer in the type the ONNX gives it. TensorRT 10 builds one when asked
(`NetworkDefinitionCreationFlag.STRONGLY_TYPED`); TensorRT 11 builds nothing else (it removed the precision
builder flags and the INT8 calibrators, and ignores the flag). So INT8 comes from the project's Q/DQ ONNX
(`edgedepth quantize --target tensorrt`: symmetric INT8, the only Q/DQ form TensorRT's ONNX parser takes),
FP16 from converting the float ONNX first (`edgedepth.fp16`), FP32 from the float ONNX as it is. TensorRT 10
matters because edge devices keep it longest (JetPack 6 on Jetson Orin ships TensorRT 10.3). The timing cache
lives next to the engine, one file per GPU and TensorRT version, and is reused by later builds. An engine only
runs on the GPU model and TensorRT version it was built with; its sidecar records both and `load` refuses a
mismatch before TensorRT fails obscurely.

Every TensorRT call here exists with the signature used in the Python bindings of TensorRT 10.0 and 11.1
(python/src/infer/pyCore.cpp, pyFoundationalTypes.cpp, parsers/pyOnnx.cpp; tests/test_tensorrt.py lists them).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from ..artifacts import publishing
from ..errors import EdgeDepthError, RuntimeMissing
from ..fusion import Layer, fusion_report
from ..onnx_graph import QDQ_OPS, load_graph
from . import BuildOptions, LoadOptions, Runner, build_source, built_record

NAME = "tensorrt"
DEVICES = ("cuda",)
#: The oldest TensorRT this module was checked against (release/10.0's Python bindings): strongly typed
#: networks, the tensor-name I/O API and `execute_async_v3` are all there.
MIN_MAJOR = 10
ENGINE_NAME = "model.engine"
#: Smallest H or W a dynamic profile reaches down to (unless the exported size is smaller): at 32 px the
#: stride-16 backbones' deepest feature map is 2×2; smaller inputs only shrink it to a pixel.
MIN_PROFILE_SIDE = 32
#: Words of the inspector's "Format/Datatype" and weight "Type" strings → the precision names of the fusion
#: report (the words trex, TensorRT's engine explorer, maps too: "BFloat16", "Half", "Float", ...).
DATATYPE_WORDS = (("int8", "int8"), ("fp8", "fp8"), ("int4", "int4"), ("bf16", "bf16"), ("bfloat16", "bf16"),
                  ("half", "fp16"), ("fp16", "fp16"), ("float", "fp32"), ("fp32", "fp32"), ("int32", "int32"),
                  ("int64", "int64"), ("uint8", "uint8"), ("bool", "bool"))
#: Which of a layer's tensor types names its precision: the narrowest compute type first (a quantized layer
#: has INT8 on at least one side), integer index/shape types only when there is nothing else.
PRECISION_ORDER = ("int4", "fp8", "int8", "fp16", "bf16", "fp32", "int32", "int64", "uint8", "bool")


def unavailable_reason(device: str) -> str:
    if device not in DEVICES:
        return "TensorRT runs on NVIDIA GPUs only (device cuda)"
    try:
        import tensorrt as trt
    except ImportError:
        return "tensorrt is not installed (pip install 'edgedepth[tensorrt]'; needs an NVIDIA GPU and driver)"
    major = int(str(trt.__version__).split(".")[0])
    if major < MIN_MAJOR:
        return f"TensorRT {trt.__version__} found; edgedepth needs TensorRT {MIN_MAJOR}+ (strongly typed networks)"
    import torch

    if not torch.cuda.is_available():
        return "no CUDA GPU is visible to torch (torch.cuda.is_available() is False)"
    return ""


def build(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, options: BuildOptions) -> Path:
    """Build `<out_dir>/model.engine` (+ sidecar, + timing cache) for the GPU of this machine.

    options.precision: "fp32", "fp16", "int8" (None: int8 for a Q/DQ ONNX, else fp32); keep_float: ONNX node
    names that stay float32 in an FP16 build; max_batch: dynamic batch axis; workspace_mb."""
    import tensorrt as trt

    onnx_path, out_dir = Path(onnx_path), Path(out_dir)
    reason = unavailable_reason("cuda")
    if reason:
        raise RuntimeMissing(f"cannot build a TensorRT engine here: {reason}")
    source = build_source(onnx_path)
    precision = build_precision(source, options.precision)
    parsed = onnx_path
    if precision == "fp16":
        from ..fp16 import convert_to_fp16

        # in a subfolder: the engine stays the only finished artifact (file + sidecar) directly in out_dir
        parsed = convert_to_fp16(onnx_path, out_dir / "fp16" / "model.onnx", keep_float=options.keep_float)

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 needs the flag (bit 1 there); TensorRT 11 renumbered it to 0 and ignores it (always strongly typed)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(parsed)):
        errors = "; ".join(str(parser.get_error(i).desc()) for i in range(parser.num_errors))
        raise EdgeDepthError(f"TensorRT cannot parse {parsed} ({errors[:200]}); re-export it with `edgedepth export`")
    config = builder.create_builder_config()
    config.profiling_verbosity = trt.ProfilingVerbosity.DETAILED
    # TF32 is on by default and rounds float32 products to 10-bit mantissas: off, so a float32 layer computes
    # in float32 here as in ONNX Runtime and OpenVINO (Polygraphy's default too)
    config.clear_flag(trt.BuilderFlag.TF32)
    if options.workspace_mb:
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(options.workspace_mb) << 20)
    target = current_target()
    cache_path = out_dir / timing_cache_name(target)
    cache, cache_reused = attach_timing_cache(config, cache_path)
    profile_shapes = add_profile(builder, network, config, source.spec.input_size, options.max_batch)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise EdgeDepthError(f"TensorRT could not build an engine from {parsed}; run with TensorRT's verbose log to see why")
    with publishing(out_dir / ENGINE_NAME) as staging:
        (staging / cache_path.name).write_bytes(memoryview(cache.serialize()))
        staging.artifact.write_bytes(memoryview(serialized))
        report = fusion_report(parsed, layer_rows(_engine_information(staging.artifact)), NAME)
        staging.sidecar = {
            **built_record(source, NAME, strongly_typed=True, tf32=False, profile=profile_shapes,
                           keep_float=sorted(options.keep_float), parsed_onnx=str(parsed),
                           timing_cache={"path": str(cache_path), "reused": cache_reused}, fusion=report.__dict__,
                           fusion_precision="estimated per layer from the engine inspector: the narrowest of its weight, "
                                            "input and output types (layer_precision)"),
            **target,
            "precision": precision,
        }
    return out_dir / ENGINE_NAME


def timing_cache_name(target: dict) -> str:
    """The timing cache's file name for a GPU and TensorRT version: a cache only serves the device it was
    timed on, so builds on other GPUs into the same folder each keep their own."""
    gpu = re.sub(r"[^a-z0-9]+", "-", str(target["gpu"]).lower()).strip("-")
    return f"timing.{gpu}.trt{target['tensorrt_version']}.cache"


def attach_timing_cache(config, path: Path):
    """Attach the cache saved at `path` when TensorRT takes it, else a fresh one; returns (cache, reused).

    TensorRT refuses a cache from a device with other properties (`set_timing_cache` returns False with
    `ignore_mismatch=False`, kept because NVIDIA warns that a foreign cache "may lead to functional/performance
    bugs") and gives None for one it cannot read; both fall back to an empty cache, as Polygraphy does."""
    saved = path.read_bytes() if path.is_file() else b""
    cache = config.create_timing_cache(saved) if saved else None
    if cache is not None and config.set_timing_cache(cache, ignore_mismatch=False):
        return cache, True
    cache = config.create_timing_cache(b"")
    config.set_timing_cache(cache, ignore_mismatch=False)
    return cache, False


def build_precision(source, requested: str | None) -> str:
    """The precision an engine from this ONNX (a build_source) will have; refuses a request the ONNX cannot give,
    and Q/DQ in a form TensorRT cannot parse."""
    onnx_path = source.artifact
    quantized = source.precision == "int8"
    if quantized:
        check_qdq_form(source)
    if requested in (None, "int8" if quantized else "fp32"):
        return "int8" if quantized else "fp32"
    if quantized:
        raise EdgeDepthError(f"{onnx_path} is a Q/DQ INT8 model and builds only as int8; pass the float ONNX for {requested}")
    if requested == "int8":
        raise EdgeDepthError(f"{onnx_path} has no Q/DQ nodes; make one with `edgedepth quantize --target tensorrt`")
    if requested != "fp16":
        raise EdgeDepthError(f"unknown precision {requested!r} for tensorrt; choose fp32, fp16 or int8")
    return "fp16"


def check_qdq_form(source) -> None:
    """Refuse Q/DQ that TensorRT's ONNX parser rejects, before it does so with a message that says to re-export.

    The quantize sidecar's target decides. A Q/DQ ONNX without one (not made by `edgedepth quantize`) is read
    instead: the parser takes only INT8 zero points, all 0 ("only supports symmetric quantization"; a UINT8
    Q/DQ input is an invalid type there), so the onnxruntime/openvino flavours (UINT8 asymmetric activations,
    INT32 bias dequantization) cannot be built."""
    if source.target == NAME:
        return
    if source.target:
        activations = (source.meta.get("flavour") or {}).get("activations", "?")
        what = f"was quantized for target {source.target} ({activations} activations)"
    else:
        problem = qdq_form_problem(load_graph(source.artifact))
        if not problem:
            return
        what = f"holds Q/DQ that is not symmetric INT8 ({problem})"
    raise EdgeDepthError(f"{source.artifact} {what}, which TensorRT cannot build; "
                         "make the Q/DQ model with `edgedepth quantize --target tensorrt`")


def qdq_form_problem(model) -> str:
    """What in a Q/DQ graph is not symmetric INT8 ("" when all of it is), each kind with the first node that
    has it: zero points of another type, or not 0; a QuantizeLinear without zero point (ONNX's default type is
    UINT8); other than INT8 data dequantized."""
    import onnx
    from onnx import numpy_helper

    constants = {tensor.name: tensor for tensor in model.graph.initializer}
    constants.update({node.output[0]: attr.t for node in model.graph.node if node.op_type == "Constant"
                      for attr in node.attribute if attr.name == "value"})
    int8, type_name = onnx.TensorProto.INT8, onnx.TensorProto.DataType.Name
    found: dict[str, str] = {}  # kind → first node
    for node in model.graph.node:
        if node.op_type not in QDQ_OPS:
            continue
        zero = constants.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        data = constants.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if zero is not None and zero.data_type != int8:
            kind = f"{type_name(zero.data_type)} zero points"
        elif zero is not None and numpy_helper.to_array(zero).any():
            kind = "non-zero zero points"
        elif zero is None and node.op_type == "QuantizeLinear" and \
                next((attr.i for attr in node.attribute if attr.name == "output_dtype"), 0) != int8:
            kind = "UINT8 output (no zero point)"
        elif data is not None and data.data_type != int8:
            kind = f"{type_name(data.data_type)} data dequantized"
        else:
            continue
        found.setdefault(kind, node.name)
    return "; ".join(f"{kind}, first at {name}" for kind, name in found.items())


def add_profile(builder, network, config, size: tuple[int, int], max_batch: int) -> dict | None:
    """An optimization profile for the dynamic axes of the input, if any: batch 1..max_batch, H and W from
    half the exported size (but not under MIN_PROFILE_SIDE, nor over the size) to twice it, optimum at it.
    Returns {input: {min, opt, max}} or None when static."""
    tensor = network.get_input(0)
    shape = tuple(tensor.shape)
    if all(d > 0 for d in shape):
        return None
    h, w = size
    ranges = []  # (min, opt, max) per axis
    for axis, dim in enumerate(shape):
        if dim > 0:
            ranges.append((dim, dim, dim))
        elif axis == 0:
            ranges.append((1, 1, max_batch))
        elif axis in (2, 3):
            side = int((h, w)[axis - 2])
            ranges.append((min(side, max(MIN_PROFILE_SIDE, side // 2)), side, side * 2))
        else:
            raise EdgeDepthError(f"input axis {axis} of {tensor.name} is dynamic; edgedepth exports N×3×H×W with only "
                                 "batch, height and width dynamic: re-export it")
    low, opt, high = (list(column) for column in zip(*ranges))
    profile = builder.create_optimization_profile()
    profile.set_shape(tensor.name, tuple(low), tuple(opt), tuple(high))
    config.add_optimization_profile(profile)
    return {tensor.name: {"min": low, "opt": opt, "max": high}}


def current_target() -> dict:
    """What an engine built now is tied to: GPU name, compute capability, TensorRT version."""
    import tensorrt as trt
    import torch

    major, minor = torch.cuda.get_device_capability()
    return {"gpu": torch.cuda.get_device_name(), "compute_capability": f"{major}.{minor}", "tensorrt_version": str(trt.__version__)}


def check_engine_target(engine_path: Path, sidecar: dict, target: dict) -> None:
    """Refuse an engine built for another GPU or TensorRT version, naming both."""
    if not sidecar.get("tensorrt_version") or not sidecar.get("compute_capability"):
        raise EdgeDepthError(f"{engine_path} sidecar does not say which GPU and TensorRT built it; "
                             "rebuild it with `edgedepth build --backend tensorrt`")
    for key, what in (("tensorrt_version", "TensorRT"), ("compute_capability", "compute capability"), ("gpu", "GPU")):
        if str(sidecar.get(key)) != str(target[key]):
            raise EdgeDepthError(
                f"{engine_path} was built for {what} {sidecar.get(key)} but this machine has {target[key]}; "
                "rebuild it here with `edgedepth build --backend tensorrt`"
            )


def layer_rows(information: dict) -> list[Layer]:
    """Layers of the inspector's DETAILED JSON: name, type, estimated precision (`layer_precision`), and the
    ONNX nodes it came from (the parser's "[ONNX Layer: <node> | Local Function: <f>]" metadata, else the
    layer name split at " + ")."""
    layers = []
    for entry in information.get("Layers", []):
        if isinstance(entry, str):
            raise EdgeDepthError("the engine was built without detailed profiling; rebuild it with `edgedepth build --backend tensorrt`")
        origins = re.findall(r"ONNX Layer: ([^\]\x1e]+)", str(entry.get("Metadata", ""))) or str(entry.get("Name", "")).split(" + ")
        originals = [origin.split(" | ")[0].strip() for origin in origins]
        layers.append(Layer(str(entry.get("Name", "")), str(entry.get("LayerType", "?")), layer_precision(entry), originals))
    return layers


def layer_precision(entry: dict) -> str:
    """The precision a layer most likely executes in, estimated from what the inspector reports: the first of
    PRECISION_ORDER among the types of its weights (Conv, Gemm) and of its input and output tensors, so a
    layer that absorbed its input Quantize (float in, INT8 out or INT8 weights) counts as INT8."""
    weights = entry.get("Weights") if isinstance(entry.get("Weights"), dict) else {}
    texts = [str(weights.get("Type", ""))]
    texts += [str(io.get("Format/Datatype", "")) for io in [*(entry.get("Inputs") or []), *(entry.get("Outputs") or [])]]
    found = {datatype_precision(text) for text in texts}
    return next((name for name in PRECISION_ORDER if name in found), "?")


def datatype_precision(text: str) -> str:
    """'Four wide channel vectorized row major Int8 format' → 'int8'; unknown → '?'."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return next((name for word, name in DATATYPE_WORDS if word in words), "?")


def _engine_information(engine_path: Path) -> dict:
    import tensorrt as trt

    engine = _deserialize(engine_path)
    inspector = engine.create_engine_inspector()
    return json.loads(inspector.get_engine_information(trt.LayerInformationFormat.JSON))


def _deserialize(engine_path: Path):
    import tensorrt as trt

    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
    if engine is None:
        raise EdgeDepthError(f"TensorRT cannot load {engine_path}; rebuild it here with `edgedepth build --backend tensorrt`")
    return engine


def _input_range(engine, name: str) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(smallest, largest) input shape the engine takes: its built shape, or its profile's min and max."""
    shape = tuple(engine.get_tensor_shape(name))
    if all(d > 0 for d in shape):
        return shape, shape
    low, _opt, high = engine.get_tensor_profile_shape(name, 0)
    return tuple(low), tuple(high)


def _dims(shape) -> str:
    return "x".join(str(d) for d in shape)


def load(artifact: str | os.PathLike, options: LoadOptions) -> TensorRTRunner:
    reason = unavailable_reason(options.device)
    if reason:
        raise RuntimeMissing(f"cannot run TensorRT on {options.device}: {reason}")
    engine_path = Path(artifact)
    if engine_path.is_dir():
        engine_path = engine_path / ENGINE_NAME
    if not engine_path.is_file():
        raise EdgeDepthError(f"TensorRT engine {engine_path} not found; build it with `edgedepth build --backend tensorrt`")
    from ..sources import resolve_source

    source = resolve_source(engine_path)
    check_engine_target(engine_path, source.meta, current_target())
    return TensorRTRunner(engine_path, source.facts(), options.warmup)


class TensorRTRunner(Runner):
    """Device buffers are torch CUDA tensors; inference is `execute_async_v3` on a private stream.

    Arrays go in and come out float32 whatever the engine's I/O type (float32 or float16: converted on the
    GPU); `check_batch` also refuses a shape outside what the engine takes, which TensorRT would only
    signal by a False that leaves the output at its built shape."""

    def __init__(self, engine_path: Path, facts, warmup: int):
        import tensorrt as trt
        import torch

        self.engine = _deserialize(engine_path)
        names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.input_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT)
        self.output_name = next(n for n in names if self.engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT)
        torch_types = {trt.DataType.FLOAT: torch.float32, trt.DataType.HALF: torch.float16}
        self.io_types = {}
        for name in (self.input_name, self.output_name):
            dtype = self.engine.get_tensor_dtype(name)
            if dtype not in torch_types:
                type_name = str(dtype).rpartition(".")[2]  # DataType.INT8 → INT8
                raise EdgeDepthError(f"{engine_path} has {type_name} tensor {name!r} and edgedepth feeds and reads float "
                                     "images; rebuild it from an ONNX with float32 or float16 input and output")
            self.io_types[name] = torch_types[dtype]
        self.shape_range = _input_range(self.engine, self.input_name)
        self.context = self.engine.create_execution_context()
        self.stream = torch.cuda.Stream()
        self.name, self.device, self.precision = NAME, "cuda", facts.precision
        self.settings = {"timing": "CUDA events around execute_async_v3", "precision": self.precision}
        self.input_size = facts.fixed_size
        h, w = facts.spec.input_size
        for _ in range(warmup):
            self._infer(np.zeros((self.shape_range[0][0], 3, h, w), np.float32))

    def check_batch(self, batch: np.ndarray) -> np.ndarray:
        batch = super().check_batch(batch)
        low, high = self.shape_range
        if not all(lo <= n <= hi for n, lo, hi in zip(batch.shape, low, high)):
            takes = f"exactly {_dims(low)}" if low == high else f"{_dims(low)} to {_dims(high)}"
            raise EdgeDepthError(f"input is {_dims(batch.shape)} but this TensorRT engine takes {takes}; feed that, or "
                                 "rebuild from an ONNX with dynamic axes (`edgedepth export --dynamic batch|hw|both`)")
        return batch

    def _enqueue(self, batch: np.ndarray):
        """Set the input shape, copy in, launch on the stream; returns the output tensor (not yet synchronized)."""
        import torch

        if not self.context.set_input_shape(self.input_name, tuple(batch.shape)):
            raise EdgeDepthError(f"TensorRT refused input shape {_dims(batch.shape)} for {self.input_name!r}; "
                                 "feed a shape inside the engine's profile (see its sidecar) or rebuild it")
        output_shape = tuple(self.context.get_tensor_shape(self.output_name))
        with torch.cuda.stream(self.stream):
            source = torch.from_numpy(batch).pin_memory().to("cuda", non_blocking=True).to(self.io_types[self.input_name])
            output = torch.empty(output_shape, dtype=self.io_types[self.output_name], device="cuda")
            self.context.set_tensor_address(self.input_name, source.data_ptr())
            self.context.set_tensor_address(self.output_name, output.data_ptr())
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record(self.stream)
            if not self.context.execute_async_v3(self.stream.cuda_stream):
                raise EdgeDepthError("TensorRT failed to enqueue the engine; check the input shape against the engine's profile")
            end.record(self.stream)
        return source, output, start, end

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self._run_timed(batch)[0]

    def timed_infer(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        """Model time from CUDA events around `execute_async_v3` (the host clock would time the launch)."""
        return self._run_timed(self.check_batch(batch))

    def _run_timed(self, batch: np.ndarray) -> tuple[np.ndarray, float]:
        _source, output, start, end = self._enqueue(batch)
        self.stream.synchronize()
        return output.float().cpu().numpy(), start.elapsed_time(end) / 1000.0

    def close(self) -> None:
        self.context = self.engine = self.stream = None
