"""The one way into a dataset: `open_dataset(path)` reads the layout from the folder, `load_sample` reads
any layout's sample the same way.

Layouts (one module each, with its documentation): DIODE, Ultralytics' images/ + depth/, NYUv2's labeled
.mat, KITTI's annotated depth with its raw RGB, and a plain folder of images without depth. A folder that
matches none, or more than one, is refused in one line naming what was found: guessing between two
layouts would read one of them as something it is not.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError
from . import diode, image_folder, kitti, nyuv2, ultralytics_depth
from .samples import Dataset, Sample, fold, why_no_ground_truth

#: Layouts with ground truth, each detected on its own; the plain image folder is what a folder is when
#: none of them matches.
DEPTH_LAYOUTS = {module.NAME: module for module in (diode, ultralytics_depth, nyuv2, kitti)}
LAYOUTS = {**DEPTH_LAYOUTS, image_folder.NAME: image_folder}
EXPECTED = ("DIODE (<name>.png + <name>_depth.npy + <name>_depth_mask.npy), Ultralytics (images/<split> + "
            "depth/<split>), NYUv2 (nyu_depth_v2_labeled.mat + splits.mat), KITTI (<split>/<drive>/proj_depth/"
            "groundtruth + raw drives) or a folder of images")


def open_dataset(path: str | os.PathLike) -> Dataset:
    """The dataset at `path` (a folder; for NYUv2 also the .mat file itself) in the layout its contents
    show; an unknown, empty or ambiguous folder is a one-line error."""
    path = Path(path)
    if not path.exists():
        raise EdgeDepthError(f"data folder {path} not found; give a dataset folder: {EXPECTED} (or make one with `edgedepth synth`)")
    if path.is_file() and path.suffix != ".mat":
        raise EdgeDepthError(f"data path {path} is a file; give a dataset folder: {EXPECTED}")
    if path.is_dir() and not any(path.iterdir()):
        raise EdgeDepthError(f"data folder {path} is empty; give a dataset folder: {EXPECTED}")
    found = {name: why for name, module in DEPTH_LAYOUTS.items() if (why := module.detect(path))}
    if len(found) > 1:
        raise EdgeDepthError(f"{path} holds more than one dataset layout ({'; '.join(f'{n}: {w}' for n, w in found.items())}); "
                             "give the folder of one")
    if not found and image_folder.detect(path):
        found = {image_folder.NAME: "images"}
    if not found:
        raise EdgeDepthError(f"{path} holds no dataset edgedepth reads; give {EXPECTED}")
    (name,) = found
    return LAYOUTS[name].open_folder(path)


def load_sample(sample: Sample) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(rgb uint8 H×W×3, depth float32 H×W metres with every invalid pixel 0, valid bool H×W) of any layout.
    A sample without ground truth (`has_depth` False) gives zeros and an all-False `valid`."""
    return fold(LAYOUTS[sample.layout].read(sample), sample)


def check_samples(samples: Iterable[Sample]) -> None:
    """Refuse, from the files' headers alone, the first sample `load_sample` would refuse (a depth of the
    wrong dtype or shape, an 8-bit depth PNG, an unreadable image): run it on the samples a command will
    use before its work, so a bad file stops it in a second, with nothing written."""
    for sample in samples:
        LAYOUTS[sample.layout].check_sample(sample)


def no_ground_truth_reason(sample: Sample) -> str:
    """Why `load_sample` gave `sample` no valid pixel, in words: for the summary line that names a skipped
    image (it reads the sample again; call it only for those)."""
    return why_no_ground_truth(LAYOUTS[sample.layout].read(sample))
