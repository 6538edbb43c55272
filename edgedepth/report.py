"""Rendering of measured results as text, JSON, Markdown and PNGs: the bench `Report`, quantize's judgement,
export's parity, evaluate's metrics and build's fusion report. Nothing here measures anything, and nothing
draws on a terminal (ui.py does, from these cells and lines); units come from the model's spec."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import atomic_path
from .bench import Report, Row, reference_row
from .colormaps import captioned, colorize, label_font, with_scale_bar
from .metrics import DEPTH_BIN_EDGES, HIGHER_IS_BETTER, METRIC_KEYS
from .quantize.budget import Budget
from .quantize.coverage import worst_layers
from .spec import output_kind

SCHEMA = "edgedepth-bench/3"  # 2: fidelity and breakdown per row, held-out description in the conditions;
#                                3: conditions name the model (any form), its output kind, alignment and the reference row
WIDE = 160  # columns of the bench table when printed off a terminal


def report_dict(report: Report) -> dict[str, Any]:
    """JSON-ready form of a Report; predictions and images stay out."""
    rows = []
    for row in report.rows:
        data = dataclasses.asdict(row)
        data.pop("predictions")
        rows.append(data)
    return {"schema": SCHEMA, "conditions": dataclasses.asdict(report.conditions), "rows": rows}


def write_json(data: dict[str, Any], path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n")
    return Path(path)


def conditions_line(report: Report) -> str:
    c = report.conditions
    versions = ", ".join(f"{k} {v}" for k, v in c.versions.items() if k != "python")
    held_out, window = c.held_out, c.held_out["window"]
    domains = ", ".join(f"{n} {domain}" for domain, n in held_out["domains"].items())
    excluded = f", {held_out['excluded_pixels']} GT pixels outside it excluded" if held_out["excluded_pixels"] else ""
    aligned = "" if c.output_kind == "metric" else f" | {c.output_kind} output: GT metrics after {c.alignment}"
    return (f"{c.arch} @ {c.input_size[0]}x{c.input_size[1]} (H×W), batch {c.batch}, {c.device}: {c.processor}, "
            f"{c.threads} of {c.cores} threads | {c.warmup} warm-up + {c.runs} timed runs | accuracy on "
            f"{c.images} held-out images ({domains}; {len(held_out['scenes'])} scenes) of {c.data}, "
            f"{window['min_depth']:g}–{window['max_depth']:g} m{excluded}{aligned} | {versions}")


TITLE = "edgedepth bench"


#: The bench table's header; the largest difference is in the unit of the model's output.
COLUMNS = ("Backend", "Prec", "MB", "p50 ms", "p90", "p99", "FPS", "E2E ms", "AbsRel", "δ1", "ΔAbsRel", "Δδ1",
           "Dev", "Dev95", "δ1 vs fp", "max|Δ| {unit}", "Mem MB")


def columns(report: Report) -> tuple[str, ...]:
    return tuple(column.format(unit=report.conditions.unit) for column in COLUMNS)


def legend(report: Report) -> str:
    """The line under the table that says what each column measures."""
    reference = _reference_label(report)
    return ("MB: artifact size on disk (MiB). p50/p90/p99 ms, FPS: the inference alone, batch 1, on input already "
            "in memory; FPS = 1000 / p50. E2E ms: median per image from decoded uint8 RGB to depth in host memory "
            "(preprocessing on one thread, input checks, inference, output copy), in the same runs as p50. AbsRel, "
            f"δ1: against ground truth; Δ: minus {reference}'s. Fidelity to {reference}'s depth: Dev its mean relative "
            f"deviation, Dev95 that deviation's 95 % bound, δ1 vs fp the share of pixels within 1.25× of it, max|Δ| "
            f"the largest difference ({report.conditions.unit}). Mem MB: {report.conditions.memory}, MiB; blank: unmeasured.")


def row_cells(row: Row) -> list[str]:
    if row.status != "ok":  # the reason goes under the table (see `row_notes`): it would stretch a column
        return [row.backend, row.precision, row.status] + [""] * (len(COLUMNS) - 3)
    m, lat, d, f = row.metrics, row.latency_model, row.deltas, row.fidelity or {}
    return [
        row.backend, row.precision, _num(row.artifact_mb, ".1f"),
        f"{lat.median_ms:.1f}", f"{lat.p90_ms:.1f}", f"{lat.p99_ms:.1f}", f"{lat.fps:.1f}",
        f"{row.latency_e2e.median_ms:.1f}", f"{m['abs_rel']:.4f}", f"{m['delta1']:.4f}",
        _num(d and d["abs_rel"], "+.4f"), _num(d and d["delta1"], "+.4f"),
        _num(f.get("rel_deviation"), ".2%"), _num(f.get("rel_deviation_bound"), ".2%"),
        _num(f.get("delta1_vs_float"), ".4f"), _num(f.get("max_abs_diff"), ".3g"), _num(row.peak_memory_mb, ".0f"),
    ]


def breakdown_header(unit: str) -> tuple[str, ...]:
    return ("row", *breakdown_columns(unit))


def breakdown_rows(report: Report) -> list[list[str]]:
    """The breakdown table's cells: every row in a lower precision than the reference, by range and domain."""
    return [[row.label, *cells] for row in lowered_rows(report) for cells in breakdown_cells(row.breakdown)]


