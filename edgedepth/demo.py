"""`edgedepth demo`: the whole path on the embedded default, in about 6 minutes on a quiet 2-core machine.

synthesise DIODE-format data → train the light LR-ASPP model → evaluate against the median baseline →
export a verified ONNX → quantize to Q/DQ INT8 within the accuracy budget → build the OpenVINO engine with its
fusion report → bench every CPU backend × precision. Each step is one small function over a shared `Demo`;
outputs land in the work folder (default runs/demo, which `edgedepth bench` reads by default).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from .measure.evaluate import BASELINE_GAIN_BAR
from .ui import console, print_bench, print_fusion, print_metrics, progress_bars


@dataclass
class Demo:
    workdir: Path
    fast: bool = False  # a much smaller run, for tests: same steps, numbers not meaningful
    results: dict[str, Any] = field(default_factory=dict)

    @property
    def data(self) -> Path:
        return self.workdir / "data"

    @property
    def checkpoint(self) -> Path:
        return self.workdir / "model.pt"

    @property
    def onnx(self) -> Path:
        return self.workdir / "model.onnx"

    @property
    def int8_onnx(self) -> Path:
        return self.workdir / "model.int8.onnx"

    @property
    def engine_dir(self) -> Path:
        return self.workdir / "openvino-int8"


def synthesise(demo: Demo) -> str:
    from .data.synthetic import generate

    count = 48 if demo.fast else 800  # measured: 800 scans/12 epochs 1.77–2.02× the baseline (3 seeds), 320/25 only 1.64×
    with progress_bars() as progress:
        generate(demo.data, count, seed=0, size=(96, 128), progress=progress)
    return f"{count} DIODE-format scans (128x96, indoors + outdoor) in {demo.data}"


def train_model(demo: Demo) -> str:
    from .train import TrainConfig, train

    config = TrainConfig(size=(96, 128), epochs=3 if demo.fast else 12)
    with progress_bars() as progress:
        meta = train(demo.data, demo.checkpoint, config, progress=progress, log=click.echo)
    return f"{config.arch}, best epoch {meta['train']['best_epoch']} of {config.epochs} → {demo.checkpoint}"


def evaluate_model(demo: Demo) -> str:
    from .measure.evaluate import evaluate_model as score_held_out
    from .sources import resolve_source

    result = score_held_out(resolve_source(demo.checkpoint), demo.data)
    print_metrics(result)
    gain = result["baseline"]["abs_rel"] / result["model"]["abs_rel"]
    demo.results["abs_rel_gain"] = gain
    verdict = "meets" if gain >= BASELINE_GAIN_BAR else "MISSES"
    return f"held-out AbsRel {gain:.2f}× better than the constant-median baseline ({verdict} the {BASELINE_GAIN_BAR:g}× bar)"


def export_model(demo: Demo) -> str:
    from .artifacts import read_sidecar
    from .export import export_onnx
    from .report import export_lines

    with progress_bars() as progress:
        export_onnx(demo.checkpoint, demo.onnx, data=demo.data, progress=progress)
    *lines, last = export_lines(demo.onnx, read_sidecar(demo.onnx))
    for line in lines:
        click.echo(line)
    return last


def quantize_model(demo: Demo) -> str:
    from .artifacts import read_sidecar
    from .quantize import Budget
    from .quantize.judged import quantize_on_data
    from .report import quantize_lines

    with progress_bars() as progress:
        _, judgement = quantize_on_data(demo.onnx, demo.data, demo.int8_onnx, target="openvino",
                                        samples=16 if demo.fast else 64, budget=Budget(), progress=progress)
    for line in quantize_lines(str(demo.int8_onnx), read_sidecar(demo.int8_onnx), judgement):
        click.echo(line)
    verdict = "meets" if judgement["meets_default_budget"] else "MISSES"
    kept = read_sidecar(demo.int8_onnx)["keep_float"]["all"]
    return (f"{demo.int8_onnx}: INT8 judged by {judgement['runtime']} on {judgement['held_out_samples']} held-out images "
            f"{verdict} the default budget; {len(kept)} layer(s) kept float")


def build_engine(demo: Demo) -> str:
    from .artifacts import read_sidecar
    from .backends import BuildOptions, get_backend

    artifact = get_backend("openvino").build(demo.int8_onnx, demo.engine_dir, BuildOptions())
    fusion = read_sidecar(artifact)["fusion"]
    print_fusion(fusion, str(artifact))
    return f"{artifact}: INT8 share of compute {fusion['int8_mac_share']:.1%}"


def bench_all(demo: Demo) -> str:
    from .bench import BenchOptions, check_rows, run_bench
    from .report import report_dict, write_error_maps, write_json, write_markdown

    # the verified float ONNX and the budgeted OpenVINO INT8 from the steps above; ORT's INT8 flavour is made here
    options = BenchOptions(warmup=2 if demo.fast else 5, runs=5 if demo.fast else 30, images=4 if demo.fast else 16,
                           calibration_samples=16 if demo.fast else 64, engines=demo.workdir / "engines",
                           onnx_sources={"fp32": demo.onnx, "openvino": demo.int8_onnx})
    with progress_bars() as progress:
        report = run_bench(demo.checkpoint, demo.data, options, progress=progress)
    write_json(report_dict(report), demo.workdir / "bench.json")
    write_markdown(report, demo.workdir / "bench.md")
    maps = write_error_maps(report, demo.workdir / "error-maps")
    print_bench(report)
    check_rows(report)
    return (f"bench table also in {demo.workdir / 'bench.json'} and {demo.workdir / 'bench.md'}; "
            f"{len(maps)} error maps in {demo.workdir / 'error-maps'}")


STEPS: list[tuple[str, Callable[[Demo], str]]] = [
    ("synthesise data", synthesise),
    ("train", train_model),
    ("evaluate", evaluate_model),
    ("export", export_model),
    ("quantize", quantize_model),
    ("build", build_engine),
    ("bench", bench_all),
]


def run_demo(workdir: str | Path = "runs/demo", fast: bool = False) -> Demo:
    printer = console()
    demo = Demo(Path(workdir), fast)
    started = time.perf_counter()
    for number, (title, step) in enumerate(STEPS, 1):
        printer.rule(f"[bold]{number}/{len(STEPS)} {title}")
        began = time.perf_counter()
        summary = step(demo)
        printer.print(f"[green]✓[/green] {summary} [dim]({time.perf_counter() - began:.0f} s)[/dim]")
    printer.rule(f"done in {time.perf_counter() - started:.0f} s — outputs in {demo.workdir}/")
    if demo.results.get("abs_rel_gain", BASELINE_GAIN_BAR) < BASELINE_GAIN_BAR and not fast:
        printer.print(f"[yellow]warning: the demo model beat the median baseline by less than {BASELINE_GAIN_BAR:g}× "
                      "(see the evaluate step); the later steps' deltas are still valid[/yellow]")
    return demo
