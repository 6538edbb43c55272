import pytest
import torch

from edgedepth.errors import EdgeDepthError
from edgedepth.models import ARCHS, create_model, load_checkpoint, save_checkpoint
from edgedepth.spec import ModelSpec


@pytest.mark.parametrize("arch", sorted(ARCHS))
def test_every_builder_returns_n1hw_depth_not_a_dict(arch):
    model = create_model(arch).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 96))
    assert isinstance(out, torch.Tensor) and out.shape == (2, 1, 64, 96)


def test_reference_model_is_deeplabv3_resnet50_with_a_plain_one_channel_head():
    model = create_model("deeplabv3_resnet50")
    assert type(model.net).__name__ == "DeepLabV3" and model.net.aux_classifier is None
    last = model.net.classifier[-1]
    assert isinstance(last, torch.nn.Conv2d) and last.out_channels == 1


def test_checkpoint_rebuilds_the_model_from_its_metadata(tmp_path):
    torch.manual_seed(0)
    model = create_model("lraspp_mobilenet_v3_large").eval()
    path = save_checkpoint(tmp_path / "m.pt", model, ModelSpec("lraspp_mobilenet_v3_large", (64, 64)))
    loaded, meta = load_checkpoint(path)
    assert meta["arch"] == "lraspp_mobilenet_v3_large" and meta["input_size"] == [64, 64]
    assert {"depth", "preprocessing", "edgedepth_version"} <= set(meta)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(x), loaded(x))
    assert not list(tmp_path.glob(".*tmp")), "no temp file left behind"


def test_backbone_weights_load_from_a_local_file(tmp_path):
    source = create_model("lraspp_mobilenet_v3_large")
    torch.save(source.net.backbone.state_dict(), tmp_path / "backbone.pt")
    model = create_model("lraspp_mobilenet_v3_large", backbone_weights=tmp_path / "backbone.pt")
    first = next(iter(source.net.backbone.state_dict()))
    assert torch.equal(model.net.backbone.state_dict()[first], source.net.backbone.state_dict()[first])
    torch.save({"unrelated.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(EdgeDepthError, match="match no layer"):
        create_model("lraspp_mobilenet_v3_large", backbone_weights=tmp_path / "other.pt")


def test_unknown_arch_and_bad_sizes_are_clear_errors():
    with pytest.raises(EdgeDepthError, match="unknown arch 'resnet9000'"):
        create_model("resnet9000")
    def spec(arch, size):  # what train checks a size with
        return ModelSpec(arch, size, size_multiple=ARCHS[arch].size_multiple)

    with pytest.raises(EdgeDepthError, match="multiples of 16"):
        spec("lraspp_mobilenet_v3_large", (100, 64))
    assert spec("deeplabv3_resnet50", (72, 64)).input_size == (72, 64)


def test_checkpoint_of_another_arch_or_corrupt_file_is_refused(tmp_path):
    model = create_model("lraspp_mobilenet_v3_large")
    path = save_checkpoint(tmp_path / "m.pt", model, ModelSpec("deeplabv3_mobilenet_v3_large", (64, 64)))
    with pytest.raises(EdgeDepthError, match="do not fit arch 'deeplabv3_mobilenet_v3_large'"):
        load_checkpoint(path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(EdgeDepthError, match="corrupt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "plain.pt")
    with pytest.raises(EdgeDepthError, match="not an edgedepth checkpoint"):
        load_checkpoint(tmp_path / "plain.pt")
    with pytest.raises(EdgeDepthError, match="not found"):
        load_checkpoint(tmp_path / "missing.pt")
