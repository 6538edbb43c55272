"""Build the C runtime in capi/ (libedgedepth.so, the example edgedepth_cli, the C self-test) with CMake.

CMake finds OpenVINO through the `openvino` package of the Python running this, so the library links the
same OpenVINO the Python backends use. The sources ship in a source checkout, not in the wheel.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .artifacts import ensure_writable_parent, write_sidecar
from .errors import EdgeDepthError

SOURCE_DIR = Path(__file__).resolve().parent.parent / "capi"
DEFAULT_BUILD_DIR = Path("build/capi")
BUILD_TYPES = ("Release", "Debug", "RelWithDebInfo")


@dataclass(frozen=True)
class CapiBuild:
    """Where a build put things."""

    build_dir: Path
    library: Path
    header: Path
    example: Path
    selftest: Path

    def as_dict(self) -> dict[str, str]:
        return {name: str(path) for name, path in self.__dict__.items()}


def build(build_dir: str | os.PathLike = DEFAULT_BUILD_DIR, build_type: str = "Release") -> CapiBuild:
    """Configure and compile capi/ into `build_dir` (incremental when it was built before); returns the paths.

    The library gets a sidecar `libedgedepth.so.json` recording the source, compiler settings and versions."""
    if build_type not in BUILD_TYPES:
        raise EdgeDepthError(f"unknown build type {build_type!r}; choose one of: {', '.join(BUILD_TYPES)}")
    if not (SOURCE_DIR / "CMakeLists.txt").is_file():
        raise EdgeDepthError(f"C runtime sources not found at {SOURCE_DIR}; build from a source checkout of edgedepth")
    if shutil.which("cmake") is None:
        raise EdgeDepthError("cmake is not installed; install it (apt-get install cmake, or pip install cmake)")
    build_dir = Path(build_dir).resolve()
    log = ensure_writable_parent(build_dir / "capi-build.log")
    with open(log, "w") as log_file:
        _run(["cmake", "-S", str(SOURCE_DIR), "-B", str(build_dir), f"-DCMAKE_BUILD_TYPE={build_type}",
              f"-DPython3_EXECUTABLE={sys.executable}"], "configuring", log_file, log)
        _run(["cmake", "--build", str(build_dir), "--parallel", str(os.cpu_count() or 1)], "compiling", log_file, log)
    result = CapiBuild(build_dir, build_dir / "libedgedepth.so", SOURCE_DIR / "include" / "edgedepth.h",
                       build_dir / "edgedepth_cli", build_dir / "ed_selftest")
    write_sidecar(result.library, {"source": str(SOURCE_DIR), "build_type": build_type, **_toolchain(build_dir)})
    return result


def _run(command: list[str], step: str, log_file, log: Path) -> None:
    log_file.write("$ " + " ".join(command) + "\n")
    log_file.flush()
    done = subprocess.run(command, stdout=log_file, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        error = next((line for line in log.read_text().splitlines() if "error" in line.lower()), "see the log")
        raise EdgeDepthError(f"C runtime build failed while {step}: {error.strip()[:300]} (full log: {log})")


def _toolchain(build_dir: Path) -> dict[str, str]:
    """Compiler and OpenVINO that CMake chose, read back from its cache."""
    cache = {}
    for line in (build_dir / "CMakeCache.txt").read_text().splitlines():
        key, _, value = line.partition("=")
        cache[key.split(":")[0]] = value
    return {"c_compiler": cache.get("CMAKE_C_COMPILER", "?"), "openvino_dir": cache.get("OpenVINO_DIR", "?"),
            "openvino": metadata.version("openvino")}
