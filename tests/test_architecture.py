"""The structure DESIGN.md promises, checked: the layer order of imports, a light `import`, one backend contract."""

import ast
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest

import edgedepth
from edgedepth.backends import BACKENDS, Backend, get_backend

PACKAGE = Path(edgedepth.__file__).parent

#: Every module of the package, lowest layer first (DESIGN.md, "Layers"). A module may import only from the
#: layers below its own, never from its own layer or one above: the layers are fine-grained so that a wrong
#: dependency shows (scoring does not read calibration policy, training does not resolve user models, the
#: library does not draw). The package root (`edgedepth/__init__.py`) is the public face: anyone may read
#: `__version__` from it, and it names its API lazily, so it is in no layer. A new module must be placed here:
#: the test fails on a module it does not know.
LAYERS = [
    {"errors"},
    {"progress", "distributed", "memory", "artifacts"},
    {"onnx_graph", "data.transforms", "metrics", "losses", "colormaps", "torchfiles", "wrappers", "data.images",
     "data.video", "data.depthfiles"},
    {"data", "data.samples"},
    {"data.diode", "data.ultralytics_depth", "data.nyuv2", "data.kitti", "data.image_folder"},
    {"data.datasets", "data.synthetic_layouts"},
    {"data.synthetic", "data.split", "spec"},
    {"models", "measure", "measure.compare", "fitting", "loaded", "ecosystems", "data.sequences", "data.pointcloud",
     "measure.edges", "measure.temporal", "measure.tails"},
    {"measure.gates"},
    {"measure.heldout", "ecosystems.ultralytics", "ecosystems.huggingface"},
    {"measure.breakdown", "calibration", "train"},
    {"sources"},
    {"fusion", "fp16", "backends"},
    {"backends.torch", "backends.onnxruntime", "backends.openvino", "backends.tensorrt"},
    {"measure.timing"},
    {"measure.judge", "measure.evaluate", "quantize.flavours", "quantize.float_layers", "quantize.coverage",
     "quantize.speed"},
    {"quantize.ort_engine", "quantize.nncf_engine", "quantize.budget"},
    {"quantize.transform"},
    {"quantize.judged"},
    {"quantize", "export", "runtime", "capi"},
    {"bench", "predict"},
    {"report"},
    {"ui"},
    {"demo"},
    {"cli"},
    {"__main__"},
]
#: Runtimes that only the code needing them may load (DESIGN.md: Polygraphy's import hygiene).
RUNTIMES = ("onnx", "onnxruntime", "openvino", "tensorrt", "nncf", "av")


def package_modules() -> list[str]:
    names = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        if parts:
            names.append(".".join(parts))
    return names


def imported_modules(name: str) -> set[str]:
    """Package modules that module `name` imports anywhere in its source (lazy imports inside functions too)."""
    path = PACKAGE.joinpath(*name.split("."))
    is_package = path.is_dir()
    path = path / "__init__.py" if is_package else path.with_suffix(".py")
    here = name.split(".") if is_package else name.split(".")[:-1]
    known = set(package_modules())
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - node.level + 1] if node.level > 1 else here
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "edgedepth":
                target = node.module.split(".")[1:]
            else:
                continue
            for alias in node.names:  # `from . import models` names a module; `from .x import f` a symbol of x
                candidate = ".".join([*target, alias.name])
                found.add(candidate if candidate in known else ".".join(target))
        elif isinstance(node, ast.Import):
            found.update(".".join(a.name.split(".")[1:]) for a in node.names if a.name.split(".")[0] == "edgedepth")
    return {module for module in found if module}  # "" is the package root: __version__


def layer_of(name: str) -> int:
    return next(i for i, layer in enumerate(LAYERS) if name in layer)


def test_every_module_has_a_layer():
    placed = set().union(*LAYERS)
    assert set(package_modules()) - placed == set(), "place new modules in LAYERS (and DESIGN.md)"
    assert placed - set(package_modules()) == set(), "LAYERS names a module that no longer exists"


def test_no_module_imports_its_own_layer_or_one_above_it():
    """A package's modules may read its `__init__` (backends' Runner and options), which sits below them."""
    wrong = [
        f"{name} (layer {layer_of(name)}) imports {target} (layer {layer_of(target)})"
        for name in package_modules()
        for target in imported_modules(name)
        if layer_of(target) >= layer_of(name)
    ]
    assert wrong == []


