"""`edgedepth predict`: photos, folders and videos in, depth maps out, from any artifact `edgedepth.load` reads.

Every input is checked before anything is written (paths, image modes, the video extra, the output folder,
the artifact's device); each output file is written atomically, so a failure leaves complete files only.
Outputs keep the inputs' names relative to the folder given (`<name>.depth.png`, ...). `compare` renders
the same image through a second artifact: reference | other | |Δ|, the look to take before shipping INT8.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .backends import PRECISIONS
from .colormaps import COLORMAPS, DEFAULT_COLORMAP, captioned, colorize, with_scale_bar
from .data.images import IMAGE_SUFFIXES, check_image, read_rgb, write_npy, write_pfm, write_png, write_png16_mm
from .data.video import VIDEO_SUFFIXES, probe, read_frames, require_av, writing_video
from .errors import EdgeDepthError
from .progress import Progress, silent
from .runtime import DepthModel, load

#: Output formats and the suffix each adds to the input's relative name.
SUFFIXES = {"png": ".depth.png", "npy": ".depth.npy", "pfm": ".depth.pfm", "png16": ".depth16.png"}
FORMATS = tuple(SUFFIXES)
COMPARE_SUFFIX = ".compare.png"
VIDEO_SUFFIX = ".depth.mp4"
#: Percentiles of a depth map that span its colour scale: a few extreme pixels (sky, a border) would
#: otherwise squeeze the rest of the picture into one colour. A video keeps its first frame's scale.
COLOR_PERCENTILES = (2, 98)


@dataclass(frozen=True)
class PredictOptions:
    device: str = "cpu"
    formats: tuple[str, ...] = ("png",)
    colormap: str = DEFAULT_COLORMAP
    compare: Path | None = None  # a second artifact rendered beside the first
    backend: str | None = None  # another reader of the artifact's file (openvino for an .onnx)
    threads: int | None = None
    trust_pickle: bool = False  # an Ultralytics checkpoint is a pickle: loading it runs its code


@dataclass(frozen=True)
class Job:
    source: Path
    name: Path  # output path without suffix, relative to the output folder
    kind: str  # "image" or "video"


def _kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    return "image" if suffix in IMAGE_SUFFIXES else "video" if suffix in VIDEO_SUFFIXES else None


def _is_output(path: Path) -> bool:
    """A file predict writes: skipped in folders, so a second run does not read the first one's outputs."""
    return path.name.endswith((*SUFFIXES.values(), COMPARE_SUFFIX, VIDEO_SUFFIX))


def collect_jobs(inputs: Sequence[str | os.PathLike]) -> list[Job]:
    """Images and videos named or found in folders (recursively, sorted), with their output names."""
    jobs = []
    for given in map(Path, inputs):
        if given.is_dir():
            found = sorted(p for p in given.rglob("*") if p.is_file() and _kind(p) and not _is_output(p))
            if not found:
                raise EdgeDepthError(f"folder {given} holds no images ({' '.join(IMAGE_SUFFIXES)}) or videos "
                                     f"({' '.join(VIDEO_SUFFIXES)}); pass a folder of photos")
            jobs += [Job(p, p.relative_to(given).with_suffix(""), _kind(p)) for p in found]
        elif given.is_file():
            if _kind(given) is None:
                raise EdgeDepthError(f"{given} is neither an image ({' '.join(IMAGE_SUFFIXES)}) nor a video "
                                     f"({' '.join(VIDEO_SUFFIXES)}); pass photos, folders or videos")
            jobs.append(Job(given, Path(given.stem), _kind(given)))
        else:
            raise EdgeDepthError(f"input {given} not found; check the path")
    if not jobs:
        raise EdgeDepthError("no inputs given; pass images, folders or a video")
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.name in seen:
            raise EdgeDepthError(f"{seen[job.name]} and {job.source} would both be written as {job.name}.*; "
                                 "rename one, or predict them in separate runs")
        seen[job.name] = job.source
    return jobs


def check_options(options: PredictOptions, out_dir: Path) -> None:
    unknown = [f for f in options.formats if f not in SUFFIXES]
    if unknown or not options.formats:
        raise EdgeDepthError(f"format {','.join(unknown) or '(none)'} is not one of {', '.join(FORMATS)}; "
                             "e.g. png,npy")
    if options.colormap not in COLORMAPS:
        raise EdgeDepthError(f"colormap {options.colormap!r} is not one of {', '.join(COLORMAPS)}")
    if out_dir.exists() and not out_dir.is_dir():
        raise EdgeDepthError(f"output folder {out_dir} is a file; pass a folder (-o) that is new or a folder")


def color_range(depth: np.ndarray) -> tuple[float, float]:
    finite = depth[np.isfinite(depth)]
    if finite.size == 0:  # a model that gives NaN everywhere still gets a picture (all one colour) to look at
        return 0.0, 1.0
    lo, hi = np.percentile(finite, COLOR_PERCENTILES)
    return float(lo), float(hi)


def render(depth: np.ndarray, scale: tuple[float, float], colormap: str, unit: str = "m") -> np.ndarray:
    """A depth map as colours on `scale`, with its labelled bar."""
    return with_scale_bar(colorize(depth, *scale, colormap=colormap), *scale, colormap, unit)


def render_compare(panels: list[tuple[str, np.ndarray]], colormap: str, unit: str = "m") -> np.ndarray:
    """reference | other | |Δ|, captioned: the two depth maps on the reference's scale, the difference on its own."""
    (ref_label, ref), (other_label, other) = panels
    diff = np.abs(ref - other)
    scale = color_range(ref)
    return captioned([(ref_label, render(ref, scale, colormap, unit)), (other_label, render(other, scale, colormap, unit)),
                      ("|difference|", render(diff, (0.0, max(float(np.percentile(diff, COLOR_PERCENTILES[1])), 1e-6)),
                                              colormap, unit))])


