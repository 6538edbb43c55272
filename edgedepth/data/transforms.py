"""The single preprocessing definition used by training, calibration, every runner and the C runtime.

uint8 RGB (H×W×3) → float → resize to the model input size (`Preprocessing.resize`: by default bilinear,
half-pixel centres, no antialias, the resize the C runtime runs on the caller's 8-bit rows, capi/src/resize.c;
the antialiased modes are the resizes of the image processors other libraries' models were trained with) —
stretched to it, or letterboxed (aspect kept, centred, padded: `Preprocessing.fit`) → value range, channel
order and mean/std as the model declares (`Preprocessing`; ImageNet by default) → NCHW float32. The model's
output goes back onto the image with `restore_depth`, the inverse of the fit. The C runtime reads the same
declaration from the build's sidecar and refuses a resize it does not implement.
A mismatch between calibration and inference preprocessing silently costs INT8 accuracy, so nothing else in
the project normalises images.
"""

from __future__ import annotations

import contextlib
import itertools
import math
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import EdgeDepthError

if TYPE_CHECKING:  # torch is imported where an image is resized: PREPROCESSING and parse_size stay light
    import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Resize modes a model can declare, with how their record describes them. Antialiased: the filter widened by
#: the scale when shrinking (torch's `antialias=True`, what torchvision and PIL do), as Hugging Face's image
#: processors resize. Measured on a random-init Depth-Anything (Dinov2, 56×70 input), output max relative
#: difference to its processor's: 5e-3 with the plain bilinear resize from 224×280, 5e-2 from 600×750;
#: 1.4e-3 and 2.1e-3 with the antialiased bicubic (the rest is the processor's rounding to 8-bit pixels).
RESIZE_MODES = {
    "bilinear": "bilinear, half-pixel centres, no antialias",
    "bilinear-antialias": "bilinear, half-pixel centres, antialiased",
    "bicubic-antialias": "bicubic (a = -0.75), half-pixel centres, antialiased",
}
#: How the image fills the model's input: stretched to it, or letterboxed (scaled by the smaller ratio of the
#: sides, centred, the rest padded with `Preprocessing.pad`; the record's resize says so, which the C
#: runtime refuses rather than stretch).
FITS = ("stretch", "letterbox")
LETTERBOX = "letterbox (aspect kept, centred, padded), "
#: How the model's output map goes back onto the image (`restore_depth`): bilinear with half-pixel centres, as
#: the C runtime does, or bicubic, as Hugging Face's post_process_depth_estimation does. On the synthetic
#: scans' depth at 64×64 brought to 80×120 the two differ by 17–23 % of the largest depth at edges (median
#: 0.2 %), too much for a prediction to stand for the library's own; the record says so in `resize` too.
RESTORES = {"bilinear": "", "bicubic": "; depth back bicubic (a = -0.75), half-pixel centres"}
COLOR_ORDERS = ("RGB", "BGR")
#: Value ranges a model can declare for its input before mean/std, as the scale that takes 8-bit pixels there.
VALUE_RANGES = {"0-1": 1.0 / 255.0, "0-255": 1.0}


