"""ModelSpec: one typed record of a model's facts, written and read back by every step."""

import pytest

from edgedepth.data.transforms import Preprocessing
from edgedepth.errors import EdgeDepthError
from edgedepth.spec import OUTPUT_KINDS, DepthRange, ModelSpec, output_kind


def test_a_spec_survives_its_record():
    spec = ModelSpec("net", (96, 128), Preprocessing(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), color="BGR"),
                     OUTPUT_KINDS["relative-inverse"], DepthRange(0.2, 20.0), size_multiple=32)
    record = spec.to_record()
    assert ModelSpec.from_record(record) == spec
    assert record["output_kind"] == "relative-inverse" and record["depth"] == {"unit": "m", "min_depth": 0.2, "max_depth": 20.0}
    assert ModelSpec.from_record({**record, "producer": "x"}) == spec  # other keys of a sidecar are not the spec's


def test_every_output_kind_says_its_unit_and_alignment():
    assert [output_kind(name).unit for name in OUTPUT_KINDS] == ["m", "1/m", "(relative)", "(relative)"]
    assert output_kind("metric").metric and not output_kind("inverse").metric
    with pytest.raises(EdgeDepthError, match="is not one of"):
        output_kind("bogus")


@pytest.mark.parametrize("change, message", [
    ({"input_size": [0, 0]}, "not two positive integers"),
    ({"input_size": [96]}, r"is not \[height, width\]"),
    ({"input_size": "96x128"}, r"is not \[height, width\]"),
    ({"input_size": [96, 130]}, "multiples of 32"),
    ({"size_multiple": 0}, "not a positive integer"),
    ({"output_kind": "bogus"}, "output kind 'bogus'"),
    ({"depth": {"unit": "m", "min_depth": 5.0, "max_depth": 1.0}}, "depth range"),
    ({"depth": {"unit": "m", "min_depth": float("nan"), "max_depth": 1.0}}, "depth range"),
    ({"preprocessing": None}, "records no preprocessing"),
    ({"preprocessing": {"mean": [float("nan")] * 3, "std": [1, 1, 1], "scale": 1, "color": "RGB",
                        "resize": "bilinear"}}, "finite"),
])
def test_a_bad_record_is_refused_in_one_line_naming_the_file(change, message):
    record = {**ModelSpec("net", (96, 128), size_multiple=32).to_record(), **change}
    with pytest.raises(EdgeDepthError, match=message) as caught:
        ModelSpec.from_record(record, "m.onnx.json")
    assert caught.value.message.startswith("m.onnx.json") and "\n" not in caught.value.message


def test_a_record_that_is_no_object_is_refused():
    with pytest.raises(EdgeDepthError, match="not a JSON object"):
        ModelSpec.from_record([1, 2], "m.onnx.json")
