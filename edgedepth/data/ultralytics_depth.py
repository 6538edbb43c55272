"""Ultralytics' depth dataset layout: what `yolo depth train` reads and every Ultralytics converter writes.

    <root>/images/<split>/<name>.<jpg|png|…>
    <root>/depth/<split>/<name>.png     uint16, metres × depth_scale, 0 = invalid  (preferred, as Ultralytics)
                         <name>.npy     H×W float metres, ≤ 0 or non-finite = invalid
    <root>/data.yaml                    train: images/train, val: images/val, depth_scale: 1000, ...

A depth map pairs with its image by the path with its last `images` folder replaced by `depth` and the
suffix by .png (else .npy), as `ultralytics.data.dataset.DepthDataset` finds it. It may have another size
than its image if the aspect ratios agree within 2 % (Ultralytics' own check); the image is then resized to
the depth map, so ground truth is scored at its own resolution and never resampled.

Two choices differ from Ultralytics, both to refuse what would otherwise be read wrong: a 16-bit PNG
needs `depth_scale` in the dataset's YAML (Ultralytics assumes 1000, millimetres; its KITTI and DIODE
conversions use 256, so a missing scale would silently misread them by 3.9×), and an image without its
depth map is an error naming it (Ultralytics skips it with a log line). The split of an image is the
YAML key (train/val/test) whose folder holds it; without a YAML, its folder under images/. train trains
and calibrates, val is held out (what `yolo depth val` scores); any other split is in neither role.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import EdgeDepthError, first_line
from .depthfiles import check_float_dtype, check_png16, npy_header, png_header, read_npy, read_png16
from .images import image_hw, read_rgb
from .samples import Dataset, Reading, Sample, image_files

NAME = "ultralytics"
YAML_NAME = "data.yaml"  # what Ultralytics' converters write beside images/ and depth/
SPLIT_KEYS = ("train", "val", "test")
#: Ultralytics' tolerance between an image's and its depth map's aspect ratio: |log(ratio)| ≤ 0.02.
ASPECT_TOLERANCE = 0.02
FORM = "an Ultralytics depth .npy"
#: Names Ultralytics' DIODE and KITTI conversions give their images, which keep the scene (and DIODE's domain).
_DIODE_NAME = re.compile(r"(?:^|_)(indoors|outdoor)_(scene_\d+)_(scan_\d+)_")
_KITTI_NAME = re.compile(r"(\d{4}_\d{2}_\d{2}_drive_\d{4})")


def detect(path: Path) -> str | None:
    return "images/ and depth/ folders" if (path / "images").is_dir() and (path / "depth").is_dir() else None


def open_folder(root: Path) -> Dataset:
    config, yaml_path = _config(root)
    folders = _split_folders(root, config, yaml_path)
    scale = _scale(config, yaml_path)
    samples = []
    for rgb in image_files(root / "images"):
        split, base = _split_of(root, rgb, folders)
        depth = (root / "depth" / rgb.relative_to(root / "images")).with_suffix(".png")
        if not depth.is_file():
            depth = depth.with_suffix(".npy")
        if not depth.is_file():
            raise EdgeDepthError(f"image {rgb} has no depth map {depth.with_suffix('.png').name} or {depth.name} in "
                                 f"{depth.parent}; Ultralytics' depth layout pairs every image with one")
        if depth.suffix == ".png" and scale is None:
            raise EdgeDepthError(f"depth PNG {depth} needs the dataset's depth scale (PNG value per metre: 1000 for "
                                 f"millimetres, 256 for KITTI); write `depth_scale: …` into {yaml_path or root / YAML_NAME}")
        name = "_".join(rgb.relative_to(base).with_suffix("").parts)
        domain, scene, scan = _scene_of(rgb.stem)
        samples.append(Sample(NAME, rgb.relative_to(root).as_posix(), name, split, domain, scene or name, scan or name,
                              rgb=rgb, depth=depth, depth_scale=scale if depth.suffix == ".png" else None))
    if not samples:
        raise EdgeDepthError(f"no image under {root / 'images'}; Ultralytics' depth layout keeps them in images/<split>/")
    stored = sorted({"uint16 PNG / {scale:g} = metres" if s.depth.suffix == ".png" else "float metres (.npy)" for s in samples})
    return Dataset(NAME, root, tuple(samples), training_splits=("train",), held_out_splits=("val",),
                   depth=" and ".join(stored).format(scale=scale), metadata=(yaml_path,) if yaml_path else ())


def _split_of(root: Path, rgb: Path, folders: dict[str, Path]) -> tuple[str, Path]:
    """(split, its image folder): the YAML's split that holds the image, else its first folder under images/."""
    for split, folder in folders.items():
        if rgb.is_relative_to(folder):
            return split, folder
    relative = rgb.relative_to(root / "images")
    return (relative.parts[0], root / "images" / relative.parts[0]) if len(relative.parts) > 1 else ("", root / "images")


