import hashlib

import numpy as np
from PIL import Image

from edgedepth.data.synthetic import SCANNER_RANGE, generate, render
from edgedepth.spec import DepthRange


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


def test_synthetic_writes_exact_diode_layout_names_and_dtypes(synthetic_root):
    pngs = sorted(synthetic_root.rglob("*.png"))
    assert len(pngs) == 24
    for png in pngs:
        split, domain, scene, scan = png.relative_to(synthetic_root).parts[:4]
        assert split in {"train", "val"} and domain in {"indoors", "outdoor"}
        assert scene.startswith("scene_") and scan.startswith("scan_") and len(scene) == len("scene_00000")
        depth = np.load(png.with_name(png.stem + "_depth.npy"))
        mask = np.load(png.with_name(png.stem + "_depth_mask.npy"))
        assert depth.dtype == np.float32 and depth.shape == (64, 64, 1)
        assert mask.shape == (64, 64)
        assert np.asarray(Image.open(png)).shape == (64, 64, 3)
    splits = {p.relative_to(synthetic_root).parts[0] for p in pngs}
    domains = {p.relative_to(synthetic_root).parts[1] for p in pngs}
    assert splits == {"train", "val"} and domains == {"indoors", "outdoor"}


def test_synthetic_is_deterministic_for_a_seed(tmp_path):
    a, b, c = (generate(tmp_path / name, 4, seed=seed, size=(32, 48)) for name, seed in (("a", 1), ("b", 1), ("c", 2)))
    assert _digest(a) == _digest(b) != _digest(c)


def test_outdoor_sky_is_masked_invalid_and_depth_agrees_with_geometry():
    rgb, depth, mask = render("outdoor", (96, 128), scene_seed=3, view=0)
    depth = depth[..., 0]
    assert (mask[0] == 0).any(), "the top row should see sky"
    assert np.all(depth[mask == 0] == 0)
    # the ground plane recedes towards the horizon: valid depth in the bottom row is nearer than higher up
    bottom, middle = depth[-1][mask[-1] > 0], depth[60][mask[60] > 0]
    assert bottom.mean() < middle.mean()
    # as in DIODE, ground beyond a model's depth range stays valid out to the scanner's range; only the sky is masked
    assert depth[mask > 0].max() > DepthRange().max_depth and depth.max() <= SCANNER_RANGE
    rgb_in, d_in, m_in = render("indoors", (96, 128), scene_seed=4, view=0)
    assert m_in.mean() > 0.95 and d_in[m_in > 0].max() < 20