def breakdown_title(report: Report) -> str:
    return (f"where the lower precision costs (float: {_reference_label(report)}; depth ranges pool pixels, domains "
            "average images)")


def lowered_rows(report: Report) -> list[Row]:
    reference = reference_row(report.rows)
    return [r for r in report.rows if r is not reference and r.status == "ok" and r.precision != "fp32" and r.breakdown]


def _reference_label(report: Report) -> str:
    return report.conditions.reference or "torch fp32"


def row_notes(report: Report) -> list[str]:
    """Why each skipped or failed row did not run."""
    return [f"{row.label} {row.status}: {row.reason}" for row in report.rows if row.status != "ok"]


def to_markdown(report: Report) -> str:
    def markdown_row(cells) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    header, unit = columns(report), report.conditions.unit
    lines = [markdown_row(header), "|" + "---|" * len(header), *(markdown_row(row_cells(row)) for row in report.rows), "",
             legend(report), ""]
    lines += [f"- {note}" for note in row_notes(report)]
    cells = breakdown_rows(report)
    if cells:
        lines += ["", breakdown_title(report).capitalize() + ":", "", markdown_row(breakdown_header(unit)),
                  "|" + "---|" * len(breakdown_header(unit)), *map(markdown_row, cells)]
    return "\n".join(lines) + f"\n\nConditions: {conditions_line(report)}\n"


def write_markdown(report: Report, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(report))
    return Path(path)


