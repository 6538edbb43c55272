"""What the user handed in, resolved once into a model the pipeline knows: `ModelSource`.

Every command that takes a model takes any form in `FORMS`, each read by one small loader (picked by what is on
disk, or by --factory): an edgedepth checkpoint, a plain state_dict of a registered arch, the user's own code
(`--factory module:callable`, optionally `--weights`), a TorchScript file, a whole pickled module (only when
trusted: unpickling runs code from the file) and an ONNX. `resolve_source` then settles, whatever the form:
- the declarations the metrics and runtimes depend on: output kind, preprocessing, depth range (a file that
  records them is believed; a declaration that contradicts it is refused);
- which output is depth (`wrappers.DepthOutput`: a tuple's or dict's entry, N×H×W given its channel axis);
- the input size and its multiple (the arch's, declared, or found by trial on small inputs), checked by
  running the model at that size: it must return depth at the size it was given.

torch is imported inside the functions: the CLI reads FORMS and OUTPUT_KINDS for its help and stays light.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import os
import sys
import warnings
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .artifacts import sha256
from .data.transforms import IMAGENET, Preprocessing
from .ecosystems import Loaded, huggingface, ultralytics
from .errors import EdgeDepthError, first_line
from .evaluation import ALIGNMENTS
from .models import ARCHS, CHECKPOINT_FORMAT, DEFAULT_DEPTH, arch_spec

if TYPE_CHECKING:
    from torch import nn

OUTPUT_KINDS = tuple(ALIGNMENTS)
#: Input size of a model that records none and was given no --size: DIODE's 768×1024 scans halved, rounded
#: up to the model's size multiple.
DEFAULT_INPUT_SIZE = (384, 512)
#: Size multiples tried, smallest first, when nobody declared one: 1..64 covers CNN output strides (8, 16,
#: 32, 64) and ViT patch sizes (14, 16). Each try runs two small inputs: k·m × (k+1)·m and (k+1)·m × k·m,
#: k·m ≥ TRIAL_SIDE (a few milliseconds each), so a stride that tiles only one axis does not pass.
MAX_SIZE_MULTIPLE, TRIAL_SIDE = 64, 32
#: One inference's peak resident memory over the model's activations for one image (`memory.activation_bytes`),
#: measured in inference mode: lraspp 0.18 and deeplabv3-mobilenet 0.17 at 1024², deeplabv3-resnet50 0.09 at
#: 512² and 0.08 at 768². The check before the trial run at the model's size uses the lowest: a refused size
#: could not have fitted.
PROBE_MEMORY_PER_ACTIVATION = 0.08
#: Keys under which training scripts store the state_dict in a bigger dict; prefixes that DataParallel/DDP
#: (`module.`) and torch.compile (`_orig_mod.`) put before every key.
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: torchvision's auxiliary training head of the segmentation models: not part of inference.
AUXILIARY_PREFIX = "aux_classifier."
#: What a file can record about its model (a checkpoint's metadata, an edgedepth sidecar); declarations must agree.
RECORDED = ("input_size", "depth", "preprocessing", "output_kind", "size_multiple")


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
    """A model the pipeline knows: a torch module whose forward maps N×3×H×W to N×1×H×W (adapters applied,
    eval mode), or an ONNX the user exported, with what it outputs and expects."""

    form: str  # a key of FORMS
    arch: str  # the registered arch, or what names the user's model
    origin: str  # where it came from, for sidecars and messages
    model: nn.Module | None
    onnx: Path | None
    output_kind: str
    preprocessing: Preprocessing
    depth: dict[str, Any]  # the evaluation window's default (ground truth and aligned predictions are in metres)
    input_size: tuple[int, int]
    size_multiple: int | None  # None: the model runs at its input size only (no multiple found by trial)
    files: tuple[Path, ...] = ()
    meta: dict[str, Any] = field(default_factory=dict)  # a checkpoint's metadata (training median, ...)

    def record(self) -> dict[str, Any]:
        """What a sidecar records of the model; every later artifact carries it (artifacts.MODEL_META_KEYS)."""
        return {"arch": self.arch, "input_size": list(self.input_size), "depth": self.depth,
                "preprocessing": self.preprocessing.record(), "output_kind": self.output_kind,
                "size_multiple": self.size_multiple,
                "source": {"form": self.form, "origin": self.origin, "sha256": {str(p): sha256(p) for p in self.files}}}

    def fingerprint(self) -> str:
        """A hash of the model and its declarations (bench caches artifacts under it). A model that no file
        holds (a factory without --weights) is hashed by its weights."""
        digest = hashlib.sha256(json.dumps(self.record(), sort_keys=True, default=str).encode())
        if not self.files:
            for name, tensor in self.model.state_dict().items():
                digest.update(name.encode())
                digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
        return digest.hexdigest()


@dataclass(frozen=True)
class Form:
    name: str
    given: str  # how it is given on the command line
    what: str  # what it is, in a few words
    load: Callable[[ModelRequest, Any], Loaded]


FORMS: dict[str, Form] = {}


def form(name: str, given: str, what: str):
    def decorator(load: Callable[[ModelRequest, Any], Loaded]) -> Callable[[ModelRequest, Any], Loaded]:
        FORMS[name] = Form(name, given, what, load)
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
    name, content = _form_of(request)
    if request.arch is not None and name not in ("checkpoint", "state_dict"):
        raise EdgeDepthError(f"an arch names the network of a plain state_dict; {request.path} is {FORMS[name].what}, "
                             "which carries its own: give no arch")
    loaded = FORMS[name].load(request, content)
    recorded = loaded.recorded
    output_kind = _settle("output kind", request.output_kind, recorded.get("output_kind"), "metric", loaded.origin)
    preprocessing = _settle("preprocessing", request.preprocessing, recorded.get("preprocessing"), IMAGENET, loaded.origin)
    size = request.size or recorded.get("input_size")
    multiple = request.size_multiple or recorded.get("size_multiple")
    if loaded.model is not None:
        model, size, multiple = _fit_module(loaded, request.output_key, size, multiple)
    else:
        model, size = None, _fit_onnx(loaded, size, multiple)
    return ModelSource(name, loaded.arch, loaded.origin, model, loaded.onnx, output_kind, preprocessing,
                       recorded.get("depth", DEFAULT_DEPTH), size, multiple, loaded.files, loaded.meta)


def _check_request(request: ModelRequest) -> None:
    if request.output_kind is not None and request.output_kind not in OUTPUT_KINDS:
        raise EdgeDepthError(f"output kind {request.output_kind!r} is not one of: {', '.join(OUTPUT_KINDS)}")
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


def _form_of(request: ModelRequest) -> tuple[str, Any]:
    """(the FORMS key, the file's content for the torch-file forms) from what is on disk."""
    if request.factory:
        return "factory", None
    path = request.path
    if path is None:
        raise EdgeDepthError("no model given: pass a model file, or a factory (package.module:callable) for a network "
                             "built by your code")
    if huggingface.is_theirs(path):
        return "huggingface", None
    if not path.is_file():
        raise EdgeDepthError(f"model {path} not found; check the path")
    if path.suffix.lower() == ".onnx":
        return "onnx", None
    if _is_torchscript(path):
        return "torchscript", None
    if ultralytics.is_checkpoint(path):
        return "ultralytics", None
    content = read_torch_file(path, request.trust_pickle)
    if _is_module(content):
        return "pickle", content
    if isinstance(content, dict) and content.get("format") == CHECKPOINT_FORMAT:
        return "checkpoint", content
    return "state_dict", content


def _settle(what: str, declared: Any, recorded: Any, default: Any, origin: str) -> Any:
    """The declared value, or the recorded one, or the default; a declaration that contradicts a record is refused."""
    if declared is not None and recorded is not None and declared != recorded:
        raise EdgeDepthError(f"{origin} records {what} {recorded}, which the declared {declared} contradicts; drop the "
                             "declaration (the model is used as it was made)")
    return declared if declared is not None else recorded if recorded is not None else default


def _recorded(record: dict[str, Any]) -> dict[str, Any]:
    """The RECORDED facts of a checkpoint's metadata or a sidecar, as resolve_source compares them."""
    recorded = {key: record[key] for key in RECORDED if record.get(key) is not None}
    if "input_size" in recorded:
        recorded["input_size"] = tuple(recorded["input_size"])
    if "preprocessing" in recorded:
        recorded["preprocessing"] = Preprocessing.from_record(recorded["preprocessing"])
    return recorded


# --- the forms ---------------------------------------------------------------------------------------------


@form("checkpoint", "model.pt", "an edgedepth checkpoint (`edgedepth train`)")
def _checkpoint(request: ModelRequest, content: dict) -> Loaded:
    from .models import model_of_checkpoint

    model, meta = model_of_checkpoint(content, request.path)
    if request.arch is not None and request.arch != meta["arch"]:
        raise EdgeDepthError(f"{request.path} is an edgedepth checkpoint of {meta['arch']}, not {request.arch}; give no arch")
    recorded = {"output_kind": "metric", "size_multiple": ARCHS[meta["arch"]].size_multiple, **_recorded(meta),
                "preprocessing": Preprocessing.from_record(meta.get("preprocessing"))}  # none recorded: refused, not guessed
    return Loaded(meta["arch"], f"edgedepth checkpoint {request.path}", model, files=(request.path,), recorded=recorded,
                  meta=meta)


@form("state_dict", "weights.pth --arch deeplabv3_resnet50", "a state_dict of a registered arch (DDP prefix, aux head: fine)")
def _state_dict(request: ModelRequest, content: Any) -> Loaded:
    from .models import create_model

    if request.arch is None:
        raise EdgeDepthError(f"{request.path} holds a plain state_dict: name its network with an arch (one of "
                             f"{', '.join(sorted(ARCHS))}), or give a factory (package.module:callable) with it as the weights")
    model = create_model(request.arch)
    load_weights(model, content, f"state_dict {request.path}", request.arch)
    return Loaded(request.arch, f"state_dict {request.path} of {request.arch}", model, files=(request.path,),
                  recorded={"size_multiple": ARCHS[request.arch].size_multiple})


@form("factory", "--factory pkg.module:build [--weights w.pth]", "your nn.Module, built by your own code")
def _factory(request: ModelRequest, content: None) -> Loaded:
    from torch import nn

    spec = request.factory
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise EdgeDepthError(f"factory {spec} is not package.module:callable (e.g. mynets.depth:build_model)")
    try:
        with _importable_from_here():
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
        if not request.weights.is_file():
            raise EdgeDepthError(f"weights {request.weights} not found; check the path")
        load_weights(net, read_torch_file(request.weights, request.trust_pickle), f"weights {request.weights}", spec)
        files = (request.weights,)
    with_weights = f" with weights {request.weights}" if request.weights else ""
    return Loaded(spec, f"factory {spec}{with_weights}", net, files=files)


@form("torchscript", "model.ts", "a TorchScript file (torch.jit.save of a trace or a script)")
def _torchscript(request: ModelRequest, content: None) -> Loaded:
    import torch

    try:
        net = torch.jit.load(str(request.path), map_location="cpu")
    except Exception as exc:  # torch raises RuntimeError and friends for a damaged archive
        raise EdgeDepthError(f"TorchScript {request.path} does not load ({first_line(exc)}); save it again with torch.jit.save")
    return Loaded(f"{request.path.name} (TorchScript)", f"TorchScript {request.path}", net, files=(request.path,))


@form("pickle", "model.pth --trust-pickle", "a whole pickled nn.Module (torch.save(model): loading it runs its code)")
def _pickle(request: ModelRequest, content: nn.Module) -> Loaded:
    return Loaded(f"{request.path.name} ({type(content).__name__})", f"pickled {type(content).__name__} {request.path}",
                  content, files=(request.path,))


@form("onnx", "model.onnx", "an ONNX you exported (one N×3×H×W image input, one depth output)")
def _onnx(request: ModelRequest, content: None) -> Loaded:
    from .artifacts import read_sidecar
    from .onnx_graph import is_quantized, read_depth_model

    if is_quantized(read_depth_model(request.path)):
        raise EdgeDepthError(f"{request.path} is quantized (Q/DQ); give the float model, which quantize and bench start from")
    if request.output_key is not None:
        raise EdgeDepthError(f"an output key picks an output of a PyTorch model; {request.path} is an ONNX with one output")
    sidecar = read_sidecar(request.path, required=False)  # an ONNX of edgedepth's records what it is
    return Loaded(sidecar.get("arch") or request.path.name, f"ONNX {request.path}", onnx=request.path,
                  files=(request.path,), recorded=_recorded(sidecar))


@form("ultralytics", "best.pt --trust-pickle", "an Ultralytics depth checkpoint (`yolo depth train`; AGPL-3.0 extra)")
def _ultralytics(request: ModelRequest, content: None) -> Loaded:
    return ultralytics.load(request.path, request.trust_pickle)


@form("huggingface", "hf_folder/", "a Hugging Face depth model folder (`save_pretrained`; local only)")
def _huggingface(request: ModelRequest, content: None) -> Loaded:
    return huggingface.load(request.path)


# --- reading files -----------------------------------------------------------------------------------------


def read_torch_file(path: Path, trust_pickle: bool) -> Any:
    """A torch.save file's content: tensors and plain containers safely (weights_only); anything else only when
    the user trusts the file, since unpickling it runs whatever code it names."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))  # mmap: zip format only
    except Exception as exc:  # torch raises many types for a damaged file
        if "Unsupported global" not in str(exc):
            raise EdgeDepthError(f"{path} is unreadable ({type(exc).__name__}); it is corrupt or not a PyTorch file")
        if not trust_pickle:
            names = [line.split("GLOBAL ", 1)[1].split()[0] for line in str(exc).splitlines() if "GLOBAL " in line]
            raise EdgeDepthError(
                f"{path} holds pickled Python objects ({', '.join(names[:1]) or 'a class'}): loading it runs arbitrary "
                "code from the file; trust pickles explicitly if you trust where it came from, or save a state_dict or "
                "TorchScript instead")
    try:
        with _importable_from_here():
            return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise EdgeDepthError(f"unpickling {path} failed ({type(exc).__name__}: {first_line(exc)}); the code that "
                             "defines its classes must import here (PYTHONPATH)")


def _is_torchscript(path: Path) -> bool:
    """TorchScript archives hold the model's code (`<name>/code/...`); torch.save's zip files do not."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        return any("/code/" in name for name in archive.namelist())


def _is_module(content: Any) -> bool:
    from torch import nn

    return isinstance(content, nn.Module)


@contextlib.contextmanager
def _importable_from_here():
    """The current folder on sys.path while the user's code imports, as `python -m` would have it (the
    `edgedepth` console script's sys.path starts at its own folder)."""
    here = os.getcwd()
    added = here not in sys.path
    if added:
        sys.path.insert(0, here)
    try:
        yield
    finally:
        if added:
            sys.path.remove(here)


def load_weights(net: nn.Module, content: Any, what: str, label: str) -> None:
    """Load a state_dict into `net`, in the layouts training scripts write (`normalise_state_dict`); a mismatch
    names the first missing and first unexpected key, or the first tensor of another shape."""
    import torch

    target = net.state_dict()
    state, given = normalise_state_dict(content, target, what)
    missing = [key for key in target if key not in state]
    unexpected = [given[key] for key in state if key not in target]
    if missing or unexpected:
        parts = ([f"{len(missing)} missing, first {missing[0]!r}"] if missing else []) + (
            [f"{len(unexpected)} unexpected, first {unexpected[0]!r}"] if unexpected else [])
        raise EdgeDepthError(f"{what} does not fit {label}: keys {'; '.join(parts)}; it is a state_dict of another "
                             "network (check the arch or the factory)")
    for key, tensor in state.items():
        if tuple(tensor.shape) != tuple(target[key].shape):
            shape, expected = ("×".join(map(str, t.shape)) or "scalar" for t in (tensor, target[key]))
            raise EdgeDepthError(f"{what} does not fit {label}: {given[key]} is {shape} there but {expected} in the network"
                                 + (" (a depth head has one output channel: classifier[4] = Conv2d(256, 1, 1))"
                                    if "classifier" in key else ""))
    with torch.no_grad():
        net.load_state_dict(state)


def normalise_state_dict(content: Any, target: Mapping[str, Any], what: str) -> tuple[dict[str, Any], dict[str, str]]:
    """(the state_dict inside `content` keyed as `target`, each new key → the key as the file wrote it).

    Unwrapped from {"state_dict"|"model"|...: ...}, DDP's `module.` and torch.compile's `_orig_mod.` prefixes
    removed, torchvision's aux head dropped when the network has none, and the network's own common prefix
    (DepthNet's `net.`) added when the keys lack it."""
    import torch

    state = content
    while isinstance(state, Mapping) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        inner = next((state[k] for k in WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
        if inner is None:
            keys = ", ".join(list(map(str, state))[:5])
            raise EdgeDepthError(f"{what} holds no state_dict (a dict of {keys}); save model.state_dict(), or keep it "
                                 f"under one of {', '.join(WRAPPER_KEYS)}")
        state = inner
    if not isinstance(state, Mapping) or not state:
        raise EdgeDepthError(f"{what} holds a {type(state).__name__}, not a state_dict; save model.state_dict()")
    keys = {key: key for key in state}  # new key → the file's key
    for prefix in WRAPPER_PREFIXES:
        if all(key.startswith(prefix) for key in keys):
            keys = {key[len(prefix):]: old for key, old in keys.items()}
    if not any(key.startswith(AUXILIARY_PREFIX) for key in target):
        keys = {key: old for key, old in keys.items() if not key.startswith(AUXILIARY_PREFIX)}
    heads = {key.split(".", 1)[0] for key in target}
    if len(heads) == 1 and "." in next(iter(target)):
        prefix = f"{heads.pop()}."
        if not any(key.startswith(prefix) for key in keys):
            keys = {prefix + key: old for key, old in keys.items()}
    return {key: state[old] for key, old in keys.items()}, keys


# --- fitting the model to the pipeline ---------------------------------------------------------------------


class _Unfit(Exception):
    """The model did not run at a size, or did not return depth at that size (the reason is the message)."""


def _fit_module(loaded: Loaded, output_key: str | None, size: tuple[int, int] | None,
                multiple: int | None) -> tuple[nn.Module, tuple[int, int], int | None]:
    """(the network wrapped to return N×1×H×W, the input size, the size multiple), checked by running it."""
    from .wrappers import DepthNet, DepthOutput

    net = loaded.model.eval()
    if size is None:
        multiple = multiple or _find_multiple(net, output_key, loaded.arch)
        if multiple is None:
            raise EdgeDepthError(f"{loaded.arch} runs at no small input size tried (multiples of 1–{MAX_SIZE_MULTIPLE}); "
                                 "declare the size (HxW) it takes")
        size = _default_size(multiple)
    h, w = size
    if multiple and (h % multiple or w % multiple):
        raise EdgeDepthError(_unsuitable(size, loaded.arch, multiple))
    _check_probe_fits(net, size, loaded.arch)
    if isinstance(net, DepthNet) and multiple:  # a registered arch: depth at any multiple of its own, no trial run
        return net, (int(h), int(w)), multiple
    try:
        key, rank = _probe(net, output_key, size, loaded.arch)
    except _Unfit as why:
        found = multiple or _find_multiple(net, output_key, loaded.arch)
        hint = f"it takes {_multiples(size, found)}" if found else "declare a size (HxW) it takes"
        raise EdgeDepthError(f"{loaded.arch} cannot take a {h}x{w} input ({why}); {hint}")
    if multiple is None:
        multiple = _find_multiple(net, output_key, loaded.arch, dividing=size)
    wrapped = net if isinstance(net, DepthNet) else DepthOutput(net, key, add_channel=rank == 3).eval()
    return wrapped, (int(h), int(w)), multiple


def _fit_onnx(loaded: Loaded, size: tuple[int, int] | None, multiple: int | None) -> tuple[int, int]:
    """The input size of an ONNX: its static one (a different --size is refused), else the declared one, else
    the default rounded up to the declared multiple."""
    from .onnx_graph import graph_inputs, load_graph, static_size

    static = static_size(graph_inputs(load_graph(loaded.onnx))[0])
    if static and size and tuple(size) != static:
        raise EdgeDepthError(f"{loaded.onnx} takes {static[0]}x{static[1]} inputs only (its input size is static); "
                             "declare no other size, or export it again with dynamic height and width")
    size = tuple(size or static or _default_size(multiple or 1))
    if multiple and (size[0] % multiple or size[1] % multiple):
        raise EdgeDepthError(_unsuitable(size, loaded.arch, multiple))
    return int(size[0]), int(size[1])


def _check_probe_fits(net: nn.Module, size: tuple[int, int], label: str) -> None:
    """Refuse a size whose trial inference this machine cannot hold, before running it (`memory.check_fits`)."""
    from .memory import check_fits

    activations = activation_estimate(net, size)
    if activations is not None:
        check_fits(PROBE_MEMORY_PER_ACTIVATION * activations, f"running {label} at {size[0]}x{size[1]}",
                   "declare a smaller size")


def activation_estimate(net: nn.Module, size: tuple[int, int]) -> int | None:
    """`memory.activation_bytes` of a network of any form; None for one that cannot run on PyTorch's meta device
    (a TorchScript module holds no Parameters to move there; a user's code may branch on tensor values)."""
    from .memory import activation_bytes

    try:
        return activation_bytes(net, size)
    except Exception:  # whatever the user's network raises on meta tensors
        return None


def _default_size(multiple: int) -> tuple[int, int]:
    return tuple(-(-side // multiple) * multiple for side in DEFAULT_INPUT_SIZE)


def _unsuitable(size: tuple[int, int], label: str, multiple: int) -> str:
    return f"input size {size[0]}x{size[1]} does not suit {label}: height and width must be {_multiples(size, multiple)}"


def _multiples(size: tuple[int, int], multiple: int) -> str:
    """"positive multiples of m (e.g. <size rounded down> or <size rounded up>)"."""
    down = [max(multiple, side // multiple * multiple) for side in size]
    up = [-(-side // multiple) * multiple for side in size]
    examples = " or ".join(dict.fromkeys(f"{h}x{w}" for h, w in (down, up)))
    return f"positive multiples of {multiple} (e.g. {examples})"


def _probe(net: nn.Module, output_key: str | None, size: tuple[int, int], label: str) -> tuple[Any, int]:
    """Run `net` on one seeded input of `size`; (the key of its depth output (None: it returns a tensor), its rank).

    A key that is not there is an EdgeDepthError; a failure to run or an output not at `size` is `_Unfit`."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, *size, generator=generator)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = net(x)
    except Exception as exc:  # the user's network refusing the size, in whatever words it has
        raise _Unfit(f"{type(exc).__name__}: {first_line(exc)}")
    key = pick_output(output, output_key, label)
    depth = output if key is None else output[key]
    shape = tuple(depth.shape)
    if shape not in ((1, 1, *size), (1, *size)):
        raise _Unfit(f"its depth output is {'×'.join(map(str, shape))}; edgedepth needs depth at the input size, "
                     f"1×1×{size[0]}×{size[1]} or 1×{size[0]}×{size[1]}")
    return key, len(shape)


def pick_output(output: Any, output_key: str | None, label: str) -> int | str | None:
    """Which entry of a network's output is depth: None for a tensor; for a tuple or dict the declared key
    (matched as written, or as the key's text), else the entry of the largest spatial size (ties: the first)."""
    import torch

    if isinstance(output, torch.Tensor):
        if output_key is not None:
            raise EdgeDepthError(f"{label} returns one tensor; output key {output_key!r} names an entry of a tuple "
                                 "or dict output: drop it")
        return None
    if isinstance(output, (tuple, list)):
        entries = dict(enumerate(output))
    elif isinstance(output, Mapping):
        entries = dict(output)
    else:
        raise EdgeDepthError(f"{label} returns a {type(output).__name__}; edgedepth reads a tensor, a tuple or a dict of them")
    if output_key is not None:
        match = [key for key in entries if key == output_key or str(key) == output_key]
        if not match:
            raise EdgeDepthError(f"output key {output_key!r} is not among the outputs of {label}: "
                                 f"{', '.join(map(str, entries))}; choose one as the output key")
        return match[0]
    maps = {key: value for key, value in entries.items() if isinstance(value, torch.Tensor) and value.dim() in (3, 4)}
    if not maps:
        raise EdgeDepthError(f"{label} returns no N×H×W or N×1×H×W tensor among its outputs ({', '.join(map(str, entries))})")
    return max(maps, key=lambda key: maps[key].shape[-2] * maps[key].shape[-1])  # max keeps the first of equals


def _find_multiple(net: nn.Module, output_key: str | None, label: str,
                   dividing: tuple[int, int] | None = None) -> int | None:
    """The smallest m ≤ MAX_SIZE_MULTIPLE at which `net` takes two small inputs whose sides are multiples of m
    and returns depth at their size, and also the size it will be given: m divides both sides of `dividing`
    (a size it is known to take), or without one it runs at `_default_size(m)`. None when no m does.

    Small sizes alone do not prove a multiple: a stride-32 network of padded convolutions also runs at 60×90
    and 90×60, where every halving rounds alike, and the trial found 30 beside a 128×128 input (issue 24)."""
    for multiple in range(1, MAX_SIZE_MULTIPLE + 1):
        if dividing and (dividing[0] % multiple or dividing[1] % multiple):
            continue
        k = -(-TRIAL_SIDE // multiple)
        try:
            for a, b in ((k, k + 1), (k + 1, k)):
                _probe(net, output_key, (a * multiple, b * multiple), label)
            if not dividing:
                _check_probe_fits(net, _default_size(multiple), label)
                _probe(net, output_key, _default_size(multiple), label)
        except _Unfit:
            continue
        return multiple
    return None
