"""A quantize sidecar as the few lines a person reads (the CLI and the demo print the same), and the cells of
a breakdown table (bench's report renders the same cells)."""

from __future__ import annotations

from typing import Any

from .coverage import worst_layers
from .evaluate import Budget

BREAKDOWN_COLUMNS = ("where", "pixels", "AbsRel float", "AbsRel", "ΔAbsRel", "δ1 float", "δ1", "Δδ1",
                     "dev from float", "δ1 vs float", "max |Δ| m")


def summary_lines(output: str, info: dict[str, Any]) -> list[str]:
    kept = info["keep_float"]["all"]
    lines = [
        f"wrote {output} ({info['target']} flavour: {info['flavour']['activations']} activations; "
        f"{info['engine']} {info['method']}, {info['samples']} samples, manifest {info['calibration']['manifest']})",
        f"kept float: {len(kept)} layer(s)" + (f": {', '.join(kept[:6])}{' …' if len(kept) > 6 else ''}" if kept else ""),
    ]
    evaluation = info["evaluation"]
    if evaluation is None:
        return lines + [f"deltas not measured: {info['evaluation_skipped']}"]
    f, q, d, fid, ms = (evaluation[key] for key in ("float", "int8", "deltas", "fidelity", "latency_ms"))
    held_out = evaluation["held_out"]
    domains = ", ".join(f"{count} {domain}" for domain, count in held_out["domains"].items())
    window = held_out["window"]
    excluded = f"; {held_out['excluded_pixels']} valid pixels outside it excluded" if held_out["excluded_pixels"] else ""
    lines += [
        f"held-out: {evaluation['held_out_samples']} images ({domains}) from {len(held_out['scenes'])} scenes, "
        f"scored through OpenVINO within {window['min_depth']:g}–{window['max_depth']:g} m{excluded}",
        f"against ground truth: δ1 {f['delta1']:.4f} → {q['delta1']:.4f} (drop {d['delta1_drop']:+.4f}, "
        f"≤ {d['delta1_drop_bound']:+.4f} at 95 %), AbsRel {f['abs_rel']:.4f} → {q['abs_rel']:.4f} "
        f"({d['abs_rel_increase']:+.2%}, ≤ {d['abs_rel_increase_bound']:+.2%} at 95 %)",
        f"fidelity to float: deviation {fid['rel_deviation']:.2%} (≤ {fid['rel_deviation_bound']:.2%} at 95 %), "
        f"δ1 vs float {fid['delta1_vs_float']:.4f} (≥ {fid['delta1_vs_float_bound']:.4f} at 95 %), "
        f"max |Δ| {fid['max_abs_diff']:.3g} m",
    ]
    coverage = info.get("coverage")
    if coverage:
        uncovered = f"; {len(coverage['uncovered'])} tensor(s) over {coverage['uncovered_share']:.0%}" if coverage["uncovered"] else ""
        lines.append(f"calibration coverage: {coverage['outside_overall']:.3%} of held-out activations saturate{uncovered}; "
                     f"worst {worst_layers(coverage)}")
    lines += text_table(BREAKDOWN_COLUMNS, breakdown_cells(evaluation["breakdown"]))
    budget = Budget(**evaluation["default_budget"])
    verdict = "met" if evaluation["meets_default_budget"] else "NOT met: " + "; ".join(evaluation["default_budget_misses"])
    lines.append(f"default budget ({budget.describe()}; 95 % bounds) {verdict}")
    before = f" (before the budget search {ms['int8_before_budget']:.2f} ms)" if info["keep_float"]["budget"] else ""
    lines.append(f"latency (median, batch 1, noisy shared CPU): float {ms['float']:.2f} ms → INT8 {ms['int8']:.2f} ms{before}")
    return lines


def breakdown_cells(breakdown: dict[str, Any]) -> list[list[str]]:
    """One row of BREAKDOWN_COLUMNS per depth range, the total and each domain."""
    rows = [(row["range"], row) for row in breakdown["depth_ranges"]]
    rows.append(("all depths", breakdown["total"]))
    rows += [(f"{row['domain']} ({row['images']} img)", row) for row in breakdown["domains"]]
    cells = []
    for label, row in rows:
        m, r, d, fid = row["metrics"], row["reference"], row["deltas"], row["fidelity"]
        cells.append([label, str(row["pixels"]), f"{r['abs_rel']:.4f}", f"{m['abs_rel']:.4f}", f"{d['abs_rel']:+.4f}",
                      f"{r['delta1']:.4f}", f"{m['delta1']:.4f}", f"{d['delta1']:+.4f}", f"{fid['rel_deviation']:.2%}",
                      f"{fid['delta1_vs_float']:.4f}", f"{fid['max_abs_diff']:.3g}"])
    return cells


def text_table(columns: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(columns, *rows)]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
            for line in (columns, *rows)]
