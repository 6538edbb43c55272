"""The synthetic scans written in each dataset layout edgedepth reads, exactly as that layout's own
documentation specifies it (names, folders, dtypes, PNG bit depth and scale, YAML, MATLAB files), so tests
read what users have. One writer per layout, each fed the same rendered scans (`Frame`).

What a layout cannot hold is dropped as its sensor would: KITTI's LiDAR returns nothing beyond its range
or above the horizon and is sparse; NYUv2's Kinect returns nothing beyond its range (`rawDepths`), and its
`depths` are the same in-painted.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from . import kitti, nyuv2, ultralytics_depth

#: Ultralytics' PNG value per metre for the synthetic set: centimetres (Virtual KITTI 2's convention, one of
#: those Ultralytics documents): 16 bits hold 655.35 m, so the scanner's 350 m range fits whole (the 256 of
#: its KITTI and DIODE conversions stops at 256 m).
ULTRALYTICS_DEPTH_SCALE = 100
#: Velodyne HDL-64E range (KITTI's LiDAR); nothing beyond it is annotated.
LIDAR_RANGE_M = 120.0
#: KITTI's annotated depth is sparse and absent near the top of the image (no LiDAR points up there): the
#: fraction of pixels annotated below the first annotated row, and that row as a fraction of the height.
LIDAR_DENSITY = 0.3
LIDAR_FIRST_ROW = 0.3
KITTI_DATE = "2011_09_26"
#: "image IDs start at 5 because we accumulate 11 frames which is +-5 around the current frame" (devkit readme).
KITTI_FIRST_FRAME = 5
#: Kinect v1's range as NYUv2's raw depth shows it: no return beyond 10 m.
KINECT_RANGE_M = 10.0
#: MATLAB's MAT-file header: 116 bytes of text, then the subsystem offset, version and endianness. The text
#: is fixed here (no creation date), so the same seed writes the same bytes.
MAT_HEADER_TEXT = 116
MAT73_USERBLOCK = 512


@dataclass(frozen=True)
class Scan:
    """One planned scan: where it goes (split, domain, scene and scan numbers) and its scene's seed."""

    split: str
    domain: str
    scene: int
    scan: int
    position: int  # the scan's place within its scene
    scene_seed: int

    @property
    def stem(self) -> str:
        """DIODE's file stem: scene, scan, domain, scan within the sequence, frame."""
        return f"{self.scene:05d}_{self.scan:05d}_{self.domain}_{self.scan:03d}_000"


@dataclass(frozen=True)
class Frame:
    """A rendered scan: uint8 RGB H×W×3, depth float32 H×W×1 metres (0 where invalid), mask float32 H×W."""

    scan: Scan
    rgb: np.ndarray
    depth: np.ndarray
    mask: np.ndarray

    @property
    def valid(self) -> np.ndarray:
        return (self.mask > 0) & (self.depth[..., 0] > 0)


