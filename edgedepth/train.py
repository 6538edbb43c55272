"""Training and evaluation of a depth network on a DIODE-layout folder.

Training uses the folder's train split (all of it when no split folder exists), divided by scene 90/10 into
train and validation (`diode.split_by_scene`); the folder's official val/ split stays untouched for
`evaluate`, which scores evaluation.py's held-out set. Ground truth outside the model's depth range (DIODE's
outdoor depth runs to 350 m) is neither trained on nor validated against, as in evaluation. Every prediction
is scored beside the constant-median-depth baseline: a model that does not beat it by a wide margin has
learned nothing about depth.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .data import diode
from .data.transforms import augment, preprocess, resize_nearest
from .errors import EdgeDepthError
from .losses import LossWeights, depth_loss
from .metrics import depth_metrics, mean_metrics, scored_mask
from .models import DEFAULT_DEPTH, check_input_size, create_model, save_checkpoint


@dataclass(frozen=True)
class TrainConfig:
    arch: str = "lraspp_mobilenet_v3_large"
    size: tuple[int, int] = (96, 128)
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3  # Adam's default
    seed: int = 0
    loss: LossWeights = LossWeights()
    backbone_weights: str | None = None


class _Loaded:
    """Samples loaded once, ground truth brought to the model size (nearest: no invalid pixel bleeds) and
    valid only inside the model's depth range."""

    def __init__(self, samples: Sequence[diode.Sample], size: tuple[int, int], depth_range: dict = DEFAULT_DEPTH):
        self.items = []
        for sample in samples:
            rgb, depth, valid = diode.load_sample(sample)
            depth = resize_nearest(depth, size)
            valid, _ = scored_mask(depth, resize_nearest(valid, size), depth_range["min_depth"], depth_range["max_depth"])
            self.items.append((rgb, depth, valid))
        self.size = size

    def batches(self, batch_size: int, rng: np.random.Generator | None = None, order: Sequence[int] | None = None):
        """(x N×3×H×W, depth N×1×H×W, valid N×1×H×W) tensors over `order` (default: all, in path order);
        shuffled and augmented when `rng` is given."""
        if order is None:
            order = rng.permutation(len(self.items)) if rng is not None else np.arange(len(self.items))
        for start in range(0, len(order), batch_size):
            rgbs, depths, valids = [], [], []
            for i in order[start : start + batch_size]:
                rgb, depth, valid = self.items[i]
                if rng is not None:
                    rgb, depth, valid = augment(rgb, depth, valid, rng, self.size)
                rgbs.append(rgb)
                depths.append(depth)
                valids.append(valid)
            yield (
                torch.from_numpy(preprocess(rgbs, self.size)),
                torch.from_numpy(np.stack(depths)[:, None].astype(np.float32)),
                torch.from_numpy(np.stack(valids)[:, None]),
            )


def training_split(data: str | os.PathLike) -> tuple[list[diode.Sample], list[diode.Sample]]:
    """(train, val) scene-level split of the folder's training samples."""
    samples = diode.find_samples(data)
    pool = [s for s in samples if s.split != "val"] or samples
    train, val = diode.split_by_scene(pool)
    if not val:
        raise EdgeDepthError(f"{data} holds a single scene; training needs at least two to validate on an unseen one")
    return train, val


def median_depth(loaded: _Loaded) -> float:
    return float(np.median(np.concatenate([depth[valid] for _, depth, valid in loaded.items])))


