"""measure: the one held-out set, scores inside the window, fidelity to a reference, breakdowns, alignment."""

import numpy as np
import pytest
from PIL import Image

from edgedepth.data import diode
from edgedepth.errors import EdgeDepthError
from edgedepth.measure.breakdown import Tally, breakdown, tally
from edgedepth.measure.compare import Z95
from edgedepth.measure.heldout import EvalSet, Window
from edgedepth.spec import DepthRange, ModelSpec

WINDOW = Window(0.1, 80.0)


def spec(size, kind="metric"):
    from edgedepth.spec import output_kind

    return ModelSpec("net", size, output=output_kind(kind))


def held_out_at_model_size(root, window=WINDOW, **kwargs):
    """The held-out set with ground truth at the model's 64×64, so tests can feed it back as predictions."""
    return EvalSet.held_out(root, spec((64, 64)), window, resolution="model", **kwargs)


def write_scan(root, domain, scene, depth, mask=None):
    """One DIODE scan of a 2-D depth array (the RGB is flat grey: these tests feed predictions directly)."""
    folder = root / "val" / domain / f"scene_{scene:05d}" / f"scan_{scene:05d}"
    folder.mkdir(parents=True)
    stem = f"{scene:05d}_{scene:05d}_{domain}_000_000"
    depth = np.asarray(depth, np.float32)
    Image.fromarray(np.full((*depth.shape, 3), 128, np.uint8)).save(folder / f"{stem}.png")
    np.save(folder / f"{stem}_depth.npy", depth[..., None])
    np.save(folder / f"{stem}_depth_mask.npy", np.ones(depth.shape, np.float32) if mask is None else np.asarray(mask, np.float32))


@pytest.fixture
def two_images(tmp_path):
    """2×2 ground truth in two scenes: [[2, 4], [1, 8]] indoors, [[3, 300], [6, 0.05]] outdoor (300 m beyond the
    window, 0.05 m below it)."""
    write_scan(tmp_path, "indoors", 1, [[2, 4], [1, 8]])
    write_scan(tmp_path, "outdoor", 2, [[3, 300], [6, 0.05]])
    return EvalSet(diode.find_samples(tmp_path), spec((2, 2)), WINDOW)


def test_fidelity_against_hand_computed_values(two_images):
    reference = [np.array([[2.0, 4.0], [1.0, 8.0]]), np.array([[3.0, 5.0], [6.0, 0.01]])]
    candidate = [np.array([[2.0, 5.0], [1.0, 6.0]]), np.array([[3.0, 5.0], [6.0, 0.05]])]
    f = two_images.fidelity(reference, candidate)
    # image 1: |Δ| 0, 1, 0, 2 over 2, 4, 1, 8 → deviation (0 + 1/4 + 0 + 2/8) / 4; ratios 1, 1.25, 1, 1.33 → δ1 2/4
    # image 2: 0.01 and 0.05 are both clamped to the window's 0.1 → identical
    deviations, delta1s = [0.125, 0.0], [0.5, 1.0]
    assert f["rel_deviation"] == pytest.approx(0.0625)
    assert f["rel_deviation_bound"] == pytest.approx(0.0625 + Z95 * np.std(deviations, ddof=1) / np.sqrt(2))
    assert f["delta1_vs_float"] == pytest.approx(0.75)
    assert f["delta1_vs_float_bound"] == pytest.approx(0.75 - Z95 * np.std(delta1s, ddof=1) / np.sqrt(2))
    assert f["max_abs_diff"] == pytest.approx(2.0) and f["mean_abs_diff"] == pytest.approx(0.375)
    same = two_images.fidelity(reference, reference)
    assert same["rel_deviation"] == same["rel_deviation_bound"] == 0 and same["delta1_vs_float"] == 1


def test_window_excludes_and_counts_ground_truth_beyond_the_cap(two_images):
    perfect = [image.depth for image in two_images.images]  # a perfect prediction, 300 m included
    scores = two_images.score(perfect)
    assert scores["delta1"] == 1.0 and scores["abs_rel"] == pytest.approx(0.0)  # not δ1 0.33 for the 300 m pixel
    assert scores["pixels"] == 4 + 2 and scores["excluded"] == 2  # 300 m above, 0.05 m below the window
    assert two_images.describe()["excluded_pixels"] == 2
    wide = EvalSet([image.sample for image in two_images.images], spec((2, 2)), Window(0.01, 400.0))
    assert wide.score(perfect)["pixels"] == 8 and wide.score(perfect)["excluded"] == 0


def test_window_defaults_to_the_models_range_and_refuses_an_empty_one():
    assert Window.of(DepthRange(0.1, 80.0)) == WINDOW
    assert Window.of(DepthRange(0.1, 80.0), max_depth=350) == Window(0.1, 350.0)
    with pytest.raises(EdgeDepthError, match="min depth < max depth"):
        Window.of(DepthRange(0.1, 80.0), min_depth=90)


def test_deltas_are_candidate_minus_reference_against_ground_truth_with_a_95_percent_bound(synthetic_root):
    held_out = held_out_at_model_size(synthetic_root)
    truth = [image.depth for image in held_out.images]
    same = held_out.compare(truth, truth)
    assert same["delta1_drop"] == same["abs_rel_increase"] == same["rel_deviation"] == 0
    noisy = [depth * np.float32(1.3) for depth in truth]  # every pixel leaves δ1, AbsRel rises from 0.01 to 0.3
    worse = held_out.compare([t * np.float32(1.01) for t in truth], noisy)
    assert worse["delta1_drop"] == pytest.approx(1.0) and worse["delta1_drop_bound"] >= worse["delta1_drop"]
    assert worse["abs_rel_increase"] == pytest.approx(0.29 / 0.01, rel=1e-3)


