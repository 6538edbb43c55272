"""Any model the user has (sources.ModelSource) → verified, fused ONNX with the pipeline's contract.

A PyTorch model: fold every BatchNorm into the conv before it → torch.onnx.export (input `rgb`, output
`depth`, the output adapters of wrappers.DepthOutput traced in) → onnxslim (constant folding, dead nodes) →
onnx.checker (full) → parity against the PyTorch model in ONNX Runtime. An ONNX the user exported: validated
(sources), its input and output renamed `rgb` and `depth`, unnamed nodes named, its sizes fixed as asked →
the same cleaning → parity against the user's original in ONNX Runtime. The ONNX is renamed into place only
when every step passed, then `<output>.json` records how it was made ("producer": "edgedepth-export" tells
quantize it is ours) and what the model outputs and expects.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from .artifacts import publishing
from .data.split import Split
from .data.transforms import Preprocessing, preprocess
from .errors import EdgeDepthError
from .fitting import activation_estimate
from .memory import check_fits
from .progress import Progress, counter, silent
from .sources import ModelSource, resolve_source
from .spec import DYNAMIC_AXES, ModelSpec

PRODUCER = "edgedepth-export"
INPUT_NAME, OUTPUT_NAME = "rgb", "depth"

#: 13 is the first opset with per-channel QuantizeLinear (quantize needs it); 20 is the highest the
#: TorchScript exporter writes.
MIN_OPSET, MAX_OPSET = 13, 20
DEFAULT_OPSET = 17

#: Parity tolerance on the largest absolute difference, as a fraction of the output's magnitude: the larger of
#: the declared depth range (max_depth − min_depth; 1e-4 of the default 0.1–80 m is 8 mm) and the largest value
#: the reference output reaches on the parity images (for inverse and relative outputs, which declare no range,
#: that value alone). FP32 ONNX Runtime and PyTorch sum in different orders and the folded conv rounds once
#: less: measured up to 1.2e-4 m on deeplabv3_resnet50 at 512×512 with outputs spanning 0–58 m (≈2e-6 of the
#: output), and up to 4 cm on a briefly trained LRASPP whose outputs reached 100–730 m (8e-5 of them: the
#: tolerance scales with the output, or such a model fails parity for FP32 rounding). A real export fault (a
#: missing layer, a wrong resize, a mis-folded BatchNorm) moves depth by a sizeable part of the output, far
#: above it, and it stays below the centimetre-level INT8 deltas bench reports.
PARITY_TOLERANCE = 1e-4
PARITY_IMAGES = 4
PARITY_SEED = 0
#: Export's peak resident memory grows with the input size by 0.32–0.85 times the model's activations for one
#: image (`memory.activation_bytes`), measured: lraspp 0.85 and deeplabv3-mobilenet 0.66 (512² → 1024²),
#: deeplabv3-resnet50 0.32 (256² → 512²). The lowest is what a size is checked against: a refused size
#: could not have fitted.
EXPORT_MEMORY_PER_ACTIVATION = 0.32


def export_onnx(
    model: ModelSource | str | os.PathLike,
    output: str | os.PathLike,
    *,
    opset: int | None = None,
    dynamic: str = "none",
    data: str | os.PathLike | Split | None = None,
    atol: float | None = None,
    progress: Progress = silent,
) -> Path:
    """Export `model` (a ModelSource, or a file of any form `sources.resolve_source` reads alone) to a
    verified ONNX at `output`; returns `output`. Its input size is the source's.

    opset: of a PyTorch model's export (default DEFAULT_OPSET; an ONNX keeps its own). dynamic: "none",
    "batch", "hw" or "both". data: a data folder (or its Split) whose images feed the parity check (default:
    seeded noise images). atol: parity tolerance in the output's unit (default `parity_tolerance`).
    """
    output = Path(output)
    if output.is_dir():
        raise EdgeDepthError(f"output {output} is a folder; give a file path such as {output / 'model.onnx'}")
    if dynamic not in DYNAMIC_AXES:
        raise EdgeDepthError(f"unknown dynamic mode {dynamic!r}; choose one of: {', '.join(DYNAMIC_AXES)}")
    if opset is not None and not MIN_OPSET <= opset <= MAX_OPSET:
        raise EdgeDepthError(f"opset {opset} is not supported; choose {MIN_OPSET}..{MAX_OPSET} (default {DEFAULT_OPSET})")
    if atol is not None and not (np.isfinite(atol) and atol >= 0):
        raise EdgeDepthError(f"parity tolerance {atol} is not a finite number ≥ 0")
    source = model if isinstance(model, ModelSource) else resolve_source(model)
    source.require_float("export")
    if source.model is None and source.form != "onnx":
        raise EdgeDepthError(f"{source.origin} is a built engine; export starts from the model (a checkpoint, your "
                             "network or its ONNX)")
    if source.artifact is not None and output.resolve() == source.artifact.resolve():
        raise EdgeDepthError(f"output {output} would overwrite the model it exports; choose another output path")
    spec = source.spec
    sizes = parity_sizes(spec, dynamic)

    import onnx

    step = counter(progress, "export", 4)
    with publishing(output) as staging:
        if source.model is not None:
            size, activations = spec.input_size, activation_estimate(source.model, spec.input_size)
            if activations is not None:
                check_fits(EXPORT_MEMORY_PER_ACTIVATION * activations, f"exporting {spec.arch} at {size[0]}x{size[1]}",
                           "export at a smaller size")
            fused, folded, unfolded = fold_batchnorm(source.model)
            opset = opset or DEFAULT_OPSET
            exported = to_onnx(fused, spec.input_size, opset, dynamic)
            reference, reference_name = torch_reference(source.model), "PyTorch"
        else:
            if opset is not None:
                raise EdgeDepthError(f"an opset applies to PyTorch models; the ONNX {source.artifact} keeps its own")
            exported, opset = adopt_onnx(source.artifact, spec.input_size, dynamic)
            folded, unfolded = 0, None
            reference, reference_name = onnx_reference(source.artifact), f"the original {source.artifact.name} in ONNX Runtime"
        step()
        cleaned = clean(exported, unfolded)
        step()
        onnx.save(cleaned, staging.artifact)
        inputs = parity_inputs(data, sizes, spec.preprocessing)
        parity = check_parity(reference, staging.artifact, inputs, batched="batch" in DYNAMIC_AXES[dynamic].values(),
                              atol=atol, spec=spec, reference_name=reference_name)
        step()
        parity["inputs"] = str(Split.of(data).root) if data is not None else f"uniform noise images (seed {PARITY_SEED})"
        parity["reference"] = reference_name
        staging.sidecar = {
            "producer": PRODUCER,
            **source.facts().with_changes(dynamic=dynamic).to_record(),
            "opset": opset,
            "input": INPUT_NAME,
            "output": OUTPUT_NAME,
            "batchnorm_folded": folded,
            "node_counts": {"exported": node_counts(exported), "cleaned": node_counts(cleaned)},
            "parity": parity,
        }
        step()
    return output


def fold_batchnorm(model: nn.Module) -> tuple[nn.Module, int, int]:
    """A copy of `model` (eval mode) with every Conv→BatchNorm pair folded into one conv; (copy, BatchNorm
    layers folded, BatchNorm layers left).

    torch.fx traces the whole forward, so pairs are found wherever they sit (nn.Sequential blocks and
    ResNet's conv1/bn1 attributes alike); the fold itself is torch's `fuse_conv_bn_eval`. A network torch.fx
    cannot trace (Python control flow on tensor values, a TorchScript module) is exported as it is: the ONNX
    exporter folds Conv→BatchNorm itself in eval mode, and `clean` checks what is left."""
    from torch.fx.experimental.optimization import fuse

    before = _count_batchnorm(model)
    if _holds_torchscript(model):  # torch.fx would call its compiled forward opaquely, through a handle export cannot follow
        return model.eval(), 0, before
    try:
        fused = fuse(model.eval())
    except Exception:  # torch.fx's TraceError, and whatever the user's code raises on a Proxy
        return model.eval(), 0, before
    remaining = _count_batchnorm(fused)
    return fused, before - remaining, remaining


def _count_batchnorm(model: nn.Module) -> int:
    """BatchNorm layers, TorchScript's included (they keep their class name as `original_name`)."""
    return sum(isinstance(m, nn.modules.batchnorm._BatchNorm) or getattr(m, "original_name", "").startswith("BatchNorm")
               for m in model.modules())


def _holds_torchscript(model: nn.Module) -> bool:
    return any(isinstance(m, torch.jit.ScriptModule) for m in model.modules())


def to_onnx(model: nn.Module, size: tuple[int, int], opset: int, dynamic: str):
    """torch.onnx.export (TorchScript exporter: no onnxscript needed, one self-contained file) → ModelProto."""
    import onnx

    axes = DYNAMIC_AXES[dynamic]
    example = torch.zeros(1, 3, *size)
    if _holds_torchscript(model):
        # torch.onnx.export refuses a loaded TorchScript module inside a Python one ("not part of the active
        # trace"); torch.jit.trace follows it, and its trace exports
        model = torch.jit.trace(model, example, strict=False, check_trace=False)
    buffer = io.BytesIO()
    torch.onnx.export(
        model,
        (example,),
        buffer,
        input_names=[INPUT_NAME],
        output_names=[OUTPUT_NAME],
        dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if axes else None,
        opset_version=opset,
        do_constant_folding=True,
        dynamo=False,
    )
    return onnx.load_from_string(buffer.getvalue())


def adopt_onnx(path: Path, size: tuple[int, int], dynamic: str):
    """(the user's ONNX in the pipeline's contract, its opset): input `rgb` and output `depth`, every node
    named (quantize's --keep-float and the fusion report name nodes), the input fixed at 1×3×H×W except the
    axes `dynamic` keeps symbolic, which must be symbolic in it already."""
    import onnx

    from .onnx_graph import graph_inputs

    model = onnx.load(str(path))
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    if opset < MIN_OPSET:
        raise EdgeDepthError(f"{path} is opset {opset}; quantize needs {MIN_OPSET} or newer (per-channel INT8): "
                             f"export it again with opset_version={DEFAULT_OPSET}")
    image, depth = graph_inputs(model)[0], model.graph.output[0]
    if len(image.type.tensor_type.shape.dim) != 4:
        raise EdgeDepthError(f"{path} records no N×3×H×W shape for its input; export it again with shapes")
    axis_names = {0: "batch", 2: "height", 3: "width"}
    wanted = [1, 3, *size]
    for axis, name in DYNAMIC_AXES[dynamic].items():
        if image.type.tensor_type.shape.dim[axis].HasField("dim_value"):
            raise EdgeDepthError(f"{path} has a fixed {axis_names[axis]}; it cannot be exported with dynamic axes '{dynamic}': "
                                 "export it again with that axis dynamic, or keep the axes fixed")
        wanted[axis] = name
    out_dims = depth.type.tensor_type.shape.dim
    if len(out_dims) == 4 and any(out_dims[a].HasField("dim_value") and out_dims[a].dim_value != size[i]
                                  for i, a in enumerate((2, 3))):
        shape = "×".join(str(d.dim_value) if d.HasField("dim_value") else "?" for d in out_dims)
        raise EdgeDepthError(f"{path} outputs {shape} for a {size[0]}x{size[1]} input; edgedepth needs depth at the "
                             "input size (N×1×H×W): export it again with the upsampling in the graph")
    for value, shape in ((image, wanted), (depth, [wanted[0], 1, *wanted[2:]])):
        for dim, target in zip(value.type.tensor_type.shape.dim, shape):
            if isinstance(target, int):
                dim.dim_value = target
            else:
                dim.dim_param = target
    _rename_tensor(model, image.name, INPUT_NAME)
    _rename_tensor(model, depth.name, OUTPUT_NAME)
    del model.graph.value_info[:]  # shapes of the old sizes; onnxslim infers them again
    seen: set[str] = set()
    for index, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = f"{node.op_type}_{index}"
        seen.add(node.name)
    return model, opset


def _rename_tensor(model, old: str, new: str) -> None:
    if old == new:
        return
    graph = model.graph
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | {i.name for i in graph.initializer}
    if new in taken:
        raise EdgeDepthError(f"the ONNX already has a tensor named {new!r} besides its {old!r}; rename it and export again")
    for node in graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new
    for value in (*graph.input, *graph.output):
        if value.name == old:
            value.name = new


def clean(model, unfolded: int | None):
    """onnxslim (constant folding, dead-node removal, shape inference), then onnx's full check. `unfolded`:
    how many BatchNorm layers the fold left (None: not known, an ONNX of the user's); more
    BatchNormalization nodes than that means the fold went wrong."""
    import onnx
    import onnxslim

    cleaned = onnxslim.slim(model)
    onnx.checker.check_model(cleaned, full_check=True)
    leftover = node_counts(cleaned).get("BatchNormalization", 0)
    if unfolded is not None and leftover > unfolded:
        raise RuntimeError(f"{leftover - unfolded} BatchNormalization nodes survived the fold")
    return cleaned


def node_counts(model) -> dict[str, int]:
    """Number of nodes per op type in an ONNX graph, most frequent first."""
    return dict(Counter(node.op_type for node in model.graph.node).most_common())


def parity_sizes(spec: ModelSpec, dynamic: str) -> list[tuple[int, int]]:
    """The export size, plus a second, non-square one when H/W are dynamic (so a swapped axis shows)."""
    size = spec.input_size
    if "height" not in DYNAMIC_AXES[dynamic].values():
        return [size]
    step = spec.size_multiple
    if step is None:
        raise EdgeDepthError(f"{spec.arch} ran at no other input size tried, so its height and width cannot be "
                             "dynamic; keep them fixed (dynamic axes 'none' or 'batch'), or declare its size multiple")
    return [size, (size[0] + step, size[1] + 2 * step)]


def parity_inputs(data: str | os.PathLike | Split | None, sizes: list[tuple[int, int]],
                  preprocessing: Preprocessing) -> list[np.ndarray]:
    """One preprocessed N×3×H×W batch per size: PARITY_IMAGES images spread evenly over `data` (so indoor
    and outdoor both show), else seeded noise."""
    if data is None:
        rng = np.random.default_rng(PARITY_SEED)
        return [preprocess(list(rng.integers(0, 256, (PARITY_IMAGES, h, w, 3), dtype=np.uint8)), (h, w), preprocessing)
                for h, w in sizes]
    from .data.datasets import load_sample

    split = Split.of(data)
    samples = [*split.pool, *split.held_out]
    picked = samples[:: max(1, len(samples) // PARITY_IMAGES)][:PARITY_IMAGES]
    images = [load_sample(sample)[0] for sample in picked]
    return [preprocess(images, s, preprocessing) for s in sizes]


def torch_reference(model: nn.Module) -> Callable[[np.ndarray], np.ndarray]:
    def run(batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return model(torch.from_numpy(batch)).numpy()

    return run


def onnx_reference(path: Path) -> Callable[[np.ndarray], np.ndarray]:
    """N×3×H×W → N×1×H×W through an ONNX in ONNX Runtime (the user's original, or the export itself), one image
    at a time where its batch is fixed."""
    from .backends.onnxruntime import session_runner

    runner = session_runner(path)
    one_at_a_time = isinstance(runner.session.get_inputs()[0].shape[0], int)

    def run(batch: np.ndarray) -> np.ndarray:
        chunks = np.split(batch, len(batch)) if one_at_a_time else [batch]
        return np.concatenate([runner.infer(chunk) for chunk in chunks])

    return run


def check_parity(
    reference: Callable[[np.ndarray], np.ndarray],
    onnx_path: str | os.PathLike,
    inputs: list[np.ndarray],
    *,
    batched: bool,
    atol: float | None,
    spec: ModelSpec,
    reference_name: str = "the reference",
) -> dict[str, Any]:
    """Run each batch through the reference and the exported ONNX in ONNX Runtime, compare them with the one
    distance (`measure.compare`, unclamped: a fault outside the depth range is still a fault), and raise
    EdgeDepthError when max |Δ| exceeds `atol` (default `parity_tolerance`) or either output is not finite.
    A static-batch ONNX is fed one image at a time."""
    from .measure.compare import distance_sums, distances, merge_sums

    exported = onnx_reference(Path(onnx_path))
    pairs = []
    for batch in inputs:
        expected = reference(batch)
        wanted = (len(batch), 1, *batch.shape[2:])
        if expected.shape != wanted:
            shape, given = ("×".join(map(str, s)) for s in (expected.shape, batch.shape))
            raise EdgeDepthError(f"the model outputs {shape} for a {given} input; edgedepth needs N×1×H×W depth at the "
                                 "input size: export it again with the upsampling in the graph")
        actual = exported(batch)
        if actual.shape != expected.shape:
            raise RuntimeError(f"ONNX output shape {actual.shape} differs from the reference's {expected.shape}")
        pairs.append((expected, actual))
    sums = None
    for expected, actual in pairs:
        sums = merge_sums(sums, distance_sums(actual, expected, spec.output, spec.depth.min_depth,
                                              names=("the exported ONNX", reference_name)))
    found = distances(sums)
    largest = max(float(np.abs(expected).max()) for expected, _ in pairs)
    tolerance = atol if atol is not None else parity_tolerance(spec, largest)
    unit = f" {spec.unit}" if not spec.output.relative else ""
    if found["max_abs_diff"] > tolerance:
        raise EdgeDepthError(
            f"parity check failed: ONNX Runtime differs from {reference_name} by up to {found['max_abs_diff']:.3g}{unit} "
            f"(tolerance {tolerance:.3g}{unit}, {found['max_abs_diff'] / max(largest, 1e-12):.1e} of the largest output "
            f"{largest:.3g}{unit}); no ONNX written: a graph the exporter got wrong — report the model, or try another opset")
    record = {
        "images": int(inputs[0].shape[0]),
        "sizes": [list(batch.shape[2:]) for batch in inputs],
        "batch": int(inputs[0].shape[0]) if batched else 1,
        "max_abs_err": found["max_abs_diff"],
        "max_rel_err": found["max_rel_diff"],
        "atol": tolerance,
        "largest_output": largest,
    }
    if spec.output.metric and largest > spec.depth.max_depth:
        record["note"] = (f"outputs reach {largest:.3g} m, beyond the model's {spec.depth.max_depth:g} m depth range: "
                          "the model is far from trained for these inputs")
    return record


def parity_tolerance(spec: ModelSpec, largest: float) -> float:
    """PARITY_TOLERANCE of the output's magnitude: the larger of the declared depth range's span (metric depth)
    and the largest value the reference output reaches (`largest`)."""
    span = spec.depth.max_depth - spec.depth.min_depth if spec.output.metric else 0.0
    return PARITY_TOLERANCE * max(span, largest, 1e-12)
