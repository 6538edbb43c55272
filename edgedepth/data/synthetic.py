"""Synthetic depth data: scenes ray-cast in numpy, written in the layout of DIODE, Ultralytics, NYUv2 or KITTI
(exactly as each documents it: synthetic_layouts.py), or as a plain folder of images.

Indoor scans are rooms (floor, walls, ceiling) holding boxes and spheres; outdoor scans are a ground plane with
buildings and trees under a sky that is masked invalid, as in outdoor DIODE. As in DIODE, outdoor depth stays
valid out to the scanner's range (the ground near the horizon lies beyond any model's 80 m), so evaluation
must decide what to do with it (its window), not the data. RGB and depth come from the same
ray hits (z-depth in metres), so they agree geometrically; surfaces carry procedural textures and Lambert
shading, so a network has real monocular cues (texture gradients, occlusion, shading, horizon) to learn from.
Each scene is scanned from a few nearby camera poses, all with one camera (fixed 60° field of view, near-level,
tripod height) as DIODE was scanned with one instrument. Everything is drawn from one seed: same seed, same bytes.
NYUv2 sets hold only rooms and KITTI sets only outdoor scenes, as the real ones do.
This is the project's embedded default data: nothing is ever downloaded.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..artifacts import is_writable_location
from ..errors import EdgeDepthError
from ..memory import check_fits
from ..progress import Progress, counter, silent
from .synthetic_layouts import DOMAINS, WRITERS, Frame, Scan

#: One camera for every scan, as DIODE's single scanner camera: fixed intrinsics, near-level, tripod height.
FOV_DEG = 60.0
#: DIODE's scanner (FARO Focus S350) returns depth out to 350 m; beyond it a ray counts as sky: depth 0, mask 0.
SCANNER_RANGE = 350.0
VAL_FRACTION = 0.15
SCANS_PER_SCENE = 2
#: Peak resident memory of rendering one scan, per pixel: its float64 rays, hit records and the temporaries of
#: each shape test. Measured over an indoor and an outdoor scan: 341 B at 384×512, 320 at 768×1024, 316 at
#: 1536×2048; a size is checked against the lowest.
BYTES_PER_PIXEL = 316
LAYOUTS = tuple(WRITERS)
#: Hidden file in every synthetic set: the settings that made it, so a second run can tell its own output
#: (identical: nothing to do) from anything else (refused). Every reader ignores hidden files.
MARKER = ".edgedepth-synth.json"
MARKER_FORMAT = "edgedepth-synth/1"


@dataclass
class _Hit:
    """Per-pixel nearest hit so far: ray parameter (= z-depth), normal, albedo and texture coordinates."""

    t: np.ndarray
    normal: np.ndarray
    albedo: np.ndarray
    uv: np.ndarray
    pattern: np.ndarray  # per-pixel texture kind: 0 plain, 1 checker, 2 stripes, 3 noise

    @classmethod
    def empty(cls, n: int) -> _Hit:
        return cls(np.full(n, np.inf), np.zeros((n, 3)), np.zeros((n, 3)), np.zeros((n, 2)), np.zeros(n, np.int8))

    def take(self, t: np.ndarray, normal: np.ndarray, albedo, uv: np.ndarray, pattern: int) -> None:
        closer = (t > 1e-4) & (t < self.t)
        self.t[closer] = t[closer]
        self.normal[closer] = normal[closer] if normal.ndim == 2 else normal
        self.albedo[closer] = albedo
        self.uv[closer] = uv[closer]
        self.pattern[closer] = pattern


def _rays(size: tuple[int, int], fov_deg: float, pitch: float, yaw: float) -> np.ndarray:
    """Ray directions (N×3, z-component 1 in camera space, then rotated): t along them is z-depth."""
    h, w = size
    f = 0.5 * w / np.tan(np.radians(fov_deg) / 2)
    v, u = np.mgrid[0:h, 0:w].astype(np.float64) + 0.5
    d = np.stack([(u - w / 2) / f, -(v - h / 2) / f, np.ones_like(u)], -1).reshape(-1, 3)
    cp, sp, cy, sy = np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    return d @ (ry @ rx).T


def _plane(hit: _Hit, o, d, axis: int, value: float, normal, albedo, pattern: int, scale: float = 1.0) -> None:
    with np.errstate(divide="ignore", invalid="ignore"):
        t = (value - o[axis]) / d[:, axis]
    t = np.where(np.isfinite(t), t, np.inf)
    p = o + t[:, None] * d
    uv = np.delete(p, axis, axis=1) * scale
    hit.take(t, np.asarray(normal, float), albedo, uv, pattern)


def _box(hit: _Hit, o, d, lo, hi, albedo, pattern: int) -> None:
    """Axis-aligned box by the slab method; the normal is the axis of the entering slab."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (np.asarray(lo) - o) / d
        t2 = (np.asarray(hi) - o) / d
    tmin, tmax = np.nan_to_num(np.minimum(t1, t2), nan=-np.inf), np.nan_to_num(np.maximum(t1, t2), nan=np.inf)
    t_enter, t_exit = tmin.max(1), tmax.min(1)
    t = np.where((t_enter <= t_exit) & (t_enter > 0), t_enter, np.inf)
    axis = tmin.argmax(1)
    normal = np.zeros_like(d)
    normal[np.arange(len(d)), axis] = -np.sign(d[np.arange(len(d)), axis])
    p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
    uv = np.stack([p[:, 0] + p[:, 2], p[:, 1]], 1) * 2
    hit.take(t, normal, albedo, uv, pattern)


