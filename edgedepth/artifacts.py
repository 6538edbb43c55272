"""Artifacts on disk: atomic writes, content hashes and the sidecar JSON that records how each was made.

Every artifact (checkpoint, ONNX, IR, engine) gets `<artifact>.json` beside it. Writes go to a temp file in
the same folder and are renamed into place, so a failed step never leaves something that looks finished.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator

from .errors import EdgeDepthError


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file (of every file, in name order, for a folder artifact)."""
    path = Path(path)
    digest = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for file in files:
        with open(file, "rb") as fh:
            while block := fh.read(chunk):
                digest.update(block)
    return digest.hexdigest()


def ensure_writable_parent(path: str | os.PathLike) -> Path:
    """Create the parent folder of an output path, or fail with a clear message."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EdgeDepthError(f"cannot create output folder {path.parent}: {exc.strerror}; choose a writable -o path")
    if not os.access(path.parent, os.W_OK):
        raise EdgeDepthError(f"output folder {path.parent} is not writable; choose a writable -o path")
    return path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it onto `path`, on any error delete it.

    Works for files and folders (an OpenVINO IR folder, say)."""
    path = ensure_writable_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp = Path(tmp)
    try:
        yield tmp
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


def sidecar_path(artifact: str | os.PathLike) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def write_sidecar(artifact: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write `<artifact>.json` atomically; `tool_versions()` is added under "versions" unless given."""
    info = {"versions": tool_versions(), **info}
    target = sidecar_path(artifact)
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
    return target


def read_sidecar(artifact: str | os.PathLike, required: bool = True) -> dict[str, Any]:
    """Read `<artifact>.json`; a missing or unreadable sidecar is an EdgeDepthError when `required`."""
    target = sidecar_path(artifact)
    if not target.exists():
        if required:
            raise EdgeDepthError(
                f"{artifact} has no sidecar {target.name}: it was not made by edgedepth; "
                "re-create it with the edgedepth command that makes it"
            )
        return {}
    try:
        return json.loads(target.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeDepthError(f"sidecar {target} is unreadable ({exc}); delete it and re-create the artifact")


def tool_versions() -> dict[str, str]:
    """Versions of python, edgedepth and whichever runtimes are already imported (never imports one)."""
    import sys

    from . import __version__

    versions = {"python": platform.python_version(), "edgedepth": __version__}
    for name in ("numpy", "torch", "torchvision", "onnx", "onnxruntime", "openvino", "nncf", "tensorrt", "onnxslim"):
        module = sys.modules.get(name)
        if module is not None and hasattr(module, "__version__"):
            versions[name] = str(module.__version__)
    return versions
