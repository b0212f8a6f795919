"""Inference-time fusion of batch-statistics BatchNorm with the activation after it.

The reference never calls ``.eval()``: at test time every ``BatchNorm2d`` normalises with the statistics of
the current batch (one frame), and the released weights depend on it. :func:`batch_norm_act` takes the
statistics from PyTorch's own batch-norm statistics kernel (``torch.batch_norm_update_stats``: the mean and
variance training-mode ``BatchNorm2d`` computes, its running buffers updated the same way), folds them with the
affine parameters into one per-channel scale and shift, and applies scale, shift and the activation's clamp
in place on the convolution output it normalises (a fresh tensor nobody else holds): no new feature map is
allocated, the same numbers as the modules up to float rounding. (``torch.var_mean`` over (B, H, W), the first
version, is a scalar Welford loop on the CPU: 15-30x slower than the statistics kernel, and single-threaded.)

:class:`NormActSequential` is an ``nn.Sequential`` (same state-dict keys) that takes this path for each
``BatchNorm2d`` (plus a directly following ``ReLU``/``ReLU6``) when autograd is off, the norm uses batch
statistics and the input is stored channels-last (threads: :func:`short_op_threads`); otherwise it is
exactly ``nn.Sequential`` (the NCHW layout keeps PyTorch's modules).
"""

from __future__ import annotations

import contextlib
from typing import Iterator, Optional

import torch
from torch import Tensor, nn

from models.networks.memory_format import is_channels_last

#: activation module type -> (lower, upper) clamp bounds
ACTIVATION_BOUNDS: dict[type, tuple[Optional[float], Optional[float]]] = {nn.ReLU: (0.0, None), nn.ReLU6: (0.0, 6.0)}


def uses_batch_statistics(norm: nn.Module) -> bool:
    """Whether ``norm`` is a ``BatchNorm2d`` that normalises with the current batch's statistics."""
    return isinstance(norm, nn.BatchNorm2d) and (norm.training or norm.running_mean is None)


def batch_norm_act(x: Tensor, norm: nn.BatchNorm2d, bounds: tuple[Optional[float], Optional[float]] = (None, None),
                   in_place: bool = False) -> Tensor:
    """Batch-statistics ``norm(x)`` then ``clamp(lower, upper)``, fused (no autograd).

    The result has ``x``'s dtype and memory format. bf16 input (autocast) goes through PyTorch's mixed-precision
    batch norm (statistics and affine in float32, see :func:`_reduced_precision_batch_norm_act`).

    Args:
        x: (B, C, H, W).
        norm: A ``BatchNorm2d`` in training mode (or without running statistics).
        bounds: Clamp bounds after the affine transform; ``(None, None)`` for no activation.
        in_place: Overwrite ``x`` with the result (only for a tensor no one else reads, e.g. a fresh conv output).

    Returns:
        (B, C, H, W) (``x`` itself when ``in_place``).
    """
    if x.dtype not in (torch.float32, torch.float64):
        return _reduced_precision_batch_norm_act(x, norm, bounds)
    mean, var = torch.batch_norm_update_stats(x, *_count_batch(norm))
    scale = torch.rsqrt(var + norm.eps)
    if norm.weight is not None:
        scale = scale * norm.weight
    shift = -mean * scale
    if norm.bias is not None:
        shift = shift + norm.bias
    shape = (1, -1, 1, 1)
    scale, shift = scale.to(x.dtype).view(shape), shift.to(x.dtype).view(shape)
    out = torch.addcmul(shift, x, scale, out=x) if in_place else torch.addcmul(shift, x, scale)
    return _clamp_(out, bounds)


def _reduced_precision_batch_norm_act(x: Tensor, norm: nn.BatchNorm2d,
                                      bounds: tuple[Optional[float], Optional[float]]) -> Tensor:
    """bf16 (or fp16) ``x`` (B, C, H, W): ``torch.native_batch_norm`` with the float32 parameters (statistics and
    transform computed in float32 inside the kernel, no float32 copy of ``x``), then the clamp in place."""
    running_mean, running_var, momentum = _count_batch(norm)
    out = torch.native_batch_norm(x, norm.weight, norm.bias, running_mean, running_var, True, momentum, norm.eps)[0]
    return _clamp_(out, bounds)


def _count_batch(norm: nn.BatchNorm2d) -> tuple[Optional[Tensor], Optional[Tensor], float]:
    """What training-mode ``BatchNorm2d`` does before its statistics: count the batch (when it tracks running
    statistics) and return the buffers to update with the running-average factor (momentum, or the cumulative
    1/n): ``(running_mean, running_var, momentum)``, or ``(None, None, 0.0)`` when it keeps no running
    statistics."""
    if not norm.track_running_stats or norm.running_mean is None:
        return None, None, 0.0
    norm.num_batches_tracked.add_(1)
    momentum = norm.momentum if norm.momentum is not None else 1.0 / float(norm.num_batches_tracked)
    return norm.running_mean, norm.running_var, momentum


def _clamp_(out: Tensor, bounds: tuple[Optional[float], Optional[float]]) -> Tensor:
    """``out`` clamped in place to ``bounds`` (the activation after the norm); as it is for ``(None, None)``."""
    lower, upper = bounds
    if lower is not None or upper is not None:
        out.clamp_(lower, upper)
    return out


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the enclosed ops on one intra-op thread, then restore the thread count.

    For short memory-bound ops (batch statistics, affine, clamp, residual adds). Each multi-threaded op is one
    OpenMP parallel region, and on a machine shared with other processes every region waits until the sibling
    thread is scheduled again: measured on the shared 2-core machine (load average 7), a ``sum`` over a
    1024 x 32 x 64 map took 8-12 ms of wall time with 2 threads against 0.3 ms with one, the batch statistics
    of the same map 50-60 ms against 0.21 ms (docs/performance.md). On an idle machine such ops lose at most
    the second core's share of memory bandwidth.
    """
    threads = torch.get_num_threads()
    if threads == 1:
        yield
        return
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


#: Run the fused norms, the residual adds and the inputs' layout copies on one intra-op thread. Off: on cores
#: nobody else uses (a user's own machine) the second thread makes these memory-bound ops faster (a student step
#: at 512x256 2.4% faster, docs/performance.md). On oversubscribed cores (the shared development machine at a
#: load average of 7-8.5) one thread spared each op OpenMP's wait for its sibling thread: the step was 1.26x
#: faster. bench/fast.py's paths section times both.
SHORT_OPS_ON_ONE_THREAD = False


def short_op_threads() -> contextlib.AbstractContextManager[None]:
    """The intra-op threads of short memory-bound ops: :func:`one_thread` if :data:`SHORT_OPS_ON_ONE_THREAD`,
    else the current setting."""
    return one_thread() if SHORT_OPS_ON_ONE_THREAD else contextlib.nullcontext()


#: layers whose output is a new tensor the next layer may overwrite
FRESH_OUTPUT = (nn.Conv2d, nn.ConvTranspose2d)


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
                fresh = i > 0 and isinstance(layers[i - 1], FRESH_OUTPUT)
                with short_op_threads():
                    x = batch_norm_act(x, layer, bounds or (None, None), in_place=fresh)
                i += 2 if bounds is not None else 1
            else:
                x = layer(x)
                i += 1
        return x
