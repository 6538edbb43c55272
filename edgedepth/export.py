"""Checkpoint → verified, fused ONNX.

load_checkpoint → fold every BatchNorm into the conv before it → torch.onnx.export (input `rgb`, output
`depth`) → onnxslim (constant folding, dead nodes) → onnx.checker (full) → parity against the PyTorch model
in ONNX Runtime. The ONNX is renamed into place only when every step passed, then `<output>.json` records
how it was made ("producer": "edgedepth-export" tells quantize it is ours).
"""

from __future__ import annotations

import contextlib
import io
import os
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .artifacts import publishing, sha256
from .data.transforms import preprocess
from .errors import EdgeDepthError
from .memory import activation_bytes, check_fits
from .models import arch_spec, check_input_size, load_checkpoint

PRODUCER = "edgedepth-export"
INPUT_NAME, OUTPUT_NAME = "rgb", "depth"

#: Which axes of `rgb` and `depth` stay symbolic. Static is the default: edge engines plan memory and pick
#: kernels for one shape.
DYNAMIC_AXES: dict[str, dict[int, str]] = {
    "none": {},
    "batch": {0: "batch"},
    "hw": {2: "height", 3: "width"},
    "both": {0: "batch", 2: "height", 3: "width"},
}
#: 13 is the first opset with per-channel QuantizeLinear (quantize needs it); 20 is the highest the
#: TorchScript exporter writes.
MIN_OPSET, MAX_OPSET = 13, 20

#: Parity tolerance on the largest absolute depth difference, as a fraction of the depth range
#: (max_depth − min_depth): 1e-4, i.e. 8 mm on the default 0.1–80 m. FP32 ONNX Runtime and PyTorch sum in
#: different orders and the folded conv rounds once less: measured up to 1.2e-4 m on deeplabv3_resnet50 at
#: 512×512 with outputs spanning 0–58 m (≈2e-6 of the output), 67× below the tolerance. A real export fault
#: (a missing layer, a wrong resize, a mis-folded BatchNorm) moves depth by a sizeable part of the output,
#: far above it. It also stays below the centimetre-level INT8 deltas bench reports, so it never hides them.
PARITY_TOLERANCE = 1e-4
PARITY_IMAGES = 4
PARITY_SEED = 0
#: Export's peak resident memory grows with the input size by 0.32–0.85 times the model's activations for one
#: image (`memory.activation_bytes`), measured: lraspp 0.85 and deeplabv3-mobilenet 0.66 (512² → 1024²),
#: deeplabv3-resnet50 0.32 (256² → 512²). The lowest is what a size is checked against: a refused size
#: could not have fitted.
EXPORT_MEMORY_PER_ACTIVATION = 0.32


def export_onnx(
    checkpoint: str | os.PathLike,
    output: str | os.PathLike,
    *,
    opset: int = 17,
    size: tuple[int, int] | None = None,
    dynamic: str = "none",
    data: str | os.PathLike | None = None,
    atol: float | None = None,
) -> Path:
    """Export `checkpoint` to a verified ONNX at `output`; returns `output`.

    size: (H, W), default the checkpoint's input size. dynamic: "none", "batch", "hw" or "both".
    data: a DIODE-layout folder whose images feed the parity check (default: seeded noise images).
    atol: parity tolerance in metres (default PARITY_TOLERANCE × the checkpoint's depth range).
    """
    output = Path(output)
    if output.is_dir():
        raise EdgeDepthError(f"output {output} is a folder; give a file path such as {output / 'model.onnx'}")
    if dynamic not in DYNAMIC_AXES:
        raise EdgeDepthError(f"unknown dynamic mode {dynamic!r}; choose one of: {', '.join(DYNAMIC_AXES)}")
    if not MIN_OPSET <= opset <= MAX_OPSET:
        raise EdgeDepthError(f"opset {opset} is not supported; choose {MIN_OPSET}..{MAX_OPSET} (default 17)")

    import onnx

    with publishing(output) as staging, _steps(5) as step:
        step("loading checkpoint")
        model, meta = load_checkpoint(checkpoint)
        size = check_input_size(meta["arch"], tuple(size or meta["input_size"]))
        check_fits(EXPORT_MEMORY_PER_ACTIVATION * activation_bytes(model, size), f"exporting {meta['arch']} at "
                   f"{size[0]}x{size[1]}", "export at a smaller size")
        depth_range = meta["depth"]
        tolerance = atol if atol is not None else PARITY_TOLERANCE * (depth_range["max_depth"] - depth_range["min_depth"])

        step("folding BatchNorm into conv")
        fused, folded = fold_batchnorm(model)

        step(f"exporting ONNX (opset {opset})")
        exported = to_onnx(fused, size, opset, dynamic)

        step("cleaning and checking the graph")
        cleaned = clean(exported)

        step("parity check in ONNX Runtime")
        onnx.save(cleaned, staging.artifact)
        inputs = parity_inputs(data, parity_sizes(meta["arch"], size, dynamic))
        parity = check_parity(model, staging.artifact, inputs, batched="batch" in DYNAMIC_AXES[dynamic].values(),
                              atol=tolerance, min_depth=depth_range["min_depth"])
        parity["inputs"] = str(data) if data is not None else f"uniform noise images (seed {PARITY_SEED})"
        staging.sidecar = {
            "producer": PRODUCER,
            "precision": "fp32",
            "checkpoint": str(checkpoint),
            "checkpoint_sha256": sha256(checkpoint),
            "arch": meta["arch"],
            "input_size": list(size),
            "depth": depth_range,
            "preprocessing": meta["preprocessing"],
            "opset": opset,
            "dynamic": dynamic,
            "input": INPUT_NAME,
            "output": OUTPUT_NAME,
            "batchnorm_folded": folded,
            "node_counts": {"exported": node_counts(exported), "cleaned": node_counts(cleaned)},
            "parity": parity,
        }
    return output


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int]:
    """A copy of `model` (eval mode) with every Conv→BatchNorm pair folded into one conv; (copy, pairs folded).

    torch.fx traces the whole forward, so pairs are found wherever they sit (nn.Sequential blocks and
    ResNet's conv1/bn1 attributes alike); the fold itself is torch's `fuse_conv_bn_eval`."""
    from torch.fx.experimental.optimization import fuse

    before = _count_batchnorm(model)
    fused = fuse(model.eval())
    remaining = _count_batchnorm(fused)
    if remaining:
        raise RuntimeError(f"{remaining} BatchNorm layers follow no conv and cannot be folded")
    return fused, before


