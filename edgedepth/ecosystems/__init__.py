"""Models of other libraries' ecosystems, read from the files those libraries write: one module per library
(`ultralytics`, `huggingface`), each a cheap detector (is this file or folder theirs?) and a loader returning
a `Loaded`, which sources.py registers as one of its FORMS.

The libraries are optional extras, imported inside the loaders only: `import edgedepth` and the detectors
stay light, and a missing one is one line naming its `pip install 'edgedepth[...]'`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from ..errors import EdgeDepthError

if TYPE_CHECKING:
    from torch import nn


@dataclass
class Loaded:
    """What a form's loader read: the network (raw: adapters come later) or the ONNX, and what the file records."""

    arch: str
    origin: str
    model: nn.Module | None = None
    onnx: Path | None = None
    files: tuple[Path, ...] = ()
    recorded: dict[str, Any] = field(default_factory=dict)  # input_size, depth, preprocessing, output_kind, size_multiple
    meta: dict[str, Any] = field(default_factory=dict)


def require(package: str, extra: str, what: str) -> ModuleType:
    """`package` imported, or a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise EdgeDepthError(f"{what} needs {package} ({type(exc).__name__}: {exc}); pip install 'edgedepth[{extra}]'")
