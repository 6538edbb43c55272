"""KITTI's depth benchmark: the annotated depth maps with their RGB from KITTI's raw data.

    <root>/<train|val>/<date>_drive_<n>_sync/proj_depth/groundtruth/image_0<2|3>/<frame>.png   annotated depth
    <root>/<date>/<date>_drive_<n>_sync/image_0<2|3>/data/<frame>.png                          raw RGB
    <root>/[depth_selection/]val_selection_cropped/image/<drive>_sync_image_<frame>_image_0<2|3>.png
                                                   groundtruth_depth/<drive>_sync_groundtruth_depth_<frame>_image_0<2|3>.png

as the depth devkit's readme lays out data_depth_annotated.zip and data_depth_selection.zip unzipped into
one folder, beside the raw drives (unzipped there too, they make `<date>/<drive>/`). The layout that
monodepth2 uses, proj_depth/ moved into each raw drive folder (`<root>/<date>/<drive>/proj_depth/...`), is
read too; it has no train/val split, so it is divided by drive. Depth maps are uint16 PNGs of metres × 256,
0 where there is no ground truth (they are sparse: LiDAR points accumulated over 11 frames, none in the
sky); frames 0–4 and the last 5 of each drive have none.

Roles: train/ trains and calibrates; the val selection (1000 frames of the val drives, cropped to 352×1216)
is held out where present, else the annotated val/ drives. The Garg crop is the evaluation crop of the
KITTI literature. Raw drives are 175 GB and users often hold only some: a drive whose RGB is absent is
skipped, named, with where its RGB was looked for; a missing frame inside a present drive is an error.
"""

from __future__ import annotations

import re
from collections import defaultdict
from fractions import Fraction
from pathlib import Path

from ..errors import EdgeDepthError
from .depthfiles import check_png16, png_header, read_png16
from .images import image_hw, read_rgb
from .samples import Crop, Dataset, Reading, Sample, Skip

NAME = "kitti"
#: The devkit's readme: "the depth for a pixel can be computed in meters by converting the uint16 value to
#: float and dividing it by 256.0"; 0 is invalid.
DEPTH_SCALE = 256.0
GROUND_TRUTH = "*/*_sync/proj_depth/groundtruth/image_0[23]/*.png"
VAL_SELECTION = ("val_selection_cropped", "depth_selection/val_selection_cropped")
RGB_SUFFIXES = (".png", ".jpg")  # raw KITTI is PNG; monodepth2's recipe converts it to JPEG
#: Garg et al. (ECCV 2016) crop, as monodepth2 and BTS apply it to KITTI's ground truth (fractions of its size).
GARG_CROP = Crop("garg", Fraction("0.40810811"), Fraction("0.99189189"), Fraction("0.03594771"), Fraction("0.96405229"),
                 "Garg et al. 2016: rows 0.40810811-0.99189189, columns 0.03594771-0.96405229 of the ground truth")
_SELECTED = re.compile(r"(?P<drive>\d{4}_\d{2}_\d{2}_drive_\d{4}_sync)_image_(?P<frame>\d+)_(?P<cam>image_0[23])")


def detect(path: Path) -> str | None:
    if next(iter(path.glob("*/*_sync/proj_depth/groundtruth")), None):
        return "proj_depth/groundtruth under its drives"
    return next((f"{folder}/" for folder in VAL_SELECTION if (path / folder).is_dir()), None)


def open_folder(root: Path) -> Dataset:
    samples, skipped = _annotated(root)
    selected = _val_selection(root)
    if not samples and not selected:
        raise EdgeDepthError(f"none of KITTI's depth maps under {root} has its raw RGB ({skipped[0].reason}); unzip "
                             f"KITTI's raw drives into {root}")
    annotated_val = any(s.split == "val" for s in samples)
    notes = ("annotated val/ drives unused: the val selection is drawn from them",) if selected and annotated_val else ()
    return Dataset(NAME, root, tuple(samples + selected), training_splits=("train",),
                   held_out_splits=("val_selection",) if selected else ("val",), crop=GARG_CROP,
                   depth=f"uint16 PNG / {DEPTH_SCALE:g} = metres, 0 = none (sparse)", skipped=tuple(skipped), notes=notes)