def _sphere(hit: _Hit, o, d, centre, radius: float, albedo, pattern: int) -> None:
    oc = o - np.asarray(centre)
    a = (d * d).sum(1)
    b = 2 * (d @ oc)
    c = oc @ oc - radius**2
    disc = b * b - 4 * a * c
    with np.errstate(invalid="ignore"):
        t = np.where(disc >= 0, (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a), np.inf)
    p = o + np.where(np.isfinite(t), t, 0)[:, None] * d
    normal = (p - centre) / radius
    uv = np.stack([np.arctan2(normal[:, 0], normal[:, 2]) * 2, normal[:, 1] * 3], 1)
    hit.take(t, normal, albedo, uv, pattern)


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(0.15, 0.95, 3)


def _indoor(rng: np.random.Generator) -> list:
    """A room around the camera: (kind, args) primitives; the camera sits at x=0, z=0, height `cam_h`."""
    cam_h = rng.uniform(1.4, 1.6)
    width, depth, height = rng.uniform(3.5, 8), rng.uniform(4, 12), rng.uniform(2.4, 3.5)
    floor_y, ceil_y = -cam_h, height - cam_h
    prims = [
        ("plane", (1, floor_y, (0, 1, 0), _colour(rng), int(rng.choice([1, 3])), 1.5)),
        ("plane", (1, ceil_y, (0, -1, 0), _colour(rng) * 0.5 + 0.5, 0, 1.0)),
        ("plane", (0, -width / 2, (1, 0, 0), _colour(rng), int(rng.choice([0, 2])), 2.0)),
        ("plane", (0, width / 2, (-1, 0, 0), _colour(rng), int(rng.choice([0, 2])), 2.0)),
        ("plane", (2, depth, (0, 0, -1), _colour(rng), int(rng.choice([0, 2, 3])), 2.0)),
        ("plane", (2, -1.0, (0, 0, 1), _colour(rng), 0, 1.0)),
    ]
    for _ in range(rng.integers(2, 6)):
        sx, sy, sz = rng.uniform(0.3, 1.4, 3)
        x, z = rng.uniform(-width / 2 + sx / 2, width / 2 - sx / 2), rng.uniform(1.5, depth - sz)
        prims.append(("box", ((x - sx / 2, floor_y, z), (x + sx / 2, floor_y + sy, z + sz), _colour(rng), int(rng.integers(0, 4)))))
    for _ in range(rng.integers(0, 3)):
        r = rng.uniform(0.2, 0.6)
        centre = (rng.uniform(-width / 3, width / 3), floor_y + r, rng.uniform(1.5, depth - 1))
        prims.append(("sphere", (centre, r, _colour(rng), int(rng.integers(0, 4)))))
    return prims


def _outdoor(rng: np.random.Generator) -> list:
    cam_h = rng.uniform(1.5, 1.7)
    ground_y = -cam_h
    prims = [("plane", (1, ground_y, (0, 1, 0), rng.uniform([0.25, 0.3, 0.15], [0.5, 0.55, 0.35]), 3, 0.7))]
    for _ in range(rng.integers(3, 8)):
        sx, sy, sz = rng.uniform(4, 14), rng.uniform(4, 25), rng.uniform(4, 14)
        x, z = rng.uniform(-35, 35), rng.uniform(12, 70)
        prims.append(("box", ((x - sx / 2, ground_y, z), (x + sx / 2, ground_y + sy, z + sz), _colour(rng), 2)))
    for _ in range(rng.integers(2, 7)):
        r = rng.uniform(0.8, 2.5)
        centre = (rng.uniform(-15, 15), ground_y + r * 1.6, rng.uniform(5, 40))
        prims.append(("sphere", (centre, r, rng.uniform([0.1, 0.3, 0.05], [0.3, 0.6, 0.2]), 3)))
    return prims


