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

from ..errors import EdgeDepthError
from . import diode


@dataclass(frozen=True)
class Split:
    """A data folder read once: the samples that may calibrate (and train), and the held-out ones every score
    is taken on. Every step of one run takes the same Split, so the folder is walked once."""

    root: Path
    pool: tuple[diode.Sample, ...]
    held_out: tuple[diode.Sample, ...]
    policy: str  # how the two were told apart

    @classmethod
    def of(cls, data: str | os.PathLike | Split, val_fraction: float = 0.1) -> Split:
        """The folder's train and official val/ splits, as `edgedepth train` uses them (val/ is never trained or
        calibrated on); a folder holding only val/ is held out whole; one without splits is divided by scene,
        so no held-out scene is calibrated on."""
        if isinstance(data, Split):
            return data
        samples = diode.find_samples(data)
        pool = [s for s in samples if s.split != "val"]
        held_out = [s for s in samples if s.split == "val"]
        if held_out and not any(s.split for s in pool):
            if pool:  # val/ beside scans outside any split folder: which are held out is ambiguous
                raise EdgeDepthError(f"{data} holds a val/ split beside {len(pool)} scans outside any split folder; put "
                                     "them under train/ (or remove them) so the held-out images are known")
            return cls(Path(data), (), tuple(held_out), "the official val/ split, whole (no train/ split here)")
        if pool and held_out:
            return cls(Path(data), tuple(pool), tuple(held_out), "train/ calibrates, the official val/ split is held out")
        pool, held_out = diode.split_by_scene(samples, val_fraction=val_fraction)
        return cls(Path(data), tuple(pool), tuple(held_out), f"scene-level split ({val_fraction:.0%} of scenes held out)")


def stratified_order(samples: Sequence[diode.Sample], seed: int) -> list[diode.Sample]:
    """All samples in a seeded order that alternates domains and, within a domain, cycles through scenes."""
    rng = random.Random(seed)
    per_domain: dict[str, list[diode.Sample]] = {}
    for domain in sorted({s.domain for s in samples}):
        by_scene: dict[str, list[diode.Sample]] = defaultdict(list)
        for sample in sorted((s for s in samples if s.domain == domain), key=lambda s: str(s.rgb)):
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
