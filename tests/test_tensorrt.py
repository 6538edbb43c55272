"""The TensorRT backend without a GPU: refusals, engine-target checks, inspector parsing, the TensorRT 10/11 API.

Where the build and run logic is exercised, a recording stand-in for the `tensorrt` module (in the enum
numbering of TensorRT 10 or 11) checks what the code asks TensorRT for (a strongly typed network, no precision
flags, the timing cache reused, the input shape accepted); it produces no numbers. The one real run is
`test_engine_matches_onnx_runtime`, marked `tensorrt`: it skips where TensorRT or a GPU is missing.
"""

import ast
import json
import shutil
import sys
import types
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import pytest

import edgedepth.backends.tensorrt as trt_backend
from edgedepth.artifacts import read_sidecar, write_sidecar
from edgedepth.backends import BuildOptions, LoadOptions
from edgedepth.errors import EdgeDepthError, RuntimeMissing
from edgedepth.sources import resolve_source
from edgedepth.spec import ModelSpec

TARGET = {"gpu": "NVIDIA H100 80GB HBM3", "compute_capability": "9.0", "tensorrt_version": "11.0.0"}
#: The model facts every engine's sidecar holds (what `build` writes beside the target).
ENGINE_RECORD = ModelSpec("lraspp_mobilenet_v3_large", (64, 64)).to_record()
#: Python API that TensorRT 10.0 no longer binds (python/src/infer/pyCore.cpp at release/8.6 vs release/10.0).
GONE_BY_10 = {"execute_async_v2", "build_engine", "max_workspace_size", "get_binding_index", "max_batch_size"}
#: Python API that TensorRT 10.x binds and 11.0 removed (pyCore.cpp at release/10.16 vs release/11.0): the
#: precision builder flags (BuilderFlag.FP16/INT8; DataType.INT8 stays), the INT8 calibrators, EXPLICIT_BATCH.
#: (`execute_v2` is not here: TensorRT 11.1 still binds it.)
GONE_IN_11 = {"FP16", "INT8", "int8_calibrator", "IInt8EntropyCalibrator2", "IInt8EntropyCalibrator",
              "IInt8MinMaxCalibrator", "IInt8LegacyCalibrator", "IInt8Calibrator", "EXPLICIT_BATCH"}
#: Every TensorRT name the backend uses, each found with the signature used in the Python bindings of both
#: release/10.0 and release/11.1 (pyCore.cpp, pyFoundationalTypes.cpp, parsers/pyOnnx.cpp, the wheel's
#: __init__.py). A new call must be checked there and added here.
BOUND_IN_10_AND_11 = {
    "__version__", "Logger", "WARNING", "Builder", "Runtime", "OnnxParser", "NetworkDefinitionCreationFlag",
    "STRONGLY_TYPED", "ProfilingVerbosity", "DETAILED", "BuilderFlag", "TF32", "MemoryPoolType", "WORKSPACE",
    "LayerInformationFormat", "JSON", "TensorIOMode", "INPUT", "OUTPUT", "DataType", "FLOAT", "HALF",
    "create_network", "create_builder_config", "create_optimization_profile", "build_serialized_network",
    "parse_from_file", "num_errors", "get_error", "desc", "get_input", "shape", "name", "set_shape",
    "profiling_verbosity", "clear_flag", "set_memory_pool_limit", "create_timing_cache", "set_timing_cache",
    "serialize", "add_optimization_profile", "deserialize_cuda_engine", "create_engine_inspector",
    "get_engine_information", "create_execution_context", "num_io_tensors", "get_tensor_name", "get_tensor_mode",
    "get_tensor_shape", "get_tensor_dtype", "get_tensor_profile_shape", "set_input_shape", "set_tensor_address",
    "execute_async_v3",
}
#: The names the backend gives TensorRT and the objects it hands out (`self.engine`, `self.context` too).
TRT_OBJECTS = {"trt", "builder", "network", "parser", "config", "profile", "cache", "runtime", "engine", "inspector",
               "context", "tensor"}
#: `NetworkDefinitionCreationFlag.STRONGLY_TYPED` of each major version (include/NvInfer.h): kSTRONGLY_TYPED = 1 at
#: release/10.0 to 10.16 (kEXPLICIT_BATCH = 0 before it); = 0, deprecated and ignored, at release/11.0 and 11.1.
STRONGLY_TYPED = {"10.3.0": 1, "11.1.0": 0}
VERSIONS = sorted(STRONGLY_TYPED)


