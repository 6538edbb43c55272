import numpy as np
import pytest

from edgedepth.measure.tails import NAMED_RANGES, Tails
from edgedepth.metrics import ERROR_BINS_PER_DECADE, error_histogram, histogram_percentile

RESOLUTION = 10 ** (1 / ERROR_BINS_PER_DECADE)


@pytest.mark.parametrize("q", [50, 95, 99, 100])
def test_a_percentile_read_from_the_histogram_bounds_the_exact_one_within_its_resolution(q):
    errors = np.abs(np.random.default_rng(0).standard_t(3, 20000)) * 0.03
    exact = np.percentile(errors, q, method="inverted_cdf")
    read = histogram_percentile(error_histogram(errors), q)
    assert exact <= read <= exact * RESOLUTION


def test_histograms_of_parts_add_up_to_the_whole():
    errors = np.abs(np.random.default_rng(1).normal(0, 0.1, 5000))
    parts = error_histogram(errors[:1234]) + error_histogram(errors[1234:])
    np.testing.assert_array_equal(parts, error_histogram(errors))
    assert np.isnan(histogram_percentile(error_histogram(np.array([])), 95))


def image(near_error, far_error, near_share, pixels=4000, seed=0):
    """Error and ground-truth depth of an image whose first `near_share` of pixels lie at 1 m, the rest at 30 m."""
    rng = np.random.default_rng(seed)
    near = int(pixels * near_share)
    depth = np.r_[np.full(near, 1.0), np.full(pixels - near, 30.0)]
    error = np.r_[rng.normal(0, near_error, near), rng.normal(0, far_error, pixels - near)]
    return error, depth


def test_near_range_tails_pool_pixels_and_the_worst_image_is_one_that_sees_the_range():
    images = [image(0.01, 1.0, 0.5, seed=0), image(0.05, 1.0, 0.3, seed=1), image(5.0, 1.0, 0.005, seed=2)]
    total = Tails.empty()
    for error, depth in images:
        total = total + Tails.of_image(error, depth)
    near = NAMED_RANGES["near"]
    pooled = np.abs(np.concatenate([e[d <= 2] for e, d in images]))
    exact = np.percentile(pooled, 95, method="inverted_cdf")
    assert exact <= total.percentile(near, 95) <= exact * RESOLUTION
    # the third image's near pixels are 0.5 % of it: in the percentiles, but not an image of the near range
    assert total.worst[near] == pytest.approx(np.abs(images[1][0][images[1][1] <= 2]).mean())
    figures = total.figures("_vs_float")
    assert figures["near_p95_vs_float"] == total.percentile(near, 95) and figures["mid_p95_vs_float"] is None
    assert figures["near_worst_vs_float"] == total.worst[near]
    rows = total.rows()
    assert [row["range"] for row in rows] == ["0–2 m", "20–80 m"] and sum(row["pixels"] for row in rows) == 12000


def test_tails_add_in_any_order():
    a, b = (Tails.of_image(*image(0.02, 0.5, 0.4, seed=s)) for s in (3, 4))
    ab, ba = a + b, b + a
    np.testing.assert_array_equal(ab.counts, ba.counts)
    np.testing.assert_array_equal(ab.worst, ba.worst)
    assert (Tails.empty() + a).figures() == a.figures()
