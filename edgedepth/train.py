"""Training of a depth network on a DIODE-layout folder.

Training uses the folder's train split (all of it when no split folder exists), divided by scene 90/10 into
train and validation (`data.samples.split_by_scene`); the folder's official val/ split stays untouched for
`evaluate`, which scores the held-out set (measure/). Ground truth outside the model's depth range (DIODE's
outdoor depth runs to 350 m) is neither trained on nor validated against, as in evaluation. Every prediction
is scored beside the constant-median-depth baseline: a model that does not beat it by a wide margin has
learned nothing about depth.

One code path serves one process and a `torchrun` job (`distributed`): under torchrun the model is wrapped in
DistributedDataParallel and each rank trains on its share of every global batch (DistributedSampler, seeded,
reshuffled each epoch). Whatever the ranks must agree on is computed from all of them: the precise-BatchNorm
statistics, the validation loss and metrics, hence the learning-rate schedule and the best epoch. Rank 0
alone logs, reports progress and writes checkpoints. Every random draw derives from (seed, epoch), so a run
resumed from its last checkpoint repeats exactly what the interrupted one would have done.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from . import __version__
from .data.datasets import load_sample, open_dataset
from .data.samples import Dataset, Sample, split_by_scene
from .data.transforms import augment, preprocess, resize_nearest
from .distributed import Distributed, from_env, joined
from .errors import EdgeDepthError, RuntimeMissing
from .losses import LossWeights, depth_loss
from .measure.heldout import evenly_spaced, median_depth
from .memory import activation_bytes, check_fits
from .metrics import depth_metrics, mean_metrics, scored_mask
from .models import create_model, load_training_state, read_checkpoint_meta, save_checkpoint
from .progress import Progress, silent
from .spec import DepthRange, ModelSpec

#: The depth range every model edgedepth trains claims (the default; evaluation's window follows it).
DEPTH = DepthRange()
#: The precise-BatchNorm pass: this many training images, evenly spaced, in batches of PRECISE_BN_BATCH.
PRECISE_BN_IMAGES = 128
PRECISE_BN_BATCH = 32
VAL_BATCH = 16  # the validation loss is a mean per batch: batches are dealt to the ranks whole
#: DataLoader processes per GPU when --workers is not given (fewer when the node's cores are fewer): on one
#: H200, 8 fed DeepLabv3-ResNet50 at 512×512 at 96 % of its rate on a batch kept on the GPU (191 vs 200 images/s).
MAX_WORKERS = 8
#: Training's peak resident memory grows by 0.83–1.37 times the activations of a micro-batch
#: (`memory.activation_bytes`), measured on CPU: lraspp 1.37, 1.15 (batch 4, 128² → 256² → 512²) and 1.10
#: (batch 4 → 8 at 256²), deeplabv3-mobilenet 1.12 (batch 4 → 8 at 256²), deeplabv3-resnet50 0.83 (batch 2 → 4
#: at 256²). A size is checked against the lowest: a refused size could not have fitted.
TRAIN_MEMORY_PER_ACTIVATION = 0.83
#: Bytes per pixel of each image held at model size for the precise-BatchNorm pass and validation: float32 depth
#: and a bool mask (their RGB is held as decoded, at the data's own size, and not counted).
HELD_BYTES_PER_PIXEL = 5


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "lraspp_mobilenet_v3_large"
    size: tuple[int, int] = (96, 128)
    epochs: int = 20
    batch_size: int = 16  # global: split evenly over the torchrun processes
    lr: float = 1e-3  # Adam's default
    seed: int = 0
    loss: LossWeights = LossWeights()
    backbone_weights: str | None = None
    device: str = "cpu"  # "cuda": mixed precision (bf16, else fp16) and channels-last
    workers: int | None = None  # DataLoader processes per rank; None: 0 on CPU, up to MAX_WORKERS per GPU
    accumulate: int = 1  # micro-batches per rank and step (gradients accumulated): the global batch stays batch_size


class _Loaded:
    """Samples loaded once, ground truth brought to the model size (nearest: no invalid pixel bleeds)."""

    def __init__(self, samples: Sequence[Sample], size: tuple[int, int]):
        self.items = [_load(sample, size) for sample in samples]
        self.size = size

    def batches(self, batch_size: int):
        """(x N×3×H×W, depth N×1×H×W, valid N×1×H×W) tensors, in order."""
        for start in range(0, len(self.items), batch_size):
            yield _tensors(*zip(*self.items[start : start + batch_size]), size=self.size)


def _load(sample: Sample, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """rgb as decoded; depth and valid at the model size, valid only inside the model's depth range."""
    rgb, depth, valid = load_sample(sample)
    depth = resize_nearest(depth, size)
    valid, _ = scored_mask(depth, resize_nearest(valid, size), DEPTH.min_depth, DEPTH.max_depth)
    return rgb, depth, valid