def tensorrt_api_used() -> set[str]:
    """Attribute names the backend reads from `trt` and from the TensorRT objects it holds."""

    def owner(node):
        while isinstance(node, (ast.Attribute, ast.Call)):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
                return node.attr
            node = node.func if isinstance(node, ast.Call) else node.value
        return node.id if isinstance(node, ast.Name) else None

    tree = ast.parse(Path(trt_backend.__file__).read_text())
    return {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and owner(node) in TRT_OBJECTS and node.attr not in TRT_OBJECTS}


def test_source_uses_only_api_bound_in_tensorrt_10_and_11():
    used = tensorrt_api_used()
    assert not used & (GONE_BY_10 | GONE_IN_11)
    assert used <= BOUND_IN_10_AND_11, f"check these against TensorRT 10.0 and 11.1: {sorted(used - BOUND_IN_10_AND_11)}"
    assert {"STRONGLY_TYPED", "execute_async_v3", "build_serialized_network", "set_input_shape"} <= used


def test_missing_tensorrt_gives_a_clear_reason(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorrt", None)  # import tensorrt → ImportError
    assert "tensorrt is not installed" in trt_backend.unavailable_reason("cuda")
    with pytest.raises(RuntimeMissing, match="tensorrt is not installed"):
        trt_backend.load(tmp_path / "model.engine", LoadOptions(device="cuda"))


def test_cpu_and_tensorrt_before_10_are_refused(monkeypatch):
    assert "NVIDIA GPUs only" in trt_backend.unavailable_reason("cpu")
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="9.3.0"))
    assert "needs TensorRT 10+" in trt_backend.unavailable_reason("cuda")


@pytest.mark.parametrize("version", ["10.3.0", "10.16.0", "11.1.0"])
def test_tensorrt_10_and_11_are_accepted(version, monkeypatch, gpu_here):
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__=version))
    assert trt_backend.unavailable_reason("cuda") == ""


@pytest.mark.parametrize("key, other, what", [("gpu", "NVIDIA L4", "GPU NVIDIA L4"),
                                              ("compute_capability", "8.9", "compute capability 8.9"),
                                              ("tensorrt_version", "11.1.0", "TensorRT 11.1.0")])
def test_engine_for_another_gpu_or_tensorrt_is_refused(key, other, what):
    with pytest.raises(EdgeDepthError, match=f"built for {what} but this machine has {TARGET[key]}; rebuild"):
        trt_backend.check_engine_target(Path("m.engine"), {**TARGET, key: other}, TARGET)
    trt_backend.check_engine_target(Path("m.engine"), dict(TARGET), TARGET)  # the same target passes


def test_engine_sidecar_without_target_is_refused():
    with pytest.raises(EdgeDepthError, match="does not say which GPU and TensorRT built it"):
        trt_backend.check_engine_target(Path("m.engine"), {"precision": "int8"}, TARGET)


@pytest.fixture(scope="module")
def exported(random_checkpoint, synthetic_root, tmp_path_factory):
    """The random checkpoint exported with a dynamic batch axis, and its Q/DQ model for each target (made on
    first use by `edgedepth quantize`, 4 calibration samples, statistics cached in the test session)."""
    from edgedepth.export import export_onnx
    from edgedepth.quantize.judged import quantize_on_data

    folder = tmp_path_factory.mktemp("exported")
    made = {"float": export_onnx(random_checkpoint, folder / "model.onnx", dynamic="batch")}

    def get(target: str) -> Path:
        if target not in made:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("EDGEDEPTH_CACHE", str(tmp_path_factory.getbasetemp() / "edgedepth-cache"))
                made[target] = quantize_on_data(made["float"], synthetic_root, folder / f"model.{target}.onnx",
                                                target=target, samples=4)[0]
        return made[target]

    return get


