import math

import numpy as np
import pytest

from edgedepth.errors import EdgeDepthError
from edgedepth.measure.temporal import change_sums, flicker_ratio, mean_from_sums, ratio_from_sums, temporal_error

FRAMES, SIZE = 12, (48, 64)


def static_scene() -> list[np.ndarray]:
    depth = np.full(SIZE, 4.0)
    depth[10:40, 20:44] = 1.5
    return [depth.copy() for _ in range(FRAMES)]


def tremble(frames, sigma, seed):
    """Each frame times exp(noise), the noise drawn afresh per frame and pixel: flicker of a known size."""
    rng = np.random.default_rng(seed)
    return [frame * np.exp(rng.normal(0, sigma, frame.shape)) for frame in frames]


def test_a_static_sequence_predicted_perfectly_does_not_flicker():
    truth = static_scene()
    assert temporal_error(truth, truth) == 0
    assert flicker_ratio(truth, truth) == 1  # neither changes: the same
    biased = [frame * 1.1 for frame in truth]  # consistently 10 % off: wrong, but steady
    assert temporal_error(biased, truth) == pytest.approx(0, abs=1e-12)


def test_a_flickering_sequence_is_measured_by_the_expected_amount():
    truth, sigma_float, sigma_int8 = static_scene(), 0.01, 0.01
    float_frames = tremble(truth, sigma_float, seed=0)
    int8_frames = tremble(float_frames, sigma_int8, seed=1)
    # |N(0, 2σ²)| has mean 2σ/√π: the change between two frames that each tremble by σ
    assert temporal_error(float_frames, truth) == pytest.approx(2 * sigma_float / math.sqrt(math.pi), rel=0.02)
    expected_ratio = math.hypot(sigma_float, sigma_int8) / sigma_float
    assert flicker_ratio(int8_frames, float_frames) == pytest.approx(expected_ratio, rel=0.02)
    assert flicker_ratio(float_frames, float_frames) == 1
    assert flicker_ratio(truth, float_frames) == 0  # a steady candidate beside a trembling reference


def test_the_ground_truths_own_change_is_not_flicker():
    truth = [np.full(SIZE, 4.0 - 0.1 * i) for i in range(FRAMES)]  # walking towards a wall
    assert temporal_error(truth, truth) == 0
    lagging = [truth[0], *truth[:-1]]  # a prediction one frame late changes when the scene did not
    assert temporal_error(lagging, truth) > 0


def test_sums_of_disjoint_pairs_add_up_to_the_whole_and_masks_count():
    truth = static_scene()
    frames = tremble(truth, 0.02, seed=2)
    pairs = [change_sums(frames[i - 1], frames[i], None, truth[i - 1], truth[i]) for i in range(1, FRAMES)]
    assert mean_from_sums(sum(pairs)) == pytest.approx(temporal_error(frames, truth))
    masks = [np.ones(SIZE, dtype=bool) for _ in range(FRAMES)]
    masks[3][:, :32] = False
    assert change_sums(frames[2], frames[3], masks[2] & masks[3])[1] == SIZE[0] * 32
    assert temporal_error(frames, truth, masks) == pytest.approx(temporal_error(frames, truth), rel=0.05)
    assert ratio_from_sums(np.array([1.0, 1]), np.array([0.0, 1])) == math.inf


def test_a_sequence_that_cannot_be_measured_is_refused_in_one_line():
    truth = static_scene()
    with pytest.raises(EdgeDepthError, match="at least 2 frames"):
        temporal_error(truth[:1], truth[:1])
    with pytest.raises(EdgeDepthError, match="12 frames against 11"):
        flicker_ratio(truth, truth[1:])
    with pytest.raises(EdgeDepthError, match="share one size"):
        temporal_error([truth[0], truth[1][:10]], truth[:2])
    with pytest.raises(EdgeDepthError, match="no pixel is valid"):
        temporal_error(truth[:2], truth[:2], [np.zeros(SIZE, dtype=bool)] * 2)
