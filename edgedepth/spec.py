"""The facts about a model that every step shares: `ModelSpec`, after timm's `PretrainedCfg`.

Input size and the multiple its sides must keep, the preprocessing, what the output is (`OutputKind`: its unit
and how it meets ground truth) and the depth range it claims. Resolved once from what the user has
(sources.py), written into every checkpoint and sidecar with `to_record`, and read back with `from_record`,
which refuses a record that is incomplete or contradicts itself in one line. Nothing else parses these keys.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from .data.transforms import IMAGENET, Preprocessing
from .errors import EdgeDepthError


@dataclass(frozen=True)
class OutputKind:
    """What a depth network's output holds, and how it becomes metric depth before it meets ground truth."""

    name: str
    unit: str  # of its raw values, as predict labels them; relative outputs have none
    alignment: str  # recorded with every score
    inverse: bool  # the values are (proportional to) 1/depth
    relative: bool  # known up to a per-image scale and shift (aligned by least squares, MiDaS' protocol)

    @property
    def metric(self) -> bool:
        return self.name == "metric"


#: Relative outputs get the standard per-image least-squares scale and shift (Ranftl et al. 2020), in
#: inverse-depth space for relative inverse depth.
OUTPUT_KINDS: dict[str, OutputKind] = {kind.name: kind for kind in (
    OutputKind("metric", "m", "none (metric depth)", inverse=False, relative=False),
    OutputKind("inverse", "1/m", "1/x (metric inverse depth)", inverse=True, relative=False),
    OutputKind("relative", "(relative)", "per-image least-squares scale and shift in depth", inverse=False, relative=True),
    OutputKind("relative-inverse", "(relative)", "per-image least-squares scale and shift in inverse depth, then 1/x",
               inverse=True, relative=True),
)}
METRIC = OUTPUT_KINDS["metric"]


def output_kind(name: str) -> OutputKind:
    if name not in OUTPUT_KINDS:
        raise EdgeDepthError(f"output kind {name!r} is not one of: {', '.join(OUTPUT_KINDS)}")
    return OUTPUT_KINDS[name]


@dataclass(frozen=True)
class DepthRange:
    """The depths in metres a model claims to predict: the evaluation window's default, and the range training
    learns (DIODE's outdoor ground truth runs to the scanner's 350 m; 80 m is the usual outdoor bound)."""

    min_depth: float = 0.1
    max_depth: float = 80.0

    def __post_init__(self) -> None:
        low, high = self.min_depth, self.max_depth
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in (low, high)) or not 0 < low < high:
            raise EdgeDepthError(f"depth range {low}–{high} m is not 0 < min depth < max depth in finite metres")
        object.__setattr__(self, "min_depth", float(low))
        object.__setattr__(self, "max_depth", float(high))

    def record(self) -> dict[str, Any]:
        return {"unit": "m", "min_depth": self.min_depth, "max_depth": self.max_depth}

    @classmethod
    def from_record(cls, record: Any) -> DepthRange:
        if not isinstance(record, dict) or record.get("unit", "m") != "m":
            raise EdgeDepthError(f"depth range {record!r} is not {{unit: m, min_depth, max_depth}}")
        return cls(record.get("min_depth"), record.get("max_depth"))


#: The keys a record holds (checkpoint metadata and every sidecar); the C runtime reads "preprocessing".
RECORD_KEYS = ("arch", "input_size", "size_multiple", "preprocessing", "output_kind", "depth")


