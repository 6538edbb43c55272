import numpy as np
import pytest

from edgedepth.data.pointcloud import Intrinsics, camera, metric_depth, point_cloud, write_ply
from edgedepth.data.synthetic import FOV_DEG, _rays, render
from edgedepth.errors import EdgeDepthError
from edgedepth.spec import OUTPUT_KINDS

PLY_TYPES = {"float": "<f4", "uchar": "u1", "double": "<f8", "int": "<i4", "uint": "<u4", "short": "<i2", "ushort": "<u2",
             "char": "i1"}


def read_ply(path):
    """A reader written from the PLY spec (not from the writer): ASCII header up to `end_header\\n`, one vertex
    element, scalar properties, binary little-endian body of exactly count × record bytes."""
    data = path.read_bytes()
    end = data.index(b"end_header\n") + len(b"end_header\n")
    lines = data[:end].decode("ascii").splitlines()
    assert lines[0] == "ply" and lines[1] == "format binary_little_endian 1.0" and lines[-1] == "end_header"
    elements = [line.split() for line in lines if line.startswith("element")]
    assert len(elements) == 1 and elements[0][1] == "vertex"
    fields = [(name, PLY_TYPES[kind]) for _, kind, name in (line.split() for line in lines if line.startswith("property"))]
    dtype = np.dtype(fields)
    count = int(elements[0][2])
    assert len(data) - end == count * dtype.itemsize
    return np.frombuffer(data, dtype, count, offset=end), [name for name, _ in fields]


def test_the_ply_of_a_synthetic_scan_reprojects_to_its_ground_truth_depth(tmp_path):
    size = (48, 64)
    rgb, depth, mask = render("indoors", size, scene_seed=5, view=0)
    cam = camera(size, fov_deg=FOV_DEG)
    points, colours = point_cloud(depth, rgb, cam, valid=mask > 0)
    vertices, names = read_ply(write_ply(tmp_path / "scan.ply", points, colours))
    assert names == ["x", "y", "z", "red", "green", "blue"] and len(vertices) == int((mask > 0).sum())

    x, y, z = (vertices[axis].astype(np.float64) for axis in "xyz")
    u, v = cam.fx * x / z + cam.cx, cam.fy * y / z + cam.cy
    rows, cols = np.nonzero(mask > 0)
    np.testing.assert_allclose(u, cols, atol=1e-3)  # each point projects back onto the pixel it came from
    np.testing.assert_allclose(v, rows, atol=1e-3)
    np.testing.assert_allclose(z, depth[rows, cols, 0], rtol=1e-6)  # at that pixel's ground-truth depth
    rays = _rays(size, FOV_DEG, pitch=0.0, yaw=0.0).reshape(*size, 3)[rows, cols]  # the renderer's own camera
    np.testing.assert_allclose(x / z, rays[:, 0], atol=1e-5)
    np.testing.assert_allclose(y / z, -rays[:, 1], atol=1e-5)  # the renderer's y is up, the PLY's down
    np.testing.assert_array_equal(np.stack([vertices[c] for c in ("red", "green", "blue")], 1), rgb[rows, cols])


def test_intrinsics_scale_with_the_image_and_agree_with_a_field_of_view():
    full = Intrinsics.from_fov(FOV_DEG, (480, 640))
    small = full.at((48, 64))
    expected = Intrinsics.from_fov(FOV_DEG, (48, 64))
    assert small.size == expected.size  # pixel centres at integers: cx = (W - 1) / 2 at every size
    np.testing.assert_allclose([small.fx, small.fy, small.cx, small.cy], [expected.fx, expected.fy, expected.cx, expected.cy])
    parsed = camera((96, 128), intrinsics="525, 525, 319.5, 239.5 @ 640x480")
    assert parsed.size == (480, 640) and parsed.at((96, 128)).cx == pytest.approx(63.5)
    assert camera((96, 128), intrinsics="100,100,63.5,47.5").size == (96, 128)  # no size: the image's own pixels


@pytest.mark.parametrize("text", ["525,525,319.5", "a,b,c,d", "525,525,319.5,239.5@640", "0,525,319.5,239.5",
                                  "525;525;319.5;239.5", ""])
def test_a_bad_intrinsics_string_is_refused_in_one_line(text):
    with pytest.raises(EdgeDepthError) as caught:
        camera((96, 128), intrinsics=text)
    assert "\n" not in caught.value.message and repr(text) in caught.value.message


def test_a_missing_camera_and_a_relative_model_are_refused_with_the_reason():
    with pytest.raises(EdgeDepthError, match="field of view") as caught:
        camera((96, 128))
    assert "\n" not in caught.value.message
    with pytest.raises(EdgeDepthError, match="not both"):
        camera((96, 128), intrinsics="1,1,1,1", fov_deg=60)
    for name in ("relative", "relative-inverse"):
        with pytest.raises(EdgeDepthError, match="no size in metres"):
            metric_depth(np.ones((4, 4)), OUTPUT_KINDS[name])
    inverse = metric_depth(np.array([[0.5, 0.0]]), OUTPUT_KINDS["inverse"])
    assert inverse[0, 0] == 2.0 and inverse[0, 1] == 0.0  # no depth where the inverse is 0: no point there
