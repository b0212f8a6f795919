"""torch.distributed set-up for ``torchrun``: one process per device, gradients averaged across processes.

vid2vid runs its generator many times per step (once per frame and scale) and each discriminator several times
before a backward pass, and it steps three optimizers per chunk. DistributedDataParallel's autograd hooks assume
one forward per backward, so the processes instead average every gradient explicitly with one all-reduce per
optimizer step. The update is the same as DDP's: the mean of the per-process gradients.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import Iterable

import torch
import torch.distributed as dist

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process stands in the job."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """Only the main process writes files and logs."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        """Whether more than one process takes part."""
        return self.world_size > 1


def init_distributed(use_cuda: bool) -> DistContext:
    """Join the process group described by torchrun's environment (``RANK``, ``WORLD_SIZE``, ...).

    Without those variables this is a single-process run and nothing is initialised.

    Args:
        use_cuda: NCCL on CUDA devices, gloo on CPU.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
    logger.info("distributed: rank %d of %d (local rank %d)", rank, world_size, local_rank)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank)


def average_gradients(params: Iterable[torch.nn.Parameter], ctx: DistContext) -> None:
    """Replace every gradient by its mean over the processes (one flat all-reduce)."""
    if not ctx.enabled:
        return
    params = [p for p in params if p.requires_grad]
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat, op=dist.ReduceOp.SUM)
    flat /= ctx.world_size
    offset = 0
    for param, grad in zip(params, grads):
        count = grad.numel()
        param.grad = flat[offset:offset + count].view_as(grad).clone()
        offset += count


def _scalar(value: int) -> torch.Tensor:
    """A one-element tensor on the device the process group's backend reduces on (NCCL: this GPU)."""
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else None
    return torch.tensor([value], dtype=torch.int64, device=device)


def barrier(ctx: DistContext) -> None:
    """Wait for every process (no-op in a single process)."""
    if ctx.enabled:
        dist.barrier()


def min_over_ranks(value: int, ctx: DistContext) -> int:
    """The smallest ``value`` of all processes (so they agree, e.g., on how many steps a batch makes)."""
    if not ctx.enabled:
        return value
    tensor = _scalar(value)
    dist.all_reduce(tensor, op=dist.ReduceOp.MIN)
    return int(tensor.item())


def any_over_ranks(flag: bool, ctx: DistContext) -> bool:
    """Whether ``flag`` is true in any process."""
    if not ctx.enabled:
        return flag
    tensor = _scalar(int(flag))
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return bool(tensor.item())


def broadcast_parameters(modules: Iterable[torch.nn.Module], ctx: DistContext) -> None:
    """Copy rank 0's parameters and buffers to every process, so all start identical."""
    if not ctx.enabled:
        return
    for module in modules:
        for tensor in list(module.parameters()) + list(module.buffers()):
            dist.broadcast(tensor.data, src=0)


def cleanup_distributed(ctx: DistContext) -> None:
    """Leave the process group."""
    if ctx.enabled and dist.is_initialized():
        dist.destroy_process_group()
