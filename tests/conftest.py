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
