"""Training throughput of `edgedepth train` (images/s): DeepLabv3-ResNet50 at 512×512 on one GPU, or on every
GPU of a torchrun job.

It runs the step `edgedepth train` runs (`train.train_step`: autocast in bf16/fp16, channels-last, DDP under
torchrun) on synthetic DIODE scans generated on the spot, read through the same DataLoader
(`train.training_loader`: worker processes, augmentation, pinned memory). Two rates, each timed after
warm-up between CUDA synchronisations, over a step count every rank agrees on:
    loader    batches from the DataLoader: what training sees
    resident  the same step on one batch kept on the GPU: the GPU's ceiling (a gap means input-bound)

    python benchmarks/train_throughput.py                              # one GPU, about 60-90 s (repo on PYTHONPATH)
    torchrun --nproc_per_node 8 benchmarks/train_throughput.py         # a node's GPUs (global images/s)
    python benchmarks/train_throughput.py --device cpu --arch lraspp_mobilenet_v3_large --size 64x64 \\
        --batch-size 4 --scans 8 --seconds 1                           # a smoke test of the code path

Prints one table and one JSON line (`--json FILE` also writes it).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch

from edgedepth.data import diode
from edgedepth.data.synthetic import generate
from edgedepth.data.transforms import parse_size
from edgedepth.distributed import from_env, joined
from edgedepth.losses import LossWeights
from edgedepth.models import create_model
from edgedepth.train import (
    DEPTH,
    TrainConfig,
    placement,
    prepare_model,
    start_epoch,
    train_step,
    training_loader,
)

WARMUP_STEPS = 5  # cuDNN's autotuning (benchmark mode) and the allocator settle within the first steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=["cuda", "cpu"], default="cuda")
    parser.add_argument("--arch", default="deeplabv3_resnet50")
    parser.add_argument("--size", default="512x512", help="model input HxW (the scans are generated at it)")
    parser.add_argument("--batch-size", type=int, default=16, help="global batch, as `edgedepth train --batch-size`")
    parser.add_argument("--workers", type=int, help="DataLoader processes per GPU (default: train's)")
    parser.add_argument("--scans", type=int, default=32, help="synthetic scans generated (cycled through)")
    parser.add_argument("--seconds", type=float, default=25.0, help="timed seconds per rate")
    parser.add_argument("--json", type=Path, help="also write the result here")
    args = parser.parse_args()

    size = parse_size(args.size)
    where = placement(args.device, from_env())
    with joined(args.device) as job, tempfile.TemporaryDirectory() as tmp:
        samples = diode.find_samples(generate(Path(tmp) / "diode", args.scans, seed=0, size=size))
        config = TrainConfig(arch=args.arch, size=size, batch_size=args.batch_size, device=args.device,
                             workers=args.workers)
        # cycled so that one epoch of the loader outlasts warm-up and timing
        loader = training_loader(samples * (args.batch_size * 2000 // len(samples) + 1), size, config, where, job)
        start_epoch(loader, 1, config.seed, job)
        torch.manual_seed(0)
        net = create_model(args.arch)
        model = prepare_model(net, where, job).train()
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        scaler = torch.amp.GradScaler(where.device.type, enabled=where.amp == torch.float16)
        batches = iter(loader)

        def step(batch) -> torch.Tensor:
            return train_step(model, batch, optimizer, scaler, where, DEPTH.max_depth, LossWeights())

        def rate(next_batch) -> tuple[float, int]:
            """images/s over a step count all ranks agree on (rank 0's warm-up pace × --seconds)."""
            for _ in range(WARMUP_STEPS):
                step(next_batch())
            _sync(where)
            start = time.perf_counter()
            for _ in range(WARMUP_STEPS):
                step(next_batch())
            _sync(where)
            pace = (time.perf_counter() - start) / WARMUP_STEPS
            steps = job.from_main(max(WARMUP_STEPS, round(args.seconds / pace)))
            start = time.perf_counter()
            for _ in range(steps):
                step(next_batch())
            _sync(where)
            return steps * args.batch_size / (time.perf_counter() - start), steps

        loader_rate, loader_steps = rate(lambda: next(batches))
        resident = tuple(t.to(where.device) for t in next(batches))
        resident_rate, resident_steps = rate(lambda: resident)
        cuda = where.device.type == "cuda"
        result = {
            "device": torch.cuda.get_device_name(where.device) if cuda else "cpu",
            "gpus": job.world_size if cuda else 0,
            "processes": job.world_size,
            "torch": torch.__version__,
            "arch": args.arch,
            "input_size": list(size),
            "batch_size": args.batch_size,
            "amp": str(where.amp).removeprefix("torch.") if where.amp else None,
            "channels_last": where.memory_format == torch.channels_last,
            "workers": loader.num_workers,
            "images_per_s_loader": round(loader_rate, 2),
            "images_per_s_resident": round(resident_rate, 2),
            "timed_steps": [loader_steps, resident_steps],
            "peak_gpu_memory_gb": round(torch.cuda.max_memory_allocated(where.device) / 2**30, 2) if cuda else None,
        }
        batches = None  # stops the workers before their files go
    if job.is_main:
        _print_table(result)
        print(json.dumps(result))
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n")


def _sync(where) -> None:
    if where.device.type == "cuda":
        torch.cuda.synchronize(where.device)


def _print_table(r: dict) -> None:
    rows = [
        ("device", f"{r['device']} × {r['processes']} process(es)"),
        ("torch", r["torch"]),
        ("model", f"{r['arch']} @ {r['input_size'][0]}x{r['input_size'][1]}"),
        ("global batch", str(r["batch_size"])),
        ("arithmetic", (f"{r['amp']} autocast" if r["amp"] else "float32") + (", channels-last" if r["channels_last"] else "")),
        ("loader workers", f"{r['workers']} per process"),
        ("images/s, DataLoader", f"{r['images_per_s_loader']:.1f}"),
        ("images/s, resident batch", f"{r['images_per_s_resident']:.1f}"),
        ("peak GPU memory", f"{r['peak_gpu_memory_gb']} GiB" if r["peak_gpu_memory_gb"] is not None else "-"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
