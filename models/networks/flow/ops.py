"""FlowNet2's three operators (Correlation, Resample2d, ChannelNorm) behind one interface.

Each operator has two implementations with the same semantics (vid2vid.md section 8.3):

- ``"pytorch"``: vectorised pure PyTorch with autograd; runs on every device;
- ``"cuda"``: this project's kernels (:mod:`models.networks.flow.cuda_ops`), for CUDA tensors once built.

``impl="auto"`` (the default) picks the kernels for CUDA tensors when the extension builds and falls back to
PyTorch otherwise; one log line per operator says which implementation ran. The first time a process would run
a compiled operator, :func:`models.networks.flow.ops_check.verify_once` compares it with the PyTorch one on a
small random input; an operator beyond tolerance (or failing) warns once and runs in PyTorch from then on.
"""

from __future__ import annotations

import logging
import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.networks.warp import warp

logger = logging.getLogger(__name__)

IMPLEMENTATIONS = ("auto", "pytorch", "cuda")
_announced: set[tuple[str, str]] = set()


def compiled_available(device: torch.device) -> bool:
    """Whether the compiled kernels can run on ``device``: a CUDA device and an extension that builds."""
    if device.type != "cuda":
        return False
    from models.networks.flow import cuda_ops

    return cuda_ops.load_extension() is not None


def _unavailable_reason(tensor: Tensor) -> str:
    """Why ``impl="cuda"`` cannot run on ``tensor``."""
    if not tensor.is_cuda:
        return f"impl='cuda' needs CUDA tensors, got a tensor on {tensor.device}"
    from models.networks.flow import cuda_ops

    return f"CUDA flow operators unavailable: {cuda_ops.load_error()}"


def _resolve(op: str, impl: str, tensor: Tensor) -> str:
    """The implementation that runs ``op`` on ``tensor``: "cuda" or "pytorch"; logs it once per operator.

    "auto" takes the compiled kernels only where they build and passed their first-use check
    (:func:`~models.networks.flow.ops_check.verify_once`); "cuda" insists on them.

    Raises:
        ValueError: unknown ``impl``.
        RuntimeError: ``impl="cuda"`` on a CPU tensor or without a built extension.
    """
    if impl not in IMPLEMENTATIONS:
        raise ValueError(f"unknown operator implementation {impl!r}; choose one of {IMPLEMENTATIONS}")
    available = impl != "pytorch" and compiled_available(tensor.device)
    if impl == "cuda" and not available:
        raise RuntimeError(_unavailable_reason(tensor))
    chosen = "pytorch"
    if impl == "cuda" or (available and _trusted(op, tensor.device)):
        chosen = "cuda"
    if (op, chosen) not in _announced:
        _announced.add((op, chosen))
        logger.info("FlowNet2 %s: %s implementation", op, "compiled CUDA" if chosen == "cuda" else "pure-PyTorch")
    return chosen


#: The first-use check of the compiled operators, ``(op, device) -> trusted``; installed by
#: :mod:`models.networks.flow.ops_check`, which the package imports (so ``ops`` never imports its own checker).
first_use_check: Callable[[str, torch.device], bool] | None = None


def _trusted(op: str, device: torch.device) -> bool:
    """The first-use check's verdict on the compiled ``op`` (run on the first call)."""
    return first_use_check is None or first_use_check(op, device)


