import numpy as np
import pytest

from edgedepth.data.transforms import PREPROCESSING, augment, preprocess, resize_nearest
from edgedepth.errors import EdgeDepthError


def test_preprocess_is_imagenet_normalised_nchw_float32():
    image = np.full((4, 6, 3), 255, np.uint8)
    x = preprocess(image, (8, 12))
    assert x.shape == (1, 3, 8, 12) and x.dtype == np.float32
    expected = (1.0 - np.array(PREPROCESSING["mean"])) / np.array(PREPROCESSING["std"])
    assert np.allclose(x[0, :, 0, 0], expected, atol=1e-6)
    with pytest.raises(EdgeDepthError, match="RGB"):
        preprocess(np.zeros((4, 4, 4), np.uint8), (4, 4))
    with pytest.raises(EdgeDepthError, match="uint8"):
        preprocess(np.zeros((4, 4, 3), np.float32), (4, 4))


def test_resize_nearest_never_invents_values():
    valid = np.array([[True, False], [False, True]])
    assert set(np.unique(resize_nearest(valid.astype(np.uint8), (5, 7)))) <= {0, 1}


def test_augment_keeps_image_and_depth_aligned():
    rng = np.random.default_rng(0)
    rgb = np.zeros((32, 32, 3), np.uint8)
    rgb[:, :16] = 200  # bright left half
    depth = np.where(np.arange(32)[None, :] < 16, 1.0, 5.0).repeat(32, 0).astype(np.float32)
    flipped = 0
    for _ in range(20):
        a_rgb, a_depth, a_valid = augment(rgb, depth, np.ones_like(depth, bool), rng, (32, 32))
        assert a_depth.shape == (32, 32) and a_rgb.dtype == np.uint8
        bright_left = a_rgb[:, :4].mean() > a_rgb[:, -4:].mean()
        near_left = a_depth[:, :4].mean() < a_depth[:, -4:].mean()
        assert bright_left == near_left
        flipped += not bright_left
    assert 0 < flipped < 20
