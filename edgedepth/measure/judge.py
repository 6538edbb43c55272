"""Judging lower-precision candidates of one float model on the held-out set, through the runtime that will run
them: what quantize's accuracy budget and its summary read.

The judge is the runtime of the target when it is here (TensorRT on a GPU for a TensorRT-flavour model, ONNX
Runtime for its own flavour), OpenVINO on the CPU otherwise; it says which (`record`). The float model's
predictions are taken once, through the same runtime, so every candidate is compared with the same reference.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import RuntimeMissing
from .breakdown import breakdown
from .heldout import DELTA_KEYS, FIDELITY_KEYS, EvalSet
from .timing import median_latency_ms

#: Which runtime judges each quantize target, in order of preference; the first one usable here judges.
JUDGES = {"tensorrt": (("tensorrt", "cuda"), ("openvino", "cpu")),
          "onnxruntime": (("onnxruntime", "cpu"),),
          "openvino": (("openvino", "cpu"),)}


def judging_runtime(target: str) -> tuple[str, str, str]:
    """(backend, device, why) of the runtime that judges a `target`-flavour model here."""
    from ..backends import usable_backend

    wanted, *fallbacks = JUDGES[target]
    for backend, device in (wanted, *fallbacks):
        try:
            usable_backend(backend, device)
        except RuntimeMissing as missing:
            why = missing.message
            continue
        return backend, device, "the target's own runtime" if (backend, device) == wanted else \
            f"{wanted[0]} is not usable here ({why}), so {backend} on the {device} judged"
    raise RuntimeMissing(f"no runtime to judge a {target} model here: {why}")


class Judge:
    """Candidates (Q/DQ ONNX with their sidecars) against the float ONNX on `held_out`, through `backend`."""

    def __init__(self, held_out: EvalSet, float_onnx: Path, backend: str, device: str, why: str = "", threads: int | None = None):
        self.held_out, self.backend, self.device, self.why = held_out, backend, device, why
        self.threads = threads
        self.reference, self.float_ms = self.run(float_onnx)

    @classmethod
    def for_target(cls, held_out: EvalSet, float_onnx: Path, target: str, threads: int | None = None) -> Judge:
        return cls(held_out, float_onnx, *judging_runtime(target), threads=threads)

    @property
    def record(self) -> dict[str, Any]:
        return {"runtime": self.backend, "device": self.device, "why": self.why or "the target's own runtime",
                "held_out_samples": len(self.held_out), "held_out": self.held_out.describe()}

    def run(self, onnx: Path, timed: bool = True) -> tuple[list[np.ndarray], float | None]:
        """(predictions on the held-out images, median batch-1 latency in ms when `timed`) of one ONNX in the
        judging runtime; for TensorRT the engine is built first, in a temporary folder."""
        from ..backends import BuildOptions, CpuOptions, LoadOptions, get_backend

        backend = get_backend(self.backend)
        options = LoadOptions(device=self.device, cpu=CpuOptions(threads=self.threads))
        with tempfile.TemporaryDirectory(prefix="edgedepth-judge.") as work:
            artifact = onnx if self.backend != "tensorrt" else backend.build(onnx, Path(work), BuildOptions(device="cuda"))
            with backend.load(artifact, options) as runner:
                predictions = self.held_out.predict(runner.infer)
                return predictions, median_latency_ms(runner, self.held_out.batches[0]) if timed else None

    def compare(self, candidate: Sequence[np.ndarray]) -> dict[str, float]:
        """`EvalSet.compare` of candidate predictions with the float model's."""
        return self.held_out.compare(self.reference, candidate)

    def judgement(self, candidate: Sequence[np.ndarray], latency_ms: dict[str, float]) -> dict[str, Any]:
        """Everything a summary of the candidate says: scores, deltas, fidelity, breakdown, and latency (`latency_ms`:
        the candidate's, by name) beside float's."""
        held_out, current = self.held_out, self.compare(candidate)
        return {
            **self.record,
            "output_kind": held_out.kind.name,
            "alignment": held_out.kind.alignment,
            "float": held_out.score(self.reference),
            "int8": held_out.score(candidate),
            "deltas": {key: current[key] for key in DELTA_KEYS},
            "fidelity": {key: current[key] for key in FIDELITY_KEYS},
            "breakdown": breakdown(held_out, candidate, self.reference),
            "latency_ms": {"float": self.float_ms, **latency_ms},
            "latency_note": "median of 20 batch-1 runs after warm-up on a shared machine: indicative, noisy",
        }
