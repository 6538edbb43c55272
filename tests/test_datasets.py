"""Every dataset layout, written by `edgedepth synth` as its documentation specifies and read back through
the one interface (`open_dataset`, `load_sample`): detected, read exactly (within the format's
quantisation), with its official splits and crop; every bad variant a one-line error or a named skip."""

import hashlib
import re
import shutil

import numpy as np
import pytest
from PIL import Image

from edgedepth.data import diode, kitti, nyuv2, synthetic, synthetic_layouts, ultralytics_depth
from edgedepth.data.datasets import check_samples, load_sample, no_ground_truth_reason, open_dataset
from edgedepth.data.synthetic import generate, render
from edgedepth.errors import EdgeDepthError

SIZE = (32, 48)
COUNT = 12  # 6 scenes: the last one held out
LAYOUTS = synthetic.LAYOUTS


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One synthetic set per layout (read-only: tests that damage data copy it first)."""
    root = tmp_path_factory.mktemp("layouts")
    return {layout: generate(root / layout, COUNT, seed=3, size=SIZE, layout=layout) for layout in LAYOUTS}


def _copy(made, layout, tmp_path):
    return shutil.copytree(made[layout], tmp_path / layout)


def _plan(layout):
    return synthetic._plan(COUNT, 3, synthetic_layouts.DOMAINS.get(layout, ("indoors", "outdoor")))


def _name(layout, scan):
    """The sample name each layout's documented file names give a planned scan."""
    return {"diode": scan.stem, "images": scan.stem, "nyuv2": f"nyu_{scan.scan + 1:04d}",
            "ultralytics": f"{scan.split}_{scan.domain}_scene_{scan.scene:05d}_scan_{scan.scan:05d}_{scan.stem}",
            "kitti": f"2011_09_26_drive_{scan.scene + 1:04d}_02_{5 + scan.position:010d}"}[layout]


#: Largest depth error a layout's storage allows: half a unit of its integer PNGs, none for float.
QUANTUM = {"diode": 0.0, "nyuv2": 0.0, "images": 0.0, "ultralytics": 0.5 / synthetic_layouts.ULTRALYTICS_DEPTH_SCALE,
           "kitti": 0.5 / kitti.DEPTH_SCALE}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_each_synthetic_layout_is_detected_and_read_back_exactly(made, layout):
    dataset = open_dataset(made[layout])
    assert dataset.layout == layout and layout in dataset.summary() and dataset.describe()["layout"] == layout
    plan = {_name(layout, scan): scan for scan in _plan(layout)}
    assert sorted(s.name for s in dataset.samples) == sorted(plan)
    check_samples(dataset.samples)
    for sample in dataset.samples:
        scan = plan[sample.name]
        rgb, depth, mask = render(scan.domain, SIZE, scan.scene_seed, scan.scan)
        truth = depth[..., 0]
        got_rgb, got_depth, valid = load_sample(sample)
        assert got_rgb.dtype == np.uint8 and np.array_equal(got_rgb, rgb)
        assert got_depth.dtype == np.float32 and valid.dtype == bool and got_depth.shape == valid.shape == SIZE
        assert np.all(got_depth[~valid] == 0)
        if layout == "images":
            assert not sample.has_depth and not valid.any()
            continue
        rendered_valid = (mask > 0) & (truth > 0)
        assert valid.any() and not (valid & ~rendered_valid).any(), "only pixels the renderer saw are valid"
        error = np.abs(got_depth[valid] - truth[valid])
        assert np.all(error <= QUANTUM[layout] + 1e-6 * truth[valid]), "beyond the format's quantisation (and float32 rounding)"
        if layout in ("diode", "ultralytics"):
            assert np.array_equal(valid, rendered_valid)
        if layout == "nyuv2":  # the Kinect's range, nothing else lost
            assert np.array_equal(valid, rendered_valid & (truth <= synthetic_layouts.KINECT_RANGE_M))
        if layout == "kitti":  # sparse, no LiDAR point above its first row or beyond its range
            top = int(synthetic_layouts.LIDAR_FIRST_ROW * SIZE[0])
            assert not valid[:top].any() and got_depth.max() <= synthetic_layouts.LIDAR_RANGE_M
            assert valid.mean() < 0.5 * rendered_valid.mean()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_official_splits_hold_out_the_planned_val_scenes(made, layout):
    part = open_dataset(made[layout]).partition()
    val = {_name(layout, scan) for scan in _plan(layout) if scan.split == "val"}
    if layout == "images":  # no split on disk: held-out scenes by hash, never on both sides
        assert part.held_out and not {s.scene_id for s in part.held_out} & {s.scene_id for s in part.training}
        return
    assert {s.name for s in part.held_out} == val and not val & {s.name for s in part.training}
    assert len(part.training) + len(part.held_out) == COUNT