def test_breakdown_ranges_add_up_to_the_total_and_domains_to_the_headline(synthetic_root):
    held_out = held_out_at_model_size(synthetic_root, Window(0.1, 350.0))
    rng = np.random.default_rng(0)
    reference = [image.depth * rng.uniform(0.8, 1.2, image.depth.shape) + 0.5 for image in held_out.images]
    candidate = [r * rng.uniform(0.95, 1.05, r.shape) for r in reference]
    table = breakdown(held_out, candidate, reference)
    ranges, total = table["depth_ranges"], table["total"]
    assert [r["range"] for r in ranges][:2] == ["2–5 m", "5–10 m"] and ranges[-1]["range"] == "> 80 m"
    pixels = np.array([r["pixels"] for r in ranges])
    assert pixels.sum() == total["pixels"] == held_out.score(candidate)["pixels"]
    for part, key in (("metrics", "mae"), ("metrics", "abs_rel"), ("metrics", "delta1"), ("reference", "abs_rel"),
                      ("fidelity", "rel_deviation"), ("fidelity", "delta1_vs_float")):
        weighted = sum(r["pixels"] * r[part][key] for r in ranges) / pixels.sum()
        assert weighted == pytest.approx(total[part][key]), (part, key)
    assert max(r["fidelity"]["max_abs_diff"] for r in ranges) == pytest.approx(total["fidelity"]["max_abs_diff"])
    domains = table["domains"]
    assert {d["domain"] for d in domains} == {"indoors", "outdoor"} and sum(d["images"] for d in domains) == len(held_out)
    headline, fidelity = held_out.score(candidate), held_out.fidelity(reference, candidate)
    for key in ("abs_rel", "delta1"):
        assert sum(d["images"] * d["metrics"][key] for d in domains) / len(held_out) == pytest.approx(headline[key])
    assert sum(d["images"] * d["fidelity"]["rel_deviation"] for d in domains) / len(held_out) == pytest.approx(fidelity["rel_deviation"])


def test_tallies_of_parts_add_up_to_the_tally_of_the_whole(synthetic_root):
    """What lets `evaluate` score DIODE's val split in bounded chunks, and torchrun ranks their shares."""

    held_out = held_out_at_model_size(synthetic_root, Window(0.1, 350.0))
    reference = [image.depth * 1.1 + 0.3 for image in held_out.images]
    candidate = [r * 0.97 for r in reference]
    whole = tally(held_out, candidate, reference)
    halves = [held_out.subset(part) for part in ([0, 2], [1, 3])]
    added = Tally.total(tally(half, [candidate[i] for i in part], [reference[i] for i in part])
                        for half, part in zip(halves, ([0, 2], [1, 3])))
    assert added.score() == pytest.approx(whole.score())
    assert flat(added.breakdown()) == pytest.approx(flat(whole.breakdown()))


def flat(tree, prefix=""):
    """Nested dicts and lists → {"a.b.0.c": number} (pytest.approx compares flat mappings only)."""
    if isinstance(tree, dict):
        return {k: v for key, value in tree.items() for k, v in flat(value, f"{prefix}{key}.").items()}
    if isinstance(tree, list):
        return {k: v for i, value in enumerate(tree) for k, v in flat(value, f"{prefix}{i}.").items()}
    return {prefix: tree} if isinstance(tree, (int, float)) and tree is not None else {}


def test_held_out_images_are_stratified_across_domains_and_scenes(synthetic_root):
    first_two = held_out_at_model_size(synthetic_root, limit=2)
    assert first_two.describe()["domains"] == {"indoors": 1, "outdoor": 1}
    every = held_out_at_model_size(synthetic_root)
    assert all(image.sample.split == "val" for image in every.images)  # the official val/ split, never train
    assert len(every.describe()["scenes"]) == len({image.sample.scene_id for image in every.images}) >= 2
    assert every.images[0].batch.shape == (1, 3, 64, 64) and every.images[0].depth.shape == (64, 64)


@pytest.mark.parametrize("kind, raw", [
    ("inverse", lambda gt: 1 / gt),
    ("relative", lambda gt: (gt - 1.0) / 3.0),
    ("relative-inverse", lambda gt: 2.0 / gt + 0.5),
])
def test_relative_outputs_are_aligned_per_image_before_scoring(two_images, kind, raw):
    predictions = [raw(np.where(image.scored, image.depth, 1.0)) for image in two_images.images]
    aligned = two_images.score(predictions, kind)
    assert aligned["abs_rel"] == pytest.approx(0.0, abs=1e-6) and aligned["delta1"] == 1.0
    assert two_images.score(predictions)["abs_rel"] > 0.2  # scored as metric depth, the same output is wrong


def test_predictions_of_the_wrong_count_or_shape_are_refused(two_images):
    with pytest.raises(EdgeDepthError, match="1 predictions for 2"):
        two_images.score([np.ones((2, 2))])
    with pytest.raises(EdgeDepthError, match="expected 1×1×2×2"):
        two_images.predict(lambda batch: np.ones((1, 1, 3, 3), np.float32))
    assert [p.shape for p in two_images.predict(lambda batch: np.ones((1, 1, 2, 2), np.float32))] == [(2, 2), (2, 2)]
