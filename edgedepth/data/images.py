"""Image files in and out: photos read as 8-bit RGB (or refused with the reason), depth maps written as
PNG, 16-bit PNG (millimetres), PFM and NumPy files, each atomically."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..artifacts import atomic_path
from ..errors import EdgeDepthError, first_line

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")
#: Pillow modes that become RGB without losing what the photo shows: alpha dropped, palette looked up,
#: grey replicated into three channels, JPEG's YCbCr converted. (16-bit RGB PNGs already open as "RGB":
#: Pillow keeps the high byte, the same picture at 8 bits.)
CONVERTIBLE = {"RGBA": "RGBA → RGB (alpha dropped)", "RGBX": "RGBX → RGB", "RGBa": "RGBa → RGB (alpha dropped)",
               "P": "palette → RGB", "PA": "palette → RGB (alpha dropped)", "1": "1-bit → RGB",
               "L": "grayscale → RGB", "LA": "grayscale → RGB (alpha dropped)", "YCbCr": "YCbCr → RGB"}
#: Modes refused, with why: no conversion to RGB is right for every file of the kind.
REFUSED = {
    "CMYK": "is CMYK; convert it to RGB with its colour profile first (e.g. `magick IN -colorspace sRGB OUT.png`)",
    "I;16": "is a 16-bit single-channel image (a depth map or raw sensor data?); edgedepth reads 8-bit RGB photos: "
            "tone-map it to 8 bits first",
    "I": "is a 32-bit integer image; edgedepth reads 8-bit RGB photos: tone-map it to 8 bits first",
    "F": "is a floating-point image; edgedepth reads 8-bit RGB photos: tone-map it to 8 bits first",
}
#: Largest depth a 16-bit millimetre PNG holds; deeper pixels are written as this.
PNG16_MAX_M = 65.535


def _open(path: Path):
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path)
    except FileNotFoundError:
        raise EdgeDepthError(f"image {path} not found; check the path")
    except (UnidentifiedImageError, OSError) as exc:
        raise EdgeDepthError(f"image {path} is unreadable ({first_line(exc)}); is it an image file?")


def check_image(path: str | os.PathLike) -> str | None:
    """Read only the header: raise a one-line error for a file `read_rgb` would refuse; else return the
    conversion it will apply (None for RGB), so a run can refuse before it writes anything."""
    with _open(Path(path)) as image:
        return _conversion(Path(path), image.mode)


def _conversion(path: Path, mode: str) -> str | None:
    refused = REFUSED.get("I;16" if mode.startswith("I;16") else mode)
    if refused:
        raise EdgeDepthError(f"image {path} {refused}")
    if mode != "RGB" and mode not in CONVERTIBLE:
        raise EdgeDepthError(f"image {path} has Pillow mode {mode}, which edgedepth does not read as a photo; convert it to 8-bit RGB")
    return CONVERTIBLE.get(mode)


#: EXIF orientations (TIFF tag 0x0112) that turn the picture by 90°: its upright height is the stored width.
_QUARTER_TURNS = (5, 6, 7, 8)


def image_hw(path: str | os.PathLike) -> tuple[int, int]:
    """(H, W) of the picture `read_rgb` returns, from the header alone (EXIF orientation applied)."""
    with _open(Path(path)) as image:
        turned = image.getexif().get(0x0112) in _QUARTER_TURNS
        return (image.width, image.height) if turned else (image.height, image.width)


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """H×W×3 uint8 RGB of an image file, upright as its EXIF orientation says, converted as `check_image` tells."""
    from PIL import ImageOps

    path = Path(path)
    with _open(path) as image:
        _conversion(path, image.mode)
        try:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        except (OSError, SyntaxError, ValueError) as exc:  # a truncated or damaged file fails only when decoded
            raise EdgeDepthError(f"image {path} is damaged ({first_line(exc)}); re-save or re-copy it")


def write_png(path: str | os.PathLike, pixels: np.ndarray) -> Path:
    """uint8 H×W×3 or uint16 H×W as a PNG."""
    from PIL import Image

    with atomic_path(path) as tmp:
        Image.fromarray(pixels).save(tmp, format="PNG")
    return Path(path)


def write_png16_mm(path: str | os.PathLike, depth_m: np.ndarray) -> Path:
    """Depth in metres → 16-bit PNG of millimetres (0..65535, so 0..PNG16_MAX_M m), the usual depth-camera form."""
    millimetres = np.rint(np.clip(np.nan_to_num(depth_m), 0, PNG16_MAX_M) * 1000).astype(np.uint16)
    return write_png(path, millimetres)


def write_pfm(path: str | os.PathLike, depth_m: np.ndarray) -> Path:
    """float32 H×W as PFM: "Pf", size, -1.0 (little-endian), rows bottom first, as the C example writes it."""
    h, w = depth_m.shape
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"Pf\n%d %d\n-1.0\n" % (w, h))
            fh.write(np.ascontiguousarray(np.flipud(depth_m), dtype="<f4").tobytes())
    return Path(path)


def write_npy(path: str | os.PathLike, depth_m: np.ndarray) -> Path:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.save(fh, depth_m.astype(np.float32, copy=False))
    return Path(path)
