"""Which samples of a data folder may calibrate and train, which are held out, and in what order: one policy,
read by calibration, scoring and training alike, and kept out of all three.

`Split.of` reads the folder once; every step of one run takes the same Split. `stratified_order` is the seeded
order every pick takes: it alternates domains and, within a domain, cycles through scenes, so any prefix covers
both domains and as many scenes as it can.
"""

from __future__ import annotations

import os
import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .datasets import open_dataset
from .samples import Dataset, Sample


@dataclass(frozen=True)
class Split:
    """A data folder read once (`datasets.open_dataset`): the samples that may calibrate and train (`pool`), and
    the held-out ones every score is taken on. Every step of one run takes the same Split, so the folder is
    walked once."""

    dataset: Dataset
    pool: tuple[Sample, ...]
    held_out: tuple[Sample, ...]
    policy: str  # how the two were told apart

    @property
    def root(self) -> Path:
        return self.dataset.root

    @classmethod
    def of(cls, data: str | os.PathLike | Split, val_fraction: float = 0.1) -> Split:
        """The dataset's official roles (`Dataset.partition`): its training split calibrates, its held-out split
        is scored and never calibrated on; a DIODE root holding only val/ is held out whole; a folder without
        splits is divided by scene, so no held-out scene is calibrated on."""
        if isinstance(data, Split):
            return data
        dataset = open_dataset(data)
        part = dataset.partition(val_fraction)
        return cls(dataset, tuple(part.training), tuple(part.held_out), part.rule)


def stratified_order(samples: Sequence[Sample], seed: int) -> list[Sample]:
    """All samples in a seeded order that alternates domains and, within a domain, cycles through scenes."""
    rng = random.Random(seed)
    per_domain: dict[str, list[Sample]] = {}
    for domain in sorted({s.domain for s in samples}):
        by_scene: dict[str, list[Sample]] = defaultdict(list)
        for sample in sorted((s for s in samples if s.domain == domain), key=lambda s: s.key):
            by_scene[sample.scene_id].append(sample)
        scenes = sorted(by_scene)
        rng.shuffle(scenes)
        for scene in scenes:
            rng.shuffle(by_scene[scene])
        per_domain[domain] = _round_robin([by_scene[scene] for scene in scenes])
    return _round_robin(list(per_domain.values()))


def _round_robin(groups: list[list[Any]]) -> list[Any]:
    longest = max((len(g) for g in groups), default=0)
    return [group[i] for i in range(longest) for group in groups if i < len(group)]
