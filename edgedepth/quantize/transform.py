"""`quantize`: float ONNX from `edgedepth export` + a calibration set → one Q/DQ INT8 ONNX, its manifest and
sidecar. A transform: it scores nothing (quantize_judged adds the judging, bench scores its own rows).

Steps: check the source → statistics (cached) → Q/DQ in the target's flavour, leaving float the layers asked
for → optionally keep float the layers OpenVINO profiles as slower in INT8 → publish the model, then its
manifest and sidecar. `Quantization` holds one run's candidates; quantize_judged writes its candidates through
it too.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from ..artifacts import ensure_writable_parent, publishing, write_sidecar
from ..calibration import CalibrationSet
from ..data.split import Split
from ..errors import EdgeDepthError, first_line
from ..measure.heldout import describe_samples
from ..onnx_graph import compute_nodes, load_graph, precision_of
from ..progress import Progress, counter, silent
from ..sources import ModelSource, resolve_source
from .flavours import FLAVOURS
from .nncf_engine import NncfQuantizer
from .ort_engine import OrtQuantizer
from .speed import slow_int8_layers

PRODUCER = "edgedepth-quantize"
SOURCE_PRODUCER = "edgedepth-export"
ENGINES = {"ort": OrtQuantizer, "nncf": NncfQuantizer}


def calibration_set(source: ModelSource, data: str | os.PathLike | Split, samples: int, seed: int = 0) -> CalibrationSet:
    """The calibration set of a float ONNX's model: `samples` images of the data's pool, its preprocessing."""
    return CalibrationSet.pick(Split.of(data), samples, source.spec, seed)


def quantize(float_onnx: str | os.PathLike | ModelSource, calibration: CalibrationSet, output: str | os.PathLike, *,
             target: str = "openvino", method: str = "minmax", engine: str = "ort", keep_float: Sequence[str] = (),
             keep_float_slow: bool = False, manifest: str | os.PathLike | None = None, progress: Progress = silent) -> Path:
    """Write `output` (Q/DQ INT8 ONNX), its calibration manifest (default `<output stem>.calibration.json`) and
    its sidecar `<output>.json`; returns `output`. `float_onnx`: the exported ONNX, or its `load_source`."""
    with Quantization(float_onnx, calibration, output, target, method, engine, keep_float, manifest, progress) as run:
        chosen = run.write(run.keep)
        if keep_float_slow:
            chosen = run.keep_slow_layers_float(chosen)
        run.publish(chosen)
    return run.output


class Quantization:
    """One quantization run: its source, calibration statistics and flavour; candidates written into a private
    work folder (each with the sidecar a runtime needs to build it), one of them published at the end."""

    def __init__(self, float_onnx: str | os.PathLike | ModelSource, calibration: CalibrationSet, output: str | os.PathLike,
                 target: str, method: str, engine: str, keep_float: Sequence[str],
                 manifest: str | os.PathLike | None, progress: Progress):
        self.source = float_onnx if isinstance(float_onnx, ModelSource) else load_source(Path(float_onnx))
        self.keep = check_options(self.source, target, method, engine, keep_float)
        self.output = ensure_writable_parent(output)
        if self.source.artifact.resolve() == self.output.resolve():
            raise EdgeDepthError(f"output {self.output} would overwrite the float model; choose another output path")
        if calibration.spec != self.source.spec:
            raise EdgeDepthError(f"the calibration set was made for {calibration.spec.arch} at "
                                 f"{calibration.size[0]}x{calibration.size[1]}, not for {float_onnx}; pick it for this model")
        self.calibration, self.target, self.method, self.engine = calibration, target, method, engine
        self.flavour = FLAVOURS[target]
        self.manifest = Path(manifest) if manifest else self.output.with_name(
            self.output.name.removesuffix(".onnx") + ".calibration.json")
        self.progress = progress
        self.record: dict[str, Any] = {"keep_float": {"requested": list(self.keep), "slow_in_int8": [], "budget": []}}
        self._written = 0

    def __enter__(self) -> Quantization:
        # ONNX Runtime's calibrator and quantize_static write `<stem>-inferred.onnx` beside the model path they
        # are given (quant_utils.load_model_with_shape_infer): a read-only source folder broke them, and two runs
        # from one source removed each other's file. The engines get a private copy; nothing is written beside
        # the user's input.
        self._work = tempfile.TemporaryDirectory(prefix=".quantize.", dir=self.output.parent)
        self.work = Path(self._work.name)
        private = self.work / "source.onnx"
        shutil.copyfile(self.source.artifact, private)
        advance = counter(self.progress, f"quantize: calibrating on {len(self.calibration)} samples", len(self.calibration))
        with _quiet():
            self.quantizer = ENGINES[self.engine](private, self.source.hashes[str(self.source.artifact)], self.calibration,
                                                  self.method, progress=advance)
        return self

    def __exit__(self, *exc) -> None:
        self._work.cleanup()

    def write(self, keep_float: Sequence[str]) -> Path:
        """A candidate with the layers `keep_float` left float, with its sidecar (the float model's facts, INT8)."""
        self._written += 1
        path = self.work / f"candidate{self._written}.onnx"
        with _quiet():
            self.quantizer.write(path, self.flavour, keep_float)
        write_sidecar(path, self.facts(path))
        return path

    def facts(self, model: Path) -> dict[str, Any]:
        """The float model's facts, with the precision the written `model` holds (fp32 if a budget kept every
        layer float) and the target of its form."""
        return self.source.facts().with_changes(precision=precision_of(model), target=self.target).to_record()

    def keep_slow_layers_float(self, full_int8: Path) -> Path:
        """Keep float the layers OpenVINO profiles as slower in INT8, if the whole model then runs faster."""
        from ..backends import LoadOptions, get_backend
        from ..measure.timing import median_latency_ms

        layers = compute_nodes(load_graph(self.source.artifact))
        probe = self.calibration.batch(0)
        slow = slow_int8_layers(self.source.artifact, full_int8, layers, probe)
        profile = {"runtime": "openvino", "layers_profiled": len(layers), "slow_in_int8": slow, "kept": False}
        self.record["speed_profile"] = profile
        extra = [row["layer"] for row in slow if row["layer"] not in self.keep]
        if not extra:
            return full_int8
        candidate = self.write(self.keep + extra)

        def latency(onnx: Path) -> float:
            with get_backend("openvino").load(onnx, LoadOptions()) as runner:
                return median_latency_ms(runner, probe)

        before, after = latency(full_int8), latency(candidate)
        profile["latency_ms"] = {"all_int8": before, "slow_layers_float": after}
        if after >= before:
            return full_int8
        profile["kept"] = True
        self.record["keep_float"]["slow_in_int8"] = extra
        self.keep = self.keep + extra
        return candidate

    def publish(self, chosen: Path, record: dict[str, Any] | None = None) -> None:
        """Put `chosen` at the output, then the manifest, then the sidecar (how it was made, plus `record`)."""
        self.record["keep_float"]["all"] = list(self.keep) + list(self.record["keep_float"]["budget"])
        self.calibration.write_manifest(self.manifest)
        calibration = self.calibration
        with publishing(self.output) as staging:
            os.replace(chosen, staging.artifact)
            staging.sidecar = {
                "producer": PRODUCER,
                **self.facts(staging.artifact),
                "flavour": self.flavour.describe(),
                "engine": self.engine,
                "method": self.method,
                "samples": len(calibration),
                "seed": calibration.seed,
                "source_onnx": str(self.source.artifact),
                "source_onnx_sha256": self.source.hashes[str(self.source.artifact)],
                "opset": self.source.meta.get("opset"),
                "calibration": {"manifest": str(self.manifest), **calibration.manifest,
                                "drawn_from": describe_samples(calibration.samples)},
                "statistics": {"cache": self.quantizer.stats_path and str(self.quantizer.stats_path),
                               "reused": self.quantizer.stats_cached},
                **self.record,
                **(record or {}),
            }


def check_options(source: ModelSource, target: str, method: str, engine: str, keep_float: Sequence[str]) -> list[str]:
    """Refuse a choice that cannot be honoured, before any work; returns the nodes `keep_float` names."""
    _check_choice("target", target, FLAVOURS)
    _check_choice("engine", engine, ENGINES)
    _check_choice(f"method (with engine {engine})", method, ENGINES[engine].methods)
    if target not in ENGINES[engine].targets:
        raise EdgeDepthError(f"engine {engine} cannot emit the {target} flavour (NNCF picks activation signedness "
                             "itself); use engine ort")
    return resolve_patterns(keep_float, [node.name for node in load_graph(source.artifact).graph.node])


def load_source(path: Path) -> ModelSource:
    """The float ONNX of `edgedepth export`, refusing anything else in one line."""
    import onnx

    if not path.is_file():
        raise EdgeDepthError(f"ONNX model {path} not found; export one with `edgedepth export CKPT -o {path.name}`")
    try:
        onnx.checker.check_model(str(path))
    except Exception as exc:  # onnx raises DecodeError, ValidationError, OSError... for a damaged file
        raise EdgeDepthError(f"{path} is not a valid ONNX model ({first_line(exc)}); re-export it with `edgedepth export`")
    source = resolve_source(path)
    if source.precision != "fp32":
        raise EdgeDepthError(f"{path} is already quantized ({source.precision}); quantize the float ONNX from `edgedepth export`")
    if source.meta.get("producer") != SOURCE_PRODUCER:
        raise EdgeDepthError(
            f"{path} is not from edgedepth export (no {path.name}.json sidecar naming it); export the model with "
            f"`edgedepth export MODEL -o model.onnx` (an ONNX of your own too: `edgedepth export {path.name} "
            "--output-kind KIND -o model.onnx`) and quantize that"
        )
    return source


def resolve_patterns(patterns: Sequence[str], names: Sequence[str]) -> list[str]:
    """Node names matching any glob pattern (e.g. '/net/classifier/*'); a pattern matching nothing is an error."""
    chosen: list[str] = []
    for pattern in patterns:
        matches = [name for name in names if fnmatch.fnmatchcase(name, pattern)]
        if not matches:
            raise EdgeDepthError(f"keep-float pattern {pattern!r} matches no node of the model; node names look like {names[0]!r}")
        chosen += [name for name in matches if name not in chosen]
    return chosen


def _check_choice(option: str, value: str, choices) -> None:
    if value not in choices:
        raise EdgeDepthError(f"{option} {value!r} is not one of: {', '.join(choices)}")


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the calibrators' prints and ONNX Runtime's advisory log lines (they are not ours to show)."""
    import logging

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)