def _annotated(root: Path) -> tuple[list[Sample], list[Skip]]:
    by_folder: dict[Path, list[Path]] = defaultdict(list)
    for depth in sorted(root.glob(GROUND_TRUTH)):
        by_folder[depth.parent].append(depth)
    samples, skipped = [], []
    for folder, depths in by_folder.items():
        cam, drive_dir = folder.name, folder.parents[2]
        group, drive = drive_dir.parent.name, drive_dir.name
        candidates = (drive_dir / cam / "data", root / drive[:10] / drive / cam / "data")
        rgb_dir = next((c for c in candidates if c.is_dir()), None)
        if rgb_dir is None:
            skipped.append(Skip(f"{drive}/{cam}", f"no raw RGB at {candidates[1]} ({len(depths)} depth maps)"))
            continue
        for depth in depths:
            rgb = next((p for p in (rgb_dir / (depth.stem + s) for s in RGB_SUFFIXES) if p.is_file()), None)
            if rgb is None:
                raise EdgeDepthError(f"depth map {depth} has no RGB frame {depth.name} in {rgb_dir}; the raw drive is "
                                     "incomplete, unzip it again")
            split = group if group in ("train", "val") else ""
            samples.append(Sample(NAME, depth.relative_to(root).as_posix(), f"{drive[:-5]}_{cam[-2:]}_{depth.stem}", split,
                                  "outdoor", drive, f"{cam}/{depth.stem}", rgb=rgb, depth=depth, depth_scale=DEPTH_SCALE))
    return samples, skipped


def _val_selection(root: Path) -> list[Sample]:
    folder = next((root / f for f in VAL_SELECTION if (root / f).is_dir()), None)
    if folder is None:
        return []
    samples = []
    for rgb in sorted((folder / "image").glob("*.png")):
        match = _SELECTED.fullmatch(rgb.stem)
        if match is None:
            raise EdgeDepthError(f"{rgb} is not named <drive>_sync_image_<frame>_image_0<2|3>.png as KITTI's val selection; "
                                 "restore its name or remove it")
        depth = folder / "groundtruth_depth" / rgb.name.replace("_image_", "_groundtruth_depth_", 1)
        if not depth.is_file():
            raise EdgeDepthError(f"image {rgb} has no ground truth {depth.name} in {depth.parent}; unzip "
                                 "data_depth_selection.zip again")
        drive, cam, frame = match["drive"], match["cam"], match["frame"]
        samples.append(Sample(NAME, rgb.relative_to(root).as_posix(), f"{drive[:-5]}_{cam[-2:]}_{frame}", "val_selection",
                              "outdoor", drive, f"{cam}/{frame}", rgb=rgb, depth=depth, depth_scale=DEPTH_SCALE))
    if not samples:
        raise EdgeDepthError(f"{folder / 'image'} holds no image; unzip data_depth_selection.zip again or remove {folder}")
    return samples


def _check_size(sample: Sample, rgb_hw: tuple[int, int], depth_hw: tuple[int, int]) -> None:
    if tuple(rgb_hw) != tuple(depth_hw):
        raise EdgeDepthError(f"depth map {sample.depth} is {depth_hw[0]}×{depth_hw[1]} and its RGB {sample.rgb} "
                             f"{rgb_hw[0]}×{rgb_hw[1]}; KITTI's are the same size: one of them is from another frame")


def check_sample(sample: Sample) -> None:
    mode, depth_hw = png_header(sample.depth)
    check_png16(sample.depth, mode)
    _check_size(sample, image_hw(sample.rgb), depth_hw)


def read(sample: Sample) -> Reading:
    rgb = read_rgb(sample.rgb)
    depth = read_png16(sample.depth, sample.depth_scale)
    _check_size(sample, rgb.shape[:2], depth.shape)
    return Reading(rgb, depth)

