import math

import numpy as np
import pytest
from scipy import ndimage

from edgedepth.data.synthetic import render
from edgedepth.errors import EdgeDepthError
from edgedepth.measure.edges import (
    DBE_TRUNCATION_PX,
    EDGE_JUMP,
    EDGE_JUMP_WEAK,
    boundary_errors,
    depth_edges,
    edge_errors,
    mean_edge_errors,
)


def room(shift: int = 0, size=(64, 96)) -> np.ndarray:
    """A box 2 m in front of a wall 4 m away, and a doorway to a room 8 m away; `shift` moves both right."""
    depth = np.full(size, 4.0)
    depth[12:52, 24 + shift:56 + shift] = 2.0
    depth[:, 80 + shift:] = 8.0
    return depth


def stripes(shift: int = 0) -> np.ndarray:
    """Vertical steps only (2 m | 4 m | 8 m), so a horizontal shift moves every edge by `shift` pixels."""
    depth = np.full((48, 96), 2.0)
    depth[:, 32 + shift:] = 4.0
    depth[:, 64 + shift:] = 8.0
    return depth


def test_a_perfect_prediction_scores_zero_even_through_dropouts():
    truth = room()
    valid = np.random.default_rng(0).random(truth.shape) > 0.02
    prediction = np.where(valid, truth, 99.0)  # what the prediction holds where the truth has none never counts
    errors = edge_errors(prediction, truth, valid)
    assert errors["edge_pixels"] > 0
    assert errors["edge_acc_px"] == errors["edge_comp_px"] == errors["edge_band_mae"] == errors["edge_band_abs_rel"] == 0


@pytest.mark.parametrize("k", [1, 2, 3])
def test_an_edge_shifted_by_k_pixels_is_k_pixels_off(k):
    errors = edge_errors(stripes(k), stripes())
    assert errors["edge_acc_px"] == pytest.approx(k) and errors["edge_comp_px"] == pytest.approx(k)
    assert errors["edge_band_mae"] > 0


def test_a_constant_offset_moves_no_edge_and_reads_as_the_offset_in_the_band():
    errors = edge_errors(room() + 0.3, room())
    assert errors["edge_acc_px"] == 0 and errors["edge_comp_px"] == 0
    assert errors["edge_band_mae"] == pytest.approx(0.3)
    scaled = edge_errors(room() * 1.5, room())  # log depth: a scale moves no edge either
    assert scaled["edge_acc_px"] == 0 and scaled["edge_comp_px"] == 0


def test_blur_costs_more_the_more_it_blurs():
    rows = [edge_errors(ndimage.gaussian_filter(room(), sigma, mode="nearest"), room()) for sigma in (1, 2, 4)]
    for key in ("edge_acc_px", "edge_comp_px", "edge_band_mae"):
        values = [row[key] for row in rows]
        assert 0 < values[0] < values[1] < values[2], key


def test_the_thresholds_are_relative_depth_jumps():
    def step(ratio):
        depth = np.full((32, 32), 3.0)
        depth[:, 16:] = 3.0 * ratio
        return depth_edges(depth).any()

    assert step(1 + EDGE_JUMP * 1.05) and step(1 / (1 + EDGE_JUMP * 1.05))  # nearer or farther, either way
    assert not step(1 + EDGE_JUMP * 0.95)
    assert EDGE_JUMP_WEAK < EDGE_JUMP


def test_the_edge_of_the_sky_is_no_depth_edge():
    rgb, depth, mask = render("outdoor", (96, 128), scene_seed=3, view=0)
    depth, valid = depth[..., 0], mask > 0
    edges = depth_edges(depth, valid)
    boundary = valid & ~ndimage.binary_erosion(valid, np.ones((3, 3), dtype=bool))
    assert not (edges & boundary).any() and edges.any()


def test_boundary_errors_follow_ibims_truncation_and_empty_cases():
    target = np.zeros((40, 40), dtype=bool)
    target[:, 10] = True
    far = np.zeros_like(target)
    far[:, 30] = True  # 20 px away: beyond θ
    assert boundary_errors(far, target) == (DBE_TRUNCATION_PX, DBE_TRUNCATION_PX)
    assert boundary_errors(np.zeros_like(target), target) == (DBE_TRUNCATION_PX, DBE_TRUNCATION_PX)
    assert all(math.isnan(v) for v in boundary_errors(far, np.zeros_like(target)))
    near_and_far = far.copy()
    near_and_far[:, 12] = True
    accuracy, completeness = boundary_errors(near_and_far, target)
    assert accuracy == pytest.approx(2)  # only edges within θ count for accuracy
    assert completeness == pytest.approx((40 * 2 + 40 * DBE_TRUNCATION_PX + 40 * 2) / 120)  # invented ones do here


def test_images_without_target_edges_are_left_out_of_the_mean():
    flat = edge_errors(np.full((32, 32), 2.0), np.full((32, 32), 2.0))
    assert flat["edge_pixels"] == 0 and math.isnan(flat["edge_acc_px"])
    shifted = edge_errors(stripes(2), stripes())
    mean = mean_edge_errors([flat, shifted, edge_errors(stripes(), stripes())])
    assert mean["edge_acc_px"] == pytest.approx(1) and mean["edge_pixels"] == 2 * shifted["edge_pixels"]


def test_a_broken_prediction_is_refused():
    with pytest.raises(EdgeDepthError, match="not positive finite"):
        edge_errors(np.full((8, 8), np.nan), np.ones((8, 8)))
    with pytest.raises(EdgeDepthError, match="shape"):
        edge_errors(np.ones((8, 9)), np.ones((8, 8)))