def test_nyuv2_split_file_is_matlab_v5_with_one_based_indices_and_the_mat_is_matlab_v73(made):
    from scipy.io import loadmat

    splits = loadmat(made["nyuv2"] / nyuv2.SPLITS_NAME)
    test = [scan.scan + 1 for scan in _plan("nyuv2") if scan.split == "val"]
    assert splits["testNdxs"].shape == (len(test), 1) and splits["testNdxs"].ravel().tolist() == test
    assert set(splits["trainNdxs"].ravel()) | set(test) == set(range(1, COUNT + 1))
    mat = made["nyuv2"] / nyuv2.FILE_NAME
    assert mat.read_bytes()[:19] == b"MATLAB 7.3 MAT-file" and mat.read_bytes()[126:128] == b"IM"
    import h5py

    with h5py.File(mat, "r") as f:  # MATLAB's H×W×3×N seen reversed, each array with its MATLAB class
        assert f["images"].shape == (COUNT, 3, SIZE[1], SIZE[0]) and f["images"].attrs["MATLAB_class"] == b"uint8"
        assert f["rawDepths"].shape == f["depths"].shape == (COUNT, SIZE[1], SIZE[0])
        assert f["rawDepths"].dtype == np.float32 and f["rawDepths"].attrs["MATLAB_class"] == b"single"
        assert f["scenes"].attrs["MATLAB_class"] == b"cell"
        assert (np.asarray(f["depths"]) > 0).all(), "depths is the in-painted copy: no hole left"


def test_ultralytics_own_reader_reads_the_synthetic_layout_as_edgedepth_does(made, tmp_path):
    utils = pytest.importorskip("ultralytics.data.utils")
    root = _copy(made, "ultralytics", tmp_path)
    data = utils.check_det_dataset(str(root / "data.yaml"))
    assert data["depth_scale"] == synthetic_layouts.ULTRALYTICS_DEPTH_SCALE
    for sample in open_dataset(root).samples:
        assert utils.verify_image_depth((str(sample.rgb), str(sample.depth), "", data["depth_scale"]))[2] == 1
        _, depth, _ = load_sample(sample)
        assert np.array_equal(utils.load_depth(sample.depth, data["depth_scale"]), depth)