def correlation_output_size(height: int, width: int, *, pad_size: int, kernel_size: int, max_displacement: int,
                            stride1: int) -> tuple[int, int]:
    """(H_out, W_out) of the correlation: ``ceil((H + 2 pad - 2 (kernel_radius + max_disp)) / stride1)``."""
    border = 2 * ((kernel_size - 1) // 2 + max_displacement)
    out_h = math.ceil((height + 2 * pad_size - border) / stride1)
    out_w = math.ceil((width + 2 * pad_size - border) / stride1)
    if out_h <= 0 or out_w <= 0:
        raise ValueError(f"correlation: a {height}x{width} input is too small for pad {pad_size}, "
                         f"kernel {kernel_size} and max displacement {max_displacement}")
    return out_h, out_w


def correlation_pytorch(input1: Tensor, input2: Tensor, *, pad_size: int, kernel_size: int, max_displacement: int,
                        stride1: int, stride2: int) -> Tensor:
    """FlowNetC's correlation in pure PyTorch, as one batched matrix product per vertical displacement.

    ``out[b, (tj+R)*D + (ti+R), oy, ox] = 1/(k^2 C) sum_{j,i} sum_c f1p[b, c, cy+j, cx+i]
    * f2p[b, c, cy+j+tj*s2, cx+i+ti*s2]`` with ``cy = oy*s1 + max_disp`` in the zero-padded frame,
    ``R = max_disp // s2``, ``D = 2R + 1``: vertical displacement outer, as the reference orders channels.

    Args:
        input1: (B, C, H, W) features of the first image.
        input2: (B, C, H, W) features of the second image.
        pad_size, kernel_size, max_displacement, stride1, stride2: the reference's parameters
            (FlowNetC: 20, 1, 20, 1, 2).

    Returns:
        (B, D*D, H_out, W_out), see :func:`correlation_output_size`.
    """
    batch, channels, height, width = input1.shape
    out_h, out_w = correlation_output_size(height, width, pad_size=pad_size, kernel_size=kernel_size,
                                           max_displacement=max_displacement, stride1=stride1)
    radius, disp = (kernel_size - 1) // 2, max_displacement // stride2
    # Extra zero padding of `radius` keeps every window tap inside the buffer (the reference reads out of
    # bounds there; zeros are the only sensible value). Channels last: rows become (W, C) matrices.
    total_pad = pad_size + radius
    f1 = F.pad(input1, [total_pad] * 4).permute(0, 2, 3, 1)
    f2 = F.pad(input2, [total_pad] * 4).permute(0, 2, 3, 1)
    span_h, span_w = (out_h - 1) * stride1 + 1, (out_w - 1) * stride1 + 1
    shifts = torch.arange(-disp, disp + 1, device=input1.device) * stride2
    maps = []
    for tj in range(-disp, disp + 1):
        acc = None
        for j in range(-radius, radius + 1):
            top = max_displacement + radius + j
            row2 = f2[:, top + tj * stride2:top + tj * stride2 + span_h:stride1]
            row2 = row2.reshape(batch * out_h, -1, channels).transpose(1, 2)  # (B*H_out, C, W_padded)
            for i in range(-radius, radius + 1):
                left = max_displacement + radius + i
                tap1 = f1[:, top:top + span_h:stride1, left:left + span_w:stride1].reshape(batch * out_h, out_w,
                                                                                           channels)
                # Every (x1, x2) product of the row pair, then the band x2 = x1 + ti*s2 is picked out.
                columns = left + torch.arange(out_w, device=input1.device)[:, None] * stride1 + shifts[None]
                band = (tap1 @ row2).gather(2, columns.expand(batch * out_h, -1, -1))
                acc = band if acc is None else acc + band
        maps.append(acc.view(batch, out_h, out_w, -1))
    out = torch.stack(maps, dim=3).flatten(3)  # (B, H_out, W_out, D*D), tj outer
    return out.permute(0, 3, 1, 2) / (kernel_size * kernel_size * channels)


def resample2d_pytorch(image: Tensor, flow: Tensor) -> Tensor:
    """Resample2d in pure PyTorch: the project's one :func:`~models.networks.warp.warp`.

    Args:
        image: (B, C, H, W).
        flow: (B, 2, H, W) in pixels, channel 0 = dx.

    Returns:
        (B, C, H, W): ``image`` sampled bilinearly at ``p + flow(p)``, borders replicated.
    """
    return warp(image, flow)


def channel_norm_pytorch(input1: Tensor) -> Tensor:
    """ChannelNorm in pure PyTorch: the L2 norm over channels, (B, C, H, W) -> (B, 1, H, W).

    ``vector_norm``'s gradient is 0 where the norm is 0 (the reference kernel divides by norm + 1e-9).
    """
    return torch.linalg.vector_norm(input1, ord=2, dim=1, keepdim=True)


def correlation_compiled(input1: Tensor, input2: Tensor, *, pad_size: int, kernel_size: int,
                         max_displacement: int, stride1: int, stride2: int) -> Tensor:
    """:func:`correlation_pytorch` on the compiled kernel (CUDA tensors, extension built)."""
    from models.networks.flow.cuda_ops import CorrelationFunction

    return CorrelationFunction.apply(input1, input2, (pad_size, kernel_size, max_displacement, stride1, stride2))


def resample2d_compiled(image: Tensor, flow: Tensor) -> Tensor:
    """:func:`resample2d_pytorch` on the compiled kernel."""
    from models.networks.flow.cuda_ops import Resample2dFunction

    return Resample2dFunction.apply(image, flow)


def channel_norm_compiled(input1: Tensor) -> Tensor:
    """:func:`channel_norm_pytorch` on the compiled kernel."""
    from models.networks.flow.cuda_ops import ChannelNormFunction

    return ChannelNormFunction.apply(input1)


# The compiled implementation of each operator, called as the pure-PyTorch one (a test plants a faulty one here).
COMPILED: dict[str, Callable[..., Tensor]] = {
    "Correlation": correlation_compiled, "Resample2d": resample2d_compiled, "ChannelNorm": channel_norm_compiled,
}


def correlation(input1: Tensor, input2: Tensor, *, pad_size: int = 20, kernel_size: int = 1,
                max_displacement: int = 20, stride1: int = 1, stride2: int = 2, impl: str = "auto") -> Tensor:
    """FlowNet correlation: (B, C, H, W) x2 -> (B, (2*(max_disp//stride2)+1)^2, H_out, W_out).

    Defaults are FlowNetC's. ``impl`` is "auto", "pytorch" or "cuda" (see the module docstring).
    """
    if input1.shape != input2.shape:
        raise ValueError(f"correlation: input shapes differ: {tuple(input1.shape)} vs {tuple(input2.shape)}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"correlation: kernel_size must be odd and positive, got {kernel_size}")
    params = dict(pad_size=pad_size, kernel_size=kernel_size, max_displacement=max_displacement,
                  stride1=stride1, stride2=stride2)
    if _resolve("Correlation", impl, input1) == "cuda":
        return COMPILED["Correlation"](input1, input2, **params)
    return correlation_pytorch(input1, input2, **params)


def resample2d(image: Tensor, flow: Tensor, *, impl: str = "auto") -> Tensor:
    """FlowNet2's Resample2d: backward-warp ``image`` (B, C, H, W) by ``flow`` (B, 2, H, W) in pixels."""
    if flow.shape[1] != 2 or image.shape[0] != flow.shape[0] or image.shape[2:] != flow.shape[2:]:
        raise ValueError(f"resample2d: image {tuple(image.shape)} and flow {tuple(flow.shape)} do not match")
    if _resolve("Resample2d", impl, image) == "cuda":
        return COMPILED["Resample2d"](image, flow)
    return resample2d_pytorch(image, flow)


def channel_norm(input1: Tensor, *, impl: str = "auto") -> Tensor:
    """FlowNet2's ChannelNorm: L2 norm over channels, (B, C, H, W) -> (B, 1, H, W)."""
    if _resolve("ChannelNorm", impl, input1) == "cuda":
        return COMPILED["ChannelNorm"](input1)
    return channel_norm_pytorch(input1)


class Correlation(nn.Module):
    """Module form of :func:`correlation` (no parameters); keyword arguments as the reference's constructor."""

    def __init__(self, *, pad_size: int = 20, kernel_size: int = 1, max_displacement: int = 20, stride1: int = 1,
                 stride2: int = 2, impl: str = "auto") -> None:
        super().__init__()
        self.params = dict(pad_size=pad_size, kernel_size=kernel_size, max_displacement=max_displacement,
                           stride1=stride1, stride2=stride2)
        self.impl = impl

    def forward(self, input1: Tensor, input2: Tensor) -> Tensor:
        """input1, input2: (B, C, H, W) -> (B, D*D, H_out, W_out)."""
        return correlation(input1, input2, impl=self.impl, **self.params)


class Resample2d(nn.Module):
    """Module form of :func:`resample2d`."""

    def __init__(self, *, impl: str = "auto") -> None:
        super().__init__()
        self.impl = impl

    def forward(self, image: Tensor, flow: Tensor) -> Tensor:
        """image: (B, C, H, W), flow: (B, 2, H, W) pixels -> (B, C, H, W)."""
        return resample2d(image, flow, impl=self.impl)


class ChannelNorm(nn.Module):
    """Module form of :func:`channel_norm`."""

    def __init__(self, *, impl: str = "auto") -> None:
        super().__init__()
        self.impl = impl

    def forward(self, input1: Tensor) -> Tensor:
        """input1: (B, C, H, W) -> (B, 1, H, W)."""
        return channel_norm(input1, impl=self.impl)
