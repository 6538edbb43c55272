"""Acceptance gates: thresholds on reported figures, so a pipeline can refuse an artifact.

A gate list is written `"dev95<=0.04,edge_acc_px<=2,flicker<=1.1x,near_p95<=0.05m"`: comma-separated gates,
each a figure's name, `<=` or `>=` (inclusive: the threshold itself holds), a number and optionally its unit
(x ratio, m, px, ms, or % for a figure that is a fraction: 4% is 0.04). A unit that is not the figure's is
refused, so a gate cannot silently compare pixels with metres, and so is a gate pointing the wrong way
(`delta1<=0.9` holds for the worse artifacts: almost surely a typo). `FIGURES` is the registry of what can be gated:
each name with what it measures, its unit and which way is better; `register` adds one.

`evaluate` takes one row's figures as a flat {name: value} and sorts the gates into held, failed and not
evaluated (the figure is missing or None/NaN: not measured, e.g. no ground truth). A gate not evaluated does
not pass (`Verdict.passed`): a pipeline that asked for it would otherwise accept what nobody measured.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import EdgeDepthError
from ..metrics import HIGHER_IS_BETTER
from .edges import EDGE_BAND_PX
from .tails import NAMED_RANGES, PERCENTILES, range_label

#: Units a figure can have: how a message names each, and the suffixes a gate may write for it.
UNITS = {"": ("a plain number", ()), "fraction": ("a fraction (0.04, or 4%)", ("%",)), "m": ("in m", ("m",)),
         "px": ("in px", ("px",)), "x": ("a ratio (x)", ("x",)), "ms": ("in ms", ("ms",)), "MiB": ("in MiB", ()),
         "FPS": ("in frames per second", ())}
_GATE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*(<=|>=)\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([A-Za-z%]*)")
FORM = "figure<=number or figure>=number, with an optional unit (x, m, px, ms, %), comma-separated"


@dataclass(frozen=True)
class Figure:
    name: str
    description: str
    unit: str  # a key of UNITS
    higher_is_better: bool = False


FIGURES: dict[str, Figure] = {}


def register(name: str, description: str, unit: str, higher_is_better: bool = False) -> Figure:
    """Add a figure that gates can name (its unit one of UNITS); the name must be new."""
    if unit not in UNITS:
        raise ValueError(f"unit {unit!r} of figure {name} is not one of {', '.join(map(repr, UNITS))}")
    if name in FIGURES:
        raise ValueError(f"figure {name} is registered already")
    FIGURES[name] = Figure(name, description, unit, higher_is_better)
    return FIGURES[name]


def _register_against_both(name: str, description: str, unit: str) -> None:
    """A figure measured against ground truth, and its `_vs_float` twin measured against float's output."""
    register(name, f"{description}, against ground truth", unit)
    register(f"{name}_vs_float", f"{description}, against float's output", unit)


def _register_builtin() -> None:
    """What bench, quantize and the measures of this package report."""
    for key, unit, what in (("mae", "m", "mean |error|"), ("rmse", "m", "root-mean-square error"),
                            ("abs_rel", "fraction", "mean |error| / depth (AbsRel)"), ("sq_rel", "m", "mean error² / depth"),
                            ("rmse_log", "", "RMS error of ln depth"), ("log10", "", "mean |error| of log10 depth"),
                            ("delta1", "fraction", "share of pixels within 1.25× of the truth (δ1)"),
                            ("delta2", "fraction", "share within 1.25²×"), ("delta3", "fraction", "share within 1.25³×")):
        register(key, f"{what} against ground truth, mean over images", unit, higher_is_better=key in HIGHER_IS_BETTER)
    register("size_mb", "the artifact's size on disk", "MiB")
    register("p50_ms", "median inference latency, batch 1, input in memory", "ms")
    register("p90_ms", "90th-percentile inference latency", "ms")
    register("p99_ms", "99th-percentile inference latency", "ms")
    register("fps", "frames per second, 1000 / p50", "FPS", higher_is_better=True)
    register("e2e_ms", "median latency from decoded RGB to depth in host memory", "ms")
    register("mem_mb", "peak memory of the run", "MiB")
    register("delta1_drop", "float's δ1 minus this row's (−Δδ1), mean over images", "fraction")
    register("delta1_drop_bound", "one-sided 95 % upper bound of delta1_drop", "fraction")
    register("abs_rel_increase", "this row's AbsRel minus float's, relative to float's (ΔAbsRel / float's)", "fraction")
    register("abs_rel_increase_bound", "one-sided 95 % upper bound of abs_rel_increase", "fraction")
    register("dev", "mean relative deviation from float's depth (Dev)", "fraction")
    register("dev95", "one-sided 95 % upper bound of dev (Dev95)", "fraction")
    register("delta1_vs_float", "share of pixels within 1.25× of float's depth (δ1 vs fp)", "fraction", higher_is_better=True)
    register("delta1_vs_float_bound", "one-sided 95 % lower bound of delta1_vs_float", "fraction", higher_is_better=True)
    register("max_abs_diff", "largest |difference| from float's depth (max|Δ|)", "m")
    register("mean_abs_diff", "mean |difference| from float's depth", "m")
    _register_against_both("edge_acc_px", "depth-edge accuracy, iBims-1's: mean distance of the edges drawn to true "
                                          "ones", "px")
    _register_against_both("edge_comp_px", "depth-edge completeness, iBims-1's: truncated chamfer distance, edges "
                                           "missed and invented", "px")
    _register_against_both("edge_band_mae", f"mean |error| within {EDGE_BAND_PX} px of depth edges", "m")
    _register_against_both("edge_band_abs_rel", f"AbsRel within {EDGE_BAND_PX} px of depth edges", "fraction")
    register("temporal_error", "frame-to-frame change of log depth beyond the ground truth's, mean over pixels", "fraction")
    register("flicker", "frame-to-frame change of the output over float's (no ground truth needed)", "x")
    for name, index in NAMED_RANGES.items():
        where = range_label(index)
        for q in PERCENTILES:
            _register_against_both(f"{name}_p{q}", f"{q}th-percentile |error| at {where} ground-truth depth", "m")
        _register_against_both(f"{name}_worst", f"the worst image's mean |error| at {where}", "m")


