"""A plain folder of images, with no depth: what a user has who holds photos of their own scenes.

It calibrates and measures fidelity to the float model, never accuracy: every sample has `has_depth`
False and an all-False `valid`, so ground-truth metrics say "no ground truth" rather than a number. It has
no official split; a subfolder is a scene (a sequence of frames stays on one side of a split), and an image
directly in the folder is a scene of its own.
"""

from __future__ import annotations

from pathlib import Path

from .images import check_image, read_rgb
from .samples import Dataset, Reading, Sample, image_files

NAME = "images"


def detect(path: Path) -> str | None:
    return "image files without depth" if path.is_dir() and image_files(path) else None


def open_folder(root: Path) -> Dataset:
    samples = []
    for rgb in image_files(root):
        relative = rgb.relative_to(root).with_suffix("")
        name = "_".join(relative.parts)
        scene = relative.parts[0] if len(relative.parts) > 1 else name
        samples.append(Sample(NAME, rgb.relative_to(root).as_posix(), name, "", "", scene, name, rgb=rgb, has_depth=False))
    return Dataset(NAME, root, tuple(samples), depth="none")


def check_sample(sample: Sample) -> None:
    check_image(sample.rgb)


def read(sample: Sample) -> Reading:
    return Reading(read_rgb(sample.rgb), None)
