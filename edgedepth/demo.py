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

from .evaluation import BASELINE_GAIN_BAR


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
    generate(demo.data, count, seed=0, size=(96, 128), progress=True)
    return f"{count} DIODE-format scans (128x96, indoors + outdoor) in {demo.data}"


def train_model(demo: Demo) -> str:
    from .train import TrainConfig, train

    config = TrainConfig(size=(96, 128), epochs=3 if demo.fast else 12)
    meta = train(demo.data, demo.checkpoint, config, log=click.echo)
    return f"{config.arch}, best epoch {meta['train']['best_epoch']} of {config.epochs} → {demo.checkpoint}"


def evaluate_model(demo: Demo) -> str:
    from .report import print_metrics
    from .train import evaluate_model as score_held_out

    result = score_held_out(demo.checkpoint, demo.data)
    print_metrics(result)
    gain = result["baseline"]["abs_rel"] / result["model"]["abs_rel"]
    demo.results["abs_rel_gain"] = gain
    verdict = "meets" if gain >= BASELINE_GAIN_BAR else "MISSES"
    return f"held-out AbsRel {gain:.2f}× better than the constant-median baseline ({verdict} the {BASELINE_GAIN_BAR:g}× bar)"


def export_model(demo: Demo) -> str:
    from .artifacts import read_sidecar
    from .export import export_onnx

    export_onnx(demo.checkpoint, demo.onnx, data=demo.data)
    info = read_sidecar(demo.onnx)
    parity = info["parity"]
    return (f"{demo.onnx}: {info['batchnorm_folded']} BatchNorm folded into conv; parity vs PyTorch on "
            f"{parity['images']} images: max |Δ| {parity['max_abs_err']:.2e} m (tolerance {parity['atol']:.0e} m)")


def quantize_model(demo: Demo) -> str:
    from .artifacts import read_sidecar
    from .quantize import Budget, quantize_onnx
    from .quantize.summary import BREAKDOWN_COLUMNS, breakdown_cells, text_table

    budget = Budget()
    quantize_onnx(demo.onnx, demo.data, demo.int8_onnx, target="openvino", samples=16 if demo.fast else 64,
                  accuracy_budget=budget)
    info = read_sidecar(demo.int8_onnx)
    evaluation = info["evaluation"]
    deltas, fidelity, kept = evaluation["deltas"], evaluation["fidelity"], info["keep_float"]["all"]
    for line in text_table(BREAKDOWN_COLUMNS, breakdown_cells(evaluation["breakdown"])):
        click.echo(line)
    verdict = "meets" if evaluation["meets_default_budget"] else "MISSES"
    return (f"{demo.int8_onnx}: INT8 vs float through OpenVINO on {evaluation['held_out_samples']} held-out images: "
            f"δ1 drop {deltas['delta1_drop']:+.4f} (95 % bound {deltas['delta1_drop_bound']:+.4f} ≤ {budget.delta1_drop:g}), "
            f"AbsRel increase {deltas['abs_rel_increase']:+.2%} (95 % bound {deltas['abs_rel_increase_bound']:+.2%} ≤ "
            f"{budget.abs_rel_increase:.0%}); fidelity to float: deviation {fidelity['rel_deviation']:.2%} (95 % bound "
            f"{fidelity['rel_deviation_bound']:.2%} ≤ {budget.rel_deviation:.0%}), δ1 vs float {fidelity['delta1_vs_float']:.4f} "
            f"(95 % bound {fidelity['delta1_vs_float_bound']:.4f} ≥ {budget.delta1_vs_float:g}); "
            f"{verdict} the default budget; {len(kept)} layer(s) kept float")


def build_engine(demo: Demo) -> str:
    from .artifacts import read_sidecar
    from .backends import BuildOptions, get_backend
    from .report import print_fusion

    artifact = get_backend("openvino").build(demo.int8_onnx, demo.engine_dir, BuildOptions())
    fusion = read_sidecar(artifact)["fusion"]
    print_fusion(fusion, str(artifact))
    return f"{artifact}: INT8 share of compute {fusion['int8_mac_share']:.1%}"


def bench_all(demo: Demo) -> str:
    from .bench import BenchOptions, check_rows, run_bench
    from .report import print_table, report_dict, write_error_maps, write_json, write_markdown

    # the verified float ONNX and the budgeted OpenVINO INT8 from the steps above; ORT's INT8 flavour is made here
    options = BenchOptions(warmup=2 if demo.fast else 5, runs=5 if demo.fast else 30, images=4 if demo.fast else 16,
                           calibration_samples=16 if demo.fast else 64, engines=demo.workdir / "engines",
                           onnx_sources={"fp32": demo.onnx, "openvino": demo.int8_onnx})
    report = run_bench(demo.checkpoint, demo.data, options)
    write_json(report_dict(report), demo.workdir / "bench.json")
    write_markdown(report, demo.workdir / "bench.md")
    maps = write_error_maps(report, demo.workdir / "error-maps")
    print_table(report)
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
    from rich.console import Console

    console = Console()
    demo = Demo(Path(workdir), fast)
    started = time.perf_counter()
    for number, (title, step) in enumerate(STEPS, 1):
        console.rule(f"[bold]{number}/{len(STEPS)} {title}")
        began = time.perf_counter()
        summary = step(demo)
        console.print(f"[green]✓[/green] {summary} [dim]({time.perf_counter() - began:.0f} s)[/dim]")
    console.rule(f"done in {time.perf_counter() - started:.0f} s — outputs in {demo.workdir}/")
    if demo.results.get("abs_rel_gain", BASELINE_GAIN_BAR) < BASELINE_GAIN_BAR and not fast:
        console.print(f"[yellow]warning: the demo model beat the median baseline by less than {BASELINE_GAIN_BAR:g}× "
                      "(see the evaluate step); the later steps' deltas are still valid[/yellow]")
    return demo