@dataclass(frozen=True)
class Preprocessing:
    """What a model expects of its input, from uint8 RGB pixels: resize to the model size (`resize` mode;
    `fit`: stretched, or letterboxed with `pad`, RGB pixel values), channel order, value range (pixel × `scale`,
    so 1/255 gives [0, 1]), then (x − mean) / std per channel of that order; `restore`: how the output goes
    back onto the image.

    Declared once per model and recorded in every checkpoint and sidecar (`record`); training, calibration,
    every runner, `predict` and the C runtime read it back (`from_record`) and apply the same."""

    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    scale: float = 1.0 / 255.0
    color: str = "RGB"
    resize: str = "bilinear"
    fit: str = "stretch"
    pad: tuple[int, int, int] | None = None  # letterbox only: the padding's RGB pixel value
    restore: str = "bilinear"

    def __post_init__(self) -> None:
        if self.color not in COLOR_ORDERS:
            raise EdgeDepthError(f"colour order {self.color!r} is not one of {', '.join(COLOR_ORDERS)}")
        if self.resize not in RESIZE_MODES:
            raise EdgeDepthError(f"resize mode {self.resize!r} is not one of {', '.join(RESIZE_MODES)}")
        numbers = (*self.mean, *self.std, self.scale)
        if (len(self.mean) != 3 or len(self.std) != 3 or not all(isinstance(v, int | float) and math.isfinite(v) for v in numbers)
                or not all(v > 0 for v in self.std) or not self.scale > 0):
            raise EdgeDepthError(f"preprocessing needs 3 finite means, 3 finite positive stds and a positive scale; "
                                 f"got mean {self.mean}, std {self.std}, scale {self.scale}")
        if self.fit not in FITS or self.restore not in RESTORES:
            raise EdgeDepthError(f"fit {self.fit!r} or restore {self.restore!r} is not one of {', '.join(FITS)} and "
                                 f"{', '.join(RESTORES)}")
        letterbox = self.fit == "letterbox"
        if letterbox != (self.pad is not None) or letterbox and (
                len(self.pad) != 3 or not all(isinstance(v, int) and 0 <= v <= 255 for v in self.pad)):
            raise EdgeDepthError(f"a letterbox fit pads with 3 pixel values 0..255 and a stretch pads nothing; got "
                                 f"fit {self.fit} with pad {self.pad}")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        if self.pad is not None:
            object.__setattr__(self, "pad", tuple(self.pad))

    def record(self) -> dict[str, Any]:
        """The sidecar/checkpoint form; the C runtime reads these keys back from an OpenVINO build's sidecar
        (a letterbox is written into `resize`, so a runtime that knows only the stretch refuses it)."""
        letterbox = {"pad": list(self.pad)} if self.fit == "letterbox" else {}
        return {"color": self.color, "input_dtype": "uint8", "resize": _resize_description(self.resize, self.fit, self.restore),
                "scale": self.scale, "mean": list(self.mean), "std": list(self.std), "layout": "NCHW",
                "dtype": "float32", **letterbox}

    @classmethod
    def from_record(cls, record: dict[str, Any] | None) -> Preprocessing:
        """Back from `record()`. An artifact that records none is refused, as the C runtime refuses it: guessing
        ImageNet would be the silent calibration/inference mismatch this declaration exists to prevent."""
        if record is None:
            raise EdgeDepthError("the model records no preprocessing; re-create it with `edgedepth export` "
                                 "(which records the declared one)")
        modes = {_resize_description(*mode): mode for mode in itertools.product(RESIZE_MODES, FITS, RESTORES)}
        try:
            mode, fit, restore = modes.get(record["resize"], (record["resize"], "stretch", "bilinear"))
            pad = record.get("pad")
            return cls(mean=tuple(record["mean"]), std=tuple(record["std"]), scale=float(record["scale"]),
                       color=record["color"], resize=mode, fit=fit, pad=None if pad is None else tuple(pad),
                       restore=restore)
        except (KeyError, TypeError, ValueError) as exc:
            raise EdgeDepthError(f"the recorded preprocessing {record} is incomplete ({exc}); re-create the artifact")


def _resize_description(mode: str, fit: str, restore: str) -> str:
    return (LETTERBOX if fit == "letterbox" else "") + RESIZE_MODES[mode] + RESTORES[restore]


def declared_preprocessing(mean: str | None = None, std: str | None = None, value_range: str | None = None,
                           bgr: bool = False, resize: str | None = None) -> Preprocessing | None:
    """The preprocessing a user declares ("0.5,0.5,0.5" means and stds in the model's channel order, a
    VALUE_RANGES key, BGR order, a resize mode), each part not given at ImageNet's; None when nothing is declared."""
    if mean is None and std is None and value_range is None and not bgr and resize is None:
        return None
    if value_range is not None and value_range not in VALUE_RANGES:
        raise EdgeDepthError(f"value range {value_range!r} is not one of {', '.join(VALUE_RANGES)}")
    order = slice(None, None, -1 if bgr else 1)  # ImageNet's defaults in the declared channel order
    return Preprocessing(mean=_three(mean, "mean") if mean else IMAGENET_MEAN[order],
                         std=_three(std, "std") if std else IMAGENET_STD[order], scale=VALUE_RANGES[value_range or "0-1"],
                         color="BGR" if bgr else "RGB", resize=resize or "bilinear")


def _three(text: str, what: str) -> tuple[float, float, float]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3:
        raise EdgeDepthError(f"{what} {text!r} is not three comma-separated numbers, one per channel (e.g. 0.5,0.5,0.5)")
    return values


