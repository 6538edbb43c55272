"""Depth networks by name, and checkpoints that rebuild them from their metadata alone.

Every builder returns a module whose forward(x: N×3×H×W preprocessed) returns depth N×1×H×W in metres
(a 1-channel head with no activation; the output is never a dict). No builder downloads weights: an
optional local backbone-weights file can be given instead. torch is imported by the builders and the
checkpoint functions, not here: the registry is what the CLI reads for its choices, and stays light.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import __version__
from .artifacts import atomic_path
from .data.transforms import PREPROCESSING
from .errors import EdgeDepthError

if TYPE_CHECKING:
    from torch import nn

CHECKPOINT_FORMAT = "edgedepth-checkpoint/1"
DEFAULT_DEPTH = {"unit": "m", "min_depth": 0.1, "max_depth": 80.0}


@dataclass(frozen=True)
class ArchSpec:
    name: str
    build: Callable[[], nn.Module]
    size_multiple: int  # input H and W must be multiples of this (the backbone's output stride)
    description: str


ARCHS: dict[str, ArchSpec] = {}


def register(name: str, size_multiple: int, description: str):
    def decorator(build: Callable[[], nn.Module]) -> Callable[[], nn.Module]:
        ARCHS[name] = ArchSpec(name, build, size_multiple, description)
        return build

    return decorator


@register("deeplabv3_resnet50", 8, "DeepLabv3, ResNet50 backbone (output stride 8): the reference model")
def deeplabv3_resnet50() -> nn.Module:
    from torchvision.models.segmentation import deeplabv3_resnet50 as build

    from .wrappers import DepthNet

    return DepthNet(build(weights=None, weights_backbone=None, num_classes=1, aux_loss=False))


@register("deeplabv3_mobilenet_v3_large", 16, "DeepLabv3, MobileNetV3-Large backbone: lighter")
def deeplabv3_mobilenet_v3_large() -> nn.Module:
    from torchvision.models.segmentation import deeplabv3_mobilenet_v3_large as build

    from .wrappers import DepthNet

    return DepthNet(build(weights=None, weights_backbone=None, num_classes=1, aux_loss=False))


@register("lraspp_mobilenet_v3_large", 16, "LR-ASPP, MobileNetV3-Large backbone: lightest, the demo's model")
def lraspp_mobilenet_v3_large() -> nn.Module:
    from torchvision.models.segmentation import lraspp_mobilenet_v3_large as build

    from .wrappers import DepthNet

    return DepthNet(build(weights=None, weights_backbone=None, num_classes=1))


def arch_spec(name: str) -> ArchSpec:
    if name not in ARCHS:
        raise EdgeDepthError(f"unknown arch {name!r}; choose one of: {', '.join(sorted(ARCHS))}")
    return ARCHS[name]


def check_input_size(arch: str, size: tuple[int, int]) -> tuple[int, int]:
    """Refuse an input size the backbone cannot tile exactly."""
    multiple = arch_spec(arch).size_multiple
    h, w = size
    if h <= 0 or w <= 0 or h % multiple or w % multiple:
        raise EdgeDepthError(
            f"input size {h}x{w} does not suit {arch}: height and width must be positive multiples of {multiple}"
        )
    return (int(h), int(w))


def create_model(arch: str, backbone_weights: str | os.PathLike | None = None) -> nn.Module:
    """Build a registered depth network; optionally load backbone weights from a local state-dict file."""
    model = arch_spec(arch).build()
    if backbone_weights is not None:
        state = _torch_load(backbone_weights, "backbone weights")
        state = state.get("state_dict", state) if isinstance(state, dict) else state
        if not isinstance(state, dict) or not set(state) & set(model.net.backbone.state_dict()):
            raise EdgeDepthError(f"backbone weights {backbone_weights} match no layer of {arch}'s backbone")
        try:
            model.net.backbone.load_state_dict(state, strict=False)
        except RuntimeError:
            raise EdgeDepthError(f"backbone weights {backbone_weights} have tensors of other shapes than {arch}'s backbone")
    return model


def save_checkpoint(path: str | os.PathLike, model: nn.Module, meta: dict[str, Any],
                    training_state: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint whose metadata (arch, input_size, depth, preprocessing, ...) rebuilds the model;
    `training_state` (optimizer, scheduler, epoch, ...) rides along for `edgedepth train --resume`."""
    import torch

    for key in ("arch", "input_size"):
        if key not in meta:
            raise ValueError(f"checkpoint metadata needs {key!r}")
    meta = {
        "depth": DEFAULT_DEPTH,
        "preprocessing": PREPROCESSING,
        "edgedepth_version": __version__,
        **meta,
        "input_size": list(meta["input_size"]),
    }
    blob = {"format": CHECKPOINT_FORMAT, "meta": meta, "state_dict": model.state_dict()}
    if training_state is not None:
        blob["training_state"] = training_state
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    return path


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """The checkpoint's stored dict (format, meta, state_dict), refusing anything that is not one. Weights
    are memory-mapped, so reading only the metadata costs little even for a large model."""
    blob = _torch_load(path, "checkpoint")
    if not isinstance(blob, dict) or blob.get("format") != CHECKPOINT_FORMAT:
        raise EdgeDepthError(f"{path} is not an edgedepth checkpoint (from `edgedepth train`); a model of your own "
                             f"(state_dict, TorchScript, pickled module) goes through `edgedepth export {path} ...` first")
    return blob


def read_checkpoint_meta(path: str | os.PathLike) -> dict[str, Any]:
    """The metadata of a checkpoint (arch, input size, depth range, preprocessing...), without building the net."""
    return read_checkpoint(path)["meta"]


def load_checkpoint(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model from a checkpoint's metadata alone; returns (model in eval mode, metadata)."""
    return model_of_checkpoint(read_checkpoint(path), path)


def model_of_checkpoint(blob: dict[str, Any], path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any]]:
    """(model in eval mode, metadata) of a checkpoint's stored dict (`read_checkpoint`), read from `path`."""
    meta = blob["meta"]
    model = create_model(meta.get("arch", "<none>"))
    try:
        model.load_state_dict(blob["state_dict"])
    except RuntimeError:
        raise EdgeDepthError(
            f"{path}: its weights do not fit arch {meta['arch']!r} named in its metadata; "
            "the checkpoint is damaged or of another architecture"
        )
    return model.eval(), meta


def load_training_state(path: str | os.PathLike) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """(weights, metadata, training state) of a checkpoint written with a training state."""
    blob = read_checkpoint(path)
    if "training_state" not in blob:
        raise EdgeDepthError(f"{path} holds no training state to resume; resume from the <name>.last.pt that "
                             "`edgedepth train -o <name>.pt` writes after every epoch")
    return blob["state_dict"], blob["meta"], blob["training_state"]


def _torch_load(path: str | os.PathLike, what: str) -> Any:
    import torch

    path = Path(path)
    if not path.is_file():
        raise EdgeDepthError(f"{what} {path} not found; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # torch raises many types for a damaged file
        if "Unsupported global" in str(exc):  # pickled objects (an Ultralytics best.pt, a whole module): not ours
            raise EdgeDepthError(f"{path} is not an edgedepth {what} but pickled Python objects; a model of your own "
                                 f"goes through `edgedepth export {path} --trust-pickle ...` first")
        raise EdgeDepthError(f"{what} {path} is unreadable ({type(exc).__name__}); it is corrupt or not a .pt file")
