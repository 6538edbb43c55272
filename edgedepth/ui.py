"""What the command line draws, with rich: progress bars fed by the library's progress callbacks, and the tables
of report.py's cells. Only cli.py and demo.py use it; the library never draws.

Off a terminal (a log file, a pipe, a batch job) a bar draws nothing, so progress becomes a plain line every
PLAIN_LINE_SECONDS: a log shows the run is alive between a long step's start and end.
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

from .fusion import INT8_PRECISIONS
from .progress import Progress

#: Off a terminal, a progress line every this many seconds (the demo's training epochs take minutes on 2 cores).
PLAIN_LINE_SECONDS = 30.0
#: Columns of a table printed off a terminal: a log file has no width to respect, so no number is cropped.
WIDE = 160


def console(stderr: bool = False):
    from rich.console import Console

    printer = Console(stderr=stderr)
    if not printer.is_terminal:
        printer.width = max(printer.width, WIDE)
    return printer


@contextlib.contextmanager
def progress_bars(printer=None) -> Iterator[Progress]:
    """A `Progress` callback for the block: one transient rich bar per step ("bench: torch fp32" and "bench:
    openvino int8" are the one bar of step "bench", its text updated) on a terminal; elsewhere a plain line
    every PLAIN_LINE_SECONDS."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    printer = printer or console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    tasks: dict[str, Any] = {}
    started: dict[str, float] = {}
    last_line = [time.monotonic()]
    with Bars(*columns, console=printer, transient=True, disable=not printer.is_terminal) as bars:

        def report(stage: str, done: int, total: int | None) -> None:
            step = stage.split(":")[0]
            if step not in tasks:
                tasks[step], started[step] = bars.add_task(stage, total=total), time.monotonic()
            bars.update(tasks[step], description=stage, completed=done, total=total)
            now = time.monotonic()
            if not printer.is_terminal and now - last_line[0] >= PLAIN_LINE_SECONDS:
                last_line[0] = now
                of = f"/{total} ({done / total:.0%})" if total else ""
                rate = done / max(now - started[step], 1e-9)
                printer.print(f"{stage}, step {done}{of}, {rate:.2f} steps/s", markup=False, highlight=False)

        yield report


def print_rows(printer, title: str, header: tuple[str, ...], rows: list[list[str]], caption: str | None = None,
               left: int = 1, styles: list[str | None] | None = None) -> None:
    """A rich table of `rows` under `header`; the first `left` columns left-aligned, the others right."""
    from rich.table import Table

    table = Table(title=title, caption=caption, caption_justify="left", pad_edge=False)
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i < left else "right", no_wrap=True)
    for row, style in zip(rows, styles or [None] * len(rows)):
        table.add_row(*row, style=style)
    printer.print(table)


def print_bench(report, printer=None) -> None:
    """bench's table, its legend, why rows did not run, and where the lower precisions cost."""
    from . import report as render

    printer = printer or console()
    print_rows(printer, render.TITLE, render.columns(report), [render.row_cells(row) for row in report.rows],
               caption=render.conditions_line(report), left=2,
               styles=[None if row.status == "ok" else "yellow" for row in report.rows])
    printer.print(render.legend(report), style="dim")
    for note in render.row_notes(report):
        printer.print(note, style="yellow", markup=False)  # reasons hold brackets: pip install 'edgedepth[tensorrt]'
    cells = render.breakdown_rows(report)
    if cells:
        print_rows(printer, render.breakdown_title(report), render.breakdown_header(report.conditions.unit), cells, left=2)


def print_metrics(result: dict[str, Any], printer=None) -> None:
    """`edgedepth evaluate`'s tables: the model beside the constant-median-depth baseline and their ratio, then
    the model's metrics by depth range and domain."""
    from . import report as render

    printer = printer or console()
    print_rows(printer, f"{result['source']} on {result['images']} held-out images of {result['data']}",
               ("metric", "model", "median baseline", "model better by"), render.metrics_rows(result),
               caption=render.metrics_caption(result))
    print_rows(printer, "model by ground-truth depth (pixels pooled) and domain (images averaged)",
               ("where", "pixels", "MAE m", "RMSE m", "AbsRel", "δ1"), render.range_rows(result["breakdown"]))
    for line in render.skipped_lines(result["held_out"]):
        printer.print(line, style="yellow", markup=False)


def print_fusion(fusion: dict[str, Any], artifact: str, printer=None) -> None:
    """The fusion report of one build: counts, fusion patterns, MACs by precision, the INT8 share."""
    printer = printer or console()
    printer.print(f"[bold]{fusion['backend']}[/bold] → {artifact}")
    printer.print(f"ONNX nodes {fusion['onnx_nodes']} ({fusion['onnx_compute_nodes']} Conv/MatMul/Gemm) → "
                  f"engine layers {fusion['engine_layers']}; Q/DQ nodes absorbed: {fusion['qdq_absorbed']}")
    if fusion["fusions"]:
        print_rows(printer, "Fusions", ("fused", "count"), [[pattern, str(n)] for pattern, n in fusion["fusions"].items()])
    kinds = Counter((layer["type"], layer["precision"]) for layer in fusion["layers"])
    print_rows(printer, "Engine layers by runtime precision", ("layer type", "executes in", "layers"),
               [[layer_type, precision, str(n)] for (layer_type, precision), n in sorted(kinds.items())], left=2)
    total = sum(fusion["precision_macs"].values()) or 1
    shares = ", ".join(f"{p} {macs / total:.1%}" for p, macs in fusion["precision_macs"].items())
    printer.print(f"Conv/MatMul MACs by executed precision: {shares or 'none found'}")
    printer.print(f"[bold]INT8 share of compute: {fusion['int8_mac_share']:.1%}[/bold]"
                  f" (precisions counted as INT8: {', '.join(INT8_PRECISIONS)})")
    if fusion["unmatched_compute_nodes"]:
        printer.print(f"[yellow]{len(fusion['unmatched_compute_nodes'])} ONNX compute nodes matched no engine "
                      f"layer (not counted): {', '.join(fusion['unmatched_compute_nodes'][:5])}[/yellow]")