def train(data: str | os.PathLike, output: str | os.PathLike, config: TrainConfig = TrainConfig(),
          progress: bool = True, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train `config.arch` on `data`; the best epoch (lowest val loss) is saved to `output`. Returns its meta."""
    size = check_input_size(config.arch, config.size)
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    train_samples, val_samples = training_split(data)
    train_set, val_set = _Loaded(train_samples, size), _Loaded(val_samples, size)
    depth_range = dict(DEFAULT_DEPTH)
    median = median_depth(train_set)

    model = create_model(config.arch, config.backbone_weights)
    _start_at_median(model, median)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=2)
    baseline = _scores(val_set, np.full((len(val_set.items), *size), median, np.float32), depth_range)
    best: dict[str, Any] | None = None

    steps = config.epochs * -(-len(train_set.items) // config.batch_size)
    with _progress(progress, steps) as advance:
        for epoch in range(1, config.epochs + 1):
            model.train()
            for x, depth, valid in train_set.batches(config.batch_size, rng):
                loss = depth_loss(model(x), depth, valid, depth_range["max_depth"], config.loss)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                advance(f"epoch {epoch}/{config.epochs} loss {loss.item():.4f}")
            _recompute_batchnorm(model, train_set)
            val_loss, metrics = _validate(model, val_set, val_samples, size, depth_range, config.loss)
            scheduler.step(val_loss)
            log(f"epoch {epoch:3d}  val loss {val_loss:.4f}  AbsRel {metrics['abs_rel']:.3f}  "
                f"δ1 {metrics['delta1']:.3f}  RMSE {metrics['rmse']:.2f} m  lr {optimizer.param_groups[0]['lr']:.1e}")
            if best is None or val_loss < best["val_loss"]:
                best = {"epoch": epoch, "val_loss": val_loss, "metrics": metrics}
                meta = {
                    "arch": config.arch,
                    "input_size": list(size),
                    "depth": depth_range,
                    "metrics": metrics,
                    "baseline": {"kind": "constant median depth", "median_depth": median, "metrics": baseline},
                    "train": {
                        "data": str(data), "train_samples": len(train_samples), "val_samples": len(val_samples),
                        "epochs": config.epochs, "best_epoch": epoch, "batch_size": config.batch_size,
                        "lr": config.lr, "seed": config.seed, "loss_weights": config.loss.as_dict(),
                        "optimizer": "Adam", "scheduler": "ReduceLROnPlateau(val loss, factor 0.5, patience 2)",
                    },
                }
                save_checkpoint(output, model, meta)
    return meta


def _start_at_median(model: torch.nn.Module, median: float) -> None:
    """Bias the last (1-channel) conv to the median depth, so training starts from the baseline, not from 0 m."""
    last = [m for m in model.modules() if isinstance(m, torch.nn.Conv2d) and m.out_channels == 1]
    for conv in last:  # LR-ASPP sums two 1-channel heads: split the median between them
        torch.nn.init.constant_(conv.bias, median / len(last))


@torch.no_grad()
def _recompute_batchnorm(model: torch.nn.Module, train_set: _Loaded, images: int = 128) -> None:
    """Replace BatchNorm's running statistics by exact ones over un-augmented training images ("precise BN",
    Wu & Johnson 2021). The running averages lag the weights on a short run (torchvision's MobileNetV3 uses
    momentum 0.01): measured here, eval-mode output stayed near-constant while train-mode loss fell 7×, and
    validation AbsRel jumped by 0.1 between epochs. Exact statistics make validation, the saved checkpoint
    and everything exported from it see what training saw."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None  # cumulative average over the batches below
    model.train()
    # evenly spaced: the items are in path order, indoors before outdoor
    spread = np.unique(np.linspace(0, len(train_set.items) - 1, min(images, len(train_set.items))).round().astype(int))
    for x, _, _ in train_set.batches(32, order=spread):
        model(x)
    for layer, momentum in zip(layers, momenta):
        layer.momentum = momentum


@torch.no_grad()
def _validate(model, val_set: _Loaded, samples, size, depth_range, weights) -> tuple[float, dict[str, float]]:
    model.eval()
    losses, predictions = [], []
    for x, depth, valid in val_set.batches(16):
        pred = model(x)
        losses.append(depth_loss(pred, depth, valid, depth_range["max_depth"], weights).item() * len(x))
        predictions.append(pred.numpy())
    return sum(losses) / len(val_set.items), _scores(val_set, np.concatenate(predictions), depth_range)


def _scores(loaded: _Loaded, predictions: np.ndarray, depth_range: dict) -> dict[str, float]:
    """Mean per-image metrics of predictions (one per loaded item) against the items' ground truth."""
    return mean_metrics(depth_metrics(p, depth, valid, depth_range["min_depth"], depth_range["max_depth"])
                        for p, (_, depth, valid) in zip(predictions, loaded.items))


def evaluate_checkpoint(checkpoint: str | os.PathLike, data: str | os.PathLike, min_depth: float | None = None,
                        max_depth: float | None = None) -> dict[str, Any]:
    """The model's and the median baseline's metrics on the held-out images of `data` (evaluation.EvalSet),
    inside the window [min_depth, max_depth] (default: the checkpoint's depth range), with the model's
    breakdown by depth range and domain."""
    from .data.transforms import Preprocessing
    from .evaluation import ALIGNMENTS, EvalSet, Window
    from .models import load_checkpoint

    model, meta = load_checkpoint(checkpoint)
    size = tuple(meta["input_size"])
    median = meta.get("baseline", {}).get("median_depth")
    if median is None:
        raise EdgeDepthError(f"{checkpoint} records no training median depth; retrain it with `edgedepth train`")
    window = Window.of(meta["depth"], min_depth, max_depth)
    eval_set = EvalSet.held_out(data, size, window, preprocessing=Preprocessing.from_record(meta.get("preprocessing")))
    if not len(eval_set):
        raise EdgeDepthError(f"{data} has no held-out scene with ground truth inside {window.min_depth:g}–"
                             f"{window.max_depth:g} m; give a DIODE root with a val/ split, or a folder of several scenes")
    with torch.no_grad():
        predictions = eval_set.predict(lambda x: model(torch.from_numpy(x)).numpy())
    return {
        "checkpoint": str(checkpoint),
        "data": str(data),
        "images": len(eval_set),
        "held_out": eval_set.describe(),
        "alignment": ALIGNMENTS["metric"],
        "model": eval_set.score(predictions),
        "baseline": eval_set.score([np.full(size, median, np.float32)] * len(eval_set)),
        "breakdown": eval_set.breakdown(predictions),
    }


class _progress:
    """A rich progress bar over training steps (silent when `enabled` is False or off a terminal)."""

    def __init__(self, enabled: bool, total: int):
        from rich.progress import Progress

        self.bar = Progress(transient=True, disable=not enabled)
        self.total = total

    def __enter__(self) -> Callable[[str], None]:
        self.bar.start()
        task = self.bar.add_task("training", total=self.total)
        return lambda description: self.bar.update(task, advance=1, description=description)

    def __exit__(self, *exc) -> None:
        self.bar.stop()
