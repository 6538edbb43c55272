import json
import math

import numpy as np
import pytest

from edgedepth.data.diode import find_samples, load_sample
from edgedepth.data.sequences import FRAME_STEP, ORDER_FILE, PAN, load_sequence, max_frames, render_sequence
from edgedepth.errors import EdgeDepthError


def test_a_sequence_is_a_diode_scene_with_its_frames_in_order(tmp_path):
    scene = render_sequence(tmp_path / "seq", frames=4, domain="indoors", seed=3, size=(24, 32))
    sequence = load_sequence(tmp_path / "seq")  # found below the root as well as in the scene folder
    assert sequence == load_sequence(scene)
    assert [s.scan for s in sequence.frames] == [f"scan_{i:05d}" for i in range(4)]
    assert sorted(find_samples(tmp_path / "seq"), key=lambda s: s.scan) == sequence.frames  # an ordinary DIODE root
    assert {(s.split, s.domain) for s in sequence.frames} == {("val", "indoors")}
    a, b = sequence.poses[:2]
    assert math.hypot(b.x - a.x, b.z - a.z) == pytest.approx(FRAME_STEP["indoors"]) and b.yaw - a.yaw == pytest.approx(PAN)
    first, second = (load_sample(s)[1] for s in sequence.frames[:2])
    both = (first > 0) & (second > 0)
    change = np.abs(np.log(second[both] / first[both]))
    assert 0 < np.median(change) < 0.05  # the camera moves, a little: most pixels see nearly the same depth


def test_a_sequence_refuses_a_length_it_cannot_walk_and_an_order_file_that_lies(tmp_path):
    with pytest.raises(EdgeDepthError, match=f"2 to {max_frames('outdoor')} frames"):
        render_sequence(tmp_path / "long", frames=max_frames("outdoor") + 1, domain="outdoor", size=(8, 8))
    scene = render_sequence(tmp_path / "seq", frames=2, size=(8, 8))
    with pytest.raises(EdgeDepthError, match="no sequence.json"):
        load_sequence(scene / "scan_00000")
    record = json.loads((scene / ORDER_FILE).read_text())
    (scene / ORDER_FILE).write_text(json.dumps({**record, "frames": [*record["frames"], "scan_00009/x.png"]}))
    with pytest.raises(EdgeDepthError, match="lists frame scan_00009/x.png"):
        load_sequence(scene)
