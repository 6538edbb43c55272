"""ONNX Runtime engine: activation statistics collected once (in chunks, cached), then Q/DQ per flavour.

The statistics (per-tensor min/max, entropy or percentile thresholds) do not depend on the flavour or on
which layers stay float, so they are cached on disk under a key made of the source ONNX hash, the
calibration manifest hash and the method: emitting another flavour, or each step of the accuracy-budget
search, reuses them instead of re-running the calibration set.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..artifacts import atomic_path
from ..calibration import CalibrationSet
from .flavours import Flavour
from .float_layers import with_float_layers

METHODS = ("minmax", "entropy", "percentile")
#: Samples per calibrator pass. Histogram calibrators hold every activation of a pass in RAM; measured for
#: deeplabv3_resnet50 at 512², entropy: peak RSS 2.4 GB with 1 sample per pass (8 samples, 22 s), 4.3-5.2 GB
#: with 2 (8 or 16 samples: the peak does not grow with the sample count), and passes of 1 were no slower.
CHUNK = 1
STATS_VERSION = "2"


def cache_dir() -> Path:
    """Where statistics are cached: $EDGEDEPTH_CACHE or ~/.cache/edgedepth, sub-folder calibration-stats."""
    root = os.environ.get("EDGEDEPTH_CACHE") or Path.home() / ".cache" / "edgedepth"
    return Path(root) / "calibration-stats"


class OrtQuantizer:
    """Holds the statistics of one (source ONNX, calibration set, method); writes Q/DQ models from them."""

    engine = "ort"
    targets = ("tensorrt", "onnxruntime", "openvino")
    methods = METHODS

    def __init__(self, source: Path, source_sha256: str, calibration: CalibrationSet, method: str, progress=None):
        self.source = Path(source)
        self.method = method
        key = hashlib.sha256(
            f"{STATS_VERSION}:{source_sha256}:{calibration.manifest['sha256']}:{method}".encode()
        ).hexdigest()[:32]
        self.stats_path = cache_dir() / f"{key}.json"
        self.stats_cached = self.stats_path.is_file()
        if not self.stats_cached:
            self._collect(calibration, progress)

    @functools.cached_property
    def source_model(self):
        """The float ONNX, read once: every model written with layers kept float borrows its tensors."""
        import onnx

        return onnx.load(self.source)

    def _collect(self, calibration: CalibrationSet, progress) -> None:
        from onnxruntime.quantization.calibrate import create_calibrator, save_tensors_data

        with tempfile.TemporaryDirectory(prefix="edgedepth-calib.") as tmp:
            calibrator = create_calibrator(
                self.source,
                augmented_model_path=str(Path(tmp) / "augmented.onnx"),
                calibrate_method=_ort_method(self.method),
                # Two-sided ranges for every method, so the statistics serve symmetric and asymmetric flavours
                # alike; it also keeps percentile off ORT's |x| histogram, which numpy refuses for a tensor
                # spanning a few float32 ulps (a saturated sigmoid): "Too many bins for data range".
                extra_options={"symmetric": False},
            )
            for start in range(0, len(calibration), CHUNK):
                calibrator.collect_data(calibration.data_reader(start=start, stop=start + CHUNK))
                if progress:
                    progress(min(CHUNK, len(calibration) - start))
            stats = calibrator.compute_data()
        with atomic_path(self.stats_path) as tmp_stats:
            save_tensors_data(stats, tmp_stats)

    def write(self, output: Path, flavour: Flavour, keep_float: Sequence[str] = ()) -> None:
        """Write the Q/DQ model for `flavour` to `output`, leaving the nodes named in `keep_float` float."""
        import onnx
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        quantize_static(
            str(self.source),
            str(output),
            calibration_data_reader=None,
            calibration_cache_path=self.stats_path,
            calibrate_method=_ort_method(self.method),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QInt8 if flavour.signed_activations else QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            nodes_to_exclude=list(keep_float),
            extra_options={
                "ActivationSymmetric": flavour.symmetric_activations,
                "WeightSymmetric": True,
                "AddQDQPairToWeight": flavour.tensorrt_weights,
                "QuantizeBias": not flavour.tensorrt_weights,
            },
        )
        if keep_float:  # ORT leaves an excluded node's input activation quantized: rewire it to float too
            onnx.save(with_float_layers(onnx.load(output), self.source_model, keep_float), output)


def _ort_method(method: str):
    from onnxruntime.quantization import CalibrationMethod

    return {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
            "percentile": CalibrationMethod.Percentile}[method]
