"""Which Q/DQ flavour OpenVINO runs faster on this CPU: UINT8 asymmetric or INT8 symmetric activations.

The `--target openvino` flavour is whichever wins here (see edgedepth/quantize/flavours.py). Both INT8
models come from one cached calibration; float and both INT8 models are timed in interleaved rounds, so
a burst of load from another process hits all three alike, and the best round's median is reported.

    python benchmarks/quantize_flavours.py                 # MobileNetV3 archs at 256: ≈ 2 min on 2 cores
    python benchmarks/quantize_flavours.py --size 512 --archs deeplabv3_resnet50
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from bench_cpu import WORK, random_checkpoint, synthetic_data

from edgedepth.export import export_onnx
from edgedepth.quantize import quantize_onnx
from edgedepth.quantize.evaluate import median_latency_ms, openvino_runner

FLAVOURS = {"uint8 asymmetric": "onnxruntime", "int8 symmetric": "tensorrt"}  # label → the target emitting it


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--samples", type=int, default=32, help="calibration images")
    args = parser.parse_args()
    data = synthetic_data(args.size)
    for arch in args.archs:
        folder = WORK / "flavours" / f"{arch}-{args.size}"
        models = {"fp32": export_onnx(random_checkpoint(arch, args.size), folder / "model.onnx")}
        for label, target in FLAVOURS.items():
            models[label] = quantize_onnx(models["fp32"], data, folder / f"model.{target}.onnx", target=target,
                                          samples=args.samples)
        print(arch, args.size, *(f"{label}: {ms:.2f} ms" for label, ms in time_models(models, args).items()), sep="  ")


def time_models(models: dict[str, Path], args) -> dict[str, float]:
    batch = np.random.default_rng(0).standard_normal((1, 3, args.size, args.size), dtype=np.float32)
    rounds: dict[str, list[float]] = {label: [] for label in models}
    for _ in range(args.rounds):
        for label, path in models.items():
            with openvino_runner(path) as runner:
                rounds[label].append(median_latency_ms(runner, batch))
    return {label: min(values) for label, values in rounds.items()}


if __name__ == "__main__":
    main()