def write_error_maps(report: Report, out_dir: str | os.PathLike, count: int = 3) -> list[Path]:
    """One PNG per (low-precision row, image), at the model's size, its panels captioned: RGB | ground truth |
    float | low precision | |float − low precision|, each depth panel with its scale bar in metres; under them
    |float − low precision| against ground-truth depth (`depth_error_plot`).

    The three depth panels share one colour scale (GT's 2nd–98th percentile; for outputs that are not metric depth
    the float output's, in their unit); the difference has its own, from 0."""
    from PIL import Image

    from .data.transforms import resize_nearest

    reference = reference_row(report.rows)
    lowered = [r for r in report.rows if r is not reference and r.status == "ok" and r.precision != "fp32"]
    if reference is None or not lowered:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    metric, unit = report.conditions.output_kind == "metric", report.conditions.unit
    written = []
    for row in lowered:
        for i, image in enumerate(report.images[:count]):
            ref, low = reference.predictions[i], row.predictions[i]
            gt, valid, scored = (resize_nearest(array, ref.shape) for array in (image.depth, image.valid, image.scored))
            valid_gt = gt[valid & (gt > 0)]
            gt_lo, gt_hi = np.percentile(valid_gt, [2, 98]) if valid_gt.size else (float(ref.min()), float(ref.max()))
            lo, hi = (gt_lo, gt_hi) if metric else np.percentile(ref, [2, 98])  # raw outputs of another kind: their own scale
            diff = np.abs(ref - low)
            diff_hi = max(float(np.percentile(diff, 99)), 1e-6)
            strip = captioned([
                ("RGB", resize_nearest(image.rgb, ref.shape)),
                ("ground truth", with_scale_bar(colorize(gt, gt_lo, gt_hi, valid), gt_lo, gt_hi)),
                (f"float ({reference.backend})", with_scale_bar(colorize(ref, lo, hi), lo, hi, unit=unit)),
                (f"{row.precision.upper()} ({row.backend})", with_scale_bar(colorize(low, lo, hi), lo, hi, unit=unit)),
                (f"|float - {row.precision.upper()}|", with_scale_bar(colorize(diff, 0.0, diff_hi), 0.0, diff_hi, unit=unit)),
            ])
            plot = depth_error_plot(gt[scored], diff[scored], strip.shape[1],
                                    f"|float - {row.label}| ({unit}) vs ground-truth depth (m)")
            path = out_dir / f"{image.name}.{row.backend}-{row.precision}.png"
            with atomic_path(path) as tmp:
                Image.fromarray(np.concatenate([strip, plot], axis=0)).save(tmp, format="PNG")
            written.append(path)
    return written


#: Height of the |Δ|-vs-depth plot under the panels, and how many log-spaced depth bins its mean line has.
PLOT_HEIGHT, PLOT_BINS = 160, 24


def depth_error_plot(depth: np.ndarray, diff: np.ndarray, width: int, title: str) -> np.ndarray:
    """PLOT_HEIGHT×width RGB plot (Pillow only): each scored pixel's |Δ| (grey) against its ground-truth depth
    on a log axis, and the mean |Δ| per depth bin (red); the breakdown's depth-range edges are marked."""
    from PIL import Image, ImageDraw

    canvas = Image.new("RGB", (width, PLOT_HEIGHT), (255, 255, 255))
    draw, font = ImageDraw.Draw(canvas), label_font(PLOT_HEIGHT)
    left, right, top, bottom = 40, width - 8, 18, PLOT_HEIGHT - 18
    draw.text((left, 1), title, fill=(0, 0, 0), font=font)
    if depth.size == 0 or right - left < 20:
        return np.asarray(canvas)
    d_lo, d_hi = float(depth.min()), float(depth.max()) * 1.0001
    y_hi = max(float(np.percentile(diff, 99.5)), 1e-6)
    x_of = lambda d: left + (np.log(d) - np.log(d_lo)) / max(np.log(d_hi) - np.log(d_lo), 1e-9) * (right - left)  # noqa: E731
    y_of = lambda v: bottom - np.clip(v / y_hi, 0, 1) * (bottom - top)  # noqa: E731
    for edge in (e for e in DEPTH_BIN_EDGES if d_lo < e < d_hi):
        x = float(x_of(edge))
        draw.line([(x, top), (x, bottom)], fill=(225, 225, 225))
        draw.text((x - 5, bottom + 2), f"{edge:g}", fill=(90, 90, 90), font=font)
    pick = np.random.default_rng(0).permutation(depth.size)[:5000]  # a fixed subsample keeps the PNG readable
    draw.point(list(zip(x_of(depth[pick]).tolist(), y_of(diff[pick]).tolist())), fill=(170, 170, 170))
    edges = np.geomspace(d_lo, d_hi, PLOT_BINS + 1)
    which = np.clip(np.digitize(depth, edges) - 1, 0, PLOT_BINS - 1)
    means = [(float(np.sqrt(edges[b] * edges[b + 1])), float(diff[which == b].mean())) for b in range(PLOT_BINS) if (which == b).any()]
    if len(means) > 1:
        draw.line([(float(x_of(d)), float(y_of(v))) for d, v in means], fill=(220, 30, 30), width=2)
    draw.line([(left, top), (left, bottom), (right, bottom)], fill=(0, 0, 0))
    draw.text((2, top - 2), f"{y_hi:.2g}", fill=(0, 0, 0), font=font)
    draw.text((2, bottom - 12), "0", fill=(0, 0, 0), font=font)
    draw.text((left, bottom + 2), f"{d_lo:.2g}", fill=(90, 90, 90), font=font)
    draw.text((right - 30, bottom + 2), f"{d_hi:.3g}", fill=(90, 90, 90), font=font)
    return np.asarray(canvas)


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def breakdown_columns(unit: str) -> tuple[str, ...]:
    return ("where", "pixels", "AbsRel float", "AbsRel", "ΔAbsRel", "δ1 float", "δ1", "Δδ1", "dev from float",
            "δ1 vs float", f"max |Δ| {unit}")