def _tensors(rgbs, depths, valids, size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    return (
        torch.from_numpy(preprocess(list(rgbs), size)),
        torch.from_numpy(np.stack(depths)[:, None].astype(np.float32)),
        torch.from_numpy(np.stack(valids)[:, None]),
    )


class _TrainingImages(torch.utils.data.Dataset):
    """The training split read from disk on demand, in the DataLoader's workers: no rank holds the whole set.

    Each image is augmented by a generator seeded with (seed, epoch, index): the same draw whatever the number
    of ranks or workers, and a resumed run draws what the interrupted one would have."""

    def __init__(self, samples: Sequence[Sample], size: tuple[int, int], seed: int):
        self.samples, self.size, self.seed, self.epoch = list(samples), size, seed, 0

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        rng = np.random.default_rng((self.seed, self.epoch, index))
        rgb, depth, valid = augment(*_load(self.samples[index], self.size), rng, self.size)
        x, depth, valid = _tensors([rgb], [depth], [valid], self.size)
        return x[0], depth[0], valid[0]


@dataclass(frozen=True)
class Placement:
    """Where training runs and in what arithmetic."""

    device: torch.device
    amp: torch.dtype | None  # the forward pass's autocast dtype; None: float32 throughout

    @property
    def memory_format(self) -> torch.memory_format:
        """channels-last on CUDA (what tensor cores want for convolutions); the default layout on CPU."""
        return torch.channels_last if self.device.type == "cuda" else torch.contiguous_format

    def images(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(self.device, non_blocking=True, memory_format=self.memory_format)


def placement(device: str, job: Distributed) -> Placement:
    """cpu: float32. cuda: this rank's GPU, bfloat16 autocast where the GPU has it (Ampere and newer), else
    float16 with loss scaling."""
    if device == "cpu":
        return Placement(torch.device("cpu"), None)
    if not torch.cuda.is_available():
        raise RuntimeMissing("device cuda: torch sees no CUDA GPU here; use the cpu, "
                             "or a CUDA build of torch on a GPU machine")
    torch.backends.cudnn.benchmark = True  # one input size throughout: cuDNN times its kernels once, keeps the fastest
    amp = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return Placement(torch.device("cuda", job.local_rank), amp)


def prepare_model(model: torch.nn.Module, where: Placement, job: Distributed) -> torch.nn.Module:
    """The model on its device in its memory format, wrapped in DistributedDataParallel under torchrun."""
    model.to(where.device, memory_format=where.memory_format)
    if job.world_size == 1:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [where.device.index] if where.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def training_loader(samples: Sequence[Sample], size: tuple[int, int], config: TrainConfig, where: Placement,
                    job: Distributed) -> torch.utils.data.DataLoader:
    """Each rank's batches of every global batch of `config.batch_size` images (the union over ranks of step k is
    the single-process batch k), reading and augmenting in `config.workers` processes."""
    if config.batch_size % (job.world_size * config.accumulate):
        raise EdgeDepthError(f"the batch size {config.batch_size} (the global batch) does not split evenly into "
                             f"micro-batches ({job.world_size} process(es) × {config.accumulate} accumulation steps); "
                             f"make it a multiple of {job.world_size * config.accumulate}")
    from torch.utils.data import DataLoader, DistributedSampler

    dataset = _TrainingImages(samples, size, config.seed)
    sampler = DistributedSampler(dataset, num_replicas=job.world_size, rank=job.rank, shuffle=True, seed=config.seed)
    workers = config.workers
    if workers is None:  # on CPU the model's threads already use every core
        cores = (os.cpu_count() or 1) // job.local_world_size
        workers = 0 if where.device.type == "cpu" else min(MAX_WORKERS, max(1, cores - 1))
    return DataLoader(dataset, config.batch_size // job.world_size, sampler=sampler, num_workers=workers,
                      pin_memory=where.device.type == "cuda")


def start_epoch(loader: torch.utils.data.DataLoader, epoch: int, seed: int, job: Distributed) -> None:
    """Derive every random draw of `epoch` from (seed, epoch): the sampler's shuffle, each image's augmentation,
    and torch's generator (dropout, worker seeds), per rank. Nothing random carries over from one epoch to the
    next, so the RNG state a resumed run needs is the epoch number."""
    loader.sampler.set_epoch(epoch)
    loader.dataset.epoch = epoch
    torch.manual_seed(int(np.random.SeedSequence((seed, epoch, job.rank)).generate_state(1)[0]))


def train_step(model: torch.nn.Module, batch, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               where: Placement, max_depth: float, weights: LossWeights, accumulate: int = 1) -> torch.Tensor:
    """One optimiser step on one (x, depth, valid) batch, run as `accumulate` interleaved micro-batches whose
    gradients add up (a rank's share under torchrun is the same interleaved slice of the global batch: N
    processes train exactly as one process with accumulate=N, BatchNorm statistics and loss means per
    micro-batch included). Returns the loss, still on the device (reading it waits for the GPU)."""
    parts = [part for part in (slice(i, None, accumulate) for i in range(accumulate)) if len(batch[0][part])]
    optimizer.zero_grad()
    total = torch.zeros((), device=where.device)
    for i, part in enumerate(parts):
        x, depth, valid = (tensor[part] for tensor in batch)
        depth, valid = depth.to(where.device, non_blocking=True), valid.to(where.device, non_blocking=True)
        last = i == len(parts) - 1  # DistributedDataParallel averages gradients over the ranks once, here
        with contextlib.nullcontext() if last or not hasattr(model, "no_sync") else model.no_sync():
            with torch.autocast(where.device.type, dtype=where.amp, enabled=where.amp is not None):
                pred = model(where.images(x))
            # the loss in float32, whatever the forward ran in
            loss = depth_loss(pred.float(), depth, valid, max_depth, weights) / len(parts)
            scaler.scale(loss).backward()
        total += loss.detach()
    scaler.step(optimizer)
    scaler.update()
    return total


def training_split(data: str | os.PathLike) -> tuple[Dataset, list[Sample], list[Sample]]:
    """(the dataset, train, val): a scene-level split of the samples it may train on, its official training split
    where it has a held-out one (which stays untouched), else all of them."""
    dataset = open_dataset(data)
    official = any(sample.split in dataset.held_out_splits for sample in dataset.samples)
    pool = [s for s in dataset.samples if s.split in dataset.training_splits] if official else list(dataset.samples)
    if not pool:
        raise EdgeDepthError(f"{dataset.root} holds no training split, only held-out images; give a folder with one")
    if not all(sample.has_depth for sample in pool):
        raise EdgeDepthError(f"{dataset.root} holds images without ground truth ({dataset.layout}); training needs depth")
    train, val = split_by_scene(pool)
    if not val:
        raise EdgeDepthError(f"{dataset.root} holds a single scene; training needs at least two to validate on an unseen one")
    return dataset, train, val


def last_checkpoint_path(output: str | os.PathLike) -> Path:
    """`<output stem>.last.pt` beside the best checkpoint: the latest epoch, with what `--resume` needs."""
    output = Path(output)
    return output.with_name(f"{output.stem}.last.pt")


def train(data: str | os.PathLike, output: str | os.PathLike, config: TrainConfig = TrainConfig(),
          progress: Progress = silent, log: Callable[[str], None] = print,
          resume: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train `config.arch` on `data`, or go on from `resume` (a `last_checkpoint_path`). After every epoch the
    latest state goes to `last_checkpoint_path(output)`, and the best epoch (lowest validation loss) to
    `output`. Returns the best epoch's meta (on every rank under torchrun)."""
    from .models import arch_spec

    spec = ModelSpec(config.arch, tuple(config.size), depth=DEPTH, size_multiple=arch_spec(config.arch).size_multiple)
    size = spec.input_size
    output = Path(output)
    where = placement(config.device, from_env())
    with joined(config.device) as job:
        log = log if job.is_main else _silent
        torch.manual_seed(config.seed)
        dataset, train_samples, val_samples = training_split(data)
        fingerprint = dataset.fingerprint(train_samples + val_samples)[:16]
        resumed = _resume_state(resume, config, size, (train_samples, val_samples), fingerprint, output, job) if resume else None
        loader = training_loader(train_samples, size, config, where, job)
        spread = evenly_spaced(len(train_samples), PRECISE_BN_IMAGES)
        bn_share = _batch_share(len(spread), PRECISE_BN_BATCH, job)
        val_share = _batch_share(len(val_samples), VAL_BATCH, job)
        _check_memory(config, size, where, config.batch_size // (job.world_size * config.accumulate),
                      len(bn_share) + len(val_share))
        bn_images = _Loaded([train_samples[spread[i]] for i in bn_share], size)
        val_set = _Loaded([val_samples[i] for i in val_share], size)
        median = job.from_main(median_depth(train_samples, size, DEPTH) if job.is_main else None)

        net = create_model(config.arch, config.backbone_weights)
        _start_at_median(net, median)
        meta = {
            "baseline": {"kind": "constant median depth", "median_depth": median,
                         "metrics": _baseline_metrics(val_set, val_share, median, job)},
            "train": {
                "data": str(data), "data_layout": dataset.layout, "data_fingerprint": fingerprint,
                "train_samples": len(train_samples), "val_samples": len(val_samples),
                "epochs": config.epochs, "batch_size": config.batch_size, "lr": config.lr, "seed": config.seed,
                "loss_weights": config.loss.as_dict(), "optimizer": "Adam",
                "scheduler": "ReduceLROnPlateau(val loss, factor 0.5, patience 2)",
                "processes": job.world_size, "accumulate": config.accumulate, "device": where.device.type,
                "amp": str(where.amp).removeprefix("torch.") if where.amp else None,
            },
        }
        model = prepare_model(net, where, job)
        optimizer = torch.optim.Adam(net.parameters(), lr=config.lr)
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
        scaler = torch.amp.GradScaler(where.device.type, enabled=where.amp == torch.float16)
        first, best = _restore(resume, resumed, net, optimizer, scheduler, scaler) if resumed else (1, None)

        def at(epoch: int, metrics: dict[str, float]) -> dict[str, Any]:
            return {**meta, "metrics": metrics, "train": {**meta["train"], "epoch": epoch, "best_epoch": best["epoch"]}}

        steps = (config.epochs - first + 1) * len(loader)
        report, done = progress if job.is_main else silent, 0
        for epoch in range(first, config.epochs + 1):
            start_epoch(loader, epoch, config.seed, job)
            model.train()
            for batch in loader:
                train_step(model, batch, optimizer, scaler, where, DEPTH.max_depth, config.loss, config.accumulate)
                done += 1
                report(f"training: epoch {epoch}/{config.epochs}", done, steps)
            _recompute_batchnorm(net, bn_images, where, job)
            val_loss, metrics = _validate(net, val_set, val_share, where, job, config.loss)
            scheduler.step(val_loss)
            if best is None or val_loss < best["val_loss"]:
                best = {"epoch": epoch, "val_loss": val_loss, "metrics": metrics}
                if job.is_main:
                    save_checkpoint(output, net, spec, at(epoch, metrics))
            if job.is_main:  # after the best: a run killed between the two redoes this epoch
                save_checkpoint(last_checkpoint_path(output), net, spec, at(epoch, metrics), training_state={
                    "epoch": epoch, "best": best, "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "scaler": scaler.state_dict()})
            log(f"epoch {epoch:3d}  val loss {val_loss:.4f}  AbsRel {metrics['abs_rel']:.3f}  "
                f"δ1 {metrics['delta1']:.3f}  RMSE {metrics['rmse']:.2f} m  lr {optimizer.param_groups[0]['lr']:.1e}")
        job.barrier()  # every rank returns once rank 0's checkpoints are on disk
    return {**at(best["epoch"], best["metrics"]), **spec.to_record()}


def _check_memory(config: TrainConfig, size: tuple[int, int], where: Placement, micro_batch: int, held: int) -> None:
    """Refuse, before anything is loaded, a size or batch this process cannot hold: `held` images kept at model
    size, and on CPU the activations of a micro-batch (on CUDA they live on the GPU)."""
    needed = HELD_BYTES_PER_PIXEL * size[0] * size[1] * held
    if where.device.type == "cpu":
        with torch.device("meta"):  # shapes only: building it allocates nothing
            net = create_model(config.arch)
        needed += TRAIN_MEMORY_PER_ACTIVATION * activation_bytes(net, size, micro_batch)
    check_fits(needed, f"training {config.arch} at {size[0]}x{size[1]} in micro-batches of {micro_batch}",
               "train at a smaller size or batch")


def _resume_state(path: str | os.PathLike, config: TrainConfig, size: tuple[int, int],
                  split: tuple[list[Sample], list[Sample]], fingerprint: str, output: Path,
                  job: Distributed) -> tuple[dict[str, Any], dict[str, Any]]:
    """(weights, training state) of the interrupted run at `path`, after checking that this run continues it:
    same edgedepth, options and data, and its best checkpoint at `output`."""
    weights, recorded, state = load_training_state(path)
    if recorded.get("edgedepth_version") != __version__:
        raise EdgeDepthError(f"{path} was written by edgedepth {recorded.get('edgedepth_version')} and this is "
                             f"{__version__}; resume it with that version, or train from scratch")
    was = recorded.get("train", {})
    for name, before, now in (
        ("arch", recorded.get("arch"), config.arch),
        ("input size", recorded.get("input_size"), list(size)),
        ("batch size", was.get("batch_size"), config.batch_size),
        ("learning rate", was.get("lr"), config.lr),
        ("seed", was.get("seed"), config.seed),
        ("loss weights", was.get("loss_weights"), config.loss.as_dict()),
        ("training images", was.get("train_samples"), len(split[0])),
        ("validation images", was.get("val_samples"), len(split[1])),
        ("data (file names and sizes)", was.get("data_fingerprint"), fingerprint),
    ):
        if before != now:
            raise EdgeDepthError(f"{path} comes from a run with {name} {before}, this one has {now}; resume with "
                                 "the interrupted run's options and data (only the number of epochs may change)")
    if state["epoch"] >= config.epochs:
        raise EdgeDepthError(f"{path} has already trained {state['epoch']} of {config.epochs} epochs; "
                             "ask for more epochs to train on")
    if job.is_main:  # the best so far must be where this run goes on writing it
        best_on_disk = read_checkpoint_meta(output)["train"].get("best_epoch", 0) if output.is_file() else 0
        if best_on_disk < state["best"]["epoch"]:
            raise EdgeDepthError(f"{output} does not hold the best epoch ({state['best']['epoch']}) of the run "
                                 f"{Path(path).name} comes from; pass that run's -o")
    return weights, state


def _restore(path: str | os.PathLike, resumed: tuple[dict[str, Any], dict[str, Any]], net: torch.nn.Module,
             optimizer, scheduler, scaler) -> tuple[int, dict[str, Any]]:
    """Put the interrupted run's weights and training state back; returns (first epoch to run, best so far)."""
    weights, state = resumed
    try:
        net.load_state_dict(weights)
    except RuntimeError:
        raise EdgeDepthError(f"{path}: its weights do not fit the arch named in it; the file is damaged")
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if state["scaler"]:  # empty when saved with loss scaling off (CPU, bf16)
        scaler.load_state_dict(state["scaler"])
    return state["epoch"] + 1, state["best"]


def _silent(line: str) -> None:
    """The log of every rank but 0."""


def _batch_share(count: int, batch_size: int, job: Distributed) -> list[int]:
    """Indices of this rank's whole batches of range(count) (batches dealt round-robin)."""
    return [i for start in job.shard(range(0, count, batch_size)) for i in range(start, min(start + batch_size, count))]


def _start_at_median(model: torch.nn.Module, median: float) -> None:
    """Bias the last (1-channel) conv to the median depth, so training starts from the baseline, not from 0 m."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 1]
    for conv in last:  # LR-ASPP sums two 1-channel heads: split the median between them
        torch.nn.init.constant_(conv.bias, median / len(last))


@torch.no_grad()
def _recompute_batchnorm(model: torch.nn.Module, images: _Loaded, where: Placement, job: Distributed) -> None:
    """Replace BatchNorm's running statistics by exact ones over un-augmented training images ("precise BN",
    Wu & Johnson 2021). The running averages lag the weights on a short run (torchvision's MobileNetV3 uses
    momentum 0.01): measured here, eval-mode output stayed near-constant while train-mode loss fell 7×, and
    validation AbsRel jumped by 0.1 between epochs. Exact statistics make validation, the saved checkpoint
    and everything exported from it see what training saw.

    `images` is this rank's share of the batches; the ranks' statistics are then averaged, weighted by the
    batches each ran: the statistics one process running every batch computes, on every rank."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
    model.train()
    for x, _, _ in images.batches(PRECISE_BN_BATCH):
        model(where.images(x))
    if job.world_size > 1:
        _average_batchnorm(layers, job)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


def _average_batchnorm(layers: list[torch.nn.Module], job: Distributed) -> None:
    """Every rank's cumulative BatchNorm averages → their mean weighted by each rank's batch count."""
    parts = []
    for layer in layers:
        batches = layer.num_batches_tracked.double().view(1)
        parts += [layer.running_mean.double() * batches, layer.running_var.double() * batches, batches]
    total = job.sum(torch.cat(parts))
    at = 0
    for layer in layers:
        n = layer.num_features
        batches = total[at + 2 * n]
        layer.running_mean.copy_(total[at : at + n] / batches)
        layer.running_var.copy_(total[at + n : at + 2 * n] / batches)
        layer.num_batches_tracked.fill_(int(batches.item()))
        at += 2 * n + 1


@torch.no_grad()
def _validate(model: torch.nn.Module, val_set: _Loaded, indices: Sequence[int], where: Placement, job: Distributed,
              weights: LossWeights) -> tuple[float, dict[str, float]]:
    """Validation loss (each batch's loss weighted by its images) and mean per-image metrics over every rank's
    whole batches (`val_set` holds the images `indices`): the batches and sums of one process, on every rank."""
    model.eval()
    losses, per_image = {}, {}
    for k, (x, depth, valid) in enumerate(val_set.batches(VAL_BATCH)):
        first = indices[k * VAL_BATCH]
        pred = model(where.images(x)).float()
        losses[first] = depth_loss(pred, depth.to(where.device), valid.to(where.device), DEPTH.max_depth,
                                   weights).item() * len(x)
        for offset, (p, d, v) in enumerate(zip(pred.cpu().numpy(), depth.numpy(), valid.numpy())):
            per_image[first + offset] = depth_metrics(p, d, v, DEPTH.min_depth, DEPTH.max_depth)
    per_image = job.gather(per_image)
    return sum(job.gather(losses)) / len(per_image), mean_metrics(per_image)


def _baseline_metrics(val_set: _Loaded, indices: Sequence[int], median: float, job: Distributed) -> dict[str, float]:
    """The constant-median-depth baseline's mean per-image metrics over every rank's validation images."""
    per_image = {i: depth_metrics(np.full(depth.shape, median), depth, valid, DEPTH.min_depth, DEPTH.max_depth)
                 for i, (_, depth, valid) in zip(indices, val_set.items)}
    return mean_metrics(job.gather(per_image))
