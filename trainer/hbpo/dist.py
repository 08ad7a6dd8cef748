"""One run across several processes: torchrun's ranks, and the few collectives the loop needs.

A run of N processes is started by torchrun (`python -m hbpo train --nproc N` starts it for you;
see `launch`). Every rank runs the same loop on its own share of each step's queries (whole
queries, so a query's tiers and advantages never cross ranks); rank 0 alone writes the run folder.
One process without torchrun is a world of one, and every helper here is then a no-op.

Collectives are CPU-side (gloo) or on the rank's GPU (NCCL); they time out after `TIMEOUT`, so a
rank whose peer died does not wait forever (torchrun also stops every rank when one fails).
"""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from typing import Any, Sequence, TypeVar

import torch

T = TypeVar("T")

# How long a collective may wait for the slowest rank: generous (a rank may be evaluating or
# saving while the others wait at the next collective), but bounded.
TIMEOUT = dt.timedelta(minutes=int(os.environ.get("HBPO_DIST_TIMEOUT_MIN", "30")))


@dataclass(frozen=True)
class World:
    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1


def under_torchrun() -> bool:
    return "TORCHELASTIC_RUN_ID" in os.environ or ("RANK" in os.environ and "WORLD_SIZE" in os.environ)


def init_world(device_kind: str) -> World:
    """Join the process group torchrun set up (NCCL on CUDA, gloo on CPU); a world of one otherwise."""
    if not under_torchrun() or int(os.environ.get("WORLD_SIZE", "1")) < 2:
        return World()
    import torch.distributed as dist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        if device_kind == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device_kind == "cuda" else "gloo", timeout=TIMEOUT)
    return World(dist.get_rank(), dist.get_world_size(), local_rank)


def close_world(world: World, *, together: bool = False) -> None:
    """Leave the process group. `together` (every rank ended its run normally): wait for all ranks
    first, so that none tears gloo down while another still talks to it; a rank that did so could
    abort at exit ("terminate called without an active exception") after a finished run, and the
    launcher then reported the run failed. Not after an error: the other ranks may never come."""
    if world.distributed:
        import torch.distributed as dist

        if dist.is_initialized():
            if together:
                dist.barrier()
            dist.destroy_process_group()


def shard(count: int, group: int, world: World) -> list[int]:
    """This rank's share of a step's `count` queries: its slice of every mini-batch of `group`
    queries (world.size divides group, group divides count: checked before a run starts), so that
    each optimizer step sees, across ranks, the queries one process would give it."""
    per = group // world.size
    return [m + world.rank * per + i for m in range(0, count, group) for i in range(per)]


def all_sum(values: Sequence[float], world: World) -> list[float]:
    """Element-wise sum over ranks (float64 on CPU: exact enough for token counts and metric sums)."""
    if not world.distributed:
        return list(values)
    import torch.distributed as dist

    t = torch.tensor(list(values), dtype=torch.float64, device=_collective_device(world))
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t.tolist()


def any_rank(flag: bool, world: World) -> bool:
    """True on every rank when it is true on any (a stop request, which a signal brings to some ranks first)."""
    if not world.distributed:
        return flag
    return all_sum([1.0 if flag else 0.0], world)[0] > 0


def gather(obj: T, world: World) -> list[T] | None:
    """Every rank's `obj`, in rank order, on rank 0 (None elsewhere)."""
    if not world.distributed:
        return [obj]
    import torch.distributed as dist

    out: list[Any] | None = [None] * world.size if world.main else None
    dist.gather_object(obj, out, dst=0)
    return out


def broadcast(obj: T, world: World) -> T:
    """Rank 0's `obj` on every rank."""
    if not world.distributed:
        return obj
    import torch.distributed as dist

    box = [obj if world.main else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def barrier(world: World) -> None:
    if world.distributed:
        import torch.distributed as dist

        dist.barrier()


def _collective_device(world: World) -> torch.device:
    import torch.distributed as dist

    return torch.device("cuda", world.local_rank) if dist.get_backend() == "nccl" else torch.device("cpu")