#: The default: ImageNet mean/std on [0, 1] RGB, what `edgedepth train` uses and the reference model expects.
IMAGENET = Preprocessing()
PREPROCESSING = IMAGENET.record()


def check_rgb(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Return `image` as H×W×3 uint8, or raise a one-line error naming the problem."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3:
        raise EdgeDepthError(f"{what} has shape {image.shape}; expected H×W×3 RGB (convert grey/RGBA to RGB first)")
    if image.dtype != np.uint8:
        raise EdgeDepthError(f"{what} has dtype {image.dtype}; expected uint8 RGB pixels 0..255")
    return image


def resize_bilinear(batch: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """N×C×H×W float resize to (H, W): bilinear, half-pixel centres, no antialias."""
    import torch.nn.functional as F

    if tuple(batch.shape[-2:]) == tuple(size):
        return batch
    return F.interpolate(batch, size=tuple(size), mode="bilinear", align_corners=False, antialias=False)


def resize_image(batch: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """N×3×H×W float pixels (0..255) resized to (H, W) as RESIZE_MODES[mode] says. Bicubic's overshoot is
    clipped to the pixel range, as the 8-bit resizes of the libraries it stands for clip it."""
    import torch.nn.functional as F

    if mode == "bilinear":
        return resize_bilinear(batch, size)
    if tuple(batch.shape[-2:]) == tuple(size):
        return batch
    interpolation = mode.removesuffix("-antialias")
    resized = F.interpolate(batch, size=tuple(size), mode=interpolation, align_corners=False, antialias=True)
    return resized.clamp(0, 255) if interpolation == "bicubic" else resized


def letterbox_window(image_size: tuple[int, int], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """(top, left, height, width) of an image of `image_size` letterboxed into `size`: scaled by the smaller of
    the two side ratios (each side at least 1 pixel), centred, the odd padding pixel below and right (as
    Ultralytics' LetterBox places it)."""
    ratio = min(size[0] / image_size[0], size[1] / image_size[1])
    h, w = (max(1, min(round(side * ratio), limit)) for side, limit in zip(image_size, size))
    return (size[0] - h) // 2, (size[1] - w) // 2, h, w


def preprocess(images: np.ndarray | Sequence[np.ndarray], size: tuple[int, int],
               spec: Preprocessing = IMAGENET) -> np.ndarray:
    """One H×W×3 uint8 RGB image or a sequence of them → N×3×H×W float32 at `size` = (H, W), as `spec` says."""
    import torch

    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    tensors = []
    for i, image in enumerate(images):
        image = check_rgb(image, f"image {i}")
        # a contiguous copy: decoded images may be read-only, flipped views have negative strides
        tensor = torch.tensor(np.ascontiguousarray(image)).permute(2, 0, 1)[None].float()
        if spec.fit == "letterbox":
            top, left, h, w = letterbox_window(image.shape[:2], size)
            canvas = torch.tensor(spec.pad, dtype=torch.float32).view(1, 3, 1, 1).repeat(1, 1, *size)
            canvas[..., top : top + h, left : left + w] = resize_image(tensor, (h, w), spec.resize)
            tensors.append(canvas)
        else:
            tensors.append(resize_image(tensor, size, spec.resize))
    batch = torch.cat(tensors)
    if spec.color == "BGR":
        batch = batch.flip(1)
    mean = torch.tensor(spec.mean).view(1, 3, 1, 1)
    std = torch.tensor(spec.std).view(1, 3, 1, 1)
    return ((batch * spec.scale - mean) / std).numpy().astype(np.float32, copy=False)


def restore_depth(depth: np.ndarray, image_size: tuple[int, int], spec: Preprocessing,
                  size: tuple[int, int] | None = None) -> np.ndarray:
    """The inverse of `preprocess`'s fit for a model output: an h×w map (model size) of an image of
    `image_size` → the part that covers the image (a letterbox's padding cut off), resized as `spec.restore`
    says (by default bilinearly with half-pixel centres, capi/src/resize.c's rule) to `size` (default: the
    image's). float32."""
    import torch
    import torch.nn.functional as F

    depth = np.asarray(depth, dtype=np.float32)
    if spec.fit == "letterbox":
        top, left, h, w = letterbox_window(image_size, depth.shape[-2:])
        depth = depth[..., top : top + h, left : left + w]
    tensor = torch.from_numpy(np.ascontiguousarray(depth)).view(1, 1, *depth.shape[-2:])
    size = tuple(size or image_size)
    if spec.restore == "bilinear" or tuple(depth.shape[-2:]) == size:
        return resize_bilinear(tensor, size)[0, 0].numpy()
    return F.interpolate(tensor, size=size, mode=spec.restore, align_corners=False)[0, 0].numpy()


_ONE_THREAD = threading.Lock()
_one_thread_users, _saved_threads = 0, 1


@contextlib.contextmanager
def one_torch_thread() -> Iterator[None]:
    """torch's intra-op threads set to one inside the block, for preprocessing beside another runtime.

    torch's OpenMP workers spin after a parallel region, and ONNX Runtime's and OpenVINO's pools after an
    inference; on 2 cores each then waited for cores the other held. Measured, lraspp 96×128 on 2 cores:
    end-to-end 20–90 ms against 1–2 ms of inference for ONNX Runtime and OpenVINO, back to the inference
    plus 0.1–0.4 ms with the preprocessing on one thread (a single image's preprocessing gains nothing from
    threads). The setting is process-wide: blocks in several threads share one save and restore."""
    import torch

    global _one_thread_users, _saved_threads
    with _ONE_THREAD:
        if _one_thread_users == 0:
            _saved_threads = torch.get_num_threads()
            torch.set_num_threads(1)
        _one_thread_users += 1
    try:
        yield
    finally:
        with _ONE_THREAD:
            _one_thread_users -= 1
            if _one_thread_users == 0:
                torch.set_num_threads(_saved_threads)


def resize_nearest(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """H×W array (depth or mask) → (H, W) by nearest neighbour, so no invalid pixel bleeds into a valid one."""
    array = np.asarray(array)
    h, w = array.shape[:2]
    if (h, w) == tuple(size):
        return array
    rows = np.minimum(((np.arange(size[0]) + 0.5) * h / size[0]).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(size[1]) + 0.5) * w / size[1]).astype(np.int64), w - 1)
    return array[rows[:, None], cols[None, :]]


def parse_size(text: str) -> tuple[int, int]:
    """'384x512' → (H, W) = (384, 512). Sizes are height × width everywhere in the project, as the tensors'
    N×C×H×W order; 'x' or '×' between two positive integers, nothing else."""
    parts = text.strip().lower().replace("×", "x").split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise EdgeDepthError(f"size {text!r} is not HxW (height x width, two positive integers, e.g. 384x512)")
    h, w = int(parts[0]), int(parts[1])
    if h <= 0 or w <= 0:
        raise EdgeDepthError(f"size {text!r} must be positive (HxW, e.g. 384x512)")
    return h, w


def augment(rgb: np.ndarray, depth: np.ndarray, valid: np.ndarray, rng: np.random.Generator,
            size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training augmentation of one sample, before `preprocess`: horizontal flip, colour jitter, scale/crop.

    rgb is uint8 at any size; depth and valid are at `size` and stay there. The crop (90–100 % of each side,
    same normalised window on image and depth) zooms a little without rescaling depth: a mild focal-length
    change that real cameras also show, small enough not to teach wrong scale.
    """
    if rng.random() < 0.5:
        rgb, depth, valid = rgb[:, ::-1], depth[:, ::-1], valid[:, ::-1]
    if rng.random() < 0.5:
        scale = rng.uniform(0.9, 1.0)
        top, left = rng.uniform(0, 1 - scale, 2)
        rgb = _crop(rgb, top, left, scale)
        depth = resize_nearest(_crop(depth, top, left, scale), size)
        valid = resize_nearest(_crop(valid, top, left, scale), size)
    pixels = rgb.astype(np.float32)
    gain = rng.uniform(0.8, 1.2) * rng.uniform(0.9, 1.1, 3)  # brightness, then per-channel colour
    mean = pixels.mean()
    pixels = (pixels - mean) * rng.uniform(0.8, 1.2) + mean  # contrast
    rgb = np.clip(pixels * gain, 0, 255).astype(np.uint8)
    return rgb, np.ascontiguousarray(depth), np.ascontiguousarray(valid)


def _crop(array: np.ndarray, top: float, left: float, scale: float) -> np.ndarray:
    h, w = array.shape[:2]
    r0, c0 = int(top * h), int(left * w)
    return array[r0 : r0 + max(1, int(scale * h)), c0 : c0 + max(1, int(scale * w))]