@dataclass(frozen=True)
class ModelSpec:
    """One model's facts. `input_size` is (H, W); with a `size_multiple` (None: the model runs at its own
    size only) both sides are multiples of it."""

    arch: str
    input_size: tuple[int, int]
    preprocessing: Preprocessing = IMAGENET
    output: OutputKind = METRIC
    depth: DepthRange = field(default_factory=DepthRange)
    size_multiple: int | None = None

    def __post_init__(self) -> None:
        size = tuple(self.input_size)
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size):
            raise EdgeDepthError(f"input size {self.input_size!r} of {self.arch} is not two positive integers (H, W)")
        object.__setattr__(self, "input_size", (int(size[0]), int(size[1])))
        multiple = self.size_multiple
        if multiple is not None and (not isinstance(multiple, int) or isinstance(multiple, bool) or multiple < 1):
            raise EdgeDepthError(f"size multiple {multiple!r} of {self.arch} is not a positive integer")
        if multiple is not None:
            check_multiple(self.input_size, multiple, self.arch)

    @property
    def output_kind(self) -> str:
        return self.output.name

    @property
    def unit(self) -> str:
        return self.output.unit

    def with_changes(self, **changes: Any) -> ModelSpec:
        return replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        """The flat keys of RECORD_KEYS, as checkpoints and sidecars hold them."""
        return {"arch": self.arch, "input_size": list(self.input_size), "size_multiple": self.size_multiple,
                "preprocessing": self.preprocessing.record(), "output_kind": self.output.name, "depth": self.depth.record()}

    @classmethod
    def from_record(cls, record: dict[str, Any], what: str = "the record") -> ModelSpec:
        """Back from `to_record` (extra keys ignored). A record with a key missing, of the wrong type or out of
        range is refused in one line naming `what` (the file it came from)."""
        if not isinstance(record, dict):
            raise EdgeDepthError(f"{what} is not a JSON object of the model's facts; re-create it")
        missing = [key for key in ("arch", "input_size", "preprocessing") if record.get(key) is None]
        if missing:
            raise EdgeDepthError(f"{what} records no {', '.join(missing)}; re-create it with the edgedepth command "
                                 "that makes it")
        size = record["input_size"]
        try:
            if not isinstance(size, list | tuple) or len(size) != 2:
                raise TypeError
            return cls(arch=str(record["arch"]), input_size=tuple(size),
                       preprocessing=Preprocessing.from_record(record["preprocessing"]),
                       output=output_kind(record.get("output_kind", METRIC.name)),
                       depth=DepthRange.from_record(record["depth"]) if "depth" in record else DepthRange(),
                       size_multiple=record.get("size_multiple"))
        except TypeError:
            raise EdgeDepthError(f"{what}: input size {size!r} is not [height, width]; re-create it")
        except EdgeDepthError as exc:
            raise EdgeDepthError(f"{what}: {exc.message}")


def check_multiple(size: tuple[int, int], multiple: int, label: str) -> None:
    """Refuse a size whose sides are not multiples of `multiple`, with the nearest sizes that are."""
    h, w = size
    if h % multiple or w % multiple:
        raise EdgeDepthError(f"input size {h}x{w} does not suit {label}: height and width must be "
                             f"{multiples_hint(size, multiple)}")


def multiples_hint(size: tuple[int, int], multiple: int) -> str:
    """"positive multiples of m (e.g. <size rounded down> or <size rounded up>)"."""
    down = [max(multiple, side // multiple * multiple) for side in size]
    up = [-(-side // multiple) * multiple for side in size]
    examples = " or ".join(dict.fromkeys(f"{h}x{w}" for h, w in (down, up)))
    return f"positive multiples of {multiple} (e.g. {examples})"


#: Axes of an exported model's input and output that stay symbolic (export's choice; every later artifact
#: keeps it). Static is the default: edge engines plan memory and pick kernels for one shape.
DYNAMIC_AXES: dict[str, dict[int, str]] = {
    "none": {},
    "batch": {0: "batch"},
    "hw": {2: "height", 3: "width"},
    "both": {0: "batch", 2: "height", 3: "width"},
}
PRECISIONS = ("fp32", "bf16", "fp16", "int8")


@dataclass(frozen=True)
class ArtifactFacts:
    """What every artifact's sidecar says beside its step's own record: the model's spec, the precision the
    artifact holds, which axes are dynamic, where the model came from (`provenance`: form, origin, hashes) and,
    for a Q/DQ model, the runtime its form was made for."""

    spec: ModelSpec
    precision: str = "fp32"
    dynamic: str = "none"
    provenance: dict[str, Any] = field(default_factory=dict, compare=False)
    target: str | None = None  # the runtime a Q/DQ model's form was made for (quantize/flavours.py)

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise EdgeDepthError(f"precision {self.precision!r} is not one of: {', '.join(PRECISIONS)}")
        if self.dynamic not in DYNAMIC_AXES:
            raise EdgeDepthError(f"dynamic axes {self.dynamic!r} are not one of: {', '.join(DYNAMIC_AXES)}")

    @property
    def fixed_size(self) -> tuple[int, int] | None:
        """(H, W) the artifact takes, None when its height and width are dynamic."""
        return None if "height" in DYNAMIC_AXES[self.dynamic].values() else self.spec.input_size

    @property
    def batched(self) -> bool:
        return "batch" in DYNAMIC_AXES[self.dynamic].values()

    def with_changes(self, **changes: Any) -> ArtifactFacts:
        return replace(self, **changes)

    def to_record(self) -> dict[str, Any]:
        return {**self.spec.to_record(), "precision": self.precision, "dynamic": self.dynamic, "source": self.provenance,
                **({"target": self.target} if self.target else {})}

    @classmethod
    def from_record(cls, record: dict[str, Any], what: str = "the sidecar") -> ArtifactFacts:
        spec = ModelSpec.from_record(record, what)
        try:
            return cls(spec, record.get("precision", "fp32"), record.get("dynamic", "none"), dict(record.get("source") or {}),
                       record.get("target"))
        except EdgeDepthError as exc:
            raise EdgeDepthError(f"{what}: {exc.message}")
