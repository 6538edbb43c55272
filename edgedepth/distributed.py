"""This process's place in a `torchrun` job, and the few collectives training and evaluation need.

`torchrun` (torch.distributed.run) sets RANK, WORLD_SIZE, LOCAL_RANK and LOCAL_WORLD_SIZE in each process it
starts; without them a process is rank 0 of 1 and every collective here is a no-op, so one code path serves
one process and many. Work is shared out round-robin (`shard`) and results come back keyed by their global
index (`gather`), so a reduced metric is the one a single process computes, summed in the same order.
torch is imported inside the functions: importing this module stays light.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0  # the GPU this process drives on its node
    local_world_size: int = 1  # processes on this node (they share its CPU cores)

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that logs, draws progress and writes files."""
        return self.rank == 0

    def shard(self, items: Sequence[T]) -> Sequence[T]:
        """This rank's share of `items`: every world_size-th one, from its rank on."""
        return items[self.rank :: self.world_size]

    def gather(self, rows: dict[int, T]) -> list[T]:
        """Every rank's {global index: value} merged, returned in index order on every rank."""
        if self.world_size > 1:
            import torch.distributed as dist

            parts: list[Any] = [None] * self.world_size
            dist.all_gather_object(parts, rows)
            rows = {index: value for part in parts for index, value in part.items()}
        return [rows[index] for index in sorted(rows)]

    def sum(self, tensor):
        """Element-wise sum of `tensor` over the ranks, in place (and returned)."""
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    def from_main(self, value: T) -> T:
        """Rank 0's `value` on every rank (the others pass anything, e.g. None)."""
        if self.world_size > 1:
            import torch.distributed as dist

            box = [value]
            dist.broadcast_object_list(box, src=0)
            value = box[0]
        return value

    def barrier(self) -> None:
        if self.world_size > 1:
            import torch.distributed as dist

            dist.barrier()



def from_env() -> Distributed:
    """The job torchrun describes in the environment; rank 0 of 1 outside torchrun."""
    env = os.environ
    world = int(env.get("WORLD_SIZE", 1))
    return Distributed(int(env.get("RANK", 0)), world, int(env.get("LOCAL_RANK", 0)),
                       int(env.get("LOCAL_WORLD_SIZE", world)))


@contextlib.contextmanager
def joined(device: str) -> Iterator[Distributed]:
    """Join the torchrun job for the block (nccl for "cuda", gloo for "cpu"), then leave it.

    A process group the caller already made is used as it is and left open."""
    import torch
    import torch.distributed as dist

    job = from_env()
    own = job.world_size > 1 and not dist.is_initialized()
    if own:
        if device == "cuda":
            torch.cuda.set_device(job.local_rank)
            dist.init_process_group("nccl", device_id=torch.device("cuda", job.local_rank))
        else:
            dist.init_process_group("gloo")
    try:
        yield job
    finally:
        if own:
            dist.destroy_process_group()
