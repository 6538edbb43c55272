"""NYU Depth V2's labeled set: one MATLAB v7.3 file, read with h5py, and its official split file.

    <folder>/nyu_depth_v2_labeled.mat   HDF5 (MATLAB v7.3): images 480×640×3×1449 uint8, rawDepths and depths
                                        480×640×1449 single (metres), scenes 1449×1 cell of names, ...
    <folder>/splits.mat                 MATLAB v5: trainNdxs (795×1) and testNdxs (654×1), 1-based indices

Both come from the NYU Depth V2 page; splits.mat must sit beside the labeled file (the split is what makes
numbers comparable with the literature's, so it is never guessed). MATLAB stores arrays column-major, so
h5py sees every axis reversed: images as 1449×3×640×480, depths as 1449×640×480; a sample is transposed back.

Ground truth is `rawDepths` (the Kinect's own depth, 0 where it returned nothing), as the evaluation sets
of BTS, AdaBins and ZoeDepth are extracted; `depths` is the same with its holes in-painted, and in-painted
pixels are a guess, not truth. The Eigen crop (rows 45–470, columns 41–600 of 480×640) is the evaluation
crop of the NYUv2 literature.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError, first_line
from .samples import Crop, Dataset, Reading, Sample

NAME = "nyuv2"
FILE_NAME = "nyu_depth_v2_labeled.mat"
SPLITS_NAME = "splits.mat"
RGB_KEY, DEPTH_KEY, SCENES_KEY = "images", "rawDepths", "scenes"
#: Eigen et al. (NeurIPS 2014) crop, as the NYUv2 evaluation scripts of BTS and AdaBins apply it:
#: eval_mask[45:471, 41:601] on 480×640 (a fraction of the size, so other sizes scale it).
EIGEN_CROP = Crop("eigen", Fraction(45, 480), Fraction(471, 480), Fraction(41, 640), Fraction(601, 640),
                  "Eigen et al. 2014: rows 45:471, columns 41:601 of 480x640")
INSTALL = "pip install 'edgedepth[data]'"


def detect(path: Path) -> str | None:
    if path.is_file() and path.suffix == ".mat":
        return f"the MATLAB file {path.name}"
    return f"{FILE_NAME}" if (path / FILE_NAME).is_file() else None


def h5py_module():
    try:
        import h5py
    except ImportError:
        raise EdgeDepthError(f"reading NYUv2's .mat (HDF5) needs h5py: {INSTALL}")
    return h5py


def _open(path: Path):
    h5py = h5py_module()
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise EdgeDepthError(f"{path} is not a MATLAB v7.3 (HDF5) file ({first_line(exc)}); NYUv2's labeled set is "
                             f"{FILE_NAME} as downloaded from the NYU Depth V2 page")


def open_folder(path: Path) -> Dataset:
    mat = path if path.is_file() else path / FILE_NAME
    splits_path = mat.with_name(SPLITS_NAME)
    if not splits_path.is_file():
        raise EdgeDepthError(f"{mat} has no {SPLITS_NAME} beside it (the official split: trainNdxs/testNdxs); download "
                             f"it from the NYU Depth V2 page into {mat.parent}")
    with _open(mat) as f:
        count = _check_layout(f, mat)
        scenes = _scene_names(f, count) if SCENES_KEY in f else [f"image_{i + 1:04d}" for i in range(count)]
    train, test = (_indices(splits_path, key, count) for key in ("trainNdxs", "testNdxs"))
    if train & test:
        raise EdgeDepthError(f"{splits_path} puts image {min(train & test) + 1} in both trainNdxs and testNdxs; it is not "
                             "the official split file, download it again")
    samples = tuple(Sample(NAME, f"{mat.name}:{i + 1:04d}", f"nyu_{i + 1:04d}", "train" if i in train else "test" if i in test else "",
                           "indoors", scenes[i], f"{i + 1:04d}", container=mat, index=i) for i in range(count))
    unused = count - len(train) - len(test)
    return Dataset(NAME, mat.parent, samples, training_splits=("train",), held_out_splits=("test",), crop=EIGEN_CROP,
                   depth="float32 metres (rawDepths, 0 = no Kinect return)", metadata=(splits_path,),
                   notes=(f"{unused} images in neither trainNdxs nor testNdxs: unused",) if unused else ())


def _check_layout(f, mat: Path) -> int:
    """The number of images, after checking the datasets read exist with MATLAB's (reversed) shapes."""
    for key in (RGB_KEY, DEPTH_KEY):
        if key not in f:
            raise EdgeDepthError(f"{mat} has no '{key}' dataset; NYUv2's labeled file holds images and rawDepths")
    images, depths = f[RGB_KEY], f[DEPTH_KEY]
    if images.ndim != 4 or images.shape[1] != 3 or images.dtype != np.uint8:
        raise EdgeDepthError(f"'{RGB_KEY}' in {mat} is {images.dtype} {images.shape}; NYUv2's is uint8 N×3×W×H as h5py "
                             "reads MATLAB's H×W×3×N")
    if depths.shape != (images.shape[0], *images.shape[2:]) or depths.dtype.kind != "f":
        raise EdgeDepthError(f"'{DEPTH_KEY}' in {mat} is {depths.dtype} {depths.shape}; expected float "
                             f"{images.shape[0]}×{images.shape[2]}×{images.shape[3]} like its images")
    return images.shape[0]


def _scene_names(f, count: int) -> list[str]:
    """MATLAB's cell array of strings: object references to uint16 character columns."""
    refs = np.asarray(f[SCENES_KEY]).ravel()
    if len(refs) != count:
        raise EdgeDepthError(f"'{SCENES_KEY}' in {f.filename} names {len(refs)} scenes for {count} images; the file is damaged")
    return ["".join(chr(c) for c in np.asarray(f[ref]).ravel()) for ref in refs]


def _indices(path: Path, key: str, count: int) -> set[int]:
    """0-based indices of MATLAB's 1-based `key` column in a v5 .mat file."""
    from scipy.io import loadmat

    try:
        values = loadmat(path)[key]
    except KeyError:
        raise EdgeDepthError(f"{path} has no '{key}'; NYUv2's splits.mat holds trainNdxs and testNdxs")
    except (OSError, ValueError, NotImplementedError) as exc:
        raise EdgeDepthError(f"{path} is not a readable MATLAB file ({first_line(exc)}); download splits.mat again")
    values = np.asarray(values).ravel()
    if values.size == 0 or not np.all(values == np.round(values)) or values.min() < 1 or values.max() > count:
        raise EdgeDepthError(f"'{key}' in {path} is not a list of 1-based image numbers up to {count}; it belongs to "
                             "another file, download splits.mat again")
    return {int(v) - 1 for v in values}


def check_sample(sample: Sample) -> None:
    """Nothing beyond `open_folder`: it checked every dataset's shape and dtype once for the whole file."""


def read(sample: Sample) -> Reading:
    with _open(sample.container) as f:
        rgb = np.ascontiguousarray(f[RGB_KEY][sample.index].transpose(2, 1, 0))
        depth = np.ascontiguousarray(f[DEPTH_KEY][sample.index].T, dtype=np.float32)
    return Reading(rgb, depth)

