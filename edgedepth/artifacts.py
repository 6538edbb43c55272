"""Artifacts on disk: atomic writes, content hashes and the sidecar JSON that records how each was made.

Every artifact (ONNX, IR, engine) gets `<artifact>.json` beside it, and an artifact counts as finished only
when its sidecar exists. Single files are written to a temp file in the same folder and renamed into place
(`atomic_path`); an artifact with its sidecar is published through `publishing`, the one way every step
puts a finished artifact on disk: it stages the files privately, removes the old sidecar, renames the
files into place and writes the new sidecar last. A failed step therefore never leaves something that looks
finished, nor an old sidecar vouching for new files.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
        raise EdgeDepthError(f"cannot create output folder {path.parent}: {exc.strerror}; choose a writable output path")
    if not os.access(path.parent, os.W_OK):
        raise EdgeDepthError(f"output folder {path.parent} is not writable; choose a writable output path")
    return path


def is_writable_location(folder: str | os.PathLike) -> bool:
    """Whether `folder` could be written into: it, or the nearest of its parents that exists, is a writable
    folder (nothing is created to find out)."""
    missing = _missing_ancestors(Path(folder))
    nearest = missing[-1].parent if missing else Path(folder)
    return nearest.is_dir() and os.access(nearest, os.W_OK)


def _missing_ancestors(folder: Path) -> list[Path]:
    """`folder` and its parents that do not exist yet, deepest first (what creating it would add)."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it onto `path`, on any error delete it.

    Works for files and folders (an OpenVINO IR folder, say)."""
    path = ensure_writable_parent(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    os.unlink(tmp)
    tmp = Path(tmp)
    _refuse_folder(path)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()


class Staging:
    """A private folder where an artifact's files are written under their final names before publishing.

    `staging / "model.xml"` is where a file goes; `artifact` is the staged artifact itself. Set `sidecar` to
    the record of how it was made before the `publishing` block ends."""

    def __init__(self, folder: Path, artifact_name: str):
        self.folder = folder
        self.artifact = folder / artifact_name
        self.sidecar: dict[str, Any] | None = None

    def __truediv__(self, name: str) -> Path:
        return self.folder / name


@contextlib.contextmanager
def publishing(artifact: str | os.PathLike) -> Iterator[Staging]:
    """Stage the files of `artifact` (and any byproducts beside it), then publish them with their sidecar.

    On success: the old sidecar is removed first, every staged file is renamed into the artifact's folder,
    and the new sidecar is written last. On any error: nothing is published, the staging folder is deleted,
    and output folders this call created are removed again if they are empty."""
    artifact = Path(artifact)
    created = _missing_ancestors(artifact.parent)
    artifact = ensure_writable_parent(artifact)
    folder = Path(tempfile.mkdtemp(prefix=f".{artifact.name}.", suffix=".staging", dir=artifact.parent))
    try:
        staging = Staging(folder, artifact.name)
        yield staging
        if staging.sidecar is None:
            raise RuntimeError(f"publishing {artifact}: the step set no sidecar")
        staged_files = sorted(folder.iterdir())
        for staged in staged_files:
            _refuse_folder(artifact.parent / staged.name)
        _refuse_folder(sidecar_path(artifact))
        sidecar_path(artifact).unlink(missing_ok=True)
        for staged in staged_files:
            os.replace(staged, artifact.parent / staged.name)
        write_sidecar(artifact, staging.sidecar)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        for made in created:  # deepest first; stop at the first that holds something
            try:
                made.rmdir()
            except OSError:
                break
        raise
    shutil.rmtree(folder, ignore_errors=True)


def _refuse_folder(path: Path) -> None:
    """A folder where a file is to go is the user's: refused, never deleted."""
    if path.is_dir():
        raise EdgeDepthError(f"{path} is a folder, where a file is to be written; move it away or choose another output")


def sidecar_path(artifact: str | os.PathLike) -> Path:
    artifact = Path(artifact)
    return artifact.with_name(artifact.name + ".json")


def is_finished(artifact: str | os.PathLike) -> bool:
    """An artifact is finished when it and its sidecar exist (`publishing` writes the sidecar last)."""
    artifact = Path(artifact)
    return artifact.exists() and sidecar_path(artifact).is_file()


def artifact_files(artifact: str | os.PathLike) -> list[Path]:
    """The files an artifact is: itself, and an OpenVINO IR's weights (`.bin`) beside its `.xml`."""
    artifact = Path(artifact)
    return [artifact, artifact.with_suffix(".bin")] if artifact.suffix == ".xml" else [artifact]


def artifact_digest(artifact: str | os.PathLike) -> str:
    """SHA-256 over the artifact's files (`artifact_files`): what binds a sidecar to its artifact."""
    digest = hashlib.sha256()
    for file in artifact_files(artifact):
        if file.exists():
            digest.update(sha256(file).encode())
    return digest.hexdigest()


def write_sidecar(artifact: str | os.PathLike, info: dict[str, Any]) -> Path:
    """Write `<artifact>.json` atomically, bound to the artifact by its digest (`artifact_sha256`, which
    `read_sidecar` checks); `tool_versions()` is added under "versions" unless given."""
    info = {"versions": tool_versions(), **info, "artifact_sha256": artifact_digest(artifact)}
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
        record = json.loads(target.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise EdgeDepthError(f"sidecar {target} is unreadable ({exc}); delete it and re-create the artifact")
    if not isinstance(record, dict):
        raise EdgeDepthError(f"sidecar {target} holds a JSON {type(record).__name__}, not an object; re-create the artifact")
    bound = record.get("artifact_sha256")
    if bound is not None and Path(artifact).exists() and bound != artifact_digest(artifact):
        raise EdgeDepthError(f"sidecar {target} describes another file than {artifact} (the artifact was replaced, or the "
                             "sidecar comes from another model); re-create the artifact with the edgedepth command that makes it")
    return record


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
