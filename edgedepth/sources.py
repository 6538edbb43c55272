"""What the user handed in, resolved once: `ModelSource`. The one resolver of every command and `edgedepth.load`.

Every form in `FORMS` is read by one small loader, picked by what is on disk (or by a factory): an edgedepth
checkpoint, a plain state_dict of a registered arch, the user's own code (a factory, optionally with weights), a
TorchScript file, a whole pickled module (only when trusted: unpickling runs code from the file), an ONNX, and
the artifacts edgedepth builds (an OpenVINO IR, an ONNX Runtime build, a TensorRT engine, or the folder holding
one). `resolve_source` then settles the model's `ModelSpec`, whatever the form:
- what the file records is believed (a declaration that contradicts it is refused); what it does not record is
  declared, or defaults (metric output, ImageNet preprocessing, the default depth range);
- for a network, which output is depth and the input size and its multiple (`fitting`), checked by running it.
Each form also names the runtimes that read it (`Form.readers`: the first is the default).

torch is imported inside the functions: the CLI reads FORMS and OUTPUT_KINDS for its help and stays light.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import json
import os
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import read_sidecar, sha256
from .data.transforms import IMAGENET, Preprocessing
from .ecosystems import huggingface, ultralytics
from .errors import EdgeDepthError, first_line
from .loaded import Loaded
from .models import ARCHS, CHECKPOINT_FORMAT, arch_spec
from .spec import OUTPUT_KINDS, ArtifactFacts, DepthRange, ModelSpec, output_kind
from .torchfiles import check_finite_weights, importable_from_here, load_weights, read_torch_file

if TYPE_CHECKING:
    from torch import nn

__all__ = ["FORMS", "OUTPUT_KINDS", "ModelRequest", "ModelSource", "forms_help", "resolve_source"]

#: What `edgedepth build` leaves in its output folder, and the form of each.
BUILT_FILES = {"model.xml": "openvino", "model.engine": "tensorrt", "model.onnx": "onnx"}
#: Suffixes of files read with torch.load (a zip archive of any name is read too).
TORCH_SUFFIXES = (".pt", ".pth", ".ckpt", ".tar", ".ts", ".jit")


@dataclass(frozen=True)
class ModelRequest:
    """What the user said about the model: the file, and the declarations (None: not declared)."""

    path: Path | None = None
    arch: str | None = None
    factory: str | None = None  # "package.module:callable"
    weights: Path | None = None  # with factory
    output_key: str | None = None
    output_kind: str | None = None
    size: tuple[int, int] | None = None
    size_multiple: int | None = None
    trust_pickle: bool = False
    preprocessing: Preprocessing | None = None


@dataclass(frozen=True)
class ModelSource:
    """A model the pipeline knows: its spec, and either a torch module whose forward maps N×3×H×W to N×1×H×W
    (adapters applied, eval mode) or the file a runtime loads (`artifact`: an ONNX, an IR, an engine)."""

    form: str  # a key of FORMS
    origin: str  # where it came from, for sidecars and messages
    spec: ModelSpec
    model: nn.Module | None = None
    artifact: Path | None = None
    precision: str = "fp32"
    dynamic: str = "none"
    recorded: bool = False  # the spec is the file's own record (not declared or defaulted)
    files: tuple[Path, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # a checkpoint's metadata, an artifact's sidecar
    provenance: dict[str, Any] | None = None  # where an edgedepth artifact's model came from, as it records
    target: str | None = None  # a Q/DQ model's: the runtime its form was made for

    @property
    def readers(self) -> tuple[str, ...]:
        """The backends that run this model; the first is the default."""
        return FORMS[self.form].readers

    @functools.cached_property
    def hashes(self) -> dict[str, str]:
        """SHA-256 of each file the model came from, computed once."""
        return {str(path): sha256(path) for path in self.files}

    def facts(self) -> ArtifactFacts:
        """The spec with where the model came from: what every artifact made from this model records (an edgedepth
        artifact passes on the provenance it records)."""
        provenance = self.provenance or {"form": self.form, "origin": self.origin, "sha256": self.hashes}
        return ArtifactFacts(self.spec, self.precision, self.dynamic, provenance, self.target)

    def fingerprint(self) -> str:
        """A hash of the model and its spec (bench caches artifacts under it). A model that no file holds (a
        factory without weights) is hashed by its weights."""
        digest = hashlib.sha256(json.dumps(self.facts().to_record(), sort_keys=True, default=str).encode())
        if not self.files:
            for name, tensor in self.model.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def require_float(self, step: str) -> None:
        """Refuse a lower-precision artifact where `step` starts from the float model."""
        if self.precision != "fp32":
            raise EdgeDepthError(f"{self.origin} holds a {self.precision} model; {step} starts from the float model "
                                 "(the checkpoint or the ONNX from `edgedepth export`)")


@dataclass(frozen=True)
class Form:
    name: str
    given: str  # how it is given on the command line
    what: str  # what it is, in a few words
    load: Callable[[ModelRequest, Any], Loaded]
    readers: tuple[str, ...]  # the backends that run it, the default first


FORMS: dict[str, Form] = {}


def form(name: str, given: str, what: str, readers: tuple[str, ...]):
    def decorator(load: Callable[[ModelRequest, Any], Loaded]) -> Callable[[ModelRequest, Any], Loaded]:
        FORMS[name] = Form(name, given, what, load, readers)
        return load

    return decorator


def forms_help() -> list[str]:
    """One line per form, aligned: what `--help` and the README show."""
    width = max(len(f.given) for f in FORMS.values())
    return [f"{f.given:<{width}}  {f.what}" for f in FORMS.values()]


def resolve_source(request: ModelRequest | str | os.PathLike) -> ModelSource:
    """The one way from what the user has to a ModelSource (a path alone: whatever form the file is)."""
    if not isinstance(request, ModelRequest):
        request = ModelRequest(path=Path(request))
    _check_request(request)
    name, path, content = _form_of(request)
    if request.arch is not None and name not in ("checkpoint", "state_dict"):
        raise EdgeDepthError(f"an arch names the network of a plain state_dict; {path} is {FORMS[name].what}, "
                             "which carries its own: give no arch")
    loaded = FORMS[name].load(replace(request, path=path), content)
    facts = loaded.facts
    spec = facts.spec if facts else None
    declared_kind = output_kind(request.output_kind) if request.output_kind else None
    kind = _settle("output kind", declared_kind, spec and spec.output, OUTPUT_KINDS["metric"], loaded.origin, "name")
    preprocessing = _settle("preprocessing", request.preprocessing, spec and spec.preprocessing, IMAGENET, loaded.origin)
    size = tuple(request.size) if request.size else spec and spec.input_size  # a network may run at another size
    multiple = request.size_multiple or (spec and spec.size_multiple) or loaded.size_multiple
    if loaded.model is not None:
        from .fitting import fit_module

        check_finite_weights(loaded.model.state_dict(), loaded.origin)
        model, size, multiple = fit_module(loaded.model, loaded.arch, request.output_key, size, multiple, loaded.registered)
    else:
        from .fitting import fit_onnx

        model = None
        if loaded.artifact.suffix == ".onnx":
            size = fit_onnx(loaded.static_size, loaded.artifact, size, multiple)
        elif facts.fixed_size and size != facts.fixed_size:
            raise EdgeDepthError(f"{loaded.origin} was built for {facts.fixed_size[0]}x{facts.fixed_size[1]} inputs; declare "
                                 "no other size, or build it again from an ONNX of that size")
    built = ModelSpec(loaded.arch, size, preprocessing, kind, spec.depth if spec else DepthRange(), multiple)
    return ModelSource(name, loaded.origin, built, model, loaded.artifact, loaded.precision, loaded.dynamic,
                       facts is not None, loaded.files, loaded.meta, facts.provenance if facts and facts.provenance else None,
                       facts.target if facts else None)


def _check_request(request: ModelRequest) -> None:
    if request.arch is not None:
        arch_spec(request.arch)  # refuses an unknown one
    if request.factory and request.arch:
        raise EdgeDepthError("an arch and a factory both name the network; give one (an arch for a registered network)")
    if request.factory and request.path is not None:
        raise EdgeDepthError(f"with a factory the weights are given as its weights, not as the model ({request.path})")
    if request.weights is not None and not request.factory:
        raise EdgeDepthError("weights load into the network of a factory; a state_dict for a registered arch is "
                             "given as the model, with its arch")
    if request.size_multiple is not None and request.size_multiple < 1:
        raise EdgeDepthError(f"size multiple {request.size_multiple} must be a positive integer")


def _form_of(request: ModelRequest) -> tuple[str, Path | None, Any]:
    """(the FORMS key, the model file, the file's content for the torch-file forms) from what is on disk."""
    if request.factory:
        return "factory", None, None
    path = request.path
    if path is None:
        raise EdgeDepthError("no model given: pass a model file, or a factory (package.module:callable) for a network "
                             "built by your code")
    if path.is_dir():
        found = [path / name for name in BUILT_FILES if (path / name).is_file()]
        if not found:
            if huggingface.is_folder(path):
                return "huggingface", path, None
            raise EdgeDepthError(f"{path} holds no built model ({', '.join(BUILT_FILES)}) and no Hugging Face model "
                                 "(config.json); build one with `edgedepth build`, or give the model's folder")
        path = found[0]
    elif huggingface.is_hub_id(path):
        return "huggingface", path, None
    elif not path.is_file():
        raise EdgeDepthError(f"model {path} not found; check the path")
    suffix = path.suffix.lower()
    by_suffix = {".onnx": "onnx", ".xml": "openvino", ".engine": "tensorrt"}
    if suffix in by_suffix:
        return by_suffix[suffix], path, None
    if suffix not in TORCH_SUFFIXES and not zipfile.is_zipfile(path):
        raise EdgeDepthError(f"{path} is not a model edgedepth reads; pass a checkpoint (.pt), an .onnx, a folder made "
                             "by `edgedepth build`, or a model of your own (see `edgedepth export --help`)")
    if _is_torchscript(path):
        return "torchscript", path, None
    if ultralytics.is_checkpoint(path):
        return "ultralytics", path, None
    content = read_torch_file(path, f"model {path}", request.trust_pickle)
    if _is_module(content):
        return "pickle", path, content
    if isinstance(content, dict) and content.get("format") == CHECKPOINT_FORMAT:
        return "checkpoint", path, content
    return "state_dict", path, content


def _settle(what: str, declared: Any, recorded: Any, default: Any, origin: str, shown: str | None = None) -> Any:
    """The declared value, or the recorded one, or the default; a declaration that contradicts a record is refused."""
    if declared is not None and recorded is not None and declared != recorded:
        show = (lambda v: getattr(v, shown)) if shown else (lambda v: v)
        raise EdgeDepthError(f"{origin} records {what} {show(recorded)}, which the declared {show(declared)} contradicts; "
                             "drop the declaration (the model is used as it was made)")
    return declared if declared is not None else recorded if recorded is not None else default


def _sidecar(artifact: Path, required: bool, static: tuple[int, int] | None = None) -> tuple[ArtifactFacts | None, dict]:
    """(what an artifact's sidecar records of the model (None when it has no sidecar and need not), the whole
    record), checked against the artifact's static input size where it has one."""
    from .artifacts import sidecar_path

    record = read_sidecar(artifact, required=required)
    if not record:
        return None, {}
    facts = ArtifactFacts.from_record(record, f"sidecar {sidecar_path(artifact)}")
    if static and facts.fixed_size and static != facts.fixed_size:
        raise EdgeDepthError(f"sidecar {sidecar_path(artifact)} records input size {facts.fixed_size[0]}x{facts.fixed_size[1]} "
                             f"but {artifact.name} takes {static[0]}x{static[1]}: the sidecar was edited or belongs to "
                             "another model; re-create the artifact")
    return facts, record


# --- the forms ---------------------------------------------------------------------------------------------


@form("checkpoint", "model.pt", "an edgedepth checkpoint (`edgedepth train`)", ("torch",))
def _checkpoint(request: ModelRequest, content: dict) -> Loaded:
    from .models import checked_checkpoint, checkpoint_spec, model_of_checkpoint

    model, meta = model_of_checkpoint(checked_checkpoint(content, request.path), request.path)
    spec = checkpoint_spec(meta, request.path)
    if request.arch is not None and request.arch != spec.arch:
        raise EdgeDepthError(f"{request.path} is an edgedepth checkpoint of {spec.arch}, not {request.arch}; give no arch")
    return Loaded(spec.arch, f"edgedepth checkpoint {request.path}", model, request.path, (request.path,),
                  ArtifactFacts(spec), registered=True, meta=meta)


@form("state_dict", "weights.pth --arch deeplabv3_resnet50", "a state_dict of a registered arch (DDP prefix, aux head: fine)",
      ("torch",))
def _state_dict(request: ModelRequest, content: Any) -> Loaded:
    from .models import create_model

    if request.arch is None:
        raise EdgeDepthError(f"{request.path} holds a plain state_dict: name its network with an arch (one of "
                             f"{', '.join(sorted(ARCHS))}), or give a factory (package.module:callable) with it as the weights")
    model = create_model(request.arch)
    load_weights(model, content, f"state_dict {request.path}", request.arch)
    return Loaded(request.arch, f"state_dict {request.path} of {request.arch}", model, request.path, (request.path,),
                  size_multiple=ARCHS[request.arch].size_multiple, registered=True)


@form("factory", "--factory pkg.module:build [--weights w.pth]", "your nn.Module, built by your own code", ("torch",))
def _factory(request: ModelRequest, content: None) -> Loaded:
    from torch import nn

    spec = request.factory
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise EdgeDepthError(f"factory {spec} is not package.module:callable (e.g. mynets.depth:build_model)")
    try:
        with importable_from_here():
            module = importlib.import_module(module_name)
    except Exception as exc:  # the user's module: any error it raises on import
        raise EdgeDepthError(f"factory {spec}: module {module_name} does not import ({type(exc).__name__}: "
                             f"{first_line(exc)}); check the name, and that it imports from here (PYTHONPATH)")
    build = module
    for part in attribute.split("."):
        build = getattr(build, part, None)
    if not callable(build):
        raise EdgeDepthError(f"factory {spec}: {module_name} has no callable {attribute}")
    try:
        net = build()
    except Exception as exc:  # the user's code
        raise EdgeDepthError(f"factory {spec}: calling it raised {type(exc).__name__}: {first_line(exc)}")
    if not isinstance(net, nn.Module):
        raise EdgeDepthError(f"factory {spec} returned a {type(net).__name__}, not a torch.nn.Module; "
                             "make it return the network")
    files: tuple[Path, ...] = ()
    if request.weights is not None:
        content = read_torch_file(request.weights, f"weights {request.weights}", request.trust_pickle)
        load_weights(net, content, f"weights {request.weights}", spec)
        files = (request.weights,)
    with_weights = f" with weights {request.weights}" if request.weights else ""
    return Loaded(spec, f"factory {spec}{with_weights}", net, request.weights, files=files)


@form("torchscript", "model.ts", "a TorchScript file (torch.jit.save of a trace or a script)", ("torch",))
def _torchscript(request: ModelRequest, content: None) -> Loaded:
    import torch

    try:
        net = torch.jit.load(str(request.path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError and friends for a damaged archive
        raise EdgeDepthError(f"TorchScript {request.path} does not load ({first_line(exc)}); save it again with torch.jit.save")
    return Loaded(f"{request.path.name} (TorchScript)", f"TorchScript {request.path}", net, request.path, (request.path,))


@form("pickle", "model.pth --trust-pickle", "a whole pickled nn.Module (torch.save(model): loading it runs its code)",
      ("torch",))
def _pickle(request: ModelRequest, content: nn.Module) -> Loaded:
    return Loaded(f"{request.path.name} ({type(content).__name__})", f"pickled {type(content).__name__} {request.path}",
                  content, request.path, (request.path,))


@form("onnx", "model.onnx", "an ONNX: yours (one N×3×H×W image input, one depth output) or edgedepth's, float or INT8",
      ("onnxruntime", "openvino"))
def _onnx(request: ModelRequest, content: None) -> Loaded:
    from .artifacts import sidecar_path
    from .onnx_graph import dynamic_axes, graph_inputs, is_quantized, read_depth_model, static_size

    graph = read_depth_model(request.path)
    image = graph_inputs(graph)[0]
    precision = "int8" if is_quantized(graph) else "fp32"
    if request.output_key is not None:
        raise EdgeDepthError(f"an output key picks an output of a PyTorch model; {request.path} is an ONNX with one output")
    facts, record = _sidecar(request.path, False, static_size(image))  # an ONNX of edgedepth's records what it is
    if facts is not None and (facts.precision == "int8") != (precision == "int8"):
        raise EdgeDepthError(f"sidecar {sidecar_path(request.path)} records precision {facts.precision} but {request.path.name} "
                             f"is {'a Q/DQ' if precision == 'int8' else 'a float'} graph: the sidecar belongs to another model; "
                             "re-create the artifact")
    return Loaded(facts.spec.arch if facts else request.path.name, f"ONNX {request.path}", artifact=request.path,
                  files=(request.path,), facts=facts, precision=facts.precision if facts else precision,
                  dynamic=facts.dynamic if facts else dynamic_axes(image), static_size=static_size(image), meta=record)


@form("openvino", "model.xml (or its build folder)", "an OpenVINO IR from `edgedepth build`", ("openvino",))
def _openvino(request: ModelRequest, content: None) -> Loaded:
    if not request.path.with_suffix(".bin").is_file():
        raise EdgeDepthError(f"OpenVINO IR {request.path} has no weights file {request.path.with_suffix('.bin').name} "
                             "beside it; build it again with `edgedepth build`")
    facts, record = _sidecar(request.path, required=True)
    return Loaded(facts.spec.arch, f"OpenVINO IR {request.path}", artifact=request.path, files=(request.path,),
                  facts=facts, precision=facts.precision, dynamic=facts.dynamic, meta=record)


@form("tensorrt", "model.engine (or its build folder)", "a TensorRT engine from `edgedepth build`", ("tensorrt",))
def _tensorrt(request: ModelRequest, content: None) -> Loaded:
    facts, record = _sidecar(request.path, required=True)
    return Loaded(facts.spec.arch, f"TensorRT engine {request.path}", artifact=request.path, files=(request.path,),
                  facts=facts, precision=facts.precision, dynamic=facts.dynamic, meta=record)


@form("ultralytics", "best.pt --trust-pickle", "an Ultralytics depth checkpoint (`yolo depth train`; AGPL-3.0 extra)",
      ("torch",))
def _ultralytics(request: ModelRequest, content: None) -> Loaded:
    return ultralytics.load(request.path, request.trust_pickle)


@form("huggingface", "hf_folder/", "a Hugging Face depth model folder (`save_pretrained`; read offline)", ("torch",))
def _huggingface(request: ModelRequest, content: None) -> Loaded:
    return huggingface.load(request.path)


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold the model's code (`<name>/code/...`); torch.save's zip files do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _is_module(content: Any) -> bool:
    from torch import nn

    return isinstance(content, nn.Module)

