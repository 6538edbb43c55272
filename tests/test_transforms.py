import numpy as np
import pytest

from edgedepth.data.transforms import PREPROCESSING, augment, one_torch_thread, preprocess, resize_nearest
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


def test_declared_preprocessing_is_applied_and_round_trips_through_its_record():
    from edgedepth.data.transforms import IMAGENET, Preprocessing

    image = np.zeros((2, 2, 3), np.uint8)
    image[..., 0], image[..., 2] = 255, 51  # R = 255, B = 51
    spec = Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), scale=1 / 255, color="BGR")
    x = preprocess(image, (2, 2), spec)
    # BGR order: channel 0 is blue (51/255 = 0.2 → (0.2 − 0.5)/0.5 = −0.6), channel 2 red ((1 − 0.5)/0.5 = 1)
    np.testing.assert_allclose(x[0, :, 0, 0], [-0.6, -1.0, 1.0], atol=1e-6)
    assert Preprocessing.from_record(spec.record()) == spec
    assert IMAGENET.record() == PREPROCESSING and Preprocessing.from_record(PREPROCESSING) == IMAGENET
    with pytest.raises(EdgeDepthError, match="records no preprocessing"):
        Preprocessing.from_record(None)
    np.testing.assert_array_equal(preprocess(image, (2, 2)), preprocess(image, (2, 2), IMAGENET))
    with pytest.raises(EdgeDepthError, match="colour order 'XYZ'"):
        Preprocessing(color="XYZ")
    with pytest.raises(EdgeDepthError, match="incomplete"):
        Preprocessing.from_record({"mean": [0, 0, 0]})


def test_one_torch_thread_holds_torch_to_one_thread_and_restores_it_after_nested_blocks():
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(2)  # an earlier test's runner may have left torch at one thread
    try:
        with one_torch_thread():
            with one_torch_thread():
                assert torch.get_num_threads() == 1
            assert torch.get_num_threads() == 1, "the inner block does not restore early"
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_letterbox_places_the_image_centred_and_restore_depth_cuts_it_out_again():
    from edgedepth.data.transforms import Preprocessing, letterbox_window, restore_depth

    spec = Preprocessing(mean=(0, 0, 0), std=(1, 1, 1), scale=1.0, fit="letterbox", pad=(114, 114, 114))
    image = np.full((30, 60, 3), 200, np.uint8)  # 2:1 into 40×40: 20×40 at rows 10..29
    assert letterbox_window(image.shape[:2], (40, 40)) == (10, 0, 20, 40)
    x = preprocess(image, (40, 40), spec)[0]
    assert np.all(x[:, :10] == 114) and np.all(x[:, 30:] == 114) and np.allclose(x[:, 10:30], 200)
    depth = np.zeros((1, 40, 40), np.float32)
    depth[:, 10:30] = 3.0  # what the model says where the image is; the padding says 0
    np.testing.assert_allclose(restore_depth(depth, image.shape[:2], spec), np.full((30, 60), 3.0))
    assert Preprocessing.from_record(spec.record()) == spec and "letterbox" in spec.record()["resize"]
    stretched = Preprocessing()
    assert restore_depth(depth, image.shape[:2], stretched).shape == (30, 60)  # the whole map, padding and all
    with pytest.raises(EdgeDepthError, match="a letterbox fit pads with 3 pixel values"):
        Preprocessing(fit="letterbox")
    with pytest.raises(EdgeDepthError, match="a letterbox fit pads with 3 pixel values"):
        Preprocessing(pad=(0, 0, 0))
