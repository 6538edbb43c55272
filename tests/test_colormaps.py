"""Colour scales and the labelled scale bar of depth pictures."""

import numpy as np
import pytest

from edgedepth.colormaps import COLORMAPS, captioned, colorize, nice_ticks, with_scale_bar


@pytest.mark.parametrize("name", sorted(COLORMAPS))
def test_the_ends_of_the_range_are_the_end_colours_and_invalid_is_black(name):
    values = np.array([[-1.0, 2.0, 5.0, 9.0]])
    rgb = colorize(values, 2.0, 5.0, valid=np.array([[1, 1, 1, 0]]), colormap=name)
    anchors = np.asarray(COLORMAPS[name])
    assert rgb.dtype == np.uint8 and rgb.shape == (1, 4, 3)
    assert (rgb[0, 0] == anchors[0]).all() and (rgb[0, 1] == anchors[0]).all() and (rgb[0, 2] == anchors[-1]).all()
    assert (rgb[0, 3] == 0).all()


@pytest.mark.parametrize("lo, hi, most, expected", [
    (3.2, 17.9, 5, [5.0, 10.0, 15.0]),
    (0.0, 1.0, 3, [0.0, 0.5, 1.0]),
    (0.42, 0.47, 4, [0.42, 0.44, 0.46]),
    (4.0, 4.0, 5, [4.0]),
])
def test_ticks_are_round_values_inside_the_range(lo, hi, most, expected):
    assert nice_ticks(lo, hi, most) == pytest.approx(expected)


def test_the_scale_bar_is_beside_the_picture_and_runs_low_to_high_upwards():
    picture = colorize(np.linspace(0, 1, 120 * 160).reshape(120, 160), 0.0, 1.0)
    framed = with_scale_bar(picture, 2.0, 8.0)
    assert framed.shape[0] == 120 and framed.shape[1] > 160 + 20
    assert np.array_equal(framed[:, :160], picture)
    strip = framed[:, 160 + 1]
    assert (strip[0] == COLORMAPS["viridis"][-1]).all() and (strip[-1] == COLORMAPS["viridis"][0]).all()
    assert (framed[:, 170:] < 128).any()  # the labels are drawn


def test_captioned_panels_sit_side_by_side_under_their_captions():
    red, blue = np.zeros((40, 30, 3), np.uint8), np.zeros((50, 20, 3), np.uint8)
    red[..., 0], blue[..., 2] = 255, 255
    out = captioned([("one", red), ("two", blue)], gap=8)
    caption = out.shape[0] - 50
    assert caption > 8 and out.shape[1] == 30 + 8 + 20
    assert (out[caption : caption + 40, :30] == red).all() and (out[caption:, 38:] == blue).all()
    band = out[:caption]
    assert (band[:, :30] < 128).all(-1).any() and (band[:, 38:] < 128).all(-1).any(), "each panel has its caption"
