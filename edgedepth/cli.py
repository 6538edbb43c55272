"""The `edgedepth` command: one thin click command per step; the work lives in the modules.

This module (with demo.py) is the only one that knows click. Library errors (`EdgeDepthError`) become one
`Error: ...` line and a non-zero exit in `_Group.invoke`, so the library reads the same from Python.
Choices come from the registries (archs, backends, flavours, methods). `--json PATH` means the same in every
command: the command's result as JSON in PATH, or on standard output with `-` (the human summary then goes
to standard error). Sizes are HxW (height x width) everywhere, as in the tensors' N×C×H×W.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from . import __version__
from .backends import BUILT_BACKENDS, DEVICES, HINTS, PRECISIONS
from .capi import BUILD_TYPES
from .colormaps import COLORMAPS, DEFAULT_COLORMAP
from .data.synthetic import LAYOUTS as SYNTH_LAYOUTS
from .data.transforms import RESIZE_MODES, VALUE_RANGES
from .errors import EdgeDepthError
from .measure.heldout import RESOLUTIONS
from .models import ARCHS
from .quantize import ENGINES, FLAVOURS, METHODS
from .sources import FORMS, OUTPUT_KINDS, ModelRequest, forms_help


class _Group(click.Group):
    """Maps the library's one-line errors to click's: `Error: <message>`, exit code 1, no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except EdgeDepthError as exc:
            error = click.ClickException(exc.message)
            error.exit_code = exc.exit_code
            raise error from None


def json_option(what: str):
    return click.option("--json", "json_path", metavar="PATH", type=click.Path(dir_okay=False, allow_dash=True, path_type=Path),
                        help=f"Write {what} as JSON to PATH ('-': standard output; the summary then goes to standard error).")


def _to_stdout(json_path: Path | None) -> bool:
    return json_path is not None and str(json_path) == "-"


def _say(json_path: Path | None):
    """click.echo for the human summary: standard error when the JSON takes standard output."""
    err = _to_stdout(json_path)
    return lambda message="": click.echo(message, err=err)


def _console(json_path: Path | None):
    from .ui import console

    return console(stderr=_to_stdout(json_path))


def _write_json(data: dict[str, Any], json_path: Path | None) -> None:
    if json_path is None:
        return
    if _to_stdout(json_path):
        click.echo(json.dumps(data, indent=2, sort_keys=True, default=str))
    else:
        from .report import write_json

        write_json(data, json_path)