def _png(path: Path, pixels: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")


def _npy(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        np.save(fh, array)


def _png16(path: Path, depth: np.ndarray, valid: np.ndarray, scale: float) -> None:
    """uint16 PNG of metres × `scale`, 0 where invalid; a valid depth never rounds to 0 (Ultralytics'
    `save_depth_png` does the same)."""
    encoded = np.zeros(depth.shape, np.uint16)
    encoded[valid] = np.maximum(np.rint(depth[valid] * scale), 1).astype(np.uint16)
    _png(path, encoded)


def write_diode(folder: Path, plan: list[Scan], frames: Iterable[Frame]) -> None:
    for frame in frames:
        s = frame.scan
        scan_dir = folder / s.split / s.domain / f"scene_{s.scene:05d}" / f"scan_{s.scan:05d}"
        _png(scan_dir / f"{s.stem}.png", frame.rgb)
        _npy(scan_dir / f"{s.stem}_depth.npy", frame.depth)
        _npy(scan_dir / f"{s.stem}_depth_mask.npy", frame.mask)


def write_ultralytics(folder: Path, plan: list[Scan], frames: Iterable[Frame]) -> None:
    """images/<split>/ and depth/<split>/ with the names Ultralytics' DIODE conversion gives
    (`<split>_<domain>_scene_…_scan_…_<stem>.png`, which keep the scene), and data.yaml."""
    for frame in frames:
        s = frame.scan
        name = f"{s.split}_{s.domain}_scene_{s.scene:05d}_scan_{s.scan:05d}_{s.stem}.png"
        _png(folder / "images" / s.split / name, frame.rgb)
        _png16(folder / "depth" / s.split / name, frame.depth[..., 0], frame.valid, ULTRALYTICS_DEPTH_SCALE)
    (folder / ultralytics_depth.YAML_NAME).write_text(
        "# Synthetic depth data in Ultralytics' depth layout, written by `edgedepth synth --layout ultralytics`\n"
        "# images/<split>/<name>.png (RGB), depth/<split>/<name>.png (uint16: metres x depth_scale, 0 = invalid)\n"
        "task: depth\ntrain: images/train\nval: images/val\nnc: 1\nnames:\n  0: depth\nchannels: 3\n"
        f"depth_scale: {ULTRALYTICS_DEPTH_SCALE}\n")


def write_images(folder: Path, plan: list[Scan], frames: Iterable[Frame]) -> None:
    for frame in frames:
        _png(folder / f"{frame.scan.stem}.png", frame.rgb)


def write_kitti(folder: Path, plan: list[Scan], frames: Iterable[Frame]) -> None:
    """A scene is a drive, a scan a frame of its left camera (image_02): the annotated depth under
    <split>/<drive>/proj_depth/groundtruth/, its RGB in the raw layout <date>/<drive>/image_02/data/."""
    for frame in frames:
        s = frame.scan
        drive = f"{KITTI_DATE}_drive_{s.scene + 1:04d}_sync"
        name = f"{KITTI_FIRST_FRAME + s.position:010d}.png"
        _png(folder / KITTI_DATE / drive / "image_02" / "data" / name, frame.rgb)
        depth = frame.depth[..., 0]
        h, w = depth.shape
        lidar = np.random.default_rng([s.scene_seed, s.scan, 2]).random((h, w)) < LIDAR_DENSITY
        lidar[: int(LIDAR_FIRST_ROW * h)] = False
        valid = frame.valid & lidar & (depth <= LIDAR_RANGE_M)
        _png16(folder / s.split / drive / "proj_depth" / "groundtruth" / "image_02" / name, depth, valid, kitti.DEPTH_SCALE)


def write_nyuv2(folder: Path, plan: list[Scan], frames: Iterable[Frame]) -> None:
    """nyu_depth_v2_labeled.mat as MATLAB v7.3 writes it (HDF5 behind a 512-byte MAT header, each array
    with its MATLAB_class, axes reversed: images N×3×W×H uint8, rawDepths and depths N×W×H single,
    scenes and sceneTypes cell arrays of char) and splits.mat (MATLAB v5: trainNdxs, testNdxs, 1-based).
    The labels, instances and names of the real file are not written: the scenes have no semantic labels."""
    from scipy import ndimage

    h5py = nyuv2.h5py_module()
    mat = folder / nyuv2.FILE_NAME
    folder.mkdir(parents=True, exist_ok=True)
    frames = iter(frames)
    first = next(frames)
    h, w = first.rgb.shape[:2]
    with h5py.File(mat, "w", userblock_size=MAT73_USERBLOCK) as f:
        images = _mat_array(f, nyuv2.RGB_KEY, "uint8", (len(plan), 3, w, h), np.uint8)
        raw = _mat_array(f, nyuv2.DEPTH_KEY, "single", (len(plan), w, h), np.float32)
        depths = _mat_array(f, "depths", "single", (len(plan), w, h), np.float32)
        for i, frame in enumerate(itertools.chain([first], frames)):
            depth = frame.depth[..., 0]
            kinect = np.where(frame.valid & (depth <= KINECT_RANGE_M), depth, 0).astype(np.float32)
            nearest = ndimage.distance_transform_edt(kinect == 0, return_distances=False, return_indices=True)
            images[i] = frame.rgb.transpose(2, 1, 0)
            raw[i] = kinect.T
            depths[i] = kinect[tuple(nearest)].T
        refs = _mat_refs_group(f, h5py)
        _mat_cell(f, h5py, refs, nyuv2.SCENES_KEY, [f"room_{s.scene + 1:04d}" for s in plan])
        _mat_cell(f, h5py, refs, "sceneTypes", ["room"] * len(plan))
    with open(mat, "r+b") as fh:
        fh.write(_mat_header("MATLAB 7.3 MAT-file, Platform: edgedepth synth, HDF5 schema 1.00 .", version=0x0200))
    _write_splits(folder / nyuv2.SPLITS_NAME, plan)


def _mat_array(f, name: str, matlab_class: str, shape: tuple[int, ...], dtype):
    """A dataset as MATLAB writes a numeric array (without timestamps, so the bytes repeat)."""
    data = f.create_dataset(name, shape, dtype=dtype, track_times=False)
    data.attrs["MATLAB_class"] = np.bytes_(matlab_class)
    return data


def _mat_refs_group(f, h5py):
    """MATLAB's #refs# group, which holds the contents of cell arrays, made without timestamps."""
    properties = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    properties.set_obj_track_times(False)
    h5py.h5g.create(f.id, b"#refs#", gcpl=properties)
    return f["#refs#"]


def _mat_cell(f, h5py, refs, name: str, texts: list[str]) -> None:
    """An N×1 cell array of strings: MATLAB stores it 1×N in HDF5, each cell a reference to a char array
    (uint16 code units, one column per string)."""
    cell = f.create_dataset(name, (1, len(texts)), dtype=h5py.ref_dtype, track_times=False)
    cell.attrs["MATLAB_class"] = np.bytes_("cell")
    for i, text in enumerate(texts):
        chars = refs.create_dataset(f"{name}_{i}", data=np.array([[ord(c)] for c in text], np.uint16), track_times=False)
        chars.attrs["MATLAB_class"] = np.bytes_("char")
        chars.attrs["MATLAB_int_decode"] = np.int32(2)
        cell[0, i] = chars.ref


def _mat_header(text: str, version: int) -> bytes:
    """MATLAB's 128-byte header: text padded to 116 bytes, a zero subsystem offset, version, 'IM' (little-endian)."""
    return text.encode("ascii").ljust(MAT_HEADER_TEXT, b" ") + bytes(8) + version.to_bytes(2, "little") + b"IM"


def _write_splits(path: Path, plan: list[Scan]) -> None:
    """splits.mat as NYU distributes it: MATLAB v5, trainNdxs and testNdxs as double column vectors of
    1-based image numbers (the held-out scenes are the test split)."""
    import io

    from scipy.io import savemat

    numbers = {split: np.array([i + 1.0 for i, s in enumerate(plan) if s.split == split]).reshape(-1, 1) for split in ("train", "val")}
    buffer = io.BytesIO()
    savemat(buffer, {"trainNdxs": numbers["train"], "testNdxs": numbers["val"]}, format="5", do_compression=False)
    data = buffer.getvalue()
    path.write_bytes(_mat_header("MATLAB 5.0 MAT-file, written by edgedepth synth", version=0x0100) + data[128:])


WRITERS = {"diode": write_diode, "ultralytics": write_ultralytics, "nyuv2": write_nyuv2, "kitti": write_kitti,
           "images": write_images}
#: The domains a layout's real data holds: NYUv2 is indoor rooms, KITTI driving outdoors.
DOMAINS = {"nyuv2": ("indoors",), "kitti": ("outdoor",)}
