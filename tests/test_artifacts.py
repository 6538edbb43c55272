"""The ground floor: how every artifact is published, and the ONNX facts every step shares."""

import json

import onnx
import pytest

from edgedepth.artifacts import is_finished, publishing, read_sidecar, sidecar_path
from edgedepth.onnx_graph import compute_nodes, is_quantized, precision_of


def test_publishing_puts_files_in_place_and_writes_the_sidecar_last(tmp_path):
    artifact = tmp_path / "out" / "model.xml"
    with publishing(artifact) as staging:
        staging.artifact.write_text("<net/>")
        (staging / "model.bin").write_bytes(b"weights")
        assert not artifact.exists() and not is_finished(artifact)  # nothing visible before the block ends
        staging.sidecar = {"precision": "fp32"}
    assert artifact.read_text() == "<net/>" and (artifact.parent / "model.bin").read_bytes() == b"weights"
    assert read_sidecar(artifact)["precision"] == "fp32" and is_finished(artifact)
    assert sorted(p.name for p in artifact.parent.iterdir()) == ["model.bin", "model.xml", "model.xml.json"]


def test_a_failed_step_publishes_nothing_and_removes_the_folders_it_made(tmp_path):
    artifact = tmp_path / "a" / "b" / "model.onnx"
    with pytest.raises(RuntimeError, match="boom"), publishing(artifact) as staging:
        staging.artifact.write_bytes(b"half")
        raise RuntimeError("boom")
    assert not (tmp_path / "a").exists()


def test_a_failed_rebuild_leaves_the_old_artifact_and_an_existing_folder(tmp_path):
    artifact = tmp_path / "model.onnx"
    with publishing(artifact) as staging:
        staging.artifact.write_bytes(b"old")
        staging.sidecar = {"n": 1}
    with pytest.raises(RuntimeError), publishing(artifact) as staging:
        staging.artifact.write_bytes(b"new")
        raise RuntimeError("fails before publishing")
    assert artifact.read_bytes() == b"old" and read_sidecar(artifact)["n"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx", "model.onnx.json"]


def test_an_old_sidecar_never_vouches_for_new_files(tmp_path, monkeypatch):
    """The old sidecar goes before the new files arrive: a crash in between leaves an unfinished artifact."""
    import edgedepth.artifacts as artifacts

    artifact = tmp_path / "model.onnx"
    with publishing(artifact) as staging:
        staging.artifact.write_bytes(b"old")
        staging.sidecar = {"version": "old"}
    monkeypatch.setattr(artifacts, "write_sidecar", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError), publishing(artifact) as staging:
        staging.artifact.write_bytes(b"new")
        staging.sidecar = {"version": "new"}
    assert artifact.read_bytes() == b"new" and not sidecar_path(artifact).exists() and not is_finished(artifact)


def test_a_step_that_forgets_its_sidecar_publishes_nothing(tmp_path):
    with pytest.raises(RuntimeError, match="set no sidecar"), publishing(tmp_path / "m.onnx") as staging:
        staging.artifact.write_bytes(b"x")
    assert list(tmp_path.iterdir()) == []


def test_onnx_facts(float_onnx, int8_onnx, tmp_path):
    float_model, int8_model = onnx.load(float_onnx), onnx.load(int8_onnx)
    assert not is_quantized(float_model) and is_quantized(int8_model)
    assert compute_nodes(float_model) and all(name for name in compute_nodes(float_model))
    bare = tmp_path / "bare.int8.onnx"  # no sidecar: the graph decides
    onnx.save(int8_model, bare)
    assert (precision_of(float_onnx), precision_of(bare)) == ("fp32", "int8")
    from onnxruntime.transformers.float16 import convert_float_to_float16

    onnx.save(convert_float_to_float16(float_model, keep_io_types=True), tmp_path / "half.onnx")
    assert precision_of(tmp_path / "half.onnx") == "fp16"  # float16 weights
    assert json.loads(sidecar_path(int8_onnx).read_text())["precision"] == "int8"
