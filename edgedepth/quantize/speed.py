"""Find the layers that run slower in INT8 than in float on this CPU, from OpenVINO's per-layer counters.

On AVX2 without VNNI some INT8 kernels lose to FP32 (measured: the heavily dilated ASPP convolutions of the
MobileNetV3 DeepLabv3 at 32×32), so a fully INT8 model can be no faster than float. OpenVINO names a
compiled convolution after its ONNX node (`<node>/WithoutBiases`, reorders end with it), which maps each
profiled kernel back to the layer `--keep-float` names.

Per-layer counters miss what keeping a layer float adds around it (dequantize/quantize, layout reorders),
so the flagged layers are only candidates: `keep_slow_layers_float` keeps them float only when the whole
model then measures faster.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

PROFILE_WARMUP, PROFILE_RUNS = 3, 20
#: A layer is slow in INT8 when it takes this much longer than in float, and loses at least MIN_LOSS_SHARE
#: of the float model's profiled time: smaller losses are within the counters' jitter on a shared CPU and
#: cost less than the conversions a float island adds.
SLOWER_BY, MIN_LOSS_SHARE = 1.1, 0.02


def layer_times_us(onnx_path: Path, layers: Sequence[str], batch: np.ndarray) -> dict[str, float]:
    """Median time per run (µs) of each named ONNX layer in OpenVINO on CPU, reorders feeding it included."""
    from ..backends import CpuOptions
    from ..backends.openvino import compile_model

    compiled = compile_model(onnx_path, CpuOptions(), profile=True)
    request = compiled.create_infer_request()
    patterns = {name: re.compile(re.escape(name) + r"(/|$)") for name in layers}
    runs: dict[str, list[float]] = defaultdict(list)
    for i in range(PROFILE_WARMUP + PROFILE_RUNS):
        request.infer({0: batch})
        if i < PROFILE_WARMUP:
            continue
        per_layer: dict[str, float] = defaultdict(float)
        for info in request.get_profiling_info():
            owner = next((name for name, pattern in patterns.items() if pattern.search(info.node_name)), None)
            if owner is not None:
                per_layer[owner] += info.real_time.total_seconds() * 1e6
        for name in layers:
            runs[name].append(per_layer.get(name, 0.0))
    return {name: float(np.median(times)) for name, times in runs.items()}


def slow_int8_layers(float_onnx: Path, int8_onnx: Path, layers: Sequence[str], batch: np.ndarray) -> list[dict]:
    """The layers of `layers` that OpenVINO runs slower in `int8_onnx` than in `float_onnx`, slowest loss first."""
    float_us = layer_times_us(float_onnx, layers, batch)
    int8_us = layer_times_us(int8_onnx, layers, batch)
    min_loss = MIN_LOSS_SHARE * sum(float_us.values())
    slow = [
        {"layer": name, "float_us": round(float_us[name], 1), "int8_us": round(int8_us[name], 1)}
        for name in layers
        if int8_us[name] > SLOWER_BY * float_us[name] and int8_us[name] - float_us[name] >= min_loss
    ]
    return sorted(slow, key=lambda row: row["float_us"] - row["int8_us"])
