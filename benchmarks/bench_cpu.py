"""CPU speed and accuracy, side by side in one run: PyTorch eager FP32, ONNX Runtime FP32/INT8, OpenVINO
FP32/INT8, for deeplabv3_resnet50 at 512×512 (the reference configuration) and the lighter archs; OpenVINO's
own benchmark_app times the same IR with the same settings as a cross-check. Writes benchmarks/RESULTS.md.

    python benchmarks/bench_cpu.py            # every arch at 512: ≈ 25 min on 2 cores (ResNet50 is most of it)
    python benchmarks/bench_cpu.py --quick    # lraspp_mobilenet_v3_large at 256, few runs: ≈ 2 min

Checkpoints are seeded random-init models at the benchmark size unless --checkpoint ARCH=PATH gives a trained
one: speed does not depend on the weights, and the INT8 deltas are then measured against that float model.
Accuracy uses synthetic DIODE-format data (generated once under runs/benchmarks/data) unless --data is given.
Run it on a quiet machine: the numbers are only as good as the machine is idle.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from edgedepth.backends import CpuOptions
from edgedepth.bench import BenchOptions, Report, processor_name, run_bench
from edgedepth.report import report_dict, to_markdown

HERE = Path(__file__).resolve().parent
WORK = Path("runs/benchmarks")
ARCHS = ("deeplabv3_resnet50", "deeplabv3_mobilenet_v3_large", "lraspp_mobilenet_v3_large")
#: benchmark_app's latency median agrees with ours when within this fraction (issue 5's target).
AGREEMENT = 0.30


def main() -> None:
    args = parse_args()
    data = args.data or synthetic_data(args.size)
    results = []
    for arch in args.archs:
        checkpoint = args.checkpoint.get(arch) or random_checkpoint(arch, args.size)
        print(f"== {arch}: {checkpoint}", flush=True)
        options = BenchOptions(device="cpu", warmup=args.warmup, runs=args.runs, cpu=CpuOptions(threads=args.threads),
                               images=args.images, calibration_samples=args.calibration_samples,
                               engines=WORK / "engines")
        report = run_bench(checkpoint, data, options, progress=lambda done, label: print(f"   {label}", flush=True))
        crosscheck = {row.precision: benchmark_app(Path(row.artifact), row.settings, args.runs)
                      for row in report.rows if row.backend == "openvino" and row.status == "ok"}
        results.append((arch, report, crosscheck))
        print(to_markdown(report), flush=True)
        for precision, theirs in crosscheck.items():
            ours = row_of(report, "openvino", precision).latency_model.median_ms
            print(f"   openvino {precision}: ours {ours:.1f} ms, benchmark_app {theirs:.1f} ms", flush=True)
    write_results(results, args)
    (WORK / "results.json").write_text(json.dumps([
        {"arch": arch, "report": report_dict(report), "benchmark_app_median_ms": crosscheck}
        for arch, report, crosscheck in results], indent=2) + "\n")
    print(f"wrote {args.output} and {WORK / 'results.json'}")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="lraspp at 256, 2 warm-up + 10 runs: a smoke run")
    parser.add_argument("--archs", nargs="+", choices=ARCHS, help="default: all (--quick: lraspp only)")
    parser.add_argument("--size", type=int, help="square input size (default 512; --quick 256)")
    parser.add_argument("--runs", type=int, help="timed runs per row (default 30; --quick 10)")
    parser.add_argument("--warmup", type=int, help="warm-up runs per row (default 5; --quick 2)")
    parser.add_argument("--threads", type=int, help="threads for every runtime (default: every core)")
    parser.add_argument("--images", type=int, default=8, help="held-out images scored for accuracy")
    parser.add_argument("--calibration-samples", type=int, default=64, help="INT8 calibration images")
    parser.add_argument("--data", type=Path, help="DIODE-layout folder (default: synthetic, generated once)")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="ARCH=PATH",
                        help="a trained checkpoint for ARCH (repeatable)")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    args = parser.parse_args()
    quick = args.quick
    args.archs = args.archs or (["lraspp_mobilenet_v3_large"] if quick else list(ARCHS))
    args.size = args.size or (256 if quick else 512)
    args.runs = args.runs or (10 if quick else 30)
    args.warmup = args.warmup if args.warmup is not None else (2 if quick else 5)
    args.checkpoint = dict(item.split("=", 1) for item in args.checkpoint)
    return args


def synthetic_data(size: int) -> Path:
    from edgedepth.data.synthetic import generate

    root = WORK / f"data-{size}"
    if not root.is_dir():
        generate(root, count=96, seed=0, size=(size, size))
    return root


def random_checkpoint(arch: str, size: int) -> Path:
    import torch

    from edgedepth.models import create_model, save_checkpoint

    path = WORK / f"{arch}-{size}.pt"
    if not path.is_file():
        torch.manual_seed(0)
        save_checkpoint(path, create_model(arch), {"arch": arch, "input_size": (size, size)})
    return path


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


def machine_lines() -> list[str]:
    memory = next((f"{int(line.split()[1]) / 2**20:.1f} GiB" for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?") if Path("/proc/meminfo").exists() else "?"
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    # VNNI speeds INT8; with avx512_bf16 OpenVINO would run "FP32" in bf16 unless pinned to f32 (bench pins it)
    isa = [name for name in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8") if f" {name}" in flags]
    return [f"- CPU: {processor_name()}, {os.cpu_count()} logical cores, ISA: {', '.join(isa) or '?'}",
            f"- Memory: {memory}; OS: {platform.platform()}; Python {platform.python_version()}"]


def write_results(results: list, args: argparse.Namespace) -> None:
    command = " ".join(["python benchmarks/bench_cpu.py", *sys.argv[1:]])
    lines = ["# CPU benchmark results", "", f"Made by `{command}` "
             "(see its docstring). Latency is model-only, batch 1, after warm-up; E2E adds preprocessing. "
             "Deltas are against the PyTorch FP32 row of the same table. Timings from a machine shared with other "
             "work are indicative only: rerun on a quiet machine before quoting them.", "", "## Machine", "", *machine_lines(), ""]
    for arch, report, crosscheck in results:
        trained = arch in args.checkpoint
        origin = "trained" if trained else ("seeded random init: the absolute accuracy columns mean nothing, "
                                            "the deltas still measure what INT8 changed")
        lines += [f"## {arch}", "", f"Checkpoint: `{report.conditions.model}` ({origin}).", "", to_markdown(report),
                  "Targets (issue 5):", "", *target_lines(arch, report, crosscheck), ""]
    args.output.write_text("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