def quantize_lines(output: str, info: dict[str, Any], evaluation: dict[str, Any] | None) -> list[str]:
    """What `edgedepth quantize` (and the demo) print: how the INT8 model was made (`info`, its sidecar) and,
    when it was judged, what it cost against ground truth and float, by depth range and domain."""
    kept = info["keep_float"]["all"]
    lines = [
        f"wrote {output} ({info['target']} flavour: {info['flavour']['activations']} activations; "
        f"{info['engine']} {info['method']}, {info['samples']} samples, manifest {info['calibration']['manifest']})",
        f"kept float: {len(kept)} layer(s)" + (f": {', '.join(kept[:6])}{' …' if len(kept) > 6 else ''}" if kept else ""),
    ]
    if evaluation is None:
        return lines
    unit = output_kind(evaluation["output_kind"]).unit
    f, q, d, fid, ms = (evaluation[key] for key in ("float", "int8", "deltas", "fidelity", "latency_ms"))
    held_out = evaluation["held_out"]
    domains = ", ".join(f"{count} {domain}" for domain, count in held_out["domains"].items())
    window = held_out["window"]
    excluded = f"; {held_out['excluded_pixels']} valid pixels outside it excluded" if held_out["excluded_pixels"] else ""
    lines += [
        f"held-out: {evaluation['held_out_samples']} images ({domains}) from {len(held_out['scenes'])} scenes, "
        f"judged by {evaluation['runtime']} on the {evaluation['device']} ({evaluation['why']}) within "
        f"{window['min_depth']:g}–{window['max_depth']:g} m{excluded}",
        f"against ground truth: δ1 {f['delta1']:.4f} → {q['delta1']:.4f} (drop {d['delta1_drop']:+.4f}, "
        f"≤ {d['delta1_drop_bound']:+.4f} at 95 %), AbsRel {f['abs_rel']:.4f} → {q['abs_rel']:.4f} "
        f"({d['abs_rel_increase']:+.2%}, ≤ {d['abs_rel_increase_bound']:+.2%} at 95 %)",
        f"fidelity to float: deviation {fid['rel_deviation']:.2%} (≤ {fid['rel_deviation_bound']:.2%} at 95 %), "
        f"δ1 vs float {fid['delta1_vs_float']:.4f} (≥ {fid['delta1_vs_float_bound']:.4f} at 95 %), "
        f"max |Δ| {fid['max_abs_diff']:.3g} {unit}",
    ]
    lines += skipped_lines(held_out)
    coverage = info.get("coverage")
    if coverage:
        uncovered = f"; {len(coverage['uncovered'])} tensor(s) over {coverage['uncovered_share']:.0%}" if coverage["uncovered"] else ""
        lines.append(f"calibration coverage: {coverage['outside_overall']:.3%} of held-out activations saturate{uncovered}; "
                     f"worst {worst_layers(coverage)}")
    lines += text_table(breakdown_columns(unit), breakdown_cells(evaluation["breakdown"]))
    budget = Budget(**evaluation["default_budget"])
    verdict = "met" if evaluation["meets_default_budget"] else "NOT met: " + "; ".join(evaluation["default_budget_misses"])
    lines.append(f"default budget ({budget.describe()}; 95 % bounds) {verdict}")
    before = f" (before the budget search {ms['int8_before_budget']:.2f} ms)" if info["keep_float"]["budget"] else ""
    lines.append(f"latency (median, batch 1, on a shared machine: noisy): float {ms['float']:.2f} ms → INT8 "
                 f"{ms['int8']:.2f} ms{before}")
    return lines


