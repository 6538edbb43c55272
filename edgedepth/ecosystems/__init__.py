"""Models of other libraries' ecosystems, read from the files those libraries write: one module per library
(`ultralytics`, `huggingface`), each a cheap detector (is this file or folder theirs?) and a loader returning
a `loaded.Loaded` with the facts the files record, which sources.py registers as one of its FORMS.

The libraries are optional extras, imported inside the loaders only: `import edgedepth` and the detectors
stay light, and a missing one is one line naming its `pip install 'edgedepth[...]'`.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import EdgeDepthError


def require(package: str, extra: str, what: str) -> ModuleType:
    """`package` imported, or a one-line error naming the extra that installs it."""
    try:
        return importlib.import_module(package)
    except ImportError as exc:
        raise EdgeDepthError(f"{what} needs {package} ({type(exc).__name__}: {exc}); pip install 'edgedepth[{extra}]'")