def test_precision_must_match_the_onnx(float_onnx, exported):
    assert trt_backend.build_precision(resolve_source(float_onnx), None) == "fp32"
    assert trt_backend.build_precision(resolve_source(float_onnx), "fp16") == "fp16"
    assert trt_backend.build_precision(resolve_source(exported("tensorrt")), None) == "int8"
    with pytest.raises(EdgeDepthError, match="quantize --target tensorrt"):
        trt_backend.build_precision(resolve_source(float_onnx), "int8")
    with pytest.raises(EdgeDepthError, match="builds only as int8"):
        trt_backend.build_precision(resolve_source(exported("tensorrt")), "fp16")


def test_qdq_for_another_target_is_refused_in_one_line(exported):
    with pytest.raises(EdgeDepthError) as refused:
        trt_backend.build_precision(resolve_source(exported("openvino")), None)
    message = str(refused.value)
    assert "quantized for target openvino (uint8 asymmetric activations)" in message
    assert "`edgedepth quantize --target tensorrt`" in message and "\n" not in message


def test_qdq_without_a_target_is_read_from_the_graph(exported, int8_onnx, tmp_path):
    # ONNX Runtime's default Q/DQ (UINT8 asymmetric activations, INT32 bias), no quantize sidecar
    with pytest.raises(EdgeDepthError, match=r"not symmetric INT8 \(.*UINT8 zero points.*quantize --target tensorrt"):
        trt_backend.build_precision(resolve_source(int8_onnx), None)
    # the tensorrt flavour, stripped of its sidecar, reads as what TensorRT takes
    bare = tmp_path / "bare.onnx"
    shutil.copy(exported("tensorrt"), bare)
    assert trt_backend.qdq_form_problem(onnx.load(str(bare))) == ""
    assert trt_backend.build_precision(resolve_source(bare), None) == "int8"


def test_datatype_strings_map_to_precisions():
    assert trt_backend.datatype_precision("Four wide channel vectorized row major Int8 format") == "int8"
    assert trt_backend.datatype_precision("Channel major FP16 format where channel % 8 == 0") == "fp16"
    assert trt_backend.datatype_precision("Row major linear FP32") == "fp32"
    assert trt_backend.datatype_precision("Row major linear Half") == "fp16"
    assert trt_backend.datatype_precision("Row major linear BFloat16 format") == "bf16"
    assert trt_backend.datatype_precision("Float") == "fp32"
    assert trt_backend.datatype_precision("") == "?"


def test_inspector_layers_name_their_onnx_nodes():
    info = {"Layers": [
        {"Name": "/conv/Conv + /relu/Relu", "LayerType": "CaskConvolution",
         "Inputs": [{"Format/Datatype": "Four wide channel vectorized row major Int8 format"}],
         "Metadata": "[ONNX Layer: /conv/Conv]\x1e[ONNX Layer: /relu/Relu]"},
        {"Name": "/head/Add", "LayerType": "PointWise", "Inputs": [{"Format/Datatype": "Row major linear FP32"}]},
    ]}
    first, second = trt_backend.layer_rows(info)
    assert (first.type, first.precision, first.originals) == ("CaskConvolution", "int8", ["/conv/Conv", "/relu/Relu"])
    assert (second.precision, second.originals) == ("fp32", ["/head/Add"])
    with pytest.raises(EdgeDepthError, match="without detailed profiling"):
        trt_backend.layer_rows({"Layers": ["/conv/Conv"]})


def test_layers_inside_onnx_local_functions_name_their_node():
    info = {"Layers": [{"Name": "/se/fc1/Conv", "LayerType": "CaskConvolution",
                        "Inputs": [{"Format/Datatype": "Row major linear FP32"}],
                        "Metadata": "[ONNX Layer: /se/fc1/Conv | Local Function: SqueezeExcite]"}]}
    assert trt_backend.layer_rows(info)[0].originals == ["/se/fc1/Conv"]


