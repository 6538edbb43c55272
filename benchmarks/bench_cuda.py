"""The CUDA rows of `edgedepth bench --device cuda` for the benchmark archs at 512×512, for a lent GPU.

Rows: PyTorch FP32 and FP16 (autocast, channels-last, CUDA-event timing), ONNX Runtime's CUDA provider and
TensorRT when installed (skipped rows with the reason otherwise). Trained reference models come with
--checkpoint ARCH=PATH; an arch without one runs its seeded random init declared at 512×512, which times
the same network (speed does not depend on the weights) but whose accuracy and FP16-fidelity columns mean
nothing: the table says which is which.

    python benchmarks/bench_cuda.py --data DIODE_FOLDER --checkpoint lraspp_mobilenet_v3_large=model-512.pt --out DIR
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import tempfile
from pathlib import Path

from edgedepth.bench import BenchOptions, run_bench
from edgedepth.models import ARCHS
from edgedepth.report import report_dict, to_markdown
from edgedepth.spec import ModelSpec

SIZE = (512, 512)


def random_checkpoint(arch: str, folder: Path) -> Path:
    import torch

    from edgedepth.models import create_model, save_checkpoint

    torch.manual_seed(0)
    return save_checkpoint(folder / f"{arch}-random-512.pt", create_model(arch), ModelSpec(arch, SIZE))


def header(args: argparse.Namespace) -> list[str]:
    """Where and how the rows were measured: the GPU, the runtimes' versions and providers, the command."""
    import torch

    gpu = torch.cuda.get_device_name(0) if args.device == "cuda" else "none (CPU dry run)"
    try:
        import onnxruntime

        ort = f"onnxruntime {onnxruntime.__version__} (providers: {', '.join(onnxruntime.get_available_providers())})"
    except ImportError:
        ort = "onnxruntime not installed"
    return [f"Recorded {datetime.date.today():%Y-%m-%d} by `python benchmarks/bench_cuda.py {' '.join(sys.argv[1:])}`.", "",
            f"- GPU: {gpu}; torch {torch.__version__} (CUDA {torch.version.cuda}); {ort}",
            f"- Held-out scans: {args.data} (a DIODE-format folder the reference models never trained on)", ""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="DIODE-layout folder with the held-out scans")
    parser.add_argument("--checkpoint", action="append", default=[], metavar="ARCH=PATH", help="a trained checkpoint")
    parser.add_argument("--archs", nargs="+", default=sorted(ARCHS), choices=sorted(ARCHS))
    parser.add_argument("--device", default="cuda", help="cuda (cpu only to try the script)")
    parser.add_argument("--images", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    trained = dict(item.split("=", 1) for item in args.checkpoint)
    args.out.mkdir(parents=True, exist_ok=True)
    records, lines = [], header(args)
    with tempfile.TemporaryDirectory(prefix="edgedepth-bench-cuda-") as scratch:  # random inits, engines: not results
        for arch in args.archs:
            checkpoint = Path(trained[arch]) if arch in trained else random_checkpoint(arch, Path(scratch))
            origin = "trained reference model" if arch in trained else "seeded random init: latency only"
            options = BenchOptions(device=args.device, warmup=args.warmup, runs=args.runs, images=args.images,
                                   engines=Path(scratch) / "engines")
            report = run_bench(checkpoint, args.data, options)
            records.append({"arch": arch, "origin": origin, "report": report_dict(report)})
            lines += [f"### {arch} ({origin})", "", to_markdown(report), ""]
            print(lines[-3], flush=True)
    (args.out / "cuda.json").write_text(json.dumps(records, indent=2) + "\n")
    (args.out / "cuda.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