def _config(root: Path) -> tuple[dict[str, Any], Path | None]:
    """The dataset YAML beside images/ (data.yaml, else the only *.yaml there) as a dict, and its path."""
    path = root / YAML_NAME
    if not path.is_file():
        found = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
        if len(found) > 1:
            raise EdgeDepthError(f"{root} holds {len(found)} YAML files ({', '.join(p.name for p in found)}); keep the "
                                 f"dataset's own as {YAML_NAME}")
        if not found:
            return {}, None
        path = found[0]
    try:
        import yaml
    except ImportError:
        raise EdgeDepthError(f"reading {path} needs PyYAML: pip install 'edgedepth[data]'")
    try:
        config = yaml.safe_load(path.read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise EdgeDepthError(f"dataset YAML {path} is unreadable ({first_line(exc)}); fix or remove it")
    if not isinstance(config, dict):
        raise EdgeDepthError(f"dataset YAML {path} is not a mapping of keys (train, val, depth_scale, …); fix it")
    return config, path


def _split_folders(root: Path, config: dict[str, Any], yaml_path: Path | None) -> dict[str, Path]:
    """Split name → its image folder, from the YAML's train/val/test keys (paths relative to the root)."""
    folders = {}
    for key in SPLIT_KEYS:
        value = config.get(key)
        if value is None:
            continue
        folder = root / value if isinstance(value, str) else None
        if folder is None or not folder.is_dir() or not folder.is_relative_to(root / "images"):
            raise EdgeDepthError(f"{key}: {value!r} in {yaml_path} is not a folder under {root / 'images'}; edgedepth "
                                 "reads split folders (images/<split>), not file lists")
        folders[key] = folder
    return folders


def _scale(config: dict[str, Any], yaml_path: Path | None) -> float | None:
    scale = config.get("depth_scale")
    if scale is None:
        return None
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale) or scale <= 0:
        raise EdgeDepthError(f"depth_scale {scale!r} in {yaml_path} is not a positive number (PNG value per metre: "
                             "1000 for millimetres, 256 for KITTI); fix it")
    return float(scale)


def _scene_of(stem: str) -> tuple[str, str, str]:
    """(domain, scene, scan) a converted name keeps, else empty strings: each image is then its own scene."""
    if match := _DIODE_NAME.search(stem):
        return match.group(1), match.group(2), match.group(3)
    if match := _KITTI_NAME.search(stem):
        return "outdoor", match.group(1), ""
    return "", "", ""


def _check_npy(sample: Sample, shape: tuple[int, ...], dtype: np.dtype) -> None:
    check_float_dtype(sample.depth, dtype, FORM)
    if len(shape) != 2:
        raise EdgeDepthError(f"depth {sample.depth} has shape {tuple(shape)}; {FORM} is a 2-D H×W array")


def _check_aspect(sample: Sample, image_hw: tuple[int, int], depth_hw: tuple[int, int]) -> None:
    if abs(math.log((depth_hw[1] / depth_hw[0]) / (image_hw[1] / image_hw[0]))) > ASPECT_TOLERANCE:
        raise EdgeDepthError(f"depth {sample.depth} is {depth_hw[0]}×{depth_hw[1]} and its image {image_hw[0]}×{image_hw[1]}: "
                             "their aspect ratios differ; it is another image's depth or was cropped")


def check_sample(sample: Sample) -> None:
    if sample.depth.suffix == ".png":
        mode, depth_hw = png_header(sample.depth)
        check_png16(sample.depth, mode)
    else:
        depth_hw, dtype = npy_header(sample.depth)
        _check_npy(sample, depth_hw, dtype)
    _check_aspect(sample, image_hw(sample.rgb), depth_hw)


def read(sample: Sample) -> Reading:
    from PIL import Image

    rgb = read_rgb(sample.rgb)
    if sample.depth.suffix == ".png":
        depth = read_png16(sample.depth, sample.depth_scale)
    else:
        depth = read_npy(sample.depth)
        _check_npy(sample, depth.shape, depth.dtype)
        depth = depth.astype(np.float32)
    _check_aspect(sample, rgb.shape[:2], depth.shape)
    if depth.shape != rgb.shape[:2]:
        rgb = np.asarray(Image.fromarray(rgb).resize(depth.shape[::-1], Image.BILINEAR))
    return Reading(rgb, depth)

