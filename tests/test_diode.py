import shutil

import numpy as np
import pytest

from edgedepth.data import diode
from edgedepth.errors import EdgeDepthError


def test_reader_accepts_root_split_and_scene(synthetic_root):
    everything = diode.find_samples(synthetic_root)
    assert len(everything) == 24
    train = diode.find_samples(synthetic_root / "train")
    assert 0 < len(train) < 24 and all(s.split == "train" for s in train)
    scene_dir = next((synthetic_root / "train" / "outdoor").iterdir())
    scene = diode.find_samples(scene_dir)
    assert scene and {s.scene_id for s in scene} == {f"train/outdoor/{scene_dir.name}"}


def test_invalid_pixels_are_folded_into_valid(tmp_path, synthetic_root):
    sample = diode.find_samples(synthetic_root / "train" / "outdoor")[0]
    rgb, depth, valid = diode.load_sample(sample)
    assert rgb.dtype == np.uint8 and depth.shape == valid.shape == rgb.shape[:2]
    assert not valid.all() and np.all(depth[~valid] == 0) and np.all(depth[valid] > 0)
    # a NaN, a negative depth and a masked pixel all become invalid
    work = tmp_path / "train" / "indoors" / "scene_00001" / "scan_00001"
    shutil.copytree(sample.rgb.parent, work)
    stem = sample.rgb.stem
    d = np.load(work / f"{stem}_depth.npy")
    d[0, 0, 0], d[0, 1, 0] = np.nan, -3.0
    np.save(work / f"{stem}_depth.npy", d)
    m = np.ones(d.shape[:2], np.float32)
    m[0, 2] = 0
    np.save(work / f"{stem}_depth_mask.npy", m)
    _, depth, valid = diode.load_sample(diode.find_samples(tmp_path)[0])
    assert not valid[0, :3].any() and np.isfinite(depth).all()


def test_scene_level_split_is_deterministic_and_never_shares_a_scene(synthetic_root):
    samples = diode.find_samples(synthetic_root)
    train, val = diode.split_by_scene(samples)
    assert val and train
    assert not {s.scene_id for s in train} & {s.scene_id for s in val}
    again = diode.split_by_scene(list(reversed(samples)))[1]
    assert {s.rgb for s in again} == {s.rgb for s in val}  # order-independent: scenes are picked by hash


@pytest.mark.parametrize("damage, message", [
    ("no_depth", "has no depth file"),
    ("no_mask", "has no validity mask"),
    ("wrong_shape", "has shape"),
    ("corrupt_npy", "not a readable .npy"),
])
def test_broken_samples_are_clear_errors_naming_the_file(tmp_path, synthetic_root, damage, message):
    source = diode.find_samples(synthetic_root)[0]
    folder = tmp_path / "scene_00000" / "scan_00000"
    shutil.copytree(source.rgb.parent, folder)
    depth = folder / f"{source.rgb.stem}_depth.npy"
    if damage == "no_depth":
        depth.unlink()
    elif damage == "no_mask":  # read as all-valid, it would score sky and sensor dropouts as truth
        (folder / f"{source.rgb.stem}_depth_mask.npy").unlink()
    elif damage == "wrong_shape":
        np.save(depth, np.ones((5, 7, 1), np.float32))
    else:
        depth.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(EdgeDepthError, match=message) as info:
        diode.load_sample(diode.find_samples(tmp_path)[0])
    assert source.rgb.stem in str(info.value.message)


def test_missing_and_empty_folders_are_clear_errors(tmp_path):
    with pytest.raises(EdgeDepthError, match="not found"):
        diode.find_samples(tmp_path / "nope")
    with pytest.raises(EdgeDepthError, match="no DIODE sample"):
        diode.find_samples(tmp_path)
