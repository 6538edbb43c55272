"""Memory a step will need, estimated before it starts, against what the machine has.

A size too large for the machine is refused in one line with the estimate, instead of an allocator's
traceback minutes later (`--size 100000x100000` asked export for 112 GiB in one tensor). The estimates are
of the part that grows with the image size, from the model's own layer shapes (`activation_bytes`) or from a
measured cost per pixel; the constants that turn them into bytes say how they were measured.
"""

from __future__ import annotations

from pathlib import Path

from .errors import EdgeDepthError

MEMINFO = Path("/proc/meminfo")


def available_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (what can be allocated without swapping); None where there is none."""
    try:
        for line in MEMINFO.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def activation_bytes(model, size: tuple[int, int], batch: int = 1) -> int:
    """Bytes of every leaf layer's output for a batch of `batch` images at `size` (H, W): the model run on a
    copy on PyTorch's meta device, where tensors have shapes and no storage, so any size costs nothing."""
    import copy

    import torch

    total = 0

    def count(module, inputs, output) -> None:
        nonlocal total
        outputs = output.values() if isinstance(output, dict) else output if isinstance(output, (tuple, list)) else [output]
        total += sum(t.numel() * t.element_size() for t in outputs if isinstance(t, torch.Tensor))

    meta = copy.deepcopy(model).to("meta")
    for module in meta.modules():
        if not any(True for _ in module.children()):
            module.register_forward_hook(count)
    with torch.no_grad():
        meta(torch.empty(batch, 3, *size, device="meta"))
    return total


def check_fits(needed: int, what: str, fix: str) -> None:
    """Raise a one-line EdgeDepthError when `needed` bytes exceed the memory available now."""
    available = available_bytes()
    if available is not None and needed > available:
        raise EdgeDepthError(f"{what} needs at least {gib(needed)} of memory and this machine has {gib(available)} "
                             f"available; {fix}")


def gib(n: float) -> str:
    return f"{n / 2**30:,.0f} GiB" if n >= 10 * 2**30 else f"{n / 2**30:.1f} GiB"