@pytest.mark.parametrize("entry, precision", [
    # a Conv that absorbed its input Quantize: float in, INT8 out
    ({"Inputs": [{"Format/Datatype": "Row major linear FP32"}],
      "Outputs": [{"Format/Datatype": "Thirty-two wide channel vectorized row major Int8 format"}]}, "int8"),
    # float in and out around INT8 weights
    ({"Inputs": [{"Format/Datatype": "Row major linear FP32"}], "Outputs": [{"Format/Datatype": "Row major linear FP32"}],
      "Weights": {"Type": "Int8", "Count": 864}}, "int8"),
    ({"Inputs": [{"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}],
      "Outputs": [{"Format/Datatype": "Channel major FP16 format where channel % 8 == 0"}],
      "Weights": {"Type": "Half", "Count": 864}}, "fp16"),
    ({"Inputs": [{"Format/Datatype": "Row major linear BFloat16 format"}]}, "bf16"),
    ({"Inputs": [{"Format/Datatype": "Row major linear FP32"}], "Outputs": [{"Format/Datatype": "Row major linear Int32"}]},
     "fp32"),
    ({}, "?"),
])
def test_layer_precision_reads_weights_inputs_and_outputs(entry, precision):
    assert trt_backend.layer_precision(entry) == precision


#: The GPU of the stand-in: the device a timing cache records, and the one `gpu_here` says this machine has.
FAKE_DEVICE = b"this-gpu"


def fake_tensorrt(calls: dict, input_shape: tuple = (1, 3, 64, 64), layers: list[dict] = (), version: str = "11.1.0", *,
                  profile: tuple | None = None, dtypes: tuple[str, str] = ("FLOAT", "FLOAT"),
                  accepts=lambda shape: True) -> types.ModuleType:
    """Records what the backend asks of TensorRT `version`, answering as TensorRT does where it matters.

    Builder: the config refuses any attribute but the verbosity; a timing cache serializes as b"device|timings",
    `create_timing_cache` gives None for bytes it cannot read, `set_timing_cache` returns False for another
    device's cache unless `ignore_mismatch`, and each build adds a timing. Engine: input "rgb" of `input_shape`
    (-1 where dynamic, then `profile` = (min, opt, max)), output "depth" N×1×H×W, I/O types `dtypes`; its
    context's `set_input_shape` returns `accepts(shape)`, and `get_tensor_shape` reports the built shape until
    a shape is accepted."""

    class Cache:
        def __init__(self, device: bytes, timings: bytes = b""):
            self.device, self.timings = device, timings

        def serialize(self):
            return self.device + b"|" + self.timings

    class Config:
        def __setattr__(self, name, value):
            assert name == "profiling_verbosity", f"unexpected builder config setting {name}"
            calls[name] = value

        def create_timing_cache(self, data):
            calls.setdefault("caches_read", []).append(bytes(data))
            device, bar, timings = bytes(data).partition(b"|")
            return Cache(FAKE_DEVICE) if not data else Cache(device, timings) if bar else None

        def set_timing_cache(self, cache, ignore_mismatch):
            calls["ignore_mismatch"] = ignore_mismatch
            if cache.device != FAKE_DEVICE and not ignore_mismatch:
                return False
            self.__dict__["cache"] = cache
            return True

        def get_timing_cache(self):
            return self.__dict__.get("cache")  # None when none was attached

        def add_optimization_profile(self, profile):
            calls["profiles"] = calls.get("profiles", 0) + 1

        def clear_flag(self, flag):
            calls.setdefault("cleared", []).append(flag)

    class Profile:
        def set_shape(self, name, low, opt, high):
            if not all(lo <= o <= hi for lo, o, hi in zip(low, opt, high)):  # as TensorRT: a RuntimeError
                raise RuntimeError("min <= opt <= max does not hold")
            calls["shape"] = (name, low, opt, high)

    network = SimpleNamespace(get_input=lambda i: SimpleNamespace(name="rgb", shape=input_shape))

    class Builder:
        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls["network_flags"] = flags
            return network

        create_builder_config = staticmethod(Config)
        create_optimization_profile = staticmethod(Profile)

        def build_serialized_network(self, net, config):
            if "cache" in config.__dict__:
                config.__dict__["cache"].timings += b"t"
            return b"serialized engine"

    def output_shape(shape):
        return (shape[0], 1, *shape[2:])

    class Context:
        shape = input_shape

        def set_input_shape(self, name, shape):
            calls["input_shape"] = shape
            if accepts(shape):
                self.shape = shape
                return True
            return False

        def get_tensor_shape(self, name):
            return output_shape(self.shape)

    io = {"rgb": ("INPUT", input_shape, dtypes[0]), "depth": ("OUTPUT", output_shape(input_shape), dtypes[1])}
    engine = SimpleNamespace(
        create_engine_inspector=lambda: SimpleNamespace(get_engine_information=lambda fmt: json.dumps({"Layers": layers})),
        num_io_tensors=2, get_tensor_name=lambda i: list(io)[i], get_tensor_mode=lambda name: io[name][0],
        get_tensor_shape=lambda name: io[name][1], get_tensor_dtype=lambda name: io[name][2],
        get_tensor_profile_shape=lambda name, index: list(profile), create_execution_context=Context,
    )
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, level: None})
    trt.Builder = Builder
    trt.NetworkDefinitionCreationFlag = SimpleNamespace(STRONGLY_TYPED=STRONGLY_TYPED[version])
    trt.OnnxParser = lambda net, logger: SimpleNamespace(parse_from_file=lambda path: calls.setdefault("parsed", path))
    trt.ProfilingVerbosity = SimpleNamespace(DETAILED="detailed")
    trt.BuilderFlag = SimpleNamespace(TF32="TF32")
    trt.LayerInformationFormat = SimpleNamespace(JSON="json")
    trt.Runtime = lambda logger: SimpleNamespace(deserialize_cuda_engine=lambda data: engine)
    trt.TensorIOMode = SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT")
    trt.DataType = SimpleNamespace(FLOAT="FLOAT", HALF="HALF", INT8="INT8")
    return trt


