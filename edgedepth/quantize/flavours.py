"""Which Q/DQ form each runtime accepts and runs fastest: one Flavour per `--target`.

ONNX Runtime 1.32 (CPU provider, 2 threads, batch 1, best of 5 rounds of 20-run medians) at 256²:
    lraspp_mobilenet_v3_large           fp32 12.5 ms   uint8-asym 8.2 ms    int8-sym 12.5 ms
    deeplabv3_mobilenet_v3_large        fp32 35.5 ms   uint8-asym 24.0 ms   int8-sym 62.2 ms
OpenVINO runs both forms; measured here (AMD Zen 3, AVX2, no VNNI, 2 threads, OpenVINO 2026.4, batch 1,
best of 5 rounds of 30-run medians, on a CPU shared with other jobs, so ±10 %):
    lraspp_mobilenet_v3_large 256²      fp32 6.51 ms   uint8-asym 3.54 ms   int8-sym 3.71 ms
    deeplabv3_mobilenet_v3_large 256²   fp32 28.8 ms   uint8-asym 13.6 ms   int8-sym 13.9 ms
UINT8 asymmetric activations were faster in both, by a few per cent (inside the noise), so the openvino target
uses them: at worst a tie, and the same artifact then also runs on ONNX Runtime's fast path.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavour:
    target: str
    signed_activations: bool  # INT8 (True) or UINT8 (False) activations
    symmetric_activations: bool  # every activation zero point 0
    why: str
    #: TensorRT's ONNX parser refuses an INT32 DequantizeLinear (the bias form ONNX Runtime emits: NVIDIA/TensorRT
    #: #3360, onnx/onnx-tensorrt #850), and its documented weight form is float weight → Q → DQ. The other
    #: targets keep ONNX Runtime's default (INT8-stored weights, INT32 bias), the form its integer Conv fuses.
    tensorrt_weights: bool = False

    def describe(self) -> dict:
        return {
            "activations": ("int8" if self.signed_activations else "uint8")
            + (" symmetric" if self.symmetric_activations else " asymmetric"),
            "weights": "int8 symmetric per-channel"
            + (" (float initializer → Q → DQ), float bias" if self.tensorrt_weights else ", int32 bias"),
            "why": self.why,
        }


FLAVOURS: dict[str, Flavour] = {
    "tensorrt": Flavour(
        "tensorrt", True, True,
        "TensorRT explicit quantization accepts only INT8 Q/DQ with zero point 0",
        tensorrt_weights=True,
    ),
    "onnxruntime": Flavour(
        "onnxruntime", False, False,
        "ONNX Runtime's AVX2 kernels run UINT8 activations fast; symmetric INT8 activations run slower than FP32",
    ),
    "openvino": Flavour(
        "openvino", False, False,
        "measured faster in OpenVINO than symmetric INT8 activations on AVX2 (flavours.py docstring)",
    ),
}
