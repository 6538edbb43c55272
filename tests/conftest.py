import pytest


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="run slow full-size (ResNet50@512) cases")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow full-size case: run with --runslow (benchmarks/ does)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def random_checkpoint(tmp_path_factory):
    """An untrained lraspp_mobilenet_v3_large checkpoint at 64×64 (fixed seed): fast, for plumbing tests."""
    import torch

    from edgedepth.models import create_model, save_checkpoint

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "random.pt"
    return save_checkpoint(path, create_model("lraspp_mobilenet_v3_large"), {"arch": "lraspp_mobilenet_v3_large", "input_size": (64, 64)})


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A small synthetic DIODE tree: 24 scans at 64×64 (train + val, indoors + outdoor), seed 0."""
    from edgedepth.data.synthetic import generate

    return generate(tmp_path_factory.mktemp("diode") / "diode", 24, seed=0, size=(64, 64))


@pytest.fixture(scope="session")
def trained_checkpoint(tmp_path_factory, synthetic_root):
    """lraspp_mobilenet_v3_large at 64×64 trained 8 short epochs on `synthetic_root` (~20 s): it beats the
    constant-median baseline on the val/ split, but only modestly; for tests that need a model that learned."""
    from edgedepth.train import TrainConfig, train

    path = tmp_path_factory.mktemp("trained") / "model.pt"
    train(synthetic_root, path, TrainConfig(size=(64, 64), epochs=8, batch_size=4), progress=False, log=lambda line: None)
    return path
