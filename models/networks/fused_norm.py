"""Inference-time fusion of batch-statistics BatchNorm with the activation after it.

The reference never calls ``.eval()``: at test time every ``BatchNorm2d`` normalises with the statistics of
the current batch (one frame), and the released weights depend on it. PyTorch's BatchNorm in training mode
reads its input twice for the statistics, once more for the affine transform, and the ReLU after it reads and
writes the result again. :func:`batch_norm_act` computes mean and variance in one pass
(``torch.var_mean``), folds them with the affine parameters into one per-channel scale and shift, and applies
scale, shift and the activation's clamp in place on the result of one ``addcmul``: the same numbers up to
float rounding, about half the memory traffic.

:class:`NormActSequential` is an ``nn.Sequential`` (same state-dict keys) that takes this path for each
``BatchNorm2d`` (plus a directly following ``ReLU``/``ReLU6``) when autograd is off, the norm uses batch
statistics and the input is stored channels-last; otherwise it is exactly ``nn.Sequential``. On the CPU the
fused path pays only channels-last: on NCHW tensors ``torch.var_mean`` over (B, H, W) is slower than PyTorch's
own batch norm (docs/performance.md). The running buffers are updated as PyTorch's training-mode BatchNorm
updates them (they never affect a training-mode output).
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from models.networks.memory_format import is_channels_last

#: activation module type -> (lower, upper) clamp bounds
ACTIVATION_BOUNDS: dict[type, tuple[Optional[float], Optional[float]]] = {nn.ReLU: (0.0, None), nn.ReLU6: (0.0, 6.0)}


def uses_batch_statistics(norm: nn.Module) -> bool:
    """Whether ``norm`` is a ``BatchNorm2d`` that normalises with the current batch's statistics."""
    return isinstance(norm, nn.BatchNorm2d) and (norm.training or norm.running_mean is None)


def batch_norm_act(x: Tensor, norm: nn.BatchNorm2d, bounds: tuple[Optional[float], Optional[float]] = (None, None)
                   ) -> Tensor:
    """Batch-statistics ``norm(x)`` then ``clamp(lower, upper)``, fused (no autograd).

    Statistics are accumulated in float32 whatever ``x``'s dtype (bf16 under autocast keeps its rounding only
    in the stored activations); the result has ``x``'s dtype and memory format.

    Args:
        x: (B, C, H, W).
        norm: A ``BatchNorm2d`` in training mode (or without running statistics).
        bounds: Clamp bounds after the affine transform; ``(None, None)`` for no activation.

    Returns:
        (B, C, H, W).
    """
    stats_input = x if x.dtype in (torch.float32, torch.float64) else x.float()
    var, mean = torch.var_mean(stats_input, dim=(0, 2, 3), correction=0)
    scale = torch.rsqrt(var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    _update_running_stats(norm, mean, var, x.numel() // x.shape[1])
    shape = (1, -1, 1, 1)
    out = torch.addcmul(shift.to(x.dtype).view(shape), x, scale.to(x.dtype).view(shape))
    lower, upper = bounds
    if lower is not None or upper is not None:
        out.clamp_(lower, upper)
    return out


def _update_running_stats(norm: nn.BatchNorm2d, mean: Tensor, var: Tensor, count: int) -> None:
    """What training-mode ``BatchNorm2d`` does to its buffers: momentum (or cumulative) averages, unbiased var."""
    if not norm.track_running_stats or norm.running_mean is None:
        return
    norm.num_batches_tracked.add_(1)
    momentum = norm.momentum if norm.momentum is not None else 1.0 / float(norm.num_batches_tracked)
    unbiased = var * (count / max(count - 1, 1))
    norm.running_mean.mul_(1 - momentum).add_(mean.to(norm.running_mean.dtype), alpha=momentum)
    norm.running_var.mul_(1 - momentum).add_(unbiased.to(norm.running_var.dtype), alpha=momentum)


class NormActSequential(nn.Sequential):
    """``nn.Sequential`` (same indices and keys) that fuses batch-statistics BatchNorm + ReLU/ReLU6 without autograd."""

    def forward(self, x: Tensor) -> Tensor:  # type: ignore[override]
        """x: (B, C, H, W) -> whatever the layers make of it."""
        if torch.is_grad_enabled() or not is_channels_last(x):
            return super().forward(x)
        layers = list(self)
        i = 0
        while i < len(layers):
            layer = layers[i]
            if uses_batch_statistics(layer):
                following = layers[i + 1] if i + 1 < len(layers) else None
                bounds = ACTIVATION_BOUNDS.get(type(following), None)
                x = batch_norm_act(x, layer, bounds or (None, None))
                i += 2 if bounds is not None else 1
            else:
                x = layer(x)
                i += 1
        return x
