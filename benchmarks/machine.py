"""What every benchmark prints beside its numbers: the machine, its instruction set, and how busy it was.

A timing means something only on a quiet machine. The load average cannot say so at the end of a run (the
benchmark's own threads are the load), so `Quiet` counts what the machine's CPUs did during the run (/proc/stat)
minus what this process and its children did (os.times): the CPU time of other work, printed with the load
average at the start.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from edgedepth.measure.timing import processor_name

#: Instruction-set extensions that change CPU inference speed: VNNI speeds INT8 dot products; with avx512_bf16
#: or AMX OpenVINO would run "FP32" in bf16 unless pinned to f32 (the project pins it).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
#: Quiet: a 1-minute load average at the start under this per core, and other work using under this share of
#: one core on average during the run (the idle machine's kernel threads use about 1 %).
QUIET_LOAD_PER_CORE, QUIET_OTHER_CORES = 0.25, 0.05


def isa() -> list[str]:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    return [name for name in ISA_FLAGS if name in flags]


def busy_seconds() -> float:
    """CPU seconds every process on the machine has run (all cores, /proc/stat: not idle, not waiting on I/O)."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def own_seconds() -> float:
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


@dataclass
class Quiet:
    """The load average at the start of a run and, after `end()`, the CPU time other work took during it."""

    load_before: float = field(default_factory=lambda: os.getloadavg()[0])
    started: tuple[float, float, float] = field(default_factory=lambda: (time.monotonic(), busy_seconds(), own_seconds()))
    other_cores: float | None = None  # other work's CPU seconds per second of the run
    minutes: float | None = None

    def end(self) -> Quiet:
        wall, busy, own = (now - then for now, then in zip((time.monotonic(), busy_seconds(), own_seconds()), self.started))
        self.other_cores, self.minutes = max(0.0, busy - own) / wall, wall / 60
        return self

    @property
    def quiet(self) -> bool:
        cores = os.cpu_count() or 1
        return self.load_before <= QUIET_LOAD_PER_CORE * cores and (self.other_cores or 0.0) <= QUIET_OTHER_CORES

    def line(self) -> str:
        verdict = "quiet" if self.quiet else "NOT quiet: other work shared the cores, timings are indicative only"
        during = ("?" if self.other_cores is None else
                  f"{self.other_cores:.1%} of one core on average over the run's {self.minutes:.0f} min")
        return (f"- Load average (1 min) at the start {self.load_before:.2f} on {os.cpu_count()} cores; CPU time of "
                f"other processes during the run: {during}: {verdict}")


def machine_lines(quiet: Quiet | None = None) -> list[str]:
    memory = next((f"{int(line.split()[1]) / 2**20:.1f} GiB" for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?") if Path("/proc/meminfo").exists() else "?"
    lines = [f"- CPU: {processor_name()}, {os.cpu_count()} logical cores, ISA: {', '.join(isa()) or '?'}",
             f"- Memory: {memory}; OS: {platform.platform()}; Python {platform.python_version()}"]
    return lines + ([quiet.line()] if quiet else [])