@contextlib.contextmanager
def _warnings_as_lines(*shown: type[Warning]) -> Iterator[None]:
    """The library's own warnings (`shown`) as `warning: ...` lines on standard error; third-party chatter hidden."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for category in shown:
            warnings.simplefilter("always", category)
        warnings.showwarning = lambda message, *_, **__: click.echo(f"warning: {message}", err=True)
        yield


def window_options(command):
    """--min-depth/--max-depth: the evaluation window (ground truth outside it is excluded and counted), and
    --resolution: where ground truth is scored."""
    command = click.option("--resolution", type=click.Choice(list(RESOLUTIONS)), default="ground-truth", show_default=True,
                           help="Where ground truth is scored: every valid pixel at its own resolution with the prediction "
                                "upsampled (as papers report), or at the model's input size (faster).")(command)
    for name, end in (("--max-depth", "max_depth"), ("--min-depth", "min_depth")):
        command = click.option(name, type=click.FloatRange(min=0, min_open=True, max=1e6), metavar="METRES",
                               help=f"Evaluation window: ground truth beyond it is excluded and counted, predictions "
                                    f"clamped to it (default: the model's {end}).")(command)
    return command


#: What `model_options` adds, in --help order. The model itself is MODEL (export, evaluate) or --model (bench).
MODEL_OPTIONS = (
    click.option("--arch", type=click.Choice(sorted(ARCHS)), help="The registered network a plain state_dict is for."),
    click.option("--factory", metavar="MODULE:CALLABLE",
                 help="Your code: a callable that returns the nn.Module (importable from here, e.g. mynets.depth:build)."),
    click.option("--weights", type=click.Path(dir_okay=False, path_type=Path),
                 help="A state_dict to load into the --factory network (DDP prefixes and wrappers are fine)."),
    click.option("--output-key", metavar="KEY",
                 help="Which output is depth when forward returns a tuple (index) or dict (key); default: the "
                      "full-resolution one (the largest; ties: the first)."),
    click.option("--output-kind", type=click.Choice(OUTPUT_KINDS),
                 help="What the model outputs: metric depth (m, default), inverse (1/m), relative or relative-inverse "
                      "(affine-invariant: scored after per-image least-squares scale and shift)."),
    click.option("--size", metavar="HxW", help="Input size HxW (default: the model's recorded one; else 384x512 rounded up to its "
                                "size multiple)."),
    click.option("--size-multiple", type=int, help="Input sides must be multiples of this (default: the arch's, "
                                                   "or found by trial on small inputs)."),
    click.option("--trust-pickle", is_flag=True,
                 help="Load a whole pickled module (torch.save(model)): unpickling runs code from the file."),
    click.option("--mean", metavar="R,G,B", help="Preprocessing: per-channel mean, in the model's channel order (default ImageNet's)."),
    click.option("--std", metavar="R,G,B", help="Preprocessing: per-channel std (default ImageNet's)."),
    click.option("--value-range", type=click.Choice(list(VALUE_RANGES)),
                 help="Preprocessing: pixel values before mean/std (default 0-1)."),
    click.option("--bgr", is_flag=True, help="Preprocessing: the model takes BGR channel order."),
    click.option("--resize", type=click.Choice(list(RESIZE_MODES)), help="Preprocessing: resize mode (default bilinear)."),
)


def model_options(command):
    """The options that say what the model is (sources.ModelRequest), defined once for export, evaluate and
    bench; the command receives them as `declared`, a ModelRequest whose path it sets. Its help lists the forms."""

    @functools.wraps(command)
    def with_model(*args, arch, factory, weights, output_key, output_kind, size, size_multiple, trust_pickle,
                   mean, std, value_range, bgr, resize, **kwargs):
        from .data.transforms import declared_preprocessing

        declared = ModelRequest(arch=arch, factory=factory, weights=weights, output_key=output_key,
                                output_kind=output_kind, size=_size(size), size_multiple=size_multiple,
                                trust_pickle=trust_pickle,
                                preprocessing=declared_preprocessing(mean, std, value_range, bgr, resize))
        return command(*args, declared=declared, **kwargs)

    for option in reversed(MODEL_OPTIONS):
        with_model = option(with_model)
    forms = "\n".join(f"  {line}" for line in forms_help())
    with_model.__doc__ = f"{inspect.cleandoc(command.__doc__)}\n\n\b\nThe model, in any of these forms:\n{forms}"
    return with_model


def _source(path: Path | None, declared: ModelRequest):
    from .sources import resolve_source

    return resolve_source(replace(declared, path=path))


def _size(text: str | None) -> tuple[int, int] | None:
    from .data.transforms import parse_size

    return parse_size(text) if text else None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgedepth")
def main() -> None:
    """Make a monocular depth model fast on edge hardware, and measure what it cost in accuracy.

    \b
    The path:  train → export (verified ONNX) → quantize (Q/DQ INT8) → build (engine) → bench
    Try it:    edgedepth demo      (synthetic data, no downloads, about 6 minutes on a quiet 2-core machine)
    Sizes are HxW (height x width) everywhere; --json PATH writes a command's result ('-': stdout).
    """


@main.command()
@click.argument("out", type=click.Path(file_okay=False, path_type=Path))
@click.option("--count", type=click.IntRange(min=1), default=200, show_default=True, help="Number of scans (images).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--size", default="192x256", show_default=True,
              help="Image size HxW, landscape like DIODE's scans (DIODE itself is 768x1024).")
@click.option("--layout", type=click.Choice(SYNTH_LAYOUTS), default="diode", show_default=True,
              help="Dataset layout written: DIODE, Ultralytics' images/+depth/, NYUv2's labeled .mat, KITTI's annotated "
                   "depth with raw RGB, or plain images (no depth).")
def synth(out, count, seed, size, layout):
    """Write a synthetic dataset in a real dataset's exact layout, names and dtypes (DIODE by default:
    indoor + outdoor, train + val).

    RGB and depth are ray-cast from the same scenes, so they agree geometrically; outdoor sky is masked
    invalid as in DIODE. It is the embedded default data of the project: nothing is downloaded. OUT must be
    new or empty (a second run with the same options finds its own output and writes nothing).
    """
    from .data.synthetic import generate

    h, w = _size(size)
    if h > w:  # sizes were WxH here before 0.2: a portrait request is most likely the old spelling
        raise EdgeDepthError(f"--size {size} is portrait ({h} high, {w} wide); scans are landscape like DIODE's "
                             f"and sizes are HxW everywhere: did you mean {w}x{h}?")
    from .ui import progress_bars

    with progress_bars() as progress:
        generate(out, count, seed=seed, size=(h, w), progress=progress, layout=layout)
    click.echo(f"{out}: {count} synthetic scans ({h}x{w}) in {layout} layout")


@main.command()
@click.option("--data", required=True, type=click.Path(path_type=Path), help="DIODE-layout folder (root, split or scene).")
@click.option("--arch", type=click.Choice(sorted(ARCHS)), default="lraspp_mobilenet_v3_large", show_default=True,
              help="Registered model.")
@click.option("--size", default="96x128", show_default=True, help="Model input size HxW (multiples of the arch's stride).")
@click.option("--epochs", type=click.IntRange(min=1), default=20, show_default=True)
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Global batch: split evenly over the processes under torchrun.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=1e-3, show_default=True, help="Adam learning rate.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--backbone-weights", type=click.Path(dir_okay=False, path_type=Path),
              help="Local state-dict file for the backbone (nothing is downloaded).")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="cuda: mixed precision (bf16, else fp16) and channels-last; one GPU per torchrun process.")
@click.option("--workers", type=click.IntRange(min=0),
              help="DataLoader processes per training process (default: 0 on CPU, up to 8 per GPU).")
@click.option("--accumulate", type=click.IntRange(min=1), default=1, show_default=True,
              help="Micro-batches per process and step, gradients summed: N processes train as one with --accumulate N.")
@click.option("--resume", type=click.Path(dir_okay=False, path_type=Path),
              help="Go on from an interrupted run's <name>.last.pt, with the same options (only --epochs may change).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Checkpoint of the best epoch (by validation loss); <name>.last.pt beside it holds the latest.")
def train(data, arch, size, epochs, batch_size, lr, seed, backbone_weights, device, workers, accumulate, resume, output):
    """Train a depth network: Adam, ReduceLROnPlateau on validation loss, best epoch kept.

    Validation uses held-back scenes of the training split (scene-level 90/10, deterministic); the folder's
    val/ split stays untouched for `edgedepth evaluate`. Each epoch prints validation AbsRel, δ1 and RMSE.

    \b
    After every epoch:  -o NAME.pt    the best epoch so far (what export and evaluate take)
                        NAME.last.pt  the latest epoch, with the state --resume goes on from

    Under torchrun (`torchrun --nproc_per_node 4 -m edgedepth train --device cuda ...`) it trains with
    DistributedDataParallel, one process per GPU; rank 0 alone prints and writes.
    """
    from .distributed import from_env
    from .train import TrainConfig
    from .train import train as run_training

    config = TrainConfig(arch=arch, size=_size(size), epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                         backbone_weights=str(backbone_weights) if backbone_weights else None, device=device,
                         workers=workers, accumulate=accumulate)
    from .ui import progress_bars

    with progress_bars() as progress:
        meta = run_training(data, output, config, progress=progress, log=click.echo, resume=resume)
    if from_env().is_main:
        base = meta["baseline"]["metrics"]["abs_rel"]
        click.echo(f"best epoch {meta['train']['best_epoch']}: val AbsRel {meta['metrics']['abs_rel']:.3f} "
                   f"(constant-median baseline {base:.3f}); checkpoint {output}")


@main.command()
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="DIODE-layout folder; its val/ split is scored (a folder without one: its held-out scenes).")
@window_options
@json_option("the metrics")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="Where the model runs (float32); one GPU per torchrun process.")
@model_options
def evaluate(model, declared, data, min_depth, max_depth, resolution, json_path, device):
    """Score a model against ground truth beside the constant-median-depth baseline.

    Metrics on valid pixels inside the evaluation window, averaged per image then over images: MAE, RMSE,
    AbsRel, SqRel, RMSE-log, log10 and δ1–δ3 (share of pixels within 1.25, 1.25², 1.25³ of the truth); then
    broken down by depth range and by domain. Relative outputs are first aligned to each image's ground truth
    (least-squares scale and shift). Under torchrun each process scores its share of the images; rank 0
    prints and writes the metrics of them all.
    """
    from .distributed import from_env
    from .measure.evaluate import evaluate_model
    from .ui import print_metrics

    result = evaluate_model(_source(model, declared), data, device=device, min_depth=min_depth, max_depth=max_depth,
                            resolution=resolution)
    if from_env().is_main:
        print_metrics(result, _console(json_path))
        _write_json(result, json_path)


@main.command("export")
@click.argument("model", required=False, type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="ONNX file to write (default: the model's name with .onnx; an ONNX's with .edgedepth.onnx); "
                   "<output>.json records how.")
@click.option("--opset", type=int, help="ONNX opset of a PyTorch model's export, 13..20 (default 17; an ONNX keeps its own).")
@click.option("--dynamic", default="none", show_default=True, metavar="none|batch|hw|both",
              help="Axes left symbolic. Static suits edge engines best; batch/hw for variable inputs.")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="DIODE-layout folder whose images feed the parity check (default: seeded noise).")
@click.option("--atol", type=click.FloatRange(min=0),
              help="Parity tolerance in the output's unit (default: 1e-4 of the depth range, or of the output's largest value).")
@json_option("the sidecar (parity, node counts)")
@model_options
def export_command(model, declared, output, opset, dynamic, data, atol, json_path):
    """Export a model to a verified ONNX: BatchNorm folded, constants folded, parity-checked.

    Input `rgb` (N×3×H×W, preprocessed), output `depth` (N×1×H×W: what --output-kind says). A PyTorch model
    runs in ONNX Runtime against itself on the same images; an ONNX of yours is validated, renamed to that
    contract, slimmed and checked against your original. Above the tolerance the export fails and writes
    nothing. Every later step (quantize, build, bench, predict, the C runtime) reads the declarations from
    the sidecar, so a user model goes through export first.
    """
    from .artifacts import read_sidecar
    from .export import export_onnx
    from .report import export_lines
    from .ui import progress_bars

    source = _source(model, declared)
    output = output or _default_onnx(model or declared.weights)
    with progress_bars() as progress:
        output = export_onnx(source, output, opset=opset, dynamic=dynamic, data=data, atol=atol, progress=progress)
    info = read_sidecar(output)
    say = _say(json_path)
    for line in export_lines(output, info):
        say(line)
    _write_json(info, json_path)


def _default_onnx(given: Path | None) -> Path:
    if given is None:
        raise EdgeDepthError("--factory without --weights names no file to call the ONNX after; give -o model.onnx")
    return given.with_suffix(".edgedepth.onnx" if given.suffix.lower() == ".onnx" else ".onnx")


@main.command()
@click.argument("onnx", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--data", required=True, type=click.Path(path_type=Path),
              help="DIODE-layout folder: calibration images, and held-out scenes for the accuracy deltas.")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Q/DQ ONNX to write (default: <onnx stem>.int8.onnx); <output>.json records how.")
@click.option("--target", type=click.Choice(list(FLAVOURS)), default="openvino",
              show_default=True, help="Flavour: tensorrt = symmetric INT8 everywhere (zero points 0); "
              "onnxruntime/openvino = UINT8 activations. Weights are always INT8 per-channel.")
@click.option("--samples", type=click.IntRange(min=1), default=128, show_default=True,
              help="Calibration images (fewer existing: a warning, then all of them).")
@click.option("--method", type=click.Choice(METHODS), default="minmax",
              show_default=True, help="How activation ranges are found from the calibration statistics.")
@click.option("--engine", type=click.Choice(list(ENGINES)), default="ort", show_default=True,
              help="ort: ONNX Runtime calibrators, statistics cached, every target. "
              "nncf: OpenVINO's PTQ with bias correction, openvino target only.")
@click.option("--keep-float", multiple=True, metavar="PATTERN",
              help="Leave nodes whose name matches this glob float, e.g. '/classifier/*' (repeatable).")
@click.option("--keep-float-slow", is_flag=True,
              help="Profile every conv in OpenVINO, float vs INT8, and keep float those slower in INT8.")
@click.option("--accuracy-budget", metavar="D1,ABSREL[,DEV,D1F]", is_flag=False, flag_value="0.01,0.05",
              help="Keep the layers measured most sensitive float until INT8 costs at most this on held-out "
              "scenes (95 % bounds): δ1 drop (absolute) and AbsRel increase (relative) against ground truth, "
              "and fidelity to float: mean relative deviation, δ1 vs float (defaults 0.04, 0.99). Alone: the default.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the calibration-sample pick.")
@click.option("--manifest", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the calibration manifest (default: <output stem>.calibration.json).")
@window_options
@json_option("the sidecar")
def quantize(onnx, data, output, target, samples, method, engine, keep_float, keep_float_slow, accuracy_budget,
             seed, manifest, min_depth, max_depth, resolution, json_path):
    """Quantize an exported ONNX to one Q/DQ INT8 ONNX, calibrated on DIODE-layout images.

    Picks the calibration images reproducibly (seeded, alternating indoor/outdoor, cycling scenes), with
    the inference preprocessing, and writes their list and hashes as a manifest. Then measures how well the
    calibrated ranges cover held-out scenes, scores float and INT8 on them through the target's runtime
    (OpenVINO where it is not here), and prints what INT8 cost against ground truth (δ1, AbsRel) and against
    float (fidelity), by depth range and domain, and what it gained (latency).
    """
    from .artifacts import read_sidecar
    from .calibration import CalibrationWarning
    from .quantize import Budget
    from .quantize.judged import quantize_on_data
    from .report import quantize_lines
    from .ui import progress_bars

    budget = Budget.parse(accuracy_budget) if accuracy_budget else None
    with _warnings_as_lines(CalibrationWarning), progress_bars() as progress:  # the calibrators' chatter stays hidden
        output, judgement = quantize_on_data(
            onnx, data, output or onnx.with_name(f"{onnx.stem}.int8.onnx"), target=target, samples=samples, seed=seed,
            budget=budget, min_depth=min_depth, max_depth=max_depth, resolution=resolution, method=method, engine=engine,
            keep_float=keep_float, keep_float_slow=keep_float_slow, manifest=manifest, progress=progress)
    info = read_sidecar(output)
    say = _say(json_path)
    for line in quantize_lines(str(output), info, judgement):
        say(line)
    _write_json(info, json_path)


@main.command()
@click.argument("onnx", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--backend", type=click.Choice(BUILT_BACKENDS), required=True, help="Runtime to build for.")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path),
              help="Output folder (default: engines/<onnx name>-<backend>).")
@click.option("--threads", type=click.IntRange(min=1), help="OpenVINO: inference threads (default: every core).")
@click.option("--streams", type=click.IntRange(min=1), default=1, show_default=True,
              help="OpenVINO: parallel inference streams (1 for latency).")
@click.option("--hint", type=click.Choice(HINTS), default="LATENCY", show_default=True,
              help="OpenVINO performance hint.")
@click.option("--precision", type=click.Choice(PRECISIONS),
              help="TensorRT: fp16 converts a float ONNX; int8 comes from a Q/DQ ONNX. Others follow the ONNX.")
@click.option("--keep-float", multiple=True, metavar="NODE",
              help="TensorRT fp16: ONNX node name that stays float32 (repeatable).")
@json_option("the fusion report (every layer with its runtime precision)")
def build(onnx, backend, output, threads, streams, hint, precision, keep_float, json_path):
    """Compile an ONNX model (float or Q/DQ INT8) for one runtime, and report what the runtime made of it.

    Writes the artifact with a sidecar JSON (how it was made) and prints the fusion report: ONNX node count
    against engine layer count, which ops were fused, the precision each layer really executes in, and the
    share of Conv/MatMul compute (MACs) that runs in INT8.
    """
    from .artifacts import read_sidecar
    from .backends import BuildOptions, CpuOptions, FlavourWarning, get_backend, usable_backend
    from .ui import print_fusion

    device = get_backend(backend).DEVICES[0]  # where it builds: TensorRT on the GPU, the others on the CPU
    module = usable_backend(backend, device)
    options = BuildOptions(device=device, precision=precision, keep_float=tuple(keep_float),
                           cpu=CpuOptions(threads=threads, streams=streams, hint=hint))
    with _warnings_as_lines(FlavourWarning):
        artifact = module.build(onnx, output or Path("engines") / f"{onnx.stem}-{backend}", options)
    fusion = read_sidecar(artifact)["fusion"]
    print_fusion(fusion, str(artifact), _console(json_path))
    _write_json(fusion, json_path)


@main.command()
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True,
              help="cpu: torch, ONNX Runtime and OpenVINO rows. cuda: torch FP32/FP16, ONNX Runtime CUDA, TensorRT.")
@click.option("--model", type=click.Path(path_type=Path),
              help="The model to measure, in any form listed above (default: the demo's runs/demo/model.pt).")
@click.option("--data", type=click.Path(file_okay=False, path_type=Path),
              help="DIODE-layout folder: calibration and held-out accuracy images (default: runs/demo/data).")
@click.option("--backends", help="Comma-separated subset, e.g. torch,openvino (default: all of the device's).")
@click.option("--warmup", type=click.IntRange(min=0), default=3, show_default=True, help="Untimed runs per row.")
@click.option("--runs", type=click.IntRange(min=1), default=20, show_default=True, help="Timed runs per row.")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads for every runtime (default: every core).")
@click.option("--images", type=click.IntRange(min=1), default=8, show_default=True,
              help="Held-out images scored for accuracy, alternating indoors/outdoor (and cycled through for timing).")
@click.option("--calibration-samples", type=click.IntRange(min=1), default=128, show_default=True,
              help="Images that calibrate the INT8 models.")
@click.option("--engines", type=click.Path(file_okay=False, path_type=Path), default=Path("engines"),
              show_default=True, help="Cache of exported/quantized/built artifacts, keyed by checkpoint hash.")
@click.option("--streams", type=click.IntRange(min=1), default=1, show_default=True, help="OpenVINO streams.")
@click.option("--hint", type=click.Choice(HINTS), default="LATENCY", show_default=True,
              help="OpenVINO performance hint.")
@json_option("the report")
@click.option("--markdown", type=click.Path(dir_okay=False, path_type=Path), help="Write the table as Markdown.")
@click.option("--error-maps", type=click.Path(file_okay=False, path_type=Path),
              help="Write PNGs: input | GT | float | INT8 | |float−INT8|, and |float−INT8| against depth, for the first 3 images.")
@window_options
@model_options
def bench(device, model, declared, data, backends, warmup, runs, threads, images, calibration_samples, engines,
          streams, hint, json_path, markdown, error_maps, min_depth, max_depth, resolution):
    """Latency and accuracy of every backend × precision, side by side, on the same images.

    Exports, quantizes and builds whatever is missing (cached), then for each row measures latency after
    warm-up (median/p90/p99 and FPS, model-only and end-to-end with preprocessing), depth accuracy against
    ground truth on held-out images of both domains, its difference from the float PyTorch model (deltas and
    fidelity, by depth range and domain), peak memory and size. A runtime that is not installed shows as a
    skipped row with the reason, as does the torch row of a bare ONNX (the float ONNX row is then the reference);
    a row that ran and failed makes the command exit non-zero, after the report.
    """
    from .backends import CpuOptions
    from .bench import BenchOptions, check_rows, run_bench
    from .report import report_dict, write_error_maps, write_markdown
    from .ui import print_bench, progress_bars

    chosen = tuple(name.strip() for name in backends.split(",")) if backends else None
    options = BenchOptions(device=device, backends=chosen, warmup=warmup, runs=runs, images=images,
                           calibration_samples=calibration_samples, engines=engines, min_depth=min_depth,
                           max_depth=max_depth, resolution=resolution,
                           cpu=CpuOptions(threads=threads, streams=streams, hint=hint))
    console = _console(json_path)
    with progress_bars(console) as progress:
        report = run_bench(replace(declared, path=model), data, options, progress=progress)
    print_bench(report, console)
    _write_json(report_dict(report), json_path)
    if markdown:
        write_markdown(report, markdown)
    if error_maps:
        say = _say(json_path)
        for path in write_error_maps(report, error_maps):
            say(f"error map: {path}")
    check_rows(report)


@main.command()
@click.argument("inputs", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="INPUT...")
@click.option("-m", "--model", "artifact", required=True, type=click.Path(path_type=Path),
              help="Checkpoint (.pt), ONNX (float or Q/DQ INT8), or a folder from `edgedepth build`.")
@click.option("-o", "--output", required=True, type=click.Path(path_type=Path),
              help="Output folder; outputs keep the inputs' names relative to the folders given.")
@click.option("--device", type=click.Choice(DEVICES), default="cpu", show_default=True)
@click.option("--format", "formats", default="png", show_default=True, metavar="png,npy,pfm,png16",
              help="Comma-separated: colourised PNG with a scale bar in metres, raw float32 .npy, .pfm, "
              "16-bit PNG in millimetres (saturates at 65.535 m). Videos always give a colourised MP4.")
@click.option("--colormap", type=click.Choice(list(COLORMAPS)), default=DEFAULT_COLORMAP, show_default=True)
@click.option("--compare", type=click.Path(path_type=Path), metavar="OTHER_ARTIFACT",
              help="Also write <name>.compare.png: the higher-precision model | the other | |difference| (images).")
@click.option("--backend", type=click.Choice(FORMS["onnx"].readers),
              help="Runtime for an .onnx model (default onnxruntime; openvino runs it on the CPU).")
@click.option("--threads", type=click.IntRange(min=1), help="CPU threads (default: every core).")
@click.option("--trust-pickle", is_flag=True,
              help="Load an Ultralytics checkpoint (a pickled model): unpickling runs code from the file.")
@json_option("the summary (inputs, outputs, images/s)")
def predict(inputs, artifact, output, device, formats, colormap, compare, backend, threads, trust_pickle, json_path):
    """Depth maps of photos, folders of photos (recursively, sorted) or videos, from any built model.

    Each image is read as 8-bit RGB (grey, palette and alpha images are converted; 16-bit grey and CMYK are
    refused), preprocessed exactly as the model's sidecar records, and its depth written in metres at the
    image's size. A video (needs pip install 'edgedepth[video]') gives <name>.depth.mp4 beside the images.
    """
    from .predict import PredictOptions, run_predict
    from .ui import progress_bars

    options = PredictOptions(device=device, formats=tuple(f.strip() for f in formats.split(",") if f.strip()),
                             colormap=colormap, compare=compare, backend=backend, threads=threads,
                             trust_pickle=trust_pickle)
    with progress_bars(_console(json_path)) as progress:
        summary = run_predict(inputs, artifact, output, options, progress=progress)
    model = summary["model"]
    converted = sum("converted" in record for record in summary["inputs"])
    _say(json_path)(f"{summary['images']} images in {summary['seconds']:.1f} s ({summary['images_per_s']:.1f} images/s), "
                    f"{model['backend']} {model['precision']} on {model['device']}"
                    + (f"; {converted} converted to RGB" if converted else "") + f" → {summary['output_dir']}")
    _write_json(summary, json_path)


@main.command("capi-build")
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=Path("build/capi"),
              show_default=True, help="CMake build folder (rebuilt incrementally).")
@click.option("--build-type", type=click.Choice(BUILD_TYPES), default="Release", show_default=True, help="CMake build type.")
@json_option("the built paths")
def capi_build(output, build_type, json_path):
    """Build the C runtime: libedgedepth.so (include capi/include/edgedepth.h), edgedepth_cli and ed_selftest.

    Runs `cmake -S capi -B OUTPUT && cmake --build OUTPUT` with OpenVINO found through this Python's
    openvino package. Then: `OUTPUT/edgedepth_cli engines/<model>-openvino image.ppm depth.pfm`.
    """
    from .capi import build as build_capi

    with _console(json_path).status(f"building the C runtime into {output}"):
        built = build_capi(output, build_type)
    _say(json_path)(f"built {built.library} (header {built.header}) and {built.example}")
    _write_json(built.as_dict(), json_path)


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True,
              help="Where data, checkpoint, ONNX files, engines and the bench report go.")
@click.option("--fast", is_flag=True, help="A tiny run of the same steps (smoke test; numbers not meaningful).")
def demo(workdir, fast):
    """Run the whole path on synthetic DIODE-format data: nothing is downloaded.

    \b
    synthesise → train lraspp_mobilenet_v3_large → evaluate vs the median baseline → export (verified ONNX)
    → quantize (Q/DQ INT8 within the accuracy budget) → build (OpenVINO, fusion report) → bench (CPU table)
    About 6 minutes on a quiet 2-core x86-64 machine; `edgedepth bench` afterwards reuses its checkpoint and data.
    """
    from .demo import run_demo

    run_demo(workdir, fast=fast)


if __name__ == "__main__":  # python -m edgedepth.cli: the same as the `edgedepth` script
    main()
