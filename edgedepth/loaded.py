"""What a model form's loader read (`Loaded`): the network or the artifact, and what the file records. The
forms of sources.py and of the ecosystems (ecosystems/) all return one; sources.resolve_source settles it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .spec import ArtifactFacts

if TYPE_CHECKING:
    from torch import nn


@dataclass
class Loaded:
    """What a form's loader read: the network (raw: adapters come later) or the artifact, and what the file
    records (`facts`, None when it records nothing)."""

    arch: str
    origin: str
    model: nn.Module | None = None
    artifact: Path | None = None
    files: tuple[Path, ...] = ()
    facts: ArtifactFacts | None = None
    size_multiple: int | None = None  # a registered arch's own, when the file records no spec
    precision: str = "fp32"  # what an artifact holds (its sidecar's word, else its graph's)
    dynamic: str = "none"  # its dynamic axes (spec.DYNAMIC_AXES)
    static_size: tuple[int, int] | None = None  # an ONNX's fixed (H, W), read from its graph
    registered: bool = False  # the network is a registered arch (depth at any multiple of its own: no trial run)
    meta: dict[str, Any] = field(default_factory=dict)
