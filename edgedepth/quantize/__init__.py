"""Float ONNX + DIODE calibration data → one Q/DQ INT8 ONNX, in the flavour its runtime runs fastest.

TensorRT 11 accepts INT8 only as explicit Q/DQ; OpenVINO and ONNX Runtime consume Q/DQ too. So the INT8
artifact is one Q/DQ ONNX calibrated once, in the form `--target` names (see `flavours`).
"""

from .evaluate import Budget
from .flavours import FLAVOURS, Flavour
from .ort_engine import METHODS
from .pipeline import ENGINES, PRODUCER, quantize_onnx

__all__ = ["ENGINES", "FLAVOURS", "METHODS", "PRODUCER", "Budget", "Flavour", "quantize_onnx"]
