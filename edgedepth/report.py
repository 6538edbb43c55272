"""Rendering of measured results: bench `Report` → rich table / JSON / Markdown / error-map PNGs, and the
fusion report of `edgedepth build`. Nothing here measures anything."""

from __future__ import annotations

import dataclasses
import json
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from .artifacts import atomic_path
from .bench import Report, Row, reference_row
from .colormaps import captioned, colorize, label_font, with_scale_bar
from .evaluation import DEPTH_BIN_EDGES, OUTPUT_UNITS
from .fusion import INT8_PRECISIONS
from .quantize.summary import BREAKDOWN_COLUMNS, breakdown_cells

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


COLUMNS = ("Backend", "Prec", "MB", "p50 ms", "p90", "p99", "FPS", "E2E ms", "AbsRel", "δ1", "ΔAbsRel", "Δδ1",
           "Dev", "Dev95", "δ1 vs fp", "max|Δ| m", "Mem MB")
TITLE = "edgedepth bench"


def legend(report: Report) -> str:
    """The line under the table that says what each column measures."""
    reference = _reference_label(report)
    return ("MB: artifact size on disk (MiB). p50/p90/p99 ms, FPS: the inference alone, batch 1, on input already "
            "in memory; FPS = 1000 / p50. E2E ms: median per image from decoded uint8 RGB to depth in host memory "
            "(preprocessing on one thread, input checks, inference, output copy), in the same runs as p50. AbsRel, "
            f"δ1: against ground truth; Δ: minus {reference}'s. Fidelity to {reference}'s depth: Dev its mean relative "
            "deviation, Dev95 that deviation's 95 % bound, δ1 vs fp the share of pixels within 1.25× of it, max|Δ| m "
            f"the largest difference. Mem MB: {report.conditions.memory}, MiB; blank: unmeasured.")


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


def print_table(report: Report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not console.is_terminal:  # a log file or pipe has no width to respect; never crop a number there
        console.width = max(console.width, WIDE)
    table = Table(title=TITLE, caption=conditions_line(report),
                  caption_justify="left", pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("Backend", "Prec") else "right", no_wrap=True)
    for row in report.rows:
        table.add_row(*row_cells(row), style=None if row.status == "ok" else "yellow")
    console.print(table)
    console.print(legend(report), style="dim")
    for note in row_notes(report):
        console.print(note, style="yellow", markup=False)  # reasons hold brackets: pip install 'edgedepth[tensorrt]'
    cells = breakdown_rows(report)
    if cells:
        table = Table(title=f"where the lower precision costs (float: {_reference_label(report)}; depth ranges pool pixels, domains "
                            "average images)", pad_edge=False)
        for column in BREAKDOWN_HEADER:
            table.add_column(column, justify="left" if column in BREAKDOWN_HEADER[:2] else "right", no_wrap=True)
        for line in cells:
            table.add_row(*line)
        console.print(table)


BREAKDOWN_HEADER = ("row", *BREAKDOWN_COLUMNS)


def breakdown_rows(report: Report) -> list[list[str]]:
    """The breakdown table's cells: every row in a lower precision than the reference, by range and domain."""
    return [[row.label, *cells] for row in lowered_rows(report) for cells in breakdown_cells(row.breakdown)]


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

    lines = [markdown_row(COLUMNS), "|" + "---|" * len(COLUMNS), *(markdown_row(row_cells(row)) for row in report.rows), "",
             legend(report), ""]
    lines += [f"- {note}" for note in row_notes(report)]
    cells = breakdown_rows(report)
    if cells:
        lines += ["", f"Where the lower precision costs (float: {_reference_label(report)}; depth ranges pool pixels, "
                  "domains average images):", "", markdown_row(BREAKDOWN_HEADER), "|" + "---|" * len(BREAKDOWN_HEADER),
                  *map(markdown_row, cells)]
    return "\n".join(lines) + f"\n\nConditions: {conditions_line(report)}\n"


def write_markdown(report: Report, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(report))
    return Path(path)


def write_error_maps(report: Report, out_dir: str | os.PathLike, count: int = 3) -> list[Path]:
    """One PNG per (low-precision row, image), its panels captioned: RGB | ground truth | float | low precision |
    |float − low precision|, each depth panel with its scale bar in metres; under them |float − low precision|
    against ground-truth depth (`depth_error_plot`).

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
    metric, unit = report.conditions.output_kind == "metric", OUTPUT_UNITS[report.conditions.output_kind]
    written = []
    for row in lowered:
        for i, image in enumerate(report.images[:count]):
            ref, low = reference.predictions[i], row.predictions[i]
            valid_gt = image.depth[image.valid & (image.depth > 0)]
            gt_lo, gt_hi = np.percentile(valid_gt, [2, 98]) if valid_gt.size else (float(ref.min()), float(ref.max()))
            lo, hi = (gt_lo, gt_hi) if metric else np.percentile(ref, [2, 98])  # raw outputs of another kind: their own scale
            diff = np.abs(ref - low)
            diff_hi = max(float(np.percentile(diff, 99)), 1e-6)
            strip = captioned([
                ("RGB", resize_nearest(image.rgb, ref.shape)),
                ("ground truth", with_scale_bar(colorize(image.depth, gt_lo, gt_hi, image.valid), gt_lo, gt_hi)),
                (f"float ({reference.backend})", with_scale_bar(colorize(ref, lo, hi), lo, hi, unit=unit)),
                (f"{row.precision.upper()} ({row.backend})", with_scale_bar(colorize(low, lo, hi), lo, hi, unit=unit)),
                (f"|float - {row.precision.upper()}|", with_scale_bar(colorize(diff, 0.0, diff_hi), 0.0, diff_hi, unit=unit)),
            ])
            plot = depth_error_plot(image.depth[image.scored], diff[image.scored], strip.shape[1],
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


def print_fusion(fusion: dict[str, Any], artifact: str, console=None) -> None:
    """The fusion report of one build: counts, fusion patterns, MACs by precision, the INT8 share."""
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    console.print(f"[bold]{fusion['backend']}[/bold] → {artifact}")
    console.print(f"ONNX nodes {fusion['onnx_nodes']} ({fusion['onnx_compute_nodes']} Conv/MatMul/Gemm) → "
                  f"engine layers {fusion['engine_layers']}; Q/DQ nodes absorbed: {fusion['qdq_absorbed']}")
    if fusion["fusions"]:
        table = Table("fused", "count", title="Fusions")
        for pattern, count in fusion["fusions"].items():
            table.add_row(pattern, str(count))
        console.print(table)
    kinds = Counter((layer["type"], layer["precision"]) for layer in fusion["layers"])
    table = Table("layer type", "executes in", "layers", title="Engine layers by runtime precision")
    for (layer_type, precision), count in sorted(kinds.items()):
        table.add_row(layer_type, precision, str(count))
    console.print(table)
    total = sum(fusion["precision_macs"].values()) or 1
    shares = ", ".join(f"{p} {macs / total:.1%}" for p, macs in fusion["precision_macs"].items())
    console.print(f"Conv/MatMul MACs by executed precision: {shares or 'none found'}")
    console.print(f"[bold]INT8 share of compute: {fusion['int8_mac_share']:.1%}[/bold]"
                  f" (precisions counted as INT8: {', '.join(INT8_PRECISIONS)})")
    if fusion["unmatched_compute_nodes"]:
        console.print(f"[yellow]{len(fusion['unmatched_compute_nodes'])} ONNX compute nodes matched no engine "
                      f"layer (not counted): {', '.join(fusion['unmatched_compute_nodes'][:5])}[/yellow]")


def _num(value: float | None, fmt: str) -> str:
    return "" if value is None else format(value, fmt)


def print_metrics(result: dict[str, Any], console=None) -> None:
    """`edgedepth evaluate`'s tables: the model beside the constant-median-depth baseline and their ratio, then
    the model's metrics by depth range and domain."""
    from rich.console import Console
    from rich.table import Table

    from .metrics import HIGHER_IS_BETTER, METRIC_KEYS

    console = console or Console()
    held_out, window = result["held_out"], result["held_out"]["window"]
    domains = ", ".join(f"{n} {domain}" for domain, n in held_out["domains"].items())
    caption = (f"{domains}; {len(held_out['scenes'])} scenes; window {window['min_depth']:g}–{window['max_depth']:g} m, "
               f"{result['model']['pixels']} pixels scored, {held_out['excluded_pixels']} valid pixels outside it excluded")
    if result["output_kind"] != "metric":
        caption += f"; {result['output_kind']} output, scored after {result['alignment']}"
    table = Table(title=f"{result['source']} on {result['images']} held-out images of {result['data']}",
                  caption=caption, caption_justify="left")
    for column in ("metric", "model", "median baseline", "model better by"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key in METRIC_KEYS:
        model, base = result["model"][key], result["baseline"][key]
        ratio = (model / base if key in HIGHER_IS_BETTER else base / model) if min(model, base) > 0 else float("nan")
        table.add_row(key, f"{model:.4f}", f"{base:.4f}", f"{ratio:.2f}×")
    console.print(table)
    breakdown = result["breakdown"]
    table = Table("where", "pixels", "MAE m", "RMSE m", "AbsRel", "δ1",
                  title="model by ground-truth depth (pixels pooled) and domain (images averaged)")
    rows = [(row["range"], row) for row in breakdown["depth_ranges"]] + [("all depths", breakdown["total"])]
    rows += [(f"{row['domain']} ({row['images']} img)", row) for row in breakdown["domains"]]
    for label, row in rows:
        m = row["metrics"]
        table.add_row(label, str(row["pixels"]), f"{m['mae']:.3f}", f"{m['rmse']:.3f}", f"{m['abs_rel']:.4f}", f"{m['delta1']:.4f}")
    console.print(table)
