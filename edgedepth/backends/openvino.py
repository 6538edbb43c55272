"""OpenVINO on CPU: ONNX (FP32 or Q/DQ INT8) → IR, compiled with explicit threads, streams, hint and precision.

The IR keeps FP32 weights (`compress_to_fp16=False`). Every compile in the project goes through
`compile_model` with a `CpuOptions`, so the runner, the build's fusion report and quantize's per-layer
profile all run the same configuration (inference precision pinned to f32 unless asked otherwise).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifacts import publishing
from ..errors import EdgeDepthError, RuntimeMissing, first_line
from ..fusion import Layer, fusion_report
from ..onnx_graph import precision_of
from . import BuildOptions, CpuOptions, LoadOptions, Runner, build_source, built_record, warn_if_other_flavour, wrong_device

NAME = "openvino"
DEVICES = ("cpu",)
#: Runtime-graph bookkeeping nodes that are not layers.
NOT_LAYERS = {"Input", "Output", "Const"}


def unavailable_reason(device: str) -> str:
    if device not in DEVICES:
        return wrong_device(NAME, DEVICES, device) + "; use onnxruntime or tensorrt on cuda"
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "openvino is not installed (pip install openvino)"
    return ""


def build(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, options: BuildOptions) -> Path:
    """Convert to `<out_dir>/model.xml` + `.bin`, compile once for the fusion report, publish with `model.xml.json`."""
    import openvino as ov

    onnx_path = Path(onnx_path)
    reason = unavailable_reason(options.device)
    if reason:
        raise RuntimeMissing(f"cannot build for OpenVINO on {options.device}: {reason}")
    source = build_source(onnx_path)  # refuses what is no ONNX of edgedepth's before OpenVINO probes every frontend on it
    warn_if_other_flavour(source, NAME, "OpenVINO ran the UINT8-activation form 1-5 % faster than symmetric INT8 "
                                        "(quantize/flavours.py)")
    xml = Path(out_dir) / "model.xml"
    with publishing(xml) as staging:
        try:
            model = ov.convert_model(str(onnx_path))
        except Exception as exc:  # OpenVINO's frontends raise their own types for a damaged or foreign file
            raise EdgeDepthError(f"OpenVINO cannot convert {onnx_path} ({first_line(exc)}); re-export it")
        ov.save_model(model, str(staging.artifact), compress_to_fp16=False)
        report = fusion_report(onnx_path, runtime_layers(compile_model(staging.artifact, options.cpu)), NAME)
        staging.sidecar = built_record(source, NAME, compress_to_fp16=False, compile_options=options.cpu.__dict__,
                                       fusion=report.__dict__)
    return xml


def runtime_layers(compiled) -> list[Layer]:
    """The compiled model's runtime graph as layers: type, executed precision, the source nodes it fused."""
    layers = []
    for op in compiled.get_runtime_model().get_ordered_ops():
        info = op.get_rt_info()
        layer_type = info["layerType"].astype(str)
        if layer_type in NOT_LAYERS:
            continue
        originals = [name for name in info["originalLayersNames"].astype(str).split(",") if name]
        layers.append(Layer(op.get_friendly_name(), layer_type, info["runtimePrecision"].astype(str), originals))
    return layers


def load(artifact: str | os.PathLike, options: LoadOptions) -> OpenVINORunner:
    """A runner over an IR (its .xml, or the folder `build` wrote) or straight over an ONNX (OpenVINO reads
    ONNX itself: the IR that `build` saves is the same graph, written and read back)."""
    reason = unavailable_reason(options.device)
    if reason:
        raise RuntimeMissing(f"cannot run OpenVINO on {options.device}: {reason}")
    path = Path(artifact)
    if path.is_dir():
        path = path / "model.xml"
    if path.suffix == ".onnx":
        if not path.is_file():
            raise EdgeDepthError(f"ONNX model {path} not found; export one with `edgedepth export`")
        return OpenVINORunner(compile_model(path, options.cpu), precision_of(path), None)
    if not path.is_file() or not path.with_suffix(".bin").is_file():
        raise EdgeDepthError(f"OpenVINO IR {path} (with its .bin) not found; build it with `edgedepth build`")
    from ..sources import resolve_source

    compiled = compile_model(path, options.cpu)  # a damaged IR says so before its sidecar is read
    source = resolve_source(path)  # the IR's sidecar, checked
    return OpenVINORunner(compiled, source.precision, source.facts().fixed_size, path)


def compile_model(model: str | os.PathLike, cpu: CpuOptions, *, profile: bool = False):
    """The one place OpenVINO compiles a model (an IR .xml or an ONNX path) for the CPU, with `cpu`'s threads,
    streams, hint and inference precision; `profile` turns on the per-layer counters."""
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints

    config = {
        props.inference_num_threads: cpu.thread_count,
        props.num_streams: cpu.streams,
        props.enable_profiling: profile,
        hints.performance_mode: getattr(hints.PerformanceMode, str(cpu.hint).upper()),
        hints.inference_precision: getattr(ov.Type, cpu.inference_precision),
    }
    core = ov.Core()
    try:
        read = core.read_model(str(model))
    except Exception as exc:  # a damaged IR or ONNX: OpenVINO raises RuntimeError subclasses of its own
        raise EdgeDepthError(f"{model} is unreadable by OpenVINO ({first_line(exc)}); rebuild it with `edgedepth build`")
    try:
        return core.compile_model(read, "CPU", config)
    except Exception as exc:
        raise EdgeDepthError(f"OpenVINO cannot compile {model} for CPU ({first_line(exc)}); rebuild it or check the options")


class OpenVINORunner(Runner):
    def __init__(self, compiled, precision: str, recorded_size: tuple[int, int] | None, artifact: Path | None = None):
        self.compiled = compiled
        self.request = compiled.create_infer_request()
        self.name, self.device, self.precision = NAME, "cpu", precision
        self.settings = {
            "threads": int(compiled.get_property("INFERENCE_NUM_THREADS")),
            "streams": int(compiled.get_property("NUM_STREAMS")),
            "hint": str(compiled.get_property("PERFORMANCE_HINT")),
            "inference_precision": compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
        }
        shape = compiled.input(0).get_partial_shape()
        static = (shape[2].get_length(), shape[3].get_length()) if shape[2].is_static and shape[3].is_static else None
        if static and recorded_size and static != tuple(recorded_size):
            raise EdgeDepthError(f"the sidecar of {artifact} records input size {recorded_size[0]}x{recorded_size[1]} but the "
                                 f"IR takes {static[0]}x{static[1]}: the sidecar was edited or belongs to another model; "
                                 "build it again")
        self.input_size = static or recorded_size

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: batch})
        return self.request.get_output_tensor(0).data.copy()

    def close(self) -> None:
        self.request = self.compiled = None
