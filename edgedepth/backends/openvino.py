"""OpenVINO on CPU: ONNX (FP32 or Q/DQ INT8) → IR, compiled with explicit threads, streams and hint.

The IR keeps FP32 weights (`compress_to_fp16=False`). Inference precision is pinned to f32 by default: on
CPUs with bf16 support OpenVINO otherwise runs float layers in bf16, and the "FP32" row would silently not be.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..artifacts import read_sidecar, sha256, write_sidecar
from ..errors import EdgeDepthError, RuntimeMissing
from ..fusion import Layer, fusion_report
from . import Runner, first_line, input_size_of, model_meta

NAME = "openvino"
#: Defaults chosen for single-image latency: one stream, every core on it.
DEFAULT_OPTIONS = {"threads": None, "streams": 1, "hint": "LATENCY", "inference_precision": "f32"}
#: Runtime-graph bookkeeping nodes that are not layers.
NOT_LAYERS = {"Input", "Output", "Const"}


def available() -> bool:
    return not unavailable_reason()


def unavailable_reason(device: str = "cpu") -> str:
    if device != "cpu":
        return "the openvino backend targets the CPU; use onnxruntime or tensorrt on cuda"
    try:
        import openvino  # noqa: F401
    except ImportError:
        return "openvino is not installed (pip install openvino)"
    return ""


def build(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, options: dict | None = None) -> Path:
    """Convert to `<out_dir>/model.xml` + `.bin`, compile once for the fusion report, write `model.xml.json`."""
    import openvino as ov

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise EdgeDepthError(f"ONNX model {onnx_path} not found; export one with `edgedepth export`")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    xml = out_dir / "model.xml"
    staging = Path(tempfile.mkdtemp(prefix=".build.", dir=out_dir))
    try:
        try:
            model = ov.convert_model(str(onnx_path))
        except Exception as exc:
            raise EdgeDepthError(f"OpenVINO cannot convert {onnx_path} ({first_line(exc)}); re-export it")
        ov.save_model(model, str(staging / "model.xml"), compress_to_fp16=False)
        compiled = _compile(staging / "model.xml", compile_settings(options or {}))
        report = fusion_report(onnx_path, runtime_layers(compiled), NAME)
        xml.with_suffix(".xml.json").unlink(missing_ok=True)  # an old sidecar must not vouch for the new IR
        os.replace(staging / "model.bin", xml.with_suffix(".bin"))
        os.replace(staging / "model.xml", xml)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    source = read_sidecar(onnx_path, required=False)
    write_sidecar(xml, {
        **model_meta(source),
        "backend": NAME,
        "precision": source.get("precision", "int8" if report.precision_macs.keys() & {"u8", "i8"} else "fp32"),
        "dynamic": source.get("dynamic", "none"),
        "source_onnx": str(onnx_path),
        "source_onnx_sha256": sha256(onnx_path),
        "compress_to_fp16": False,
        "compile_options": compile_settings(options or {}),
        "fusion": report.__dict__,
    })
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


def load(artifact: str | os.PathLike, device: str = "cpu", **options) -> "OpenVINORunner":
    reason = unavailable_reason(device)
    if reason:
        raise RuntimeMissing(f"cannot run OpenVINO on {device}: {reason}")
    xml = Path(artifact)
    if xml.is_dir():
        xml = xml / "model.xml"
    if not xml.is_file() or not xml.with_suffix(".bin").is_file():
        raise EdgeDepthError(f"OpenVINO IR {xml} (with its .bin) not found; build it with `edgedepth build --backend openvino`")
    return OpenVINORunner(xml, compile_settings(options))


def compile_settings(options: dict) -> dict:
    """DEFAULT_OPTIONS overridden by whichever of its keys `options` sets (other keys belong to other backends)."""
    return {**DEFAULT_OPTIONS, **{k: v for k, v in options.items() if k in DEFAULT_OPTIONS and v is not None}}


class OpenVINORunner(Runner):
    def __init__(self, xml: Path, settings: dict):
        sidecar = read_sidecar(xml, required=False)
        self.compiled = _compile(xml, settings)
        self.request = self.compiled.create_infer_request()
        self.name, self.device = NAME, "cpu"
        self.precision = sidecar.get("precision", "fp32")
        self.settings = {
            "threads": int(self.compiled.get_property("INFERENCE_NUM_THREADS")),
            "streams": int(self.compiled.get_property("NUM_STREAMS")),
            "hint": str(self.compiled.get_property("PERFORMANCE_HINT")),
            "inference_precision": self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name(),
        }
        shape = self.compiled.input(0).get_partial_shape()
        static = shape.is_static and (shape[2].get_length(), shape[3].get_length())
        self.input_size = input_size_of(sidecar) or static or None

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        self.request.infer({0: batch})
        return self.request.get_output_tensor(0).data.copy()

    def close(self) -> None:
        self.request = self.compiled = None


def _compile(xml: Path, settings: dict):
    import openvino as ov
    import openvino.properties as props
    import openvino.properties.hint as hints

    config = {
        props.inference_num_threads: settings["threads"] or os.cpu_count(),
        props.num_streams: settings["streams"],
        hints.performance_mode: getattr(hints.PerformanceMode, str(settings["hint"]).upper()),
        hints.inference_precision: getattr(ov.Type, settings["inference_precision"]),
    }
    core = ov.Core()
    try:
        model = core.read_model(str(xml))
    except Exception as exc:
        raise EdgeDepthError(f"OpenVINO IR {xml} is unreadable ({first_line(exc)}); rebuild it with `edgedepth build`")
    try:
        return core.compile_model(model, "CPU", config)
    except Exception as exc:
        raise EdgeDepthError(f"OpenVINO cannot compile {xml} for CPU ({first_line(exc)}); rebuild it or check the options")
