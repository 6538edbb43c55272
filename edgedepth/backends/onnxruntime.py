"""ONNX Runtime: FP32 and Q/DQ INT8 ONNX on the CPU execution provider (CUDA provider when installed).

`build` runs ONNX Runtime's portable graph optimisations once (constant folding, Conv+activation fusion,
Q/DQ → QLinear* fusion) and saves the result, so the fusion report shows what really executes; the
hardware-specific layout pass (NCHWc) is left to load time, where it runs on the machine that infers.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifacts import publishing
from ..errors import EdgeDepthError, RuntimeMissing, first_line
from ..fusion import Layer, fusion_report
from ..onnx_graph import QDQ_OPS, precision_of
from . import BuildOptions, LoadOptions, Runner, build_source, built_record, warn_if_other_flavour, wrong_device

NAME = "onnxruntime"
DEVICES = ("cpu", "cuda")
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
#: Optimised ops that execute integer arithmetic besides the QLinear* family; everything else runs in float.
INTEGER_OPS = {"ConvInteger", "MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"}


def unavailable_reason(device: str) -> str:
    if device not in DEVICES:
        return wrong_device(NAME, DEVICES, device)
    try:
        import onnxruntime
    except ImportError:
        return "onnxruntime is not installed (pip install onnxruntime)"
    if PROVIDERS[device] not in onnxruntime.get_available_providers():
        return f"ONNX Runtime has no {PROVIDERS[device]} here (install onnxruntime-gpu for CUDA)"
    return ""


def build(onnx_path: str | os.PathLike, out_dir: str | os.PathLike, options: BuildOptions) -> Path:
    """Optimise the graph with ONNX Runtime and publish `<out_dir>/model.onnx` + sidecar with the fusion report;
    the fusions are those of the execution provider of `options.device`."""
    import onnxruntime as ort

    onnx_path = _existing(onnx_path)
    reason = unavailable_reason(options.device)
    if reason:
        raise RuntimeMissing(f"cannot build for ONNX Runtime on {options.device}: {reason}")
    source = build_source(onnx_path)
    warn_if_other_flavour(source, NAME, "ONNX Runtime's CPU kernels ran symmetric INT8 activations slower than FP32 "
                                        "and UINT8 ones 1.5x faster (quantize/flavours.py)")
    with publishing(Path(out_dir) / "model.onnx") as staging:
        session_options = ort.SessionOptions()
        session_options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
        session_options.optimized_model_filepath = str(staging.artifact)
        _session(onnx_path, session_options, options.device)
        report = fusion_report(onnx_path, engine_layers(staging.artifact), NAME)
        staging.sidecar = built_record(source, NAME, device=options.device,
                                       optimization="ORT_ENABLE_EXTENDED (NCHWc layout pass at load time)",
                                       fusion=report.__dict__)
    return Path(out_dir) / "model.onnx"


def engine_layers(optimized_onnx: str | os.PathLike) -> list[Layer]:
    """Nodes of an ONNX Runtime-optimised graph as layers; fused nodes keep the name of the node they replace."""
    import onnx

    layers = []
    for node in onnx.load(str(optimized_onnx), load_external_data=False).graph.node:
        attrs = {a.name: a for a in node.attribute}
        absorbed = [attrs["activation"].s.decode()] if "activation" in attrs else []
        integer = node.op_type.startswith("QLinear") or node.op_type in INTEGER_OPS
        absorbed += list(QDQ_OPS) if integer else []
        layers.append(Layer(node.name, node.op_type, "int8" if integer else "fp32", [node.name], absorbed))
    return layers


def load(artifact: str | os.PathLike, options: LoadOptions) -> OnnxRuntimeRunner:
    path = Path(artifact)
    return OnnxRuntimeRunner(_existing(path / "model.onnx" if path.is_dir() else path), options.device, options.cpu.threads)


def session_runner(model, *, optimize: bool = True, threads: int | None = None) -> OnnxRuntimeRunner:
    """A CPU runner over an ONNX path or an in-memory ModelProto (quantize's candidates, a graph with internal
    tensors exposed as outputs). `optimize=False` keeps every tensor of the graph as written (none fused away)."""
    return OnnxRuntimeRunner(model, "cpu", threads, optimize)


class OnnxRuntimeRunner(Runner):
    def __init__(self, model, device: str, threads: int | None, optimize: bool = True):
        import onnxruntime as ort

        reason = unavailable_reason(device)
        if reason:
            raise RuntimeMissing(f"cannot run ONNX Runtime on {device}: {reason}")
        options = ort.SessionOptions()
        options.log_severity_level = 3  # its advisory lines are not the user's to read
        options.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_ALL if optimize
                                            else ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        self.session = _session(model, options, device)
        self.name, self.device = NAME, device
        self.precision = precision_of(model)
        self.input_size = _static_size(self.session)
        self.input_name = self.session.get_inputs()[0].name
        self.settings = {
            "provider": PROVIDERS[device],
            "intra_op_threads": options.intra_op_num_threads or "default (physical cores)",
            "timing": "host clock around session.run" + (", host↔device copies included" if device == "cuda" else ""),
        }

    def _infer(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input_name: batch})[0]

    def outputs(self, batch: np.ndarray, names: list[str]) -> dict[str, np.ndarray]:
        """The named tensors of one (checked) batch."""
        return dict(zip(names, self.session.run(names, {self.input_name: self.check_batch(batch)})))

    def close(self) -> None:
        self.session = None


def _session(model, options, device: str):
    """An InferenceSession over a path or a ModelProto; the one place the project makes one."""
    import onnxruntime as ort

    what = model if isinstance(model, Path) else "the ONNX model"
    try:
        return ort.InferenceSession(str(model) if isinstance(model, Path) else model.SerializeToString(), options,
                                    providers=[PROVIDERS[device]])
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph/... types for a damaged model
        raise EdgeDepthError(f"ONNX Runtime cannot load {what} ({first_line(exc)}); re-export it with `edgedepth export`")


def _static_size(session) -> tuple[int, int] | None:
    h, w = session.get_inputs()[0].shape[2:]
    return (h, w) if isinstance(h, int) and isinstance(w, int) else None


def _existing(path: str | os.PathLike) -> Path:
    path = Path(path)
    if not path.is_file():
        raise EdgeDepthError(f"ONNX model {path} not found; export one with `edgedepth export` or build with `edgedepth build`")
    return path
