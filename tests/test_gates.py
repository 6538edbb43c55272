import math

import pytest

from edgedepth.errors import EdgeDepthError
from edgedepth.measure import gates
from edgedepth.measure.edges import EDGE_KEYS
from edgedepth.measure.gates import FIGURES, evaluate, parse_gates
from edgedepth.measure.tails import Tails
from edgedepth.metrics import METRIC_KEYS

EXAMPLE = "dev95<=0.04,edge_acc_px<=2,flicker<=1.1x,near_p95<=0.05m"


def test_the_example_gate_list_parses_into_typed_gates():
    parsed = parse_gates(EXAMPLE)
    assert [(g.figure.name, g.op, g.threshold) for g in parsed] == [
        ("dev95", "<=", 0.04), ("edge_acc_px", "<=", 2.0), ("flicker", "<=", 1.1), ("near_p95", "<=", 0.05)]
    assert [g.figure.unit for g in parsed] == ["fraction", "px", "x", "m"]
    percent = parse_gates(" delta1 >= 90% , p50_ms<=20ms")
    assert percent[0].threshold == pytest.approx(0.9) and percent[0].figure.higher_is_better
    assert percent[1].threshold == 20


def test_gates_sort_into_held_failed_and_not_evaluated():
    verdict = evaluate(parse_gates(EXAMPLE + ",delta1>=0.9"),
                       {"dev95": 0.05, "edge_acc_px": 2.0, "flicker": 1.05, "near_p95": None, "delta1": math.nan})
    assert [o.gate.figure.name for o in verdict.held] == ["edge_acc_px", "flicker"]  # 2.0 <= 2: inclusive
    assert [(o.gate.figure.name, o.value) for o in verdict.failed] == [("dev95", 0.05)]
    assert [o.gate.figure.name for o in verdict.unevaluated] == ["near_p95", "delta1"]
    assert not verdict.passed
    lines = verdict.lines()
    assert lines[0].startswith("FAILED") and "0.05 > 0.04" in lines[0] and "not measured" in lines[1]
    assert not evaluate(parse_gates("flicker<=1.1x"), {}).passed  # a gate nobody measured does not pass
    assert evaluate(parse_gates("flicker<=1.1x"), {"flicker": 1.1}).passed


@pytest.mark.parametrize("text, says", [
    ("dev95<0.04", "use <= or >="),
    ("dev95=0.04", "use <= or >="),
    ("dev95<=", "is not figure<=number"),
    ("dev95<=0.04,", "empty gate"),
    ("dev96<=0.04", "no figure is called dev96; known: mae, "),
    ("near_p95<=5px", "near_p95 is in m, not px"),
    ("abs_rel<=3x", "abs_rel is a fraction"),
    ("flicker<=110%", "flicker is a ratio (x), not %"),
    ("delta1<=0.9", "write delta1>=0.9"),
    ("dev95>=0.04", "write dev95<=0.04"),
])
def test_a_bad_gate_is_refused_in_one_line(text, says):
    with pytest.raises(EdgeDepthError) as caught:
        parse_gates(text)
    assert says in caught.value.message and "\n" not in caught.value.message


def test_the_registry_covers_every_figure_the_measures_report_and_grows():
    edge_figures = {key for key in EDGE_KEYS if key != "edge_pixels"}
    tail_figures = set(Tails.empty().figures()) | set(Tails.empty().figures("_vs_float"))
    bench_columns = {"size_mb", "p50_ms", "p90_ms", "p99_ms", "fps", "e2e_ms", "abs_rel", "delta1", "delta1_drop",
                     "abs_rel_increase", "dev", "dev95", "delta1_vs_float", "max_abs_diff", "mem_mb"}
    assert set(METRIC_KEYS) | edge_figures | tail_figures | bench_columns | {"flicker", "temporal_error"} <= set(FIGURES)
    try:
        gates.register("grasp_error", "distance of the grasp point from the true one", "m")
        assert parse_gates("grasp_error<=0.01m")[0].figure.description.startswith("distance")
        with pytest.raises(ValueError):
            gates.register("grasp_error", "again", "m")
    finally:
        FIGURES.pop("grasp_error", None)