@pytest.fixture
def gpu_here(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(trt_backend, "current_target", lambda: dict(TARGET))


@pytest.mark.parametrize("version", VERSIONS)
def test_build_asks_for_a_strongly_typed_network_and_reuses_the_timing_cache(version, float_onnx, tmp_path, monkeypatch,
                                                                             gpu_here):
    conv = next(node.name for node in onnx.load(str(float_onnx)).graph.node if node.op_type == "Conv")
    layers = [{"Name": conv, "LayerType": "CaskConvolution", "Inputs": [{"Format/Datatype": "Row major linear FP32"}],
               "Metadata": f"[ONNX Layer: {conv}]"}]
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls, (1, 3, 64, 64), layers, version))
    engine = trt_backend.build(float_onnx, tmp_path, BuildOptions(precision="fp32"))
    assert calls["network_flags"] == 1 << STRONGLY_TYPED[version] and calls["profiling_verbosity"] == "detailed"
    assert calls["cleared"] == ["TF32"]  # float32 layers compute in float32
    assert calls["caches_read"] == [b""] and "profiles" not in calls  # nothing saved yet; static input: no profile
    assert engine.read_bytes() == b"serialized engine"
    sidecar = read_sidecar(engine)
    assert sidecar["strongly_typed"] and sidecar["precision"] == "fp32" and sidecar["tf32"] is False
    assert {k: sidecar[k] for k in TARGET} == TARGET
    assert sidecar["fusion"]["layers"][0]["precision"] == "fp32" and sidecar["fusion"]["layers"][0]["macs"] > 0
    cache = tmp_path / "timing.nvidia-h100-80gb-hbm3.trt11.0.0.cache"  # named by GPU and TensorRT version
    assert sidecar["timing_cache"] == {"path": str(cache), "reused": False} and cache.read_bytes() == b"this-gpu|t"

    trt_backend.build(float_onnx, tmp_path, BuildOptions(precision="fp32"))
    assert calls["caches_read"][-1] == b"this-gpu|t"  # the first build's cache, read back and grown
    assert read_sidecar(engine)["timing_cache"]["reused"] and cache.read_bytes() == b"this-gpu|tt"


def test_build_refuses_a_two_output_onnx_in_the_words_of_the_other_backends(tmp_path, monkeypatch, gpu_here):
    import torch

    class TwoHeads(torch.nn.Module):
        def forward(self, x):
            return x[:, :1], x[:, 1:2]

    source = tmp_path / "two.onnx"
    torch.onnx.export(TwoHeads(), torch.zeros(1, 3, 16, 16), source, input_names=["rgb"], output_names=["a", "b"],
                      opset_version=17, dynamo=False)
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls))
    with pytest.raises(EdgeDepthError, match="has 1 inputs and 2 outputs; an edgedepth model has one of each"):
        trt_backend.build(source, tmp_path / "engine", BuildOptions())
    assert not (tmp_path / "engine").exists() and "network_flags" not in calls  # refused before TensorRT parses


