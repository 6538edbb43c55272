"""3D output: a metric depth map and its image → coloured points in the camera's frame → a binary PLY file.

Pixel coordinates follow OpenCV's pinhole convention, as calibration tools report intrinsics: the centre of
pixel (column u, row v) is at (u, v), so an image W wide spans −0.5 … W − 0.5 and a centred principal point is
(W − 1) / 2. Points are in metres in the camera's frame, x right, y down, z forward (z is the depth). Intrinsics
are in pixels of one image size and are rescaled to whatever size the depth map has (`Intrinsics.at`); without
them a horizontal field of view gives square pixels and a centred principal point.

The PLY is binary little-endian (PLY 1.0: `float` x y z, `uchar` red green blue per vertex), which Open3D,
MeshLab and CloudCompare read. Only metric outputs make points: a relative output has no scale in metres.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import atomic_path
from ..errors import EdgeDepthError
from ..spec import OutputKind

#: A vertex's properties as the PLY header declares them (type, name), and the packed record that matches them
#: (15 bytes, no padding: PLY's binary body is the records back to back).
PROPERTIES = (("float", "x"), ("float", "y"), ("float", "z"), ("uchar", "red"), ("uchar", "green"), ("uchar", "blue"))
VERTEX = np.dtype([(name, {"float": "<f4", "uchar": "u1"}[kind]) for kind, name in PROPERTIES])
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_INTRINSICS = re.compile(rf"\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*,\s*({_NUMBER})\s*(?:@\s*(\d+)\s*[xX]\s*(\d+)\s*)?")
FORMAT = "fx,fy,cx,cy in pixels, optionally @WxH for the image size they were measured at"


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics in pixels of an image of `size` (H, W)."""

    fx: float
    fy: float
    cx: float
    cy: float
    size: tuple[int, int]

    @classmethod
    def parse(cls, text: str, size: tuple[int, int]) -> Intrinsics:
        """"fx,fy,cx,cy" in pixels of an image of `size` (H, W, the image given), or "fx,fy,cx,cy@WxH" in pixels
        of a W×H image (the calibration's). A string of another form is refused in one line."""
        match = _INTRINSICS.fullmatch(text)
        if match is None:
            raise EdgeDepthError(f"intrinsics {text!r} are not {FORMAT} (e.g. 525,525,319.5,239.5@640x480)")
        fx, fy, cx, cy = (float(v) for v in match.groups()[:4])
        if match.group(5):
            size = (int(match.group(6)), int(match.group(5)))
        if not (fx > 0 and fy > 0 and all(math.isfinite(v) for v in (fx, fy, cx, cy))) or min(size) < 1:
            raise EdgeDepthError(f"intrinsics {text!r}: focal lengths must be positive and finite and the image size "
                                 "positive")
        return cls(fx, fy, cx, cy, (int(size[0]), int(size[1])))

    @classmethod
    def from_fov(cls, fov_deg: float, size: tuple[int, int]) -> Intrinsics:
        """Square pixels and a centred principal point for a horizontal field of view of `fov_deg` degrees."""
        if not 0 < fov_deg < 180:
            raise EdgeDepthError(f"field of view {fov_deg} is not between 0 and 180 degrees (horizontal)")
        h, w = size
        f = 0.5 * w / math.tan(math.radians(fov_deg) / 2)
        return cls(f, f, (w - 1) / 2, (h - 1) / 2, (int(h), int(w)))

    def at(self, size: tuple[int, int]) -> Intrinsics:
        """The same camera in pixels of an image of `size` (H, W): the image resized, not cropped."""
        sy, sx = size[0] / self.size[0], size[1] / self.size[1]
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                          (int(size[0]), int(size[1])))