def depth_stats(depth: np.ndarray) -> dict[str, float]:
    return {"min": float(depth.min()), "median": float(np.median(depth)), "max": float(depth.max())}


def write_outputs(base: Path, depth: np.ndarray, options: PredictOptions, unit: str = "m") -> list[Path]:
    """Every requested format of one depth map (values in `unit`), at `base` + the format's suffix."""
    writers: dict[str, Callable[[Path], Path]] = {
        "png": lambda path: write_png(path, render(depth, color_range(depth), options.colormap, unit)),
        "npy": lambda path: write_npy(path, depth),
        "pfm": lambda path: write_pfm(path, depth),
        "png16": lambda path: write_png16_mm(path, depth),
    }
    return [writers[f](base.with_name(base.name + SUFFIXES[f])) for f in options.formats]


def _rank(model: DepthModel) -> int:
    """Higher precision first: the reference panel of a comparison (sorted stably: -m first on a tie)."""
    return PRECISIONS.index(model.precision) if model.precision in PRECISIONS else len(PRECISIONS)


def _describe(model: DepthModel) -> dict[str, Any]:
    return {"artifact": str(model.artifact), "backend": model.backend, "precision": model.precision,
            "device": model.device, "input_size": list(model.input_size), "output_kind": model.output_kind}


def run_predict(inputs: Sequence[str | os.PathLike], artifact: str | os.PathLike, out_dir: str | os.PathLike,
                options: PredictOptions = PredictOptions(),
                progress: Progress = silent) -> dict[str, Any]:
    """Predict every input and write its outputs under `out_dir`; returns the summary (what was read, what
    was written, images per second after loading); `progress` follows every image and frame."""
    out_dir = Path(out_dir)
    check_options(options, out_dir)
    jobs = collect_jobs(inputs)
    conversions = {job.source: check_image(job.source) for job in jobs if job.kind == "image"}
    videos = [job for job in jobs if job.kind == "video"]
    if videos:
        require_av(videos[0].source)
        if options.compare:
            raise EdgeDepthError(f"comparing renders images, and {videos[0].source} is a video; "
                                 "compare on a few of its frames saved as images")
    frames = [probe(job.source)[1] for job in videos]
    total = None if 0 in frames else len(conversions) + sum(frames)
    done = 0

    def advance() -> None:
        nonlocal done
        done += 1
        progress("predict", done, total)

    with contextlib.ExitStack() as stack:
        model = stack.enter_context(load(artifact, options.device, backend=options.backend, threads=options.threads,
                                         trust_pickle=options.trust_pickle))
        if "png16" in options.formats and model.output_kind != "metric":
            raise EdgeDepthError(f"png16 writes millimetres, and {artifact} outputs {model.output_kind} values "
                                 f"({model.unit}); choose npy or pfm for its raw output")
        other = None
        if options.compare:
            other = stack.enter_context(load(options.compare, options.device, threads=options.threads,
                                             trust_pickle=options.trust_pickle))
        started = time.perf_counter()  # images per second count decoding, inference and writing, not loading
        records = []
        for job in jobs:
            if job.kind == "video":
                records.append(_predict_video(model, job, out_dir, options, advance))
            else:
                records.append(_predict_image(model, other, job, out_dir, options, conversions[job.source]))
                advance()
        seconds = time.perf_counter() - started
        summary = {"model": _describe(model), "compare": _describe(other) if other else None}
    return {**summary, "inputs": records, "images": done, "seconds": seconds, "images_per_s": done / seconds,
            "output_dir": str(out_dir), "formats": list(options.formats), "colormap": options.colormap}


def _predict_image(model: DepthModel, other: DepthModel | None, job: Job, out_dir: Path, options: PredictOptions,
                   conversion: str | None) -> dict[str, Any]:
    rgb = read_rgb(job.source)
    depth = model.predict(rgb)
    outputs = write_outputs(out_dir / job.name, depth, options, model.unit)
    if other:
        pairs = sorted([(model, depth), (other, other.predict(rgb))], key=lambda pair: _rank(pair[0]))
        panels = [(f"{m.backend} {m.precision}", d) for m, d in pairs]
        outputs.append(write_png(out_dir / f"{job.name}{COMPARE_SUFFIX}", render_compare(panels, options.colormap, model.unit)))
    record = {"input": str(job.source), "kind": "image", "size": list(rgb.shape[:2]),
              "outputs": [str(p) for p in outputs], "depth_m": depth_stats(depth)}
    if conversion:
        record["converted"] = conversion
    return record


def _predict_video(model: DepthModel, job: Job, out_dir: Path, options: PredictOptions,
                   advance: Callable[[], None]) -> dict[str, Any]:
    """The colourised depth video of one video (on its first frame's scale, so colours do not flicker)."""
    path = out_dir / f"{job.name}{VIDEO_SUFFIX}"
    fps, _ = probe(job.source)
    count, scale, size = 0, None, None
    with writing_video(path, fps) as write:
        for frame in read_frames(job.source):
            depth = model.predict(frame)
            scale = scale or color_range(depth)
            size = size or list(frame.shape[:2])
            write(render(depth, scale, options.colormap, model.unit))
            count += 1
            advance()
        if count == 0:
            raise EdgeDepthError(f"video {job.source} has no frames to decode; check the file")
    return {"input": str(job.source), "kind": "video", "size": size, "frames": count, "fps": float(fps),
            "outputs": [str(path)], "depth_range_m": list(scale)}
