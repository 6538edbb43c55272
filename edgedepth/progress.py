"""How long work reports its progress: a callback its caller passes. The library never draws; the CLI's ui
module turns the calls into progress bars (or, off a terminal, periodic lines)."""

from __future__ import annotations

from collections.abc import Callable

#: progress(stage, done, total): `done` of `total` steps of `stage` are finished (total None: not known ahead).
Progress = Callable[[str, int, "int | None"], None]


def silent(stage: str, done: int, total: int | None) -> None:
    """The progress of a caller that shows none."""


def counter(progress: Progress, stage: str, total: int | None) -> Callable[[int], None]:
    """advance(n): `n` more steps of `stage` done, reported to `progress` (which hears 0 at once)."""
    done = 0
    progress(stage, done, total)

    def advance(n: int = 1) -> None:
        nonlocal done
        done += n
        progress(stage, done, total)

    return advance
