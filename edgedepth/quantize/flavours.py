"""Which Q/DQ form each runtime accepts and runs fastest: one Flavour per `--target`."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Flavour:
    target: str
    signed_activations: bool  # INT8 (True) or UINT8 (False) activations
    symmetric_activations: bool  # every activation zero point 0
    why: str

    def describe(self) -> dict:
        return {
            "activations": ("int8" if self.signed_activations else "uint8")
            + (" symmetric" if self.symmetric_activations else " asymmetric"),
            "weights": "int8 symmetric per-channel",
            "why": self.why,
        }


FLAVOURS: dict[str, Flavour] = {
    "tensorrt": Flavour(
        "tensorrt", True, True,
        "TensorRT explicit quantization accepts only INT8 Q/DQ with zero point 0",
    ),
    "onnxruntime": Flavour(
        "onnxruntime", False, False,
        "ONNX Runtime's AVX2 kernels run UINT8 activations fast; symmetric INT8 activations run slower than FP32",
    ),
    "openvino": Flavour(
        "openvino", False, False,
        "OPENVINO_WHY",
    ),
}
TARGETS = tuple(FLAVOURS)
