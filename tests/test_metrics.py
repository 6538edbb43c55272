import numpy as np
import pytest

from edgedepth.errors import EdgeDepthError
from edgedepth.metrics import COUNT_KEYS, METRIC_KEYS, depth_metrics, mean_metrics

PRED = np.array([[2.0, 4.0], [1.0, 8.0]])
GT = np.array([[2.0, 2.0], [2.0, 10.0]])


def test_values_worked_out_by_hand():
    # errors 0, +2, -1, -2; ratios max(p/g, g/p) = 1, 2, 2, 1.25
    m = depth_metrics(PRED, GT)
    assert set(m) == set(METRIC_KEYS) | set(COUNT_KEYS) and m["pixels"] == 4 and m["excluded"] == 0
    assert m["mae"] == pytest.approx(5 / 4)
    assert m["rmse"] == pytest.approx(1.5)
    assert m["abs_rel"] == pytest.approx((0 + 1 + 0.5 + 0.2) / 4)
    assert m["sq_rel"] == pytest.approx((0 + 4 / 2 + 1 / 2 + 4 / 10) / 4)
    # log ratios 0, ln 2, −ln 2, ln 0.8
    assert m["rmse_log"] == pytest.approx(np.sqrt((2 * np.log(2) ** 2 + np.log(0.8) ** 2) / 4))
    assert m["log10"] == pytest.approx((2 * np.log10(2) + abs(np.log10(0.8))) / 4)
    assert m["delta1"] == pytest.approx(1 / 4)  # 1.25 itself is not < 1.25
    assert m["delta2"] == pytest.approx(2 / 4)
    assert m["delta3"] == pytest.approx(2 / 4)  # 2 > 1.25³ = 1.953


def test_mask_excludes_pixels():
    m = depth_metrics(PRED, GT, mask=np.array([[1, 0], [1, 1]]))
    assert m["mae"] == pytest.approx(1.0)
    assert m["rmse"] == pytest.approx(np.sqrt(5 / 3))
    assert m["abs_rel"] == pytest.approx((0 + 0.5 + 0.2) / 3)
    assert m["delta1"] == pytest.approx(1 / 3)


def test_invalid_ground_truth_never_scores():
    gt = np.array([[2.0, 0.0], [np.nan, -1.0]])
    m = depth_metrics(np.array([[2.0, 99.0], [99.0, 99.0]]), gt)
    assert m["mae"] == 0.0 and m["delta1"] == 1.0


def test_predictions_are_clamped_to_the_depth_range():
    m = depth_metrics(np.array([-5.0, 500.0]), np.array([1.0, 80.0]), min_depth=0.5, max_depth=80.0)
    assert m["mae"] == pytest.approx(0.25)  # |0.5 − 1| / 2 pixels, 500 clamped to 80
    assert np.isfinite(list(m.values())).all()


def test_the_window_excludes_ground_truth_outside_it_and_counts_it():
    # a perfect prediction of a scene reaching 300 m, scored by a model with an 80 m range: the 300 m pixel is
    # excluded (counted), not scored as δ1-failing against the clamped prediction; 0.05 m lies below the window
    m = depth_metrics(np.array([2.0, 40.0, 300.0, 0.05]), np.array([2.0, 40.0, 300.0, 0.05]), min_depth=0.1, max_depth=80.0)
    assert m["delta1"] == 1.0 and m["pixels"] == 2 and m["excluded"] == 2
    with pytest.raises(EdgeDepthError, match="window"):
        depth_metrics(np.array([300.0]), np.array([300.0]), max_depth=80.0)


def test_singleton_axes_are_dropped():
    m = depth_metrics(PRED[None, None], GT[:, :, None])
    assert m["mae"] == pytest.approx(1.25)


@pytest.mark.parametrize("mask", [np.zeros((2, 2)), None])
def test_all_invalid_is_a_clear_error_not_nan(mask):
    gt = GT if mask is not None else np.zeros((2, 2))
    with pytest.raises(EdgeDepthError, match="no valid ground-truth pixel"):
        depth_metrics(PRED, gt, mask=mask)


def test_broken_prediction_and_shape_mismatch_are_errors():
    with pytest.raises(EdgeDepthError, match="NaN"):
        depth_metrics(np.full((2, 2), np.nan), GT)
    with pytest.raises(EdgeDepthError, match="shape"):
        depth_metrics(np.ones((3, 2)), GT)
    with pytest.raises(EdgeDepthError, match="mask shape"):
        depth_metrics(PRED, GT, mask=np.ones((3, 3)))


def test_dataset_mean_weighs_each_image_alike():
    small = depth_metrics(np.array([2.0]), np.array([1.0]))  # one pixel, AbsRel 1
    large = depth_metrics(np.ones(100), np.ones(100))  # a hundred pixels, AbsRel 0
    assert mean_metrics([small, large])["abs_rel"] == pytest.approx(0.5)
    assert mean_metrics([small, large])["pixels"] == 101  # counts are summed
    with pytest.raises(EdgeDepthError):
        mean_metrics([])
