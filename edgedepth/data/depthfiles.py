"""Depth files as datasets store them, read or refused in one line: NumPy arrays of float metres and
16-bit PNGs of scaled integers (0 = invalid).

Each reader has a header-only twin (`npy_header`, `png_header`) so a dataset can be checked before any work
starts: a wrong dtype or shape is found from a few hundred bytes per file, not after the first hour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import EdgeDepthError, first_line

#: Pillow modes of a 16-bit greyscale PNG ("I" where an older Pillow widens it to 32-bit).
PNG16_MODES = ("I;16", "I;16B", "I;16L", "I")


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype]:
    """(shape, dtype) of a .npy file from its header alone (NumPy's public header readers: a few hundred bytes)."""
    fmt = np.lib.format
    try:
        with open(path, "rb") as fh:
            version = fmt.read_magic(fh)
            shape, _, dtype = (fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0)(fh)
    except FileNotFoundError:
        raise EdgeDepthError(f"{path} not found; it was moved or removed")
    except (OSError, ValueError, EOFError) as exc:
        raise EdgeDepthError(f"{path} is not a readable .npy array ({type(exc).__name__}); it is corrupt, replace it")
    return tuple(shape), dtype


def read_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise EdgeDepthError(f"{path} not found; it was moved or removed")
    except (OSError, ValueError, EOFError) as exc:
        raise EdgeDepthError(f"{path} is not a readable .npy array ({type(exc).__name__}); it is corrupt, replace it")


def check_float_dtype(path: Path, dtype: np.dtype, form: str) -> None:
    """Refuse a depth array that is not floating point; `form` says what the layout documents."""
    if dtype.kind != "f":
        raise EdgeDepthError(f"depth {path} is {dtype}; {form} holds float metres: convert it (divide millimetres "
                             "by 1000) and save it as float32")


def png_header(path: Path) -> tuple[str, tuple[int, int]]:
    """(Pillow mode, (H, W)) of an image file from its header alone."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.mode, (image.height, image.width)
    except FileNotFoundError:
        raise EdgeDepthError(f"{path} not found; it was moved or removed")
    except (UnidentifiedImageError, OSError) as exc:
        raise EdgeDepthError(f"{path} is unreadable ({first_line(exc)}); replace or remove it")


def check_png16(path: Path, mode: str) -> None:
    if mode not in PNG16_MODES:
        raise EdgeDepthError(f"depth PNG {path} has Pillow mode {mode}; depth PNGs are 16-bit greyscale (integer = "
                             "metres × depth scale, 0 = invalid): write it as uint16")


def read_png16(path: Path, scale: float) -> np.ndarray:
    """Metres of a 16-bit PNG: value / `scale`, with 0 (invalid) kept as 0."""
    from PIL import Image

    mode, _ = png_header(path)
    check_png16(path, mode)
    try:
        with Image.open(path) as image:
            values = np.asarray(image)
    except (OSError, ValueError) as exc:
        raise EdgeDepthError(f"depth PNG {path} is damaged ({first_line(exc)}); re-save or re-copy it")
    return (values.astype(np.float32) / np.float32(scale)).astype(np.float32)
