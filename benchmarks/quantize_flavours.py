"""Which Q/DQ flavour OpenVINO runs faster on this CPU: UINT8 asymmetric or INT8 symmetric activations.

The `--target openvino` flavour is whichever wins here (see edgedepth/quantize/flavours.py). Both INT8
models come from one cached calibration; float and both INT8 models are timed in interleaved rounds, so
a burst of load from another process hits all three alike, and the best round's median is reported.

    python benchmarks/quantize_flavours.py                 # the MobileNetV3 reference models at 512×512
    python benchmarks/quantize_flavours.py --archs deeplabv3_resnet50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_cpu import WORK
from machine import Quiet, machine_lines
from reference_models import BENCH_SIZE, data_folder, reference_checkpoint

from edgedepth.backends import LoadOptions, get_backend
from edgedepth.export import export_onnx
from edgedepth.measure.timing import median_latency_ms
from edgedepth.quantize import calibration_set, quantize
from edgedepth.quantize.transform import load_source

FLAVOURS = {"uint8 asymmetric": "onnxruntime", "int8 symmetric": "tensorrt"}  # label → the target emitting it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=32, help="calibration images")
    args = parser.parse_args()
    data, quiet = data_folder(), Quiet()
    for arch in args.archs:
        folder = WORK / "flavours" / arch
        models = {"fp32": export_onnx(reference_checkpoint(arch), folder / "model.onnx")}
        calibration = calibration_set(load_source(models["fp32"]), data, args.samples)
        for label, target in FLAVOURS.items():
            models[label] = quantize(models["fp32"], calibration, folder / f"model.{target}.onnx", target=target)
        timings = time_models(models, args)
        print(arch, f"{BENCH_SIZE[0]}x{BENCH_SIZE[1]}", *(f"{label}: {ms:.2f} ms" for label, ms in timings.items()), sep="  ",
              flush=True)
    print("\n".join(machine_lines(quiet.end())))


def time_models(models: dict[str, Path], args) -> dict[str, float]:
    batch = np.random.default_rng(0).standard_normal((1, 3, *BENCH_SIZE), dtype=np.float32)
    rounds: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(args.rounds):
        for label, path in models.items():
            with get_backend("openvino").load(path, LoadOptions()) as runner:
                rounds[label].append(median_latency_ms(runner, batch))
    return {label: min(values) for label, values in rounds.items()}


if __name__ == "__main__":
    main()