@pytest.mark.parametrize("saved", [b"other-gpu|ttt", b"not a timing cache"])
def test_a_cache_tensorrt_refuses_is_replaced_by_a_fresh_one(saved, float_onnx, tmp_path, monkeypatch, gpu_here):
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls))
    cache = tmp_path / "timing.nvidia-h100-80gb-hbm3.trt11.0.0.cache"
    cache.write_bytes(saved)
    engine = trt_backend.build(float_onnx, tmp_path, BuildOptions())
    assert calls["caches_read"] == [saved, b""] and calls["ignore_mismatch"] is False
    assert cache.read_bytes() == b"this-gpu|t" and not read_sidecar(engine)["timing_cache"]["reused"]


def test_another_gpus_cache_in_the_folder_is_left_alone(float_onnx, tmp_path, monkeypatch, gpu_here):
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls))
    other = tmp_path / "timing.nvidia-jetson-agx-orin.trt10.3.0.cache"
    other.write_bytes(b"orin|ttt")
    trt_backend.build(float_onnx, tmp_path, BuildOptions())
    assert calls["caches_read"] == [b""] and other.read_bytes() == b"orin|ttt"


def test_fp16_build_parses_the_converted_onnx(float_onnx, tmp_path, monkeypatch, gpu_here):
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls, (1, 3, 64, 64), []))
    engine = trt_backend.build(float_onnx, tmp_path, BuildOptions(precision="fp16"))
    assert Path(calls["parsed"]) == tmp_path / "fp16" / "model.onnx"
    assert [p.name for p in tmp_path.glob("*.json")] == ["model.engine.json"]  # the bench's cache finds the engine
    assert read_sidecar(engine)["precision"] == "fp16"


def test_dynamic_input_gets_an_optimization_profile(float_onnx, tmp_path, monkeypatch, gpu_here):
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls, (-1, 3, -1, -1), []))
    engine = trt_backend.build(float_onnx, tmp_path, BuildOptions(max_batch=4))
    assert calls["profiles"] == 1
    assert calls["shape"] == ("rgb", (1, 3, 32, 32), (1, 3, 64, 64), (4, 3, 128, 128))
    assert read_sidecar(engine)["profile"]["rgb"]["max"] == [4, 3, 128, 128]


def test_profile_of_a_small_input_starts_at_its_size(float_onnx, tmp_path, monkeypatch, gpu_here):
    import onnx

    small = tmp_path / "small.onnx"
    model = onnx.load(float_onnx)
    for value in (model.graph.input[0], model.graph.output[0]):  # batch, height and width symbolic
        for axis, name in ((0, "batch"), (2, "height"), (3, "width")):
            value.type.tensor_type.shape.dim[axis].dim_param = name
    onnx.save(model, small)
    write_sidecar(small, {**read_sidecar(float_onnx), "input_size": [16, 24], "dynamic": "both"})
    calls = {}
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls, (-1, 3, -1, -1)))
    trt_backend.build(small, tmp_path / "engine", BuildOptions(max_batch=2))
    assert calls["shape"] == ("rgb", (1, 3, 16, 24), (1, 3, 16, 24), (2, 3, 32, 48))


def test_load_refuses_an_engine_from_another_gpu(tmp_path, monkeypatch, gpu_here):
    monkeypatch.setitem(sys.modules, "tensorrt", SimpleNamespace(__version__="11.0.0"))
    engine = tmp_path / "model.engine"
    engine.write_bytes(b"engine")
    write_sidecar(engine, {**ENGINE_RECORD, **TARGET, "gpu": "NVIDIA Jetson Orin", "compute_capability": "8.7",
                           "precision": "int8"})
    with pytest.raises(EdgeDepthError, match="built for compute capability 8.7"):
        trt_backend.load(tmp_path, LoadOptions(device="cuda"))


@pytest.fixture
def load_engine(tmp_path, monkeypatch, gpu_here):
    """load(dynamic=..., **stand-in options) → (runner over a stand-in engine, calls); torch's CUDA stream is
    stubbed, so everything up to the first copy to the GPU runs here."""
    import torch

    monkeypatch.setattr(torch.cuda, "Stream", lambda: None)

    def load(dynamic: str = "none", **fake):
        calls = {}
        monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt(calls, **fake))
        engine = tmp_path / "model.engine"
        engine.write_bytes(b"engine")
        write_sidecar(engine, {**ENGINE_RECORD, **TARGET, "precision": "fp32", "dynamic": dynamic})
        return trt_backend.load(engine, LoadOptions(device="cuda", warmup=0)), calls

    return load