_register_builtin()


@dataclass(frozen=True)
class Gate:
    figure: Figure
    op: str  # "<=" or ">="
    threshold: float  # in the figure's unit (a % written is divided by 100)
    written: str  # the gate as the user wrote it
    scale: float = 1.0  # 100 when written in %: values are shown as written

    def holds(self, value: float) -> bool:
        return value <= self.threshold if self.op == "<=" else value >= self.threshold

    def show(self, value: float) -> str:
        suffixes = UNITS[self.figure.unit][1]
        suffix = "%" if self.scale != 1 else (suffixes[0] if suffixes and suffixes[0] != "%" else "")
        return f"{value * self.scale:.4g}{suffix}"


def parse_gates(text: str) -> list[Gate]:
    """Gates from a gate list (module docstring); a malformed one is refused in one line naming it."""
    gates = []
    for written in text.split(","):
        written = written.strip()
        if not written:
            raise EdgeDepthError(f"gate list {text!r} holds an empty gate; write {FORM}")
        match = _GATE.fullmatch(written)
        if match is None:
            hint = " (gates are inclusive: use <= or >=)" if re.search(r"[<>](?!=)|(?<![<>])=", written) else ""
            raise EdgeDepthError(f"gate {written!r} is not {FORM}{hint}")
        name, op, number, suffix = match.groups()
        figure = FIGURES.get(name)
        if figure is None:
            raise EdgeDepthError(f"gate {written!r}: no figure is called {name}; known: {', '.join(FIGURES)}")
        words, suffixes = UNITS[figure.unit]
        if suffix and suffix not in suffixes:
            raise EdgeDepthError(f"gate {written!r}: {name} is {words}, not {suffix}")
        if (op == ">=") != figure.higher_is_better:
            better = "higher" if figure.higher_is_better else "lower"
            raise EdgeDepthError(f"gate {written!r}: {name} is better {better}, so this gate holds for the worse "
                                 f"artifacts; write {name}{'>=' if figure.higher_is_better else '<='}{number}{suffix}")
        scale = 100.0 if suffix == "%" else 1.0
        gates.append(Gate(figure, op, float(number) / scale, written, scale))
    return gates


@dataclass(frozen=True)
class Outcome:
    gate: Gate
    value: float | None  # None: not measured

    def line(self) -> str:
        gate = self.gate
        if self.value is None:
            return f"not evaluated  {gate.written}: {gate.figure.name} was not measured"
        verdict, op = ("held", gate.op) if gate.holds(self.value) else ("FAILED", ">" if gate.op == "<=" else "<")
        return f"{verdict:<14} {gate.figure.name} {gate.show(self.value)} {op} {gate.show(gate.threshold)}"


@dataclass
class Verdict:
    held: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    unevaluated: list[Outcome] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """Every gate was evaluated and held."""
        return not self.failed and not self.unevaluated

    def lines(self) -> list[str]:
        return [outcome.line() for outcome in (*self.failed, *self.unevaluated, *self.held)]


def evaluate(gates: list[Gate], figures: Mapping[str, float | None]) -> Verdict:
    """Sort `gates` by what one row's `figures` ({name: value}) say of them."""
    verdict = Verdict()
    for gate in gates:
        value = figures.get(gate.figure.name)
        if value is None or (isinstance(value, float) and math.isnan(value)):
            verdict.unevaluated.append(Outcome(gate, None))
        else:
            value = float(value)
            (verdict.held if gate.holds(value) else verdict.failed).append(Outcome(gate, value))
    return verdict