def breakdown_cells(breakdown: dict[str, Any]) -> list[list[str]]:
    """One row of `breakdown_columns` per depth range, the total and each domain."""
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


def text_table(header: tuple[str, ...], rows: list[list[str]]) -> list[str]:
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows)]
    return ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w) for i, (cell, w) in enumerate(zip(line, widths)))
            for line in (header, *rows)]


def skipped_lines(held_out: dict[str, Any], shown: int = 5) -> list[str]:
    """The held-out images left out of the scores, each named with its reason (the first `shown`)."""
    skipped = held_out.get("skipped") or []
    if not skipped:
        return []
    named = "; ".join(f"{Path(row['image']).name} ({row['reason']})" for row in skipped[:shown])
    more = f"; and {len(skipped) - shown} more (all in the JSON)" if len(skipped) > shown else ""
    return [f"skipped {len(skipped)} held-out image(s): {named}{more}"]


def export_lines(output: str | os.PathLike, info: dict[str, Any]) -> list[str]:
    """What `edgedepth export` (and the demo) print of an export's sidecar."""
    parity, counts = info["parity"], info["node_counts"]
    h, w = info["input_size"]
    unit = " " + output_kind(info["output_kind"]).unit
    lines = [f"wrote {output} ({info['arch']} {h}x{w}, {info['output_kind']} output, opset {info['opset']}, dynamic "
             f"{info['dynamic']}): {info['batchnorm_folded']} BatchNorm folded, "
             f"{sum(counts['exported'].values())} → {sum(counts['cleaned'].values())} nodes",
             f"parity vs {parity['reference']} on {parity['images']} images: max abs {parity['max_abs_err']:.2g}{unit}, "
             f"max rel {parity['max_rel_err']:.2g} (tolerance {parity['atol']:.2g}{unit})"]
    return lines + ([f"note: {parity['note']}"] if parity.get("note") else [])


def metrics_rows(result: dict[str, Any]) -> list[list[str]]:
    """`edgedepth evaluate`'s first table: each metric of the model beside the median baseline and their ratio."""
    rows = []
    for key in METRIC_KEYS:
        model, base = result["model"][key], result["baseline"][key]
        ratio = (model / base if key in HIGHER_IS_BETTER else base / model) if min(model, base) > 0 else float("nan")
        rows.append([key, f"{model:.4f}", f"{base:.4f}", f"{ratio:.2f}×"])
    return rows


def metrics_caption(result: dict[str, Any]) -> str:
    held_out, window = result["held_out"], result["held_out"]["window"]
    domains = ", ".join(f"{n} {domain}" for domain, n in held_out["domains"].items())
    caption = (f"{domains}; {len(held_out['scenes'])} scenes; window {window['min_depth']:g}–{window['max_depth']:g} m, "
               f"{result['model']['pixels']} pixels scored at {held_out['resolution']} resolution, "
               f"{held_out['excluded_pixels']} valid pixels outside it excluded")
    if result["output_kind"] != "metric":
        caption += f"; {result['output_kind']} output, scored after {result['alignment']}"
    return caption


def range_rows(breakdown: dict[str, Any]) -> list[list[str]]:
    """`edgedepth evaluate`'s second table: the model by ground-truth depth range, then by domain."""
    rows = [(row["range"], row) for row in breakdown["depth_ranges"]] + [("all depths", breakdown["total"])]
    rows += [(f"{row['domain']} ({row['images']} img)", row) for row in breakdown["domains"]]
    return [[label, str(row["pixels"]), f"{row['metrics']['mae']:.3f}", f"{row['metrics']['rmse']:.3f}",
             f"{row['metrics']['abs_rel']:.4f}", f"{row['metrics']['delta1']:.4f}"] for label, row in rows]
