"""Reading torch.save files safely, and loading a state_dict into a network in the layouts training scripts write.

The one `torch.load` of the project: tensors and plain containers are read with `weights_only` (memory-mapped
when the file is a zip archive, so reading a checkpoint's metadata costs little for a large model); a file
that holds pickled Python objects is unpickled only when the user trusts it, since that runs code from it.
torch is imported inside the functions.
"""

from __future__ import annotations

import contextlib
import os
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EdgeDepthError, first_line

if TYPE_CHECKING:
    from torch import nn

#: Keys under which training scripts store the state_dict in a bigger dict; prefixes that DataParallel/DDP
#: (`module.`) and torch.compile (`_orig_mod.`) put before every key.
WRAPPER_KEYS = ("state_dict", "model", "model_state_dict")
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
#: torchvision's auxiliary training head of the segmentation models: not part of inference.
AUXILIARY_PREFIX = "aux_classifier."
#: The advice in a refusal to unpickle: the command-line flag that trusts a file (quoted whole, as a command).
TRUST_ADVICE = "trust pickles explicitly (`edgedepth ... --trust-pickle`) if you trust where it came from"


def read_torch_file(path: str | os.PathLike, what: str = "", trust_pickle: bool = False) -> Any:
    """A torch.save file's content: tensors and plain containers safely (weights_only); anything else only when
    the user trusts the file, since unpickling it runs whatever code it names."""
    import torch

    path = Path(path)
    what = what or str(path)
    if not path.is_file():
        raise EdgeDepthError(f"{what} not found; check the path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=zipfile.is_zipfile(path))  # mmap: zip format only
    except Exception as exc:  # torch raises many types for a damaged file
        if "Unsupported global" not in str(exc):
            raise EdgeDepthError(f"{what} is unreadable ({type(exc).__name__}); it is corrupt or not a PyTorch file")
        if not trust_pickle:
            names = [line.split("GLOBAL ", 1)[1].split()[0] for line in str(exc).splitlines() if "GLOBAL " in line]
            raise EdgeDepthError(
                f"{what} holds pickled Python objects ({', '.join(names[:1]) or 'a class'}): loading it runs arbitrary "
                f"code from the file; {TRUST_ADVICE}, or save a state_dict or TorchScript instead")
    try:
        with importable_from_here():
            return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:
        raise EdgeDepthError(f"unpickling {what} failed ({type(exc).__name__}: {first_line(exc)}); the code that "
                             "defines its classes must import here (PYTHONPATH)")


@contextlib.contextmanager
def importable_from_here():
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
    check_finite_weights(state, what)
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


def check_finite_weights(state: Mapping[str, Any], what: str) -> None:
    """Refuse weights holding NaN or Inf: every output of the network would be garbage, and an export of it
    would pass parity (NaN beside NaN) silently."""
    import torch

    for key, tensor in state.items():
        if isinstance(tensor, torch.Tensor) and tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise EdgeDepthError(f"{what} holds NaN or Inf weights (first in {key}); the training diverged or the file "
                                 "is damaged: use a checkpoint from before, or train again")
