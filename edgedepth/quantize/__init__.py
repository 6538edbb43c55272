"""Float ONNX + calibration data → one Q/DQ INT8 ONNX, in the flavour its runtime runs fastest.

TensorRT 11 accepts INT8 only as explicit Q/DQ; OpenVINO and ONNX Runtime consume Q/DQ too. So the INT8
artifact is one Q/DQ ONNX calibrated once, in the form its target names (`flavours`). `quantize` is the
transform; `quantize_judged` judges the result on held-out images and, given a `Budget`, keeps the layers INT8
hurts most float until the budget holds.
"""

from .budget import Budget
from .flavours import FLAVOURS, Flavour
from .judged import quantize_judged
from .ort_engine import METHODS
from .transform import ENGINES, PRODUCER, calibration_set, quantize

__all__ = ["ENGINES", "FLAVOURS", "METHODS", "PRODUCER", "Budget", "Flavour", "calibration_set", "quantize",
           "quantize_judged"]