def camera(size: tuple[int, int], intrinsics: str | None = None, fov_deg: float | None = None) -> Intrinsics:
    """The camera of an image of `size` (H, W) from what the user gave: intrinsics (`Intrinsics.parse`) or a
    horizontal field of view in degrees, exactly one of them."""
    if intrinsics is not None and fov_deg is not None:
        raise EdgeDepthError("give the camera's intrinsics or its field of view, not both")
    if intrinsics is not None:
        return Intrinsics.parse(intrinsics, size)
    if fov_deg is None:
        raise EdgeDepthError(f"a point cloud needs the camera: give its intrinsics ({FORMAT}) or its horizontal field "
                             "of view in degrees")
    return Intrinsics.from_fov(fov_deg, size)


def metric_depth(output: np.ndarray, kind: OutputKind) -> np.ndarray:
    """A model's output as depth in metres (1/x for metric inverse depth); a relative output is refused."""
    if kind.relative:
        raise EdgeDepthError(f"a point cloud needs metric depth, and this model outputs {kind.name} values (known only up "
                             "to a per-image scale and shift): its points would have no size in metres; use a metric "
                             "depth model")
    output = np.asarray(output, dtype=np.float32)
    if not kind.inverse:
        return output
    return np.divide(1.0, output, out=np.zeros_like(output), where=output > 0)


def backproject(depth: np.ndarray, camera: Intrinsics, valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(points N×3 float32 in metres, the H×W mask of the pixels they came from): each pixel with finite depth
    > 0 (and `valid`, when given), lifted along its ray to its depth. `camera` is rescaled to the depth's size."""
    depth = np.asarray(depth, dtype=np.float64)
    depth = depth[..., 0] if depth.ndim == 3 and depth.shape[2] == 1 else depth
    if depth.ndim != 2:
        raise EdgeDepthError(f"depth of shape {depth.shape} is not an H×W map")
    k = camera.at(depth.shape)
    keep = np.isfinite(depth) & (depth > 0)
    if valid is not None:
        keep &= np.asarray(valid, dtype=bool).reshape(depth.shape)
    v, u = np.nonzero(keep)
    z = depth[keep]
    points = np.stack([(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z], axis=1)
    return points.astype(np.float32), keep


def point_cloud(depth: np.ndarray, rgb: np.ndarray, camera: Intrinsics,
                valid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(points N×3 float32, colours N×3 uint8): `backproject`, each point coloured by its pixel of `rgb`
    (H×W×3 uint8 at the depth's size)."""
    points, keep = backproject(depth, camera, valid)
    rgb = np.asarray(rgb)
    if rgb.shape != (*keep.shape, 3) or rgb.dtype != np.uint8:
        raise EdgeDepthError(f"image of shape {rgb.shape} ({rgb.dtype}) does not colour a {keep.shape[0]}×{keep.shape[1]} "
                             "depth map: give H×W×3 uint8 at the depth's size")
    return points, rgb[keep]


def write_ply(path: str | os.PathLike, points: np.ndarray, colours: np.ndarray) -> Path:
    """Write coloured points as a binary little-endian PLY at `path` (atomically); returns the path."""
    points, colours = np.asarray(points, dtype=np.float32), np.asarray(colours, dtype=np.uint8)
    if points.ndim != 2 or points.shape[1] != 3 or colours.shape != points.shape:
        raise EdgeDepthError(f"points {points.shape} and colours {colours.shape} are not two N×3 arrays of one N")
    vertices = np.empty(len(points), VERTEX)
    for i, axis in enumerate("xyz"):
        vertices[axis] = points[:, i]
    for i, channel in enumerate(("red", "green", "blue")):
        vertices[channel] = colours[:, i]
    header = ("ply\nformat binary_little_endian 1.0\n"
              "comment edgedepth: camera frame, metres, x right, y down, z forward\n"
              f"element vertex {len(points)}\n"
              + "".join(f"property {kind} {name}\n" for kind, name in PROPERTIES) + "end_header\n")
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(header.encode("ascii"))
            fh.write(vertices.tobytes())
    return Path(path)