def test_ultralytics_npy_depth_and_a_smaller_depth_map_are_read(made, tmp_path):
    root = _copy(made, "ultralytics", tmp_path)
    sample = open_dataset(root).samples[0]
    _, metres, valid = load_sample(sample)
    sample.depth.unlink()
    np.save(sample.depth.with_suffix(".npy"), np.where(valid, metres, np.nan).astype(np.float32))
    again = next(s for s in open_dataset(root).samples if s.key == sample.key)
    assert again.depth.suffix == ".npy"
    _, depth, valid_again = load_sample(again)
    assert np.array_equal(depth, metres) and np.array_equal(valid, valid_again)
    np.save(again.depth, metres[::2, ::2])  # half size, same aspect: the image is brought to the depth map's size
    rgb, depth, _ = load_sample(again)
    assert rgb.shape[:2] == depth.shape == (SIZE[0] // 2, SIZE[1] // 2)


def test_a_val_only_diode_root_with_one_scene_is_a_held_out_set_on_its_own(made, tmp_path):
    root = tmp_path / "diode-val"
    shutil.copytree(made["diode"] / "val", root / "val")
    part = open_dataset(root).partition()
    assert part.training == [] and len(part.held_out) == 2 and len({s.scene_id for s in part.held_out}) == 1


def test_diode_images_of_any_suffix_are_read_or_named_never_ignored(made, tmp_path):
    root = _copy(made, "diode", tmp_path)
    sample = next(s for s in diode.find_samples(root) if s.split == "val")
    jpg = sample.rgb.with_suffix(".jpg")
    Image.open(sample.rgb).save(jpg, quality=95)
    sample.rgb.unlink()
    read = next(s for s in open_dataset(root).samples if s.rgb == jpg)
    assert read.split == "val" and load_sample(read)[2].any()
    (root / "val" / "outdoor" / "extra.jpg").write_bytes(jpg.read_bytes())
    with pytest.raises(EdgeDepthError, match="extra.jpg has no depth file"):
        open_dataset(root)


def _one_line(info) -> str:
    message = info.value.message
    assert "\n" not in message
    return message


def _files(root):
    return sorted((p.relative_to(root), p.stat().st_size) for p in root.rglob("*") if p.is_file())


def _damage(layout, root, damage):
    """Apply `damage` to the first sample of the layout under `root`; return the sample it touched."""
    sample = open_dataset(root).samples[0]
    if damage == "no depth":
        sample.depth.unlink()
    elif damage == "wrong shape":
        np.save(sample.depth, np.ones((5, 7, 1), np.float32)) if layout == "diode" else _png16(sample.depth, (5, 7))
    elif damage == "int64":
        np.save(sample.depth, np.full((*SIZE, 1), 2000, np.int64))
    elif damage == "negated":
        np.save(sample.depth, -np.load(sample.depth))
    elif damage == "8-bit png":
        Image.fromarray(np.full(SIZE, 7, np.uint8)).save(sample.depth)
    elif damage == "no scale":
        (root / "data.yaml").write_text("train: images/train\nval: images/val\n")
    elif damage == "npy 3-d":
        sample.depth.unlink()
        np.save(sample.depth.with_suffix(".npy"), np.ones((*SIZE, 2), np.float32))
    elif damage == "file list":
        (root / "data.yaml").write_text("train: train.txt\nval: images/val\ndepth_scale: 100\n")
    elif damage == "no splits.mat":
        (root / nyuv2.SPLITS_NAME).unlink()
    elif damage == "not hdf5":
        (root / nyuv2.FILE_NAME).write_bytes(b"MATLAB 5.0 MAT-file" + bytes(200))
    elif damage == "split beyond the file":
        from scipy.io import savemat

        savemat(root / nyuv2.SPLITS_NAME, {"trainNdxs": np.array([[1.0]]), "testNdxs": np.array([[COUNT + 5.0]])})
    elif damage == "raw frame missing":
        sample.rgb.unlink()
    return sample


def _png16(path, shape):
    Image.fromarray(np.ones(shape, np.uint16) * 300).save(path)


@pytest.mark.parametrize("layout, damage, message", [
    ("diode", "no depth", "has no depth file"),
    ("diode", "wrong shape", "has shape"),
    ("diode", "int64", "is int64; DIODE's <name>_depth.npy holds float metres"),
    ("diode", "negated", "is negative wherever it is not zero"),
    ("ultralytics", "no depth", "has no depth map"),
    ("ultralytics", "no scale", "needs the dataset's depth scale"),
    ("ultralytics", "8-bit png", "16-bit greyscale"),
    ("ultralytics", "wrong shape", "aspect ratios differ"),
    ("ultralytics", "npy 3-d", "is a 2-D H×W array"),
    ("ultralytics", "file list", "not a folder under"),
    ("nyuv2", "no splits.mat", "has no splits.mat beside it"),
    ("nyuv2", "not hdf5", "is not a MATLAB v7.3 (HDF5) file"),
    ("nyuv2", "split beyond the file", "not a list of 1-based image numbers"),
    ("kitti", "raw frame missing", "has no RGB frame"),
    ("kitti", "wrong shape", "KITTI's are the same size"),
])
def test_every_bad_variant_is_one_line_and_writes_nothing(made, tmp_path, layout, damage, message):
    root = _copy(made, layout, tmp_path)
    _damage(layout, root, damage)
    before = _files(root)
    with pytest.raises(EdgeDepthError) as info:
        dataset = open_dataset(root)
        check_samples(dataset.samples)  # header checks: what load_sample would refuse, found before any work
        for sample in dataset.samples:
            load_sample(sample)
    assert message in _one_line(info)
    assert _files(root) == before


@pytest.mark.parametrize("damage, message", [("int64", "is int64"), ("negated", "is negative"),
                                             ("wrong shape", "has shape")])
def test_load_sample_refuses_what_the_header_check_refuses(made, tmp_path, damage, message):
    root = _copy(made, "diode", tmp_path)
    sample = _damage("diode", root, damage)
    with pytest.raises(EdgeDepthError, match=message):
        load_sample(sample)


def test_all_nan_depth_is_no_ground_truth_with_the_reason_named(made, tmp_path):
    root = _copy(made, "diode", tmp_path)
    sample = open_dataset(root).samples[0]
    np.save(sample.depth, np.full((*SIZE, 1), np.nan, np.float32))
    _, depth, valid = load_sample(sample)
    assert not valid.any() and np.all(depth == 0)
    assert "NaN" in no_ground_truth_reason(sample)
    assert no_ground_truth_reason(open_dataset(made["images"]).samples[0]) == "no ground truth (a plain image)"


def test_kitti_drive_without_raw_rgb_is_skipped_by_name_and_all_missing_is_an_error(made, tmp_path):
    root = _copy(made, "kitti", tmp_path)
    drives = sorted((root / synthetic_layouts.KITTI_DATE).iterdir())
    shutil.rmtree(drives[0])
    dataset = open_dataset(root)
    assert [skip.name for skip in dataset.skipped] == [f"{drives[0].name}/image_02"]
    assert "no raw RGB at" in dataset.skipped[0].reason and dataset.describe()["skipped"] == [dataset.skipped[0].line()]
    assert len(dataset.samples) == COUNT - 2
    shutil.rmtree(root / synthetic_layouts.KITTI_DATE)
    with pytest.raises(EdgeDepthError, match="has its raw RGB") as info:
        open_dataset(root)
    _one_line(info)


def test_kitti_val_selection_is_held_out_and_annotated_val_then_unused(made, tmp_path):
    root = _copy(made, "kitti", tmp_path)
    selection = root / "depth_selection" / "val_selection_cropped"
    for sample in (s for s in open_dataset(root).samples if s.split == "val"):
        drive, frame = sample.scene, sample.depth.stem
        for kind, source in (("image", sample.rgb), ("groundtruth_depth", sample.depth)):
            (selection / kind).mkdir(parents=True, exist_ok=True)
            shutil.copy(source, selection / kind / f"{drive}_{kind}_{frame}_image_02.png")
    dataset = open_dataset(root)
    part = dataset.partition()
    assert {s.split for s in part.held_out} == {"val_selection"} and len(part.held_out) == 2
    assert "val" not in {s.split for s in part.training} and dataset.notes
    assert np.array_equal(load_sample(part.held_out[0])[1], load_sample(
        next(s for s in dataset.samples if s.split == "val" and s.name == part.held_out[0].name))[1])


def test_kitti_with_ground_truth_inside_the_raw_drives_is_divided_by_drive(made, tmp_path):
    root = _copy(made, "kitti", tmp_path)
    for split in ("train", "val"):
        for drive in (root / split).iterdir():
            shutil.move(drive / "proj_depth", root / synthetic_layouts.KITTI_DATE / drive.name / "proj_depth")
        shutil.rmtree(root / split)
    dataset = open_dataset(root)
    part = dataset.partition()
    assert len(dataset.samples) == COUNT and {s.split for s in dataset.samples} == {""}
    assert part.held_out and not {s.scene for s in part.held_out} & {s.scene for s in part.training}


def test_evaluation_crops_are_the_literatures_pixels():
    assert nyuv2.EIGEN_CROP.bounds(480, 640) == (45, 471, 41, 601)  # eval_mask[45:471, 41:601]
    for h, w in ((375, 1242), (352, 1216), (370, 1226)):  # Garg: int(fraction × size), as monodepth2 and BTS
        assert kitti.GARG_CROP.bounds(h, w) == (int(0.40810811 * h), int(0.99189189 * h), int(0.03594771 * w),
                                               int(0.96405229 * w))
    inside = kitti.GARG_CROP.mask(375, 1242)
    assert inside.sum() == (371 - 153) * (1197 - 44) and inside[153, 44] and not inside[152, 44]


@pytest.mark.parametrize("contents, message", [
    ({}, "is empty"),
    ({"notes.txt": b"hello"}, "holds no dataset edgedepth reads"),
])
def test_empty_and_unknown_folders_are_one_line(tmp_path, contents, message):
    for name, data in contents.items():
        (tmp_path / name).write_bytes(data)
    with pytest.raises(EdgeDepthError, match=message) as info:
        open_dataset(tmp_path)
    _one_line(info)
    with pytest.raises(EdgeDepthError, match="not found"):
        open_dataset(tmp_path / "nope")
    (tmp_path / "photo.png").write_bytes(b"")
    with pytest.raises(EdgeDepthError, match="is a file; give a dataset folder"):
        open_dataset(tmp_path / "photo.png")


def test_a_folder_holding_two_layouts_is_refused_as_ambiguous(made, tmp_path):
    root = _copy(made, "ultralytics", tmp_path)
    shutil.copytree(made["diode"] / "val", root / "val")
    with pytest.raises(EdgeDepthError, match="more than one dataset layout") as info:
        open_dataset(root)
    assert "diode" in _one_line(info) and "ultralytics" in info.value.message


def test_fingerprint_follows_names_and_sizes_not_order(made, tmp_path):
    root = _copy(made, "diode", tmp_path)
    dataset = open_dataset(root)
    print_ = dataset.fingerprint()
    assert dataset.fingerprint(list(reversed(dataset.samples))) == print_ == open_dataset(root).fingerprint()
    assert dataset.fingerprint(dataset.samples[1:]) != print_
    first = dataset.samples[0]
    np.save(first.mask, np.load(first.mask).astype(np.float64))  # same name, other size
    assert open_dataset(root).fingerprint() != print_
    np.save(first.mask, np.load(first.mask).astype(np.float32))
    assert open_dataset(root).fingerprint() == print_
    moved = first.rgb.parent.with_name("scan_09999")
    first.rgb.parent.rename(moved)  # same files, another name
    assert open_dataset(root).fingerprint() != print_


def test_ultralytics_fingerprint_covers_the_depth_scale_in_its_yaml(made, tmp_path):
    root = _copy(made, "ultralytics", tmp_path)
    was = open_dataset(root).fingerprint()
    yaml = root / ultralytics_depth.YAML_NAME
    yaml.write_text(yaml.read_text().replace("depth_scale: 100", "depth_scale: 1000"))
    assert open_dataset(root).fingerprint() != was


def _digest(root):
    h = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("layout", LAYOUTS)
def test_synth_is_deterministic_in_every_layout(made, tmp_path, layout):
    assert _digest(generate(tmp_path / "again", COUNT, seed=3, size=SIZE, layout=layout)) == _digest(made[layout])


def test_synth_refuses_existing_data_and_writes_nothing(made, tmp_path):
    root = _copy(made, "diode", tmp_path)
    before = _digest(root)
    assert generate(root, COUNT, seed=3, size=SIZE) == root and _digest(root) == before  # its own output: nothing to do
    for kwargs, message in (({"seed": 4}, "made with other settings: seed 3 (asked: 4)"),
                            ({"layout": "kitti"}, "layout diode (asked: kitti)"), ({"count": COUNT + 2}, "count 12")):
        with pytest.raises(EdgeDepthError, match=re.escape(message)) as info:
            generate(root, **{"count": COUNT, "seed": 3, "size": SIZE, **kwargs})
        _one_line(info)
    first = diode.find_samples(root)[0]
    np.save(first.depth, np.load(first.depth) * 2)
    with pytest.raises(EdgeDepthError, match=f"{first.depth.name} changed"):
        generate(root, COUNT, seed=3, size=SIZE)
    foreign = tmp_path / "mine"
    (foreign / "keep.txt").parent.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(EdgeDepthError, match="already holds files"):
        generate(foreign, COUNT, seed=3, size=SIZE)
    assert [p.name for p in foreign.iterdir()] == ["keep.txt"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "no staging folder left behind"


def test_synth_interrupted_leaves_no_partial_dataset(tmp_path, monkeypatch):
    def fail_halfway(folder, plan, frames):
        synthetic_layouts.write_diode(folder, plan, list(frames)[: len(plan) // 2])
        raise KeyboardInterrupt

    monkeypatch.setitem(synthetic.WRITERS, "diode", fail_halfway)
    with pytest.raises(KeyboardInterrupt):
        generate(tmp_path / "data", COUNT, size=SIZE)
    assert list(tmp_path.iterdir()) == []


def test_synth_negative_seed_and_unknown_layout_are_one_line(tmp_path):
    from click.testing import CliRunner

    from edgedepth.cli import main

    with pytest.raises(EdgeDepthError, match="non-negative integer"):
        generate(tmp_path / "x", 2, seed=-1, size=SIZE)
    with pytest.raises(EdgeDepthError, match="is not one of"):
        generate(tmp_path / "x", 2, size=SIZE, layout="coco")
    result = CliRunner().invoke(main, ["synth", str(tmp_path / "x"), "--seed", "-1"])
    assert result.exit_code == 2 and "-1 is not in the range" in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []
