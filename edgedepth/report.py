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
from .bench import Report, Row
from .colormaps import colorize
from .fusion import INT8_PRECISIONS

SCHEMA = "edgedepth-bench/1"
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
    return (f"{c.arch} @ {c.input_size[0]}x{c.input_size[1]} (H×W), batch {c.batch}, {c.device}: {c.processor}, "
            f"{c.threads} of {c.cores} threads | {c.warmup} warm-up + {c.runs} timed runs | accuracy on "
            f"{c.images} held-out images of {c.data} | {versions}")


COLUMNS = ("Backend", "Prec", "MB", "p50 ms", "p90", "p99", "FPS", "E2E ms", "AbsRel", "δ1", "ΔAbsRel", "Δδ1",
           "|Δd| m", "Mem MB")


def row_cells(row: Row) -> list[str]:
    if row.status != "ok":  # the reason goes under the table (see `row_notes`): it would stretch a column
        return [row.backend, row.precision, row.status] + [""] * (len(COLUMNS) - 3)
    m, lat, d = row.metrics, row.latency_model, row.deltas
    return [
        row.backend, row.precision, _num(row.artifact_mb, ".1f"),
        f"{lat.median_ms:.1f}", f"{lat.p90_ms:.1f}", f"{lat.p99_ms:.1f}", f"{lat.fps:.1f}",
        f"{row.latency_e2e.median_ms:.1f}", f"{m['abs_rel']:.4f}", f"{m['delta1']:.4f}",
        _num(d and d["abs_rel"], "+.4f"), _num(d and d["delta1"], "+.4f"),
        _num(row.output_mean_abs_diff, ".4f"), _num(row.peak_memory_mb, ".0f"),
    ]


def print_table(report: Report, console=None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    if not console.is_terminal:  # a log file or pipe has no width to respect; never crop a number there
        console.width = max(console.width, WIDE)
    table = Table(title="edgedepth bench (Δ: against torch fp32; |Δd|: mean abs depth difference)",
                  caption=conditions_line(report), caption_justify="left", pad_edge=False)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in ("Backend", "Prec") else "right", no_wrap=True)
    for row in report.rows:
        table.add_row(*row_cells(row), style=None if row.status == "ok" else "yellow")
    console.print(table)
    for note in row_notes(report):
        console.print(f"[yellow]{note}[/yellow]")


def row_notes(report: Report) -> list[str]:
    """Why each skipped or failed row did not run."""
    return [f"{row.label} {row.status}: {row.reason}" for row in report.rows if row.status != "ok"]


def to_markdown(report: Report) -> str:
    def markdown_row(cells) -> str:
        return "| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |"

    lines = [markdown_row(COLUMNS), "|" + "---|" * len(COLUMNS), *(markdown_row(row_cells(row)) for row in report.rows), ""]
    lines += [f"- {note}" for note in row_notes(report)]
    return "\n".join(lines) + f"\n\nConditions: {conditions_line(report)}\n"


def write_markdown(report: Report, path: str | os.PathLike) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(to_markdown(report))
    return Path(path)


def write_error_maps(report: Report, out_dir: str | os.PathLike, count: int = 3) -> list[Path]:
    """One PNG per (low-precision row, image): input | GT | float | low-precision | |float − low-precision|.

    Depth panels share one colour scale (GT's 2nd–98th percentile); the difference has its own, from 0."""
    from PIL import Image

    from .data.transforms import resize_nearest

    reference = report.rows[0] if report.rows and report.rows[0].status == "ok" else None
    lowered = [r for r in report.rows[1:] if r.status == "ok" and r.precision != "fp32"]
    if reference is None or not lowered:
        return []
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for row in lowered:
        for i, image in enumerate(report.images[:count]):
            ref, low = reference.predictions[i], row.predictions[i]
            valid_gt = image.depth[image.valid & (image.depth > 0)]
            lo, hi = np.percentile(valid_gt, [2, 98]) if valid_gt.size else (float(ref.min()), float(ref.max()))
            diff = np.abs(ref - low)
            panels = [
                resize_nearest(image.rgb, ref.shape),
                colorize(image.depth, lo, hi, image.valid),
                colorize(ref, lo, hi),
                colorize(low, lo, hi),
                colorize(diff, 0.0, max(float(np.percentile(diff, 99)), 1e-6)),
            ]
            path = out_dir / f"{image.name}.{row.backend}-{row.precision}.png"
            with atomic_path(path) as tmp:
                Image.fromarray(np.concatenate(panels, axis=1)).save(tmp, format="PNG")
            written.append(path)
    return written


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
    """`edgedepth evaluate`'s table: the model beside the constant-median-depth baseline, and their ratio."""
    from rich.console import Console
    from rich.table import Table

    from .metrics import HIGHER_IS_BETTER, METRIC_KEYS

    table = Table(title=f"{result['checkpoint']} on {result['images']} held-out images of {result['data']}")
    for column in ("metric", "model", "median baseline", "model better by"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key in METRIC_KEYS:
        model, base = result["model"][key], result["baseline"][key]
        ratio = (model / base if key in HIGHER_IS_BETTER else base / model) if min(model, base) > 0 else float("nan")
        table.add_row(key, f"{model:.4f}", f"{base:.4f}", f"{ratio:.2f}×")
    (console or Console()).print(table)
