"""CPU speed and accuracy of `edgedepth bench`'s own rows, side by side in one run: PyTorch eager FP32, ONNX
Runtime FP32/INT8, OpenVINO FP32/INT8, for every benchmark arch at 512×512; OpenVINO's own benchmark_app times
the same IR with the same settings as a cross-check.

    python benchmarks/bench_cpu.py            # every arch (ResNet50 is most of the time)
    python benchmarks/bench_cpu.py --quick    # lraspp_mobilenet_v3_large, few runs: ≈ 2 min

The models are the trained reference models (benchmarks/reference_models.py) on their held-out scans, unless
--checkpoint ARCH=PATH and --data name others. Run it on a quiet machine: how busy the machine was is
printed with the tables. `python benchmarks/results.py` runs it with the peer comparison into RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from machine import Quiet, machine_lines
from reference_models import RECIPES, data_folder, reference_checkpoint

from edgedepth.backends import CpuOptions
from edgedepth.bench import BenchOptions, Report, run_bench
from edgedepth.report import report_dict, to_markdown

WORK = Path("runs/benchmarks")
#: benchmark_app's latency median agrees with ours when within this fraction (issue 5's target).
AGREEMENT = 0.30


def run(args: argparse.Namespace) -> list[tuple[str, Report, dict]]:
    """(arch, bench report, benchmark_app's medians) for every arch of `args`."""
    results = []
    for arch in args.archs:
        checkpoint = args.checkpoint.get(arch) or reference_checkpoint(arch)
        print(f"== {arch}: {checkpoint}", flush=True)
        options = BenchOptions(device="cpu", warmup=args.warmup, runs=args.runs, cpu=CpuOptions(threads=args.threads),
                               images=args.images, calibration_samples=args.calibration_samples,
                               engines=WORK / "engines")
        report = run_bench(checkpoint, args.data or data_folder(), options,
                           progress=lambda done, label: print(f"   {label}", flush=True))
        crosscheck = {row.precision: benchmark_app(Path(row.artifact), row.settings, args.runs)
                      for row in report.rows if row.backend == "openvino" and row.status == "ok"}
        results.append((arch, report, crosscheck))
        print(to_markdown(report), flush=True)
    (WORK / "bench_cpu.json").write_text(json.dumps([
        {"arch": arch, "report": report_dict(report), "benchmark_app_median_ms": crosscheck}
        for arch, report, crosscheck in results], indent=2) + "\n")
    return results


def main() -> None:
    args = parse_args()
    quiet = Quiet()
    results = run(args)
    print("\n".join(markdown(results, quiet.end(), args)))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quick", action="store_true", help="lraspp only, 2 warm-up + 10 runs: a smoke run")
    parser.add_argument("--archs", nargs="+", choices=list(RECIPES), help="default: all (--quick: lraspp only)")
    parser.add_argument("--runs", type=int, help="timed runs per row (default 30; --quick 10)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per row (default 5; --quick 2)")
    parser.add_argument("--threads", type=int, help="threads for every runtime (default: every core)")
    parser.add_argument("--images", type=int, default=16, help="held-out images scored for accuracy")
    parser.add_argument("--calibration-samples", type=int, default=64, help="INT8 calibration images")
    parser.add_argument("--data", type=Path, help="DIODE-layout folder (default: the reference models' scans)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="ARCH=PATH",
                        help="another checkpoint for ARCH (repeatable; default: the trained reference model)")


def settle(args: argparse.Namespace) -> argparse.Namespace:
    quick = args.quick
    args.archs = args.archs or (["lraspp_mobilenet_v3_large"] if quick else list(RECIPES))
    args.runs = args.runs or (10 if quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (2 if quick else 5)
    args.checkpoint = dict(item.split("=", 1) for item in args.checkpoint)
    return args


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return settle(parser.parse_args())


def benchmark_app(xml: Path, settings: dict, runs: int) -> float | None:
    """Median latency (ms) of OpenVINO's benchmark_app on the same IR, threads, streams, hint and precision."""
    exe = shutil.which("benchmark_app")
    if exe is None:
        return None
    config = {"CPU": {"INFERENCE_NUM_THREADS": str(settings["threads"]), "NUM_STREAMS": str(settings["streams"]),
                      "PERFORMANCE_HINT": settings["hint"], "INFERENCE_PRECISION_HINT": settings["inference_precision"]}}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(config, fh)
    try:
        out = subprocess.run([exe, "-m", str(xml), "-d", "CPU", "-load_config", fh.name, "-api", "sync",
                              "-niter", str(runs)], capture_output=True, text=True, check=False).stdout
    finally:
        os.unlink(fh.name)
    match = re.search(r"Latency:\s*\n.*?Median:\s*([\d.]+)\s*(ms|us)", out)
    if not match:
        return None
    return float(match.group(1)) / (1000.0 if match.group(2) == "us" else 1.0)


def row_of(report: Report, backend: str, precision: str):
    return next((r for r in report.rows if (r.backend, r.precision) == (backend, precision) and r.status == "ok"), None)


def speedup(report: Report, slow: tuple[str, str], fast: tuple[str, str]) -> float | None:
    a, b = row_of(report, *slow), row_of(report, *fast)
    return a.latency_model.median_ms / b.latency_model.median_ms if a and b else None


def within_budget(report: Report, backend: str) -> bool | None:
    """The verdict quantize recorded against the project's default accuracy budget for this row's INT8 ONNX."""
    from edgedepth.artifacts import read_sidecar

    row = row_of(report, backend, "int8")
    if not row:
        return None
    source = read_sidecar(row.artifact).get("source_onnx")
    return read_sidecar(source, required=False).get("evaluation", {}).get("meets_default_budget") if source else None


def target_lines(arch: str, report: Report, crosscheck: dict) -> list[str]:
    def mark(ok):
        return "n/a" if ok is None else ("met" if ok else "**not met**")

    def fmt(x):
        return "n/a" if x is None else f"{x:.2f}×"

    lines = []
    if arch == "deeplabv3_resnet50":
        vs_torch = speedup(report, ("torch", "fp32"), ("openvino", "int8"))
        vs_ov = speedup(report, ("openvino", "fp32"), ("openvino", "int8"))
        lines.append(f"- OpenVINO INT8 vs PyTorch FP32: {fmt(vs_torch)} (target ≥ 2.5×: {mark(vs_torch and vs_torch >= 2.5)})")
        lines.append(f"- OpenVINO INT8 vs OpenVINO FP32: {fmt(vs_ov)} (target ≥ 1.6×: {mark(vs_ov and vs_ov >= 1.6)})")
    for backend in ("onnxruntime", "openvino"):
        gain = speedup(report, (backend, "fp32"), (backend, "int8"))
        lines.append(f"- {backend} INT8 vs FP32: {fmt(gain)} (target > 1×: {mark(gain and gain > 1)}); "
                     f"default accuracy budget: {mark(within_budget(report, backend))}")
    if arch == "lraspp_mobilenet_v3_large":
        row = row_of(report, "openvino", "int8")
        fps = row and row.latency_model.fps
        lines.append(f"- OpenVINO INT8 FPS: {fps and round(fps, 1)} (target ≥ 30 at 512 on 2 cores: {mark(fps and fps >= 30)})")
    for precision, theirs in crosscheck.items():
        ours = row_of(report, "openvino", precision).latency_model.median_ms
        agree = theirs is not None and abs(ours - theirs) <= AGREEMENT * theirs
        lines.append(f"- OpenVINO {precision}: ours {ours:.1f} ms, benchmark_app {theirs if theirs is None else round(theirs, 1)} ms "
                     f"(±{AGREEMENT:.0%}: {mark(agree if theirs is not None else None)})")
    return lines


def markdown(results: list, quiet: Quiet | None, args: argparse.Namespace) -> list[str]:
    """The section; with `quiet`, the machine lines under its intro (results.py prints them once, at the top)."""
    lines = ["## edgedepth bench, per arch (`benchmarks/bench_cpu.py`)", "",
             "Latency is model-only, batch 1, after warm-up; E2E adds preprocessing. Deltas and fidelity are against "
             "the PyTorch FP32 row of the same table.", "", *(machine_lines(quiet) + [""] if quiet else [])]
    for arch, report, crosscheck in results:
        origin = "given" if arch in args.checkpoint else "trained reference model, declared at 512×512"
        lines += [f"### {arch}", "", f"Checkpoint: `{report.conditions.model}` ({origin}).", "", to_markdown(report),
                  "Targets:", "", *target_lines(arch, report, crosscheck), ""]
    return lines


if __name__ == "__main__":
    sys.exit(main())
