"""edgedepth: monocular depth models made fast on edge hardware, with the accuracy cost measured.

Importing the package stays light: runtimes (onnxruntime, openvino, tensorrt) are imported only by the
backend that needs them, and `load` imports its machinery when called.

    with edgedepth.load("engines/model-openvino") as model:
        depth = model.predict(rgb)          # H×W×3 uint8 RGB, any size → H×W float32 metres
"""

from __future__ import annotations

import os

__version__ = "0.1.0"


def load(path: str | os.PathLike, device: str = "cpu", *, backend: str | None = None, threads: int | None = None,
         trust_pickle: bool = False):
    """A `DepthModel` over any edgedepth artifact: a checkpoint (.pt), an ONNX (float or Q/DQ INT8), an
    OpenVINO or ONNX Runtime build folder, a TensorRT engine folder (device "cuda"); or a model that records
    its facts: an Ultralytics depth checkpoint (with `trust_pickle`), a Hugging Face folder. See `edgedepth.runtime`."""
    from .runtime import load as load_model

    return load_model(path, device, backend=backend, threads=threads, trust_pickle=trust_pickle)