@pytest.mark.parametrize("module, forbidden", [
    ("measure.heldout", "calibration"),  # scoring reads the data's split, not the calibration policy
    ("train", "sources"),  # training builds registered archs; resolving a user's model is the caller's
    ("report", "ui"),  # rendering gives cells and lines; only the CLI draws
])
def test_the_layers_forbid_the_imports_that_would_blur_them(module, forbidden):
    assert layer_of(forbidden) >= layer_of(module)


def test_only_the_command_line_draws_with_rich_and_only_backends_make_sessions():
    """rich is imported by ui (and the CLI's modules) alone; every InferenceSession and compile_model call is made
    in backends/, so a runtime's settings are chosen in one place."""
    drawing, sessions = [], []
    for name in package_modules():
        path = PACKAGE.joinpath(*name.split("."))
        source = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).read_text()
        if "rich" in source and re.search(r"^\s*(from|import) rich", source, re.M) and name not in KNOW_THE_CLI + ("ui",):
            drawing.append(name)
        if re.search(r"InferenceSession\(|\.compile_model\(", source) and not name.startswith("backends"):
            sessions.append(name)
    assert drawing == [] and sessions == []


def test_the_import_scan_sees_relative_and_lazy_imports():
    assert "artifacts" in imported_modules("fp16") and "sources" in imported_modules("fp16")
    assert "fp16" in imported_modules("backends.tensorrt")  # imported inside build()
    assert "backends" in imported_modules("backends.openvino")  # `from . import Runner`


def test_importing_any_module_loads_no_runtime_and_the_cli_no_torch():
    """Each module imported in turn in one fresh interpreter; a runtime appearing is blamed on the import."""
    code = (
        "import importlib, sys\n"
        f"runtimes = {RUNTIMES!r}\n"
        f"for name in {['edgedepth.' + m for m in package_modules()]!r}:\n"
        "    importlib.import_module(name)\n"
        "    loaded = [r for r in runtimes if r in sys.modules]\n"
        "    if loaded: print(name, 'loaded', loaded); break\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
    cli = "import sys, edgedepth.cli; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, check=True).stdout.strip() == "False"


@pytest.mark.parametrize("name", BACKENDS)
def test_every_backend_satisfies_the_contract(name):
    module = get_backend(name)
    assert isinstance(module, Backend) and module.NAME == name and module.DEVICES
    for function in ("unavailable_reason", "build", "load"):
        expected = list(inspect.signature(getattr(Backend, function)).parameters)[1:]  # without self
        assert list(inspect.signature(getattr(module, function)).parameters) == expected, function
    assert module.unavailable_reason("quantum") != ""  # a device it does not run on is refused with a reason


#: Calls whose message reaches the user: the errors and warnings the library raises.
MESSAGE_CALLS = ("EdgeDepthError", "RuntimeMissing", "warn")
#: Modules that know the command line: the only ones whose messages may name its flags.
KNOW_THE_CLI = ("cli", "demo", "__main__")


def _message_text(node: ast.expr) -> str:
    """A message's literal text, each placeholder of an f-string as {} (so a quoted command stays whole)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(_message_text(part) if isinstance(part, ast.Constant) else "{}" for part in node.values)
    if isinstance(node, ast.BinOp):
        return _message_text(node.left) + _message_text(node.right)
    return ""


def flag_mentions(name: str) -> list[str]:
    """Messages of module `name` that name a command-line flag outside a quoted `edgedepth ...` command."""
    path = PACKAGE.joinpath(*name.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        callee = getattr(node, "func", None)
        called = getattr(callee, "id", None) or getattr(callee, "attr", None)
        if isinstance(node, ast.Call) and called in MESSAGE_CALLS and node.args:
            text = re.sub(r"`[^`]*`", "", _message_text(node.args[0]))
            if re.search(r"(?<![\w-])--[a-z]", text):
                found.append(f"{name}:{node.lineno}: {text[:80]}")
    return found


def test_library_messages_name_settings_not_the_clis_flags():
    """Only the CLI knows its flags (issue 11): a library message names the setting; advice may quote a whole
    `edgedepth ...` command."""
    assert [m for name in package_modules() if name not in KNOW_THE_CLI for m in flag_mentions(name)] == []
    assert flag_mentions("cli"), "the scan finds the CLI's own flag mentions"
