"""Activation checkpointing of generated frames (``--checkpoint_activations``): a frame's activations are
recomputed in the backward pass instead of being kept, so a chunk's memory grows by its outputs, not its
activations. The recomputation replays the same forward (same RNG and autocast state), so losses and gradients
are those of the plain forward; BatchNorm running statistics are restored after the replay, so they are updated
once per frame, as without checkpointing."""

from __future__ import annotations

from contextlib import contextmanager, nullcontext
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.utils.checkpoint import checkpoint


@contextmanager
def kept_running_stats(module: nn.Module) -> Iterator[None]:
    """Undo, on exit, every change to the BatchNorm running statistics (and batch counts) of ``module``."""
    norms = [m for m in module.modules() if isinstance(m, _BatchNorm) and m.track_running_stats]
    saved = [[b.clone() for b in (m.running_mean, m.running_var, m.num_batches_tracked) if b is not None]
             for m in norms]
    try:
        yield
    finally:
        with torch.no_grad():
            for m, buffers in zip(norms, saved):
                live = [b for b in (m.running_mean, m.running_var, m.num_batches_tracked) if b is not None]
                for target, value in zip(live, buffers):
                    target.copy_(value)


def checkpointed_call(module: nn.Module, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` with its activations recomputed in the backward pass (non-reentrant checkpointing).

    Args:
        module: The network ``fn`` runs (its BatchNorm statistics are left as the first forward set them).
        fn: The forward to checkpoint; its outputs may be any nesting of tensors (NamedTuples, lists, None).
        *args: Its tensor arguments.
    """
    return checkpoint(fn, *args, use_reentrant=False,
                      context_fn=lambda: (nullcontext(), kept_running_stats(module)))
