"""Synthetic DIODE: scenes ray-cast in numpy, written in exactly DIODE's layout, names and dtypes.

Indoor scans are rooms (floor, walls, ceiling) holding boxes and spheres; outdoor scans are a ground plane with
buildings and trees under a sky that is masked invalid, as in outdoor DIODE. As in DIODE, outdoor depth stays
valid out to the scanner's range (the ground near the horizon lies beyond any model's 80 m), so evaluation
must decide what to do with it (its window), not the data. RGB and depth come from the same
ray hits (z-depth in metres), so they agree geometrically; surfaces carry procedural textures and Lambert
shading, so a network has real monocular cues (texture gradients, occlusion, shading, horizon) to learn from.
Each scene is scanned from a few nearby camera poses, all with one camera (fixed 60° field of view, near-level,
tripod height) as DIODE was scanned with one instrument. Everything is drawn from one seed: same seed, same bytes.
This is the project's embedded default data: nothing is ever downloaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..artifacts import atomic_path, is_writable_location
from ..errors import EdgeDepthError
from ..memory import check_fits

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
    progress: bool = False,
) -> Path:
    """Write `count` scans (half indoors, half outdoor) under `out_dir` in DIODE's layout; returns `out_dir`.

    Scenes hold SCANS_PER_SCENE scans each; about VAL_FRACTION of the scenes go to val/, the rest to train/."""
    out_dir = Path(out_dir)
    check_fits(BYTES_PER_PIXEL * size[0] * size[1], f"rendering a {size[0]}x{size[1]} scan", "choose a smaller size")
    if not is_writable_location(out_dir):
        raise EdgeDepthError(f"cannot write the data set into {out_dir}: the location is not writable; choose another folder")
    jobs = _plan(count, seed)
    if progress:
        from rich.progress import track

        jobs = track(jobs, description="synthesising", transient=True)
    for split, domain, scene, scan, scene_seed in jobs:
        rgb, depth, mask = render(domain, size, scene_seed, scan)
        write_scan(out_dir / split / domain, scene, scan, rgb, depth, mask)
    return out_dir


def write_scan(domain_dir: Path, scene: int, scan: int, rgb: np.ndarray, depth: np.ndarray, mask: np.ndarray) -> Path:
    """Write one scan under `domain_dir` (a `<split>/<domain>` folder) with DIODE's folder and file names;
    returns its RGB image's path."""
    folder = domain_dir / f"scene_{scene:05d}" / f"scan_{scan:05d}"
    stem = f"{scene:05d}_{scan:05d}_{domain_dir.name}_{scan:03d}_000"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / f"{stem}.png") as tmp:
            Image.fromarray(rgb).save(tmp, format="PNG")
        for name, array in ((f"{stem}_depth.npy", depth), (f"{stem}_depth_mask.npy", mask)):
            with atomic_path(folder / name) as tmp, open(tmp, "wb") as fh:
                np.save(fh, array)
    except OSError as exc:  # a full disk, a folder made read-only meanwhile
        raise EdgeDepthError(f"cannot write scan {stem} into {folder}: {exc.strerror or exc}; free space or choose "
                             "another folder")
    return folder / f"{stem}.png"


def _plan(count: int, seed: int) -> list[tuple[str, str, int, int, int]]:
    """(split, domain, scene number, scan number, scene seed) for each scan, domains alternating by scene."""
    n_scenes = max(1, -(-count // SCANS_PER_SCENE))
    n_val = round(n_scenes * VAL_FRACTION) if n_scenes >= 4 else 0
    seeds = np.random.SeedSequence(seed).generate_state(n_scenes)
    jobs = []
    for scene in range(n_scenes):
        domain = ("indoors", "outdoor")[scene % 2]
        split = "val" if scene >= n_scenes - n_val else "train"
        for scan in range(SCANS_PER_SCENE):
            if len(jobs) < count:
                jobs.append((split, domain, scene, scene * SCANS_PER_SCENE + scan, int(seeds[scene])))
    return jobs
