"""Regenerate benchmarks/RESULTS.md in one run: the trained reference models and their quality, edgedepth beside
its peers (peers.py, with the Pareto plot), and edgedepth bench's own rows per arch (bench_cpu.py). The GPU
section is the file benchmarks/cuda.md, recorded on a lent GPU by benchmarks/bench_cuda.py (this machine may
have none), quoted as it is.

    python benchmarks/results.py --images 16 --calibration-samples 32 --rounds 6 --bench-runs 20   # 16 min here
    python benchmarks/results.py          # the defaults: 32 images, 64 calibration images, 10 rounds (longer)

Run it on a quiet machine: the load average at the start and the CPU time other processes took during the run
are printed at the top (benchmarks/machine.py).
"""

from __future__ import annotations

import argparse
import datetime
import sys
from pathlib import Path

import bench_cpu
import peers
from machine import Quiet, machine_lines
from reference_models import quality_lines, reference_checkpoint

from edgedepth.measure.evaluate import BASELINE_GAIN_BAR

HERE = Path(__file__).resolve().parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    peers.add_arguments(parser)
    parser.add_argument("--bench-runs", type=int, default=30, help="timed runs per bench_cpu row")
    args = parser.parse_args()
    for arch in args.archs:
        reference_checkpoint(arch)  # trained before the timed part, so the load check covers only measuring
    quiet = Quiet()
    peer_results = peers.run(args.archs, args)
    plot = peers.pareto_plot(peer_results, HERE / "peers.png")
    bench_args = bench_cpu.settle(argparse.Namespace(
        quick=False, archs=args.archs, runs=args.bench_runs, warmup=None, threads=args.threads, images=16,
        calibration_samples=args.calibration_samples, data=None, checkpoint=[]))
    bench_results = bench_cpu.run(bench_args)
    quiet.end()
    peers.write_json(peer_results, quiet)
    command = " ".join(["python benchmarks/results.py", *sys.argv[1:]])
    cuda = HERE / "cuda.md"
    lines = [
        "# Benchmark results", "",
        f"Made by `{command}` on {datetime.date.today():%Y-%m-%d}. Every timing below comes from this one run; "
        "compare ratios within it, not absolute numbers across machines.", "", "## Machine", "",
        *machine_lines(quiet), "",
        "## Reference models (`benchmarks/reference_models.py`)", "",
        f"Each arch trained with one fixed recipe on 600 synthetic DIODE-format scans rendered at 512×512 (300 scenes, "
        f"indoor and outdoor), at 128×128 to fit 2 CPU cores, then declared at 512×512: the networks are fully "
        f"convolutional, so the same weights run at the benchmark size on the same held-out scans at full "
        f"resolution. Quality is held-out AbsRel against the constant-median-depth baseline (bar: {BASELINE_GAIN_BAR}× at "
        "the training size); the 512×512 columns show what the 4× change of scale costs.", "",
        *quality_lines(args.archs), "",
        *peers.markdown(peer_results, None, plot),
        *bench_cpu.markdown(bench_results, None, bench_args),
        "## GPU (`benchmarks/bench_cuda.py`, recorded on a lent GPU)", "",
        *(cuda.read_text().splitlines() if cuda.is_file() else ["Not recorded: no GPU was lent to a session yet."]), "",
    ]
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {HERE / 'RESULTS.md'} and {plot}")


if __name__ == "__main__":
    main()
