"""Memory-layout conversions done a few rows at a time, and the layers that use them on CPU.

Converting a large (B, C, H, W) tensor to or from channels-last in one ``contiguous`` call is several times
slower than a plain copy on CPU (the transposition walks memory with large strides); converting a block of
rows that fits in cache at a time brings it close to copy speed. oneDNN's transposed convolution is much
faster on channels-last tensors, and these conversions make that worth it for NCHW callers.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

BLOCK_BYTES = 2 ** 20  # bytes converted per step: small enough to stay in cache


def to_channels_last(x: Tensor) -> Tensor:
    """Bitwise copy of ``x`` (B, C, H, W) in channels-last memory format."""
    batch, channels, height, width = x.shape
    out = x.new_empty(batch, height, width, channels)
    for row, rows in _row_blocks(x):
        out[:, row:row + rows] = x[:, :, row:row + rows].permute(0, 2, 3, 1)
    return out.permute(0, 3, 1, 2)


def to_contiguous(x: Tensor) -> Tensor:
    """Bitwise copy of ``x`` (B, C, H, W) in the default contiguous (NCHW) memory format."""
    rows_last = x.permute(0, 2, 3, 1)
    out = torch.empty_like(x, memory_format=torch.contiguous_format)
    for row, rows in _row_blocks(x):
        out[:, :, row:row + rows] = rows_last[:, row:row + rows].permute(0, 3, 1, 2)
    return out


def _row_blocks(x: Tensor) -> list[tuple[int, int]]:
    """(first row, row count) blocks of about :data:`BLOCK_BYTES` covering the rows of ``x`` (B, C, H, W)."""
    batch, channels, height, width = x.shape
    step = max(1, BLOCK_BYTES // max(1, batch * channels * width * x.element_size()))
    return [(row, min(step, height - row)) for row in range(0, height, step)]


def is_channels_last(x: Tensor) -> bool:
    """Whether ``x`` (B, C, H, W) is stored channels-last (and not also plain contiguous, as 1x1 maps are)."""
    return x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous()


class ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` (same parameters and state-dict keys) that runs channels-last on CPU without grad.

    The result is bitwise the one of the NCHW call (the same oneDNN kernel runs; only the reorders around it
    change) and is returned NCHW-contiguous. With autograd, on other devices or for an input already stored
    channels-last (the result is then channels-last too) it is the parent's forward.
    """

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        """x: (B, C_in, H, W) -> (B, C_out, H', W')."""
        if x.device.type != "cpu" or torch.is_grad_enabled() or x.dim() != 4 or output_size is not None \
                or is_channels_last(x):
            return super().forward(x, output_size)
        return to_contiguous(super().forward(to_channels_last(x)))