def _texture(uv: np.ndarray, pattern: np.ndarray, phase: float) -> np.ndarray:
    checker = ((np.floor(uv[:, 0]) + np.floor(uv[:, 1])) % 2) * 0.45 + 0.55
    stripes = 0.75 + 0.25 * np.sin(uv[:, 0] * 6 + phase)
    noise = 0.8 + 0.2 * np.sin(uv[:, 0] * 13.1 + phase) * np.sin(uv[:, 1] * 11.7 - phase)
    return np.select([pattern == 1, pattern == 2, pattern == 3], [checker, stripes, noise], 1.0)


@dataclass(frozen=True)
class Pose:
    """Where the camera stands (metres; x right, z forward, at tripod height) and where it looks (radians)."""

    x: float
    z: float
    pitch: float
    yaw: float

    @classmethod
    def scan(cls, view_rng: np.random.Generator) -> Pose:
        """A scan's pose: near-level, turned up to 20°, within a metre of the scene's origin."""
        pitch, yaw = view_rng.uniform(-0.05, 0.05), view_rng.uniform(-0.35, 0.35)
        return cls(x=view_rng.uniform(-0.4, 0.4), z=view_rng.uniform(0, 0.8), pitch=pitch, yaw=yaw)


def render(domain: str, size: tuple[int, int], scene_seed: int, view: int,
           pose: Pose | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One scan of a scene: (rgb uint8 H×W×3, depth float32 H×W×1 metres, mask float32 H×W). `view` seeds the
    scan's pose and its sensor noise; a `pose` given replaces the seeded one (a camera path, data/sequences.py)."""
    scene_rng = np.random.default_rng(scene_seed)
    prims = _indoor(scene_rng) if domain == "indoors" else _outdoor(scene_rng)
    light = scene_rng.normal(size=3) + np.array([0.3, 2.0, -0.8])
    light /= np.linalg.norm(light)
    view_rng = np.random.default_rng([scene_seed, view])
    seeded = Pose.scan(view_rng)  # drawn either way: the noise that follows comes from the same stream
    pose = pose or seeded
    d = _rays(size, FOV_DEG, pitch=pose.pitch, yaw=pose.yaw)
    o = np.array([pose.x, 0.0, pose.z])
    hit = _Hit.empty(len(d))
    for kind, args in prims:
        {"plane": _plane, "box": _box, "sphere": _sphere}[kind](hit, o, d, *args)

    # Camera-space z-depth: t is along rays whose camera-space z component is 1.
    z = hit.t
    far = ~np.isfinite(z) | (z > SCANNER_RANGE)
    shade = 0.35 + 0.65 * np.clip(hit.normal @ light, 0, 1)
    colour = hit.albedo * (shade * _texture(hit.uv, hit.pattern, scene_rng.uniform(0, 6)))[:, None]
    if domain == "indoors":
        colour *= (1.0 / (1 + 0.04 * np.nan_to_num(z, posinf=0)))[:, None]  # falloff of the room light
    else:
        haze = 1 - np.exp(-np.nan_to_num(z, posinf=0) / 120)
        colour = colour * (1 - haze[:, None]) + np.array([0.7, 0.78, 0.85]) * haze[:, None]
    h, w = size
    sky_t = np.clip(d[:, 1] / np.linalg.norm(d, axis=1), 0, 1)[:, None]
    sky = np.array([0.75, 0.85, 0.95]) * (1 - sky_t) + np.array([0.3, 0.5, 0.85]) * sky_t
    colour = np.where(far[:, None], sky, colour)
    colour += view_rng.normal(0, 0.015, colour.shape)
    rgb = (np.clip(colour, 0, 1) * 255).round().astype(np.uint8).reshape(h, w, 3)

    depth = np.where(far, 0.0, z).astype(np.float32)
    mask = (~far).astype(np.float32)
    if domain == "indoors":  # sensor dropouts, as on DIODE's shiny surfaces
        holes = view_rng.random(len(d)) < 0.01
        mask[holes] = 0.0
        depth[holes] = 0.0
    return rgb, depth.reshape(h, w, 1), mask.reshape(h, w)


def generate(
    out_dir: str | os.PathLike,
    count: int,
    seed: int = 0,
    size: tuple[int, int] = (192, 256),
    progress: Progress = silent,
    layout: str = "diode",
) -> Path:
    """Write `count` scans under `out_dir` in `layout` (one of LAYOUTS); returns `out_dir`.

    Scenes hold SCANS_PER_SCENE scans each; about VAL_FRACTION of the scenes are held out (DIODE's val/,
    NYUv2's testNdxs, KITTI's val/). The set is written beside `out_dir` in a hidden folder and renamed
    into place whole, so an interrupted run leaves no partial dataset at `out_dir`. `out_dir` must be new
    or empty, or already hold exactly what this call writes (then nothing is written): existing data is
    never overwritten, nor mixed with other scans."""
    out_dir = Path(out_dir)
    if layout not in WRITERS:
        raise EdgeDepthError(f"synthetic layout {layout!r} is not one of {', '.join(LAYOUTS)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise EdgeDepthError(f"the seed must be a non-negative integer (got {seed!r})")
    if count < 1:
        raise EdgeDepthError(f"the number of scans must be at least 1 (got {count})")
    check_fits(BYTES_PER_PIXEL * size[0] * size[1], f"rendering a {size[0]}x{size[1]} scan", "choose a smaller size")
    plan = _plan(count, seed, DOMAINS.get(layout, ("indoors", "outdoor")))
    if layout == "ultralytics" and not any(scan.split == "val" for scan in plan):
        raise EdgeDepthError(f"{count} scans give no held-out scene, and Ultralytics' layout needs a val split; "
                             f"synthesise at least {4 * SCANS_PER_SCENE} scans")
    settings = {"format": MARKER_FORMAT, "layout": layout, "count": count, "seed": seed, "size": list(size)}
    existing = _existing_synth(out_dir, settings)
    if not is_writable_location(out_dir.parent):
        raise EdgeDepthError(f"cannot write the data set into {out_dir}: its folder is not writable; choose another folder")
    try:
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.synth-", dir=out_dir.parent))
    except OSError as exc:
        raise EdgeDepthError(f"cannot write the data set into {out_dir}: {exc.strerror or exc}; choose another folder")
    try:
        advance = counter(progress, "synthesising", len(plan))

        def frames() -> Iterator[Frame]:
            for scan in plan:
                yield Frame(scan, *render(scan.domain, size, scan.scene_seed, scan.scan))
                advance()

        WRITERS[layout](staging, plan, frames())
        (staging / MARKER).write_text(json.dumps(settings) + "\n")
        if existing:
            difference = _first_difference(staging, out_dir)
            if difference:
                raise EdgeDepthError(f"{out_dir} holds this synthetic dataset with changes ({difference}); choose a new "
                                     "folder (synth never overwrites data)")
            return out_dir
        os.replace(staging, out_dir)  # onto a missing or empty folder: the whole set appears at once
    except OSError as exc:  # a full disk, a folder made read-only meanwhile
        raise EdgeDepthError(f"cannot write the data set into {out_dir}: {exc.strerror or exc}; free space or choose "
                             "another folder")
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return out_dir


def _existing_synth(out_dir: Path, settings: dict) -> bool:
    """Whether `out_dir` holds a synthetic set made with `settings` (to compare once rendered); False when it
    is missing or empty; a one-line refusal when it holds anything else."""
    if not out_dir.exists() or (out_dir.is_dir() and not any(out_dir.iterdir())):
        return False
    if not out_dir.is_dir():
        raise EdgeDepthError(f"{out_dir} is a file; give a new or empty folder for the data set")
    try:
        made = json.loads((out_dir / MARKER).read_text())
    except (OSError, ValueError):
        raise EdgeDepthError(f"{out_dir} already holds files; give a new or empty folder (synth never writes into "
                             "existing data)")
    if made != settings:
        was = ", ".join(f"{k} {made.get(k)} (asked: {settings[k]})" for k in ("layout", "count", "seed", "size")
                        if made.get(k) != settings[k])
        raise EdgeDepthError(f"{out_dir} holds a synthetic dataset made with other settings: {was}; give a new or "
                             "empty folder (synth never overwrites data)")
    return True


def _first_difference(made: Path, existing: Path) -> str | None:
    """The first file (relative path) that differs between two trees, is missing or is extra; None if equal."""
    ours, theirs = _files(made), _files(existing)
    for relative in sorted(ours ^ theirs):
        return f"{relative} {'missing' if relative in ours else 'added'}"
    for relative in sorted(ours):
        if (made / relative).read_bytes() != (existing / relative).read_bytes():
            return f"{relative} changed"
    return None


def _files(root: Path) -> set[Path]:
    return {p.relative_to(root) for p in root.rglob("*") if p.is_file()}


def _plan(count: int, seed: int, domains: tuple[str, ...]) -> list[Scan]:
    """Each scan's place: scenes of SCANS_PER_SCENE scans, domains alternating by scene, the last
    round(VAL_FRACTION × scenes) scenes held out (none below 4 scenes)."""
    n_scenes = max(1, -(-count // SCANS_PER_SCENE))
    n_val = round(n_scenes * VAL_FRACTION) if n_scenes >= 4 else 0
    seeds = np.random.SeedSequence(seed).generate_state(n_scenes)
    plan = []
    for scene in range(n_scenes):
        split = "val" if scene >= n_scenes - n_val else "train"
        for position in range(SCANS_PER_SCENE):
            if len(plan) < count:
                plan.append(Scan(split, domains[scene % len(domains)], scene, scene * SCANS_PER_SCENE + position, position,
                                 int(seeds[scene])))
    return plan