def _count_batchnorm(model: nn.Module) -> int:
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def to_onnx(model: nn.Module, size: tuple[int, int], opset: int, dynamic: str):
    """torch.onnx.export (TorchScript exporter: no onnxscript needed, one self-contained file) → ModelProto."""
    import onnx

    axes = DYNAMIC_AXES[dynamic]
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.zeros(1, 3, *size),),
        buffer,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if axes else None,
        opset_version=opset,
        do_constant_folding=True,
        dynamo=False,
    )
    return onnx.load_from_string(buffer.getvalue())


def clean(model):
    """onnxslim (constant folding, dead-node removal, shape inference), then onnx's full check."""
    import onnx
    import onnxslim

    cleaned = onnxslim.slim(model)
    onnx.checker.check_model(cleaned, full_check=True)
    leftover = node_counts(cleaned).get("BatchNormalization", 0)
    if leftover:
        raise RuntimeError(f"{leftover} BatchNormalization nodes survived the fold")
    return cleaned


def node_counts(model) -> dict[str, int]:
    """Number of nodes per op type in an ONNX graph, most frequent first."""
    return dict(Counter(node.op_type for node in model.graph.node).most_common())


def parity_sizes(arch: str, size: tuple[int, int], dynamic: str) -> list[tuple[int, int]]:
    """The export size, plus a second, non-square one when H/W are dynamic (so a swapped axis shows)."""
    if "height" not in DYNAMIC_AXES[dynamic].values():
        return [size]
    step = arch_spec(arch).size_multiple
    return [size, (size[0] + step, size[1] + 2 * step)]


def parity_inputs(data: str | os.PathLike | None, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """One preprocessed N×3×H×W batch per size: PARITY_IMAGES images spread evenly over `data` (so indoor
    and outdoor both show), else seeded noise."""
    if data is None:
        rng = np.random.default_rng(PARITY_SEED)
        return [preprocess(list(rng.integers(0, 256, (PARITY_IMAGES, h, w, 3), dtype=np.uint8)), (h, w))
                for h, w in sizes]
    from .data.diode import find_samples, load_sample

    samples = find_samples(data)
    picked = samples[:: max(1, len(samples) // PARITY_IMAGES)][:PARITY_IMAGES]
    images = [load_sample(sample)[0] for sample in picked]
    return [preprocess(images, s) for s in sizes]


def check_parity(
    reference: nn.Module,
    onnx_path: str | os.PathLike,
    inputs: list[np.ndarray],
    *,
    batched: bool,
    atol: float,
    min_depth: float,
) -> dict[str, Any]:
    """Run each batch through PyTorch and ONNX Runtime; raise EdgeDepthError when max |Δ| exceeds `atol`.

    The relative error is |Δ| / max(|depth|, min_depth): the floor keeps near-zero outputs of an untrained
    model from dividing by ~0. A static-batch ONNX is fed one image at a time."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    max_abs = max_rel = 0.0
    for batch in inputs:
        with torch.inference_mode():
            expected = reference(torch.from_numpy(batch)).numpy()
        chunks = [batch] if batched else np.split(batch, len(batch))
        actual = np.concatenate([session.run([OUTPUT_NAME], {INPUT_NAME: chunk})[0] for chunk in chunks])
        if actual.shape != expected.shape:
            raise RuntimeError(f"ONNX output shape {actual.shape} differs from PyTorch's {expected.shape}")
        diff = np.abs(actual.astype(np.float64) - expected)
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(expected), min_depth)).max()))
    if not max_abs <= atol:  # also catches NaN
        raise EdgeDepthError(
            f"parity check failed: ONNX Runtime differs from PyTorch by up to {max_abs:.3g} m "
            f"(tolerance {atol:.3g} m); no ONNX written, try another opset or report the arch"
        )
    return {
        "images": int(inputs[0].shape[0]),
        "sizes": [list(batch.shape[2:]) for batch in inputs],
        "batch": int(inputs[0].shape[0]) if batched else 1,
        "max_abs_err": max_abs,
        "max_rel_err": max_rel,
        "atol": atol,
    }


@contextlib.contextmanager
def _steps(total: int) -> Iterator[Callable[[str], None]]:
    """A rich progress bar on stderr over `total` named steps; yields step(description)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("export: {task.description:<34}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    console = Console(stderr=True)
    with Progress(*columns, console=console, transient=True, disable=not console.is_terminal) as progress:
        task = progress.add_task("", total=total)
        done = -1

        def step(description: str) -> None:
            nonlocal done
            done += 1
            progress.update(task, description=description, completed=done)

        yield step
        progress.update(task, completed=total)