def test_static_engine_refuses_a_batch_of_two_before_tensorrt_does(load_engine):
    runner, calls = load_engine(accepts=lambda shape: shape == (1, 3, 64, 64))
    with pytest.raises(EdgeDepthError, match="input is 2x3x64x64 but this TensorRT engine takes exactly 1x3x64x64"):
        runner.infer(np.zeros((2, 3, 64, 64), np.float32))
    assert "input_shape" not in calls


def test_dynamic_engine_checks_its_profile_and_what_tensorrt_answers(load_engine):
    profile = ((1, 3, 64, 64), (1, 3, 64, 64), (4, 3, 64, 64))
    runner, calls = load_engine("batch", input_shape=(-1, 3, 64, 64), profile=profile, accepts=lambda shape: False)
    with pytest.raises(EdgeDepthError, match="takes 1x3x64x64 to 4x3x64x64"):
        runner.infer(np.zeros((5, 3, 64, 64), np.float32))
    with pytest.raises(EdgeDepthError, match="TensorRT refused input shape 2x3x64x64 for 'rgb'"):
        runner.infer(np.zeros((2, 3, 64, 64), np.float32))  # inside the profile, refused anyway: not run
    assert calls["input_shape"] == (2, 3, 64, 64)


def test_engine_io_types_are_read_not_assumed(load_engine):
    import torch

    runner, _ = load_engine(dtypes=("HALF", "FLOAT"))
    assert runner.io_types == {"rgb": torch.float16, "depth": torch.float32}
    with pytest.raises(EdgeDepthError, match="has INT8 tensor 'rgb' and edgedepth feeds and reads float images"):
        load_engine(dtypes=("INT8", "FLOAT"))


def test_cli_build_without_tensorrt_is_one_line(float_onnx, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from edgedepth.cli import main

    monkeypatch.setitem(sys.modules, "tensorrt", None)
    result = CliRunner().invoke(main, ["build", str(float_onnx), "--backend", "tensorrt", "-o", str(tmp_path / "e")])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "tensorrt is not installed" in result.output and len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "e").exists()


#: How far TensorRT INT8 may sit from ONNX Runtime running the same Q/DQ model, as the mean absolute difference
#: over the mean output: the bound tests/test_quantize.py holds INT8 to against float. Two runtimes executing
#: one Q/DQ graph differ only in where they round, so they should sit well inside it.
INT8_AGREEMENT = 0.05


@pytest.mark.tensorrt
@pytest.mark.parametrize("model", ["float", "tensorrt"])
def test_engine_matches_onnx_runtime(model, exported, tmp_path):
    """The real thing, where TensorRT and a GPU are: build an engine from the exported model (dynamic batch) or
    its `--target tensorrt` Q/DQ model, run a batch of 2, and compare with ONNX Runtime on the same ONNX."""
    from edgedepth.backends import onnxruntime as ort_backend
    from edgedepth.export import PARITY_TOLERANCE

    onnx_path = exported(model)
    batch = np.random.default_rng(0).standard_normal((2, 3, 64, 64), dtype=np.float32)
    engine = trt_backend.build(onnx_path, tmp_path, BuildOptions(device="cuda", max_batch=2))
    with trt_backend.load(engine, LoadOptions(device="cuda")) as runner:
        got, seconds = runner.timed_infer(batch)
    with ort_backend.load(onnx_path, LoadOptions()) as reference:
        want = reference.infer(batch)
    assert got.shape == want.shape == (2, 1, 64, 64) and got.dtype == np.float32 and seconds > 0
    sidecar = read_sidecar(engine)
    if model == "float":
        depth = sidecar["depth"]
        assert sidecar["precision"] == "fp32"
        assert np.abs(got - want).max() <= PARITY_TOLERANCE * (depth["max_depth"] - depth["min_depth"])
    else:
        assert sidecar["precision"] == "int8" and sidecar["fusion"]["int8_mac_share"] > 0.5
        assert np.abs(got - want).mean() / np.abs(want).mean() < INT8_AGREEMENT

