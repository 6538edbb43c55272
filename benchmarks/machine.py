"""What every benchmark prints beside its numbers: the machine, its instruction set, and how busy it was.

A timing means something only on a quiet machine: `Quiet` reads the 1-minute load average before and after
the run, and the tables say both, so a reader can see whether other work shared the cores.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path

from edgedepth.bench import processor_name

#: Instruction-set extensions that change CPU inference speed: VNNI speeds INT8 dot products; with avx512_bf16
#: or AMX OpenVINO would run "FP32" in bf16 unless pinned to f32 (the project pins it).
ISA_FLAGS = ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
#: Above this 1-minute load average per core, other work shared the cores and the timings are marked so.
QUIET_LOAD_PER_CORE = 0.25


def isa() -> list[str]:
    flags = Path("/proc/cpuinfo").read_text().split() if Path("/proc/cpuinfo").exists() else []
    return [name for name in ISA_FLAGS if name in flags]


def load_average() -> float:
    return os.getloadavg()[0]


@dataclass
class Quiet:
    """The load average at the start of a run and, after `end()`, at its end."""

    before: float = field(default_factory=load_average)
    after: float | None = None

    def end(self) -> Quiet:
        self.after = load_average()
        return self

    @property
    def quiet(self) -> bool:
        cores = os.cpu_count() or 1
        return max(self.before, self.after or 0.0) <= QUIET_LOAD_PER_CORE * cores

    def line(self) -> str:
        verdict = "quiet" if self.quiet else "NOT quiet: other work shared the cores, timings are indicative only"
        return (f"- Load average (1 min) before {self.before:.2f}, after "
                f"{'?' if self.after is None else f'{self.after:.2f}'} on {os.cpu_count()} cores: {verdict}")


def machine_lines(quiet: Quiet | None = None) -> list[str]:
    memory = next((f"{int(line.split()[1]) / 2**20:.1f} GiB" for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "?") if Path("/proc/meminfo").exists() else "?"
    lines = [f"- CPU: {processor_name()}, {os.cpu_count()} logical cores, ISA: {', '.join(isa()) or '?'}",
             f"- Memory: {memory}; OS: {platform.platform()}; Python {platform.python_version()}"]
    return lines + ([quiet.line()] if quiet else [])
