"""Rows ``dist.gloo`` and ``dist.nccl``: a process group of 1 (this process) and of 2 (spawned), gradients
averaged with the trainer's :func:`util.distributed.average_gradients`."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.distributed as dist

from doctor.table import CheckFailed, Context, row
from util.distributed import DistContext, average_gradients


def reduce_and_average(rank: int, world_size: int, backend: str, store: str) -> None:
    """Join the group, all-reduce this rank's number and average a gradient; raise when the result is wrong.

    Runs in this process (world size 1) or in each spawned process (rank first, as ``mp.spawn`` calls it).
    """
    device = torch.device("cuda", rank) if backend == "nccl" else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(backend, init_method=f"file://{store}", rank=rank, world_size=world_size)
    try:
        total = torch.tensor([rank + 1.0], device=device)
        dist.all_reduce(total)
        param = torch.nn.Parameter(torch.zeros(3, device=device))
        param.grad = torch.full((3,), rank + 1.0, device=device)
        average_gradients([param], DistContext(rank=rank, world_size=world_size, local_rank=rank))
        expected_sum, expected_mean = world_size * (world_size + 1) / 2, (world_size + 1) / 2
        if float(total) != expected_sum or not torch.all(param.grad == expected_mean):
            raise CheckFailed(f"rank {rank}: all_reduce gave {float(total)} (expected {expected_sum}), averaged "
                              f"gradient {param.grad.tolist()} (expected {expected_mean})")
    finally:
        dist.destroy_process_group()


def run_group(ctx: Context, backend: str, world_size: int) -> None:
    """A group of ``world_size`` processes with ``backend``: this one alone, or spawned ones."""
    store = ctx.workdir / f"{backend}_{world_size}.store"
    Path(store).unlink(missing_ok=True)
    if world_size == 1:
        reduce_and_average(0, 1, backend, str(store))
        return
    torch.multiprocessing.spawn(reduce_and_average, args=(world_size, backend, str(store)), nprocs=world_size,
                                join=True)


@row("dist.gloo", gpu=False)
def check_gloo(ctx: Context) -> str:
    """gloo (CPU): world size 1 in this process and 2 spawned processes."""
    if not dist.is_available() or not dist.is_gloo_available():
        raise CheckFailed("torch.distributed with gloo is not available in this torch build")
    for world_size in (1, 2):
        run_group(ctx, "gloo", world_size)
    return "world size 1 and 2: all_reduce and gradient averaging correct"


@row("dist.nccl", gpu=True)
def check_nccl(ctx: Context) -> str:
    """NCCL: world size 1, and 2 when two GPUs are visible."""
    ctx.require_gpus()
    if not dist.is_nccl_available():
        raise CheckFailed("this torch build has no NCCL")
    sizes = (1, 2) if ctx.gpu_count >= 2 else (1,)
    for world_size in sizes:
        run_group(ctx, "nccl", world_size)
    note = "" if ctx.gpu_count >= 2 else " (world size 2 needs two GPUs)"
    return f"NCCL {'.'.join(map(str, torch.cuda.nccl.version()))}, world size {' and '.join(map(str, sizes))}: " \
           f"correct{note}"
