"""Synthetic video: a camera moving through one synthetic scene, a DIODE scan per frame, the order recorded.

    <out>/val/<domain>/scene_00000/scan_XXXXX/<name>.png, <name>_depth.npy, <name>_depth_mask.npy   frame XXXXX
                      scene_00000/sequence.json   the order file: frames in order, frame rate, camera, poses

Every frame is a scan as `synthetic.generate` writes it (same names, dtypes, sensor noise and dropouts, drawn
afresh per frame as a sensor's are), so the folder is an ordinary held-out DIODE root for every command that
reads one; only `load_sequence` reads the order file. The camera starts at the scene's first scan pose and
walks forward along its heading while panning slowly, FRAME_STEP metres and PAN radians a frame, for at most
`max_frames` (then it could reach an object). The image moves little: at 96×128, measured through the
ground-truth depth and poses of two scenes per domain, a median 1.1–1.3 pixels a frame, 90 % of pixels under
2.1; so metrics taken at fixed pixels (flicker, measure/temporal.py) see mostly the prediction's change, not
the scene sliding under it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import atomic_path, is_writable_location
from ..errors import EdgeDepthError
from ..memory import check_fits
from .diode import Sample, find_samples
from .synthetic import BYTES_PER_PIXEL, FOV_DEG, Pose, render
from .synthetic_layouts import Frame, Scan, write_diode

ORDER_FILE = "sequence.json"
SCHEMA = "edgedepth-sequence/1"
#: Metres walked per frame: 3 cm indoors (0.3 m/s at FPS, a cautious indoor robot), 10 cm outdoors (1 m/s).
FRAME_STEP = {"indoors": 0.03, "outdoor": 0.10}
#: Metres the camera can walk before it may meet an object: the nearest furniture starts 1.5 m ahead indoors and
#: a tree's front 2.5 m ahead outdoors (synthetic.py), and a scan pose starts up to 0.8 m forward.
CLEAR_AHEAD = {"indoors": 0.7, "outdoor": 1.7}
#: Radians turned per frame (0.6°: about one pixel of image motion at 128 pixels wide).
PAN = 0.01
FPS = 10


@dataclass(frozen=True)
class FrameSequence:
    """A rendered sequence as read back: its frames in order (DIODE samples), frame rate, horizontal field of
    view (degrees) and the camera pose of each frame."""

    frames: list[Sample]
    fps: float
    fov_deg: float
    poses: list[Pose]


def camera_path(start: Pose, frames: int, step: float, pan: float = PAN) -> list[Pose]:
    """`frames` poses walking `step` metres per frame along the heading, which turns by `pan` radians a frame."""
    poses = [start]
    for _ in range(frames - 1):
        last = poses[-1]
        poses.append(dataclasses.replace(last, x=last.x + step * math.sin(last.yaw), z=last.z + step * math.cos(last.yaw),
                                         yaw=last.yaw + pan))
    return poses


def max_frames(domain: str) -> int:
    return int(CLEAR_AHEAD[domain] / FRAME_STEP[domain] + 1e-9) + 1


def render_sequence(out_dir: str | os.PathLike, frames: int = 16, domain: str = "indoors", seed: int = 0,
                    size: tuple[int, int] = (192, 256)) -> Path:
    """Write a sequence of `frames` frames of one `domain` scene under `out_dir` (layout above); returns the scene
    folder, which `load_sequence` reads."""
    if domain not in FRAME_STEP:
        raise EdgeDepthError(f"domain {domain!r} is not one of: {', '.join(FRAME_STEP)}")
    most = max_frames(domain)
    if not 2 <= frames <= most:
        raise EdgeDepthError(f"a {domain} sequence has 2 to {most} frames (it needs two to change between, and after "
                             f"{most} the camera may walk into the scene), not {frames}")
    out_dir = Path(out_dir)
    check_fits(BYTES_PER_PIXEL * size[0] * size[1], f"rendering a {size[0]}x{size[1]} frame", "choose a smaller size")
    if not is_writable_location(out_dir):
        raise EdgeDepthError(f"cannot write the sequence into {out_dir}: the location is not writable; choose another folder")
    scene_seed = int(np.random.SeedSequence(seed).generate_state(1)[0])
    start = Pose.scan(np.random.default_rng([scene_seed, 0]))
    poses = camera_path(start, frames, FRAME_STEP[domain])
    plan = [Scan("val", domain, 0, frame, frame, scene_seed) for frame in range(len(poses))]
    try:
        write_diode(out_dir, plan, (Frame(scan, *render(domain, size, scene_seed, view=scan.scan, pose=pose))
                                    for scan, pose in zip(plan, poses)))
    except OSError as exc:  # a full disk, a folder made read-only meanwhile
        raise EdgeDepthError(f"cannot write the sequence into {out_dir}: {exc.strerror or exc}; free space or choose "
                             "another folder")
    scene_dir = out_dir / "val" / domain / "scene_00000"
    names = [f"scan_{scan.scan:05d}/{scan.stem}.png" for scan in plan]
    record = {"schema": SCHEMA, "frames": names, "fps": FPS, "fov_deg": FOV_DEG, "size": list(size),
              "poses": [dataclasses.asdict(pose) for pose in poses],
              "pose_convention": "metres and radians; x right, z forward at tripod height; yaw about the vertical"}
    with atomic_path(scene_dir / ORDER_FILE) as tmp:
        tmp.write_text(json.dumps(record, indent=1) + "\n")
    return scene_dir


def load_sequence(path: str | os.PathLike) -> FrameSequence:
    """The sequence in the scene folder `path` (or the one sequence below `path`), frames in recorded order."""
    path = Path(path)
    order = path / ORDER_FILE
    if not order.is_file():
        found = sorted(path.rglob(ORDER_FILE)) if path.is_dir() else []
        if len(found) != 1:
            where = f"{len(found)} sequences below it; give one scene folder" if found else f"no {ORDER_FILE} order file"
            raise EdgeDepthError(f"{path} holds {where} (a sequence is a scene folder with one; render one with "
                                 "`edgedepth.data.sequences.render_sequence`)")
        order = found[0]
    try:
        record = json.loads(order.read_text())
        names, fps, fov, poses = record["frames"], float(record["fps"]), float(record["fov_deg"]), record["poses"]
        poses = [Pose(**pose) for pose in poses]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EdgeDepthError(f"{order} is not a readable sequence order file ({type(exc).__name__}: {exc}); render it again")
    root = order.parents[3]  # <root>/<split>/<domain>/<scene>/sequence.json: samples keyed as the root reads them
    samples = {sample.rgb.resolve(): sample for sample in find_samples(root) if order.parent in sample.rgb.parents}
    frames = []
    for name in names:
        sample = samples.get((order.parent / name).resolve())
        if sample is None:
            raise EdgeDepthError(f"{order} lists frame {name}, which is not a scan in {order.parent}; render the sequence again")
        frames.append(sample)
    if len(poses) != len(frames):
        raise EdgeDepthError(f"{order} lists {len(frames)} frames and {len(poses)} poses; render the sequence again")
    return FrameSequence(frames, fps, fov, poses)
