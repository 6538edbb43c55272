"""Settling what a network of the user's takes and gives, by running it: input size, size multiple, which
output is depth.

A registered arch knows its multiple; any other network is run on small seeded inputs (`probe`): the
smallest multiple at which it returns depth at the size it was given, and the entry of a tuple or dict output
that is depth (`pick_output`). The network is then checked at the model's own size, after a memory estimate
that refuses a size this machine cannot hold. torch is imported inside the functions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import EdgeDepthError, first_line
from .spec import check_multiple, multiples_hint

if TYPE_CHECKING:
    from torch import nn

#: Input size of a model that records none and was given no size: DIODE's 768×1024 scans halved, rounded up to
#: the model's size multiple.
DEFAULT_INPUT_SIZE = (384, 512)
#: Size multiples tried, smallest first, when nobody declared one: 1..64 covers CNN output strides (8, 16, 32,
#: 64) and ViT patch sizes (14, 16). Each try runs two small inputs: k·m × (k+1)·m and (k+1)·m × k·m,
#: k·m ≥ TRIAL_SIDE (a few milliseconds each), so a stride that tiles only one axis does not pass. With a size
#: given, only the multiples that divide both its sides are tried: the one found must suit the size.
MAX_SIZE_MULTIPLE, TRIAL_SIDE = 64, 32
#: One inference's peak resident memory over the model's activations for one image (`memory.activation_bytes`),
#: measured in inference mode: lraspp 0.18 and deeplabv3-mobilenet 0.17 at 1024², deeplabv3-resnet50 0.09 at
#: 512² and 0.08 at 768². The check before the trial run at the model's size uses the lowest: a refused size
#: could not have fitted.
PROBE_MEMORY_PER_ACTIVATION = 0.08


class Unfit(Exception):
    """The network did not run at a size, or did not return depth at that size (the reason is the message)."""


def fit_module(net: nn.Module, label: str, output_key: str | None, size: tuple[int, int] | None,
               multiple: int | None, registered: bool) -> tuple[nn.Module, tuple[int, int], int | None]:
    """(the network wrapped to return N×1×H×W, the input size, the size multiple), checked by running it.
    `registered`: a registered arch, which returns depth at any multiple of its own (no trial run)."""
    from .wrappers import DepthOutput

    net = net.eval()
    if size is None:
        multiple = multiple or find_multiple(net, output_key, label)
        if multiple is None:
            raise EdgeDepthError(f"{label} runs at no small input size tried (multiples of 1–{MAX_SIZE_MULTIPLE}); "
                                 "declare the size (HxW) it takes")
        size = default_size(multiple)
    h, w = size
    if multiple:
        check_multiple(size, multiple, label)
    check_probe_fits(net, size, label)
    if registered and multiple:
        return net, (int(h), int(w)), multiple
    try:
        key, rank = probe(net, output_key, size, label)
    except Unfit as why:
        found = multiple or find_multiple(net, output_key, label)
        hint = f"it takes {multiples_hint(size, found)}" if found else "declare a size (HxW) it takes"
        raise EdgeDepthError(f"{label} cannot take a {h}x{w} input ({why}); {hint}")
    if multiple is None:
        multiple = find_multiple(net, output_key, label, dividing=size)
    wrapped = net if registered else DepthOutput(net, key, add_channel=rank == 3).eval()
    return wrapped, (int(h), int(w)), multiple


def fit_onnx(static: tuple[int, int] | None, onnx: Path, size: tuple[int, int] | None,
             multiple: int | None) -> tuple[int, int]:
    """The input size of an ONNX: its `static` one (a different size is refused), else the declared one, else the
    default rounded up to the declared multiple."""
    if static and size and tuple(size) != static:
        raise EdgeDepthError(f"{onnx} takes {static[0]}x{static[1]} inputs only (its input size is static); "
                             "declare no other size, or export it again with dynamic height and width")
    size = tuple(size or static or default_size(multiple or 1))
    if multiple:
        check_multiple(size, multiple, onnx.name)
    return int(size[0]), int(size[1])


def check_probe_fits(net: nn.Module, size: tuple[int, int], label: str) -> None:
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


def default_size(multiple: int) -> tuple[int, int]:
    return tuple(-(-side // multiple) * multiple for side in DEFAULT_INPUT_SIZE)


def probe(net: nn.Module, output_key: str | None, size: tuple[int, int], label: str) -> tuple[Any, int]:
    """Run `net` on one seeded input of `size`; (the key of its depth output (None: it returns a tensor), its rank).

    A key that is not there is an EdgeDepthError; a failure to run or an output not at `size` is `Unfit`."""
    import torch

    generator = torch.Generator().manual_seed(0)
    x = torch.randn(1, 3, *size, generator=generator)
    try:
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            output = net(x)
    except Exception as exc:  # the user's network refusing the size, in whatever words it has
        raise Unfit(f"{type(exc).__name__}: {first_line(exc)}")
    key = pick_output(output, output_key, label)
    depth = output if key is None else output[key]
    shape = tuple(depth.shape)
    if shape not in ((1, 1, *size), (1, *size)):
        raise Unfit(f"its depth output is {'×'.join(map(str, shape))}; edgedepth needs depth at the input size, "
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


def find_multiple(net: nn.Module, output_key: str | None, label: str,
                  dividing: tuple[int, int] | None = None) -> int | None:
    """The smallest m ≤ MAX_SIZE_MULTIPLE at which `net` takes two small inputs whose sides are multiples of m and
    returns depth at their size, and also the size it will be given: m divides both sides of `dividing` (a size
    it is known to take), or without one it runs at `default_size(m)`. None when no m does.

    Small sizes alone do not prove a multiple: a stride-32 network of padded convolutions also runs at 60×90 and
    90×60, where every halving rounds alike, and the trial found 30 beside a 128×128 input (issue 24)."""
    common = math.gcd(*dividing) if dividing else 0
    for multiple in range(1, MAX_SIZE_MULTIPLE + 1):
        if common and common % multiple:
            continue
        k = -(-TRIAL_SIDE // multiple)
        try:
            for a, b in ((k, k + 1), (k + 1, k)):
                probe(net, output_key, (a * multiple, b * multiple), label)
            if not dividing:
                check_probe_fits(net, default_size(multiple), label)
                probe(net, output_key, default_size(multiple), label)
        except Unfit:
            continue
        return multiple
    return None
