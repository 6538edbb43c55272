"""NNCF engine (OpenVINO's post-training quantization, with fast bias correction) for the openvino target.

NNCF picks signedness per tensor for OpenVINO's kernels (UINT8 after ReLU, INT8 elsewhere) and cannot be
told to emit only INT8 (TensorRT) or only UINT8-asymmetric (ONNX Runtime) activations, so it serves the
openvino target alone. NNCF keeps no statistics cache for quantization: each call re-runs the calibration
set (the ort engine caches).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..calibration import CalibrationSet
from .flavours import Flavour


class NncfQuantizer:
    engine = "nncf"
    targets = ("openvino",)
    methods = ("minmax", "percentile")  # NNCF has no entropy calibration
    stats_path, stats_cached = None, False

    def __init__(self, source: Path, source_sha256: str, calibration: CalibrationSet, method: str, progress=None):
        self.source = Path(source)
        self.calibration = calibration
        self.method = method

    def write(self, output: Path, flavour: Flavour, keep_float: Sequence[str] = ()) -> None:
        import nncf
        import onnx
        from nncf.quantization.advanced_parameters import AdvancedQuantizationParameters
        from nncf.quantization.range_estimator import RangeEstimatorParametersSet

        ranges = RangeEstimatorParametersSet.MEAN_QUANTILE if self.method == "percentile" else RangeEstimatorParametersSet.MINMAX
        quantized = nncf.quantize(
            onnx.load(self.source),
            self.calibration.nncf_dataset(),
            subset_size=len(self.calibration),
            ignored_scope=nncf.IgnoredScope(names=list(keep_float)) if keep_float else None,
            advanced_parameters=AdvancedQuantizationParameters(activations_range_estimator_params=ranges),
        )
        onnx.save(quantized, output)
