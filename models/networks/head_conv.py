"""The generators' output heads (k x k convolutions to 1-4 channels) as one matrix product plus shifted adds.

oneDNN vectorises a convolution over its output channels, so the 7x7 heads that turn ``ngf`` features into an
image (3 channels), a flow and its weight (2 + 1) run at about a fifth of the speed of the trunk's convolutions
on the CPU (21 against 105-115 GMAC/s at 512x256 on the 2-core test machine, 10% of the student's step).
A k x k convolution is the sum of k*k shifted 1x1 convolutions: :func:`head_conv2d` evaluates all of them as one
matrix product (``k*k*O`` rows over the ``C`` input channels), a band of rows at a time so the product stays
small, then adds the k*k shifted slices. The same numbers up to float rounding (another summation order).

The path is taken without autograd, on the CPU, in float32 outside autocast, for maps of at least
:data:`TAP_MIN_PIXELS` output pixels and :data:`TAP_MIN_IN_CHANNELS` input channels; otherwise (training, CUDA,
bf16, the tests' small frames) it is ``F.conv2d``. :class:`HeadConv2d` is the ``nn.Conv2d`` (same parameters
and state-dict keys) that uses it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

#: most output channels for which the matrix-product path pays
TAP_MAX_OUT = 4
#: fewest output pixels (H * W) for the matrix-product path (below, it saves under a millisecond a call)
TAP_MIN_PIXELS = 128 * 64
#: fewest input channels: with fewer the product is too thin to beat the convolution (measured, 3 outputs, 2
#: threads: 12 channels at 256x128 2.8 ms as a convolution against 4.4 ms; 24 channels 7.9 against 4.4 ms)
TAP_MIN_IN_CHANNELS = 24
#: bytes of one band's matrix-product result (``k*k*O`` rows by the band's padded pixels)
BAND_BYTES = 32 * 2 ** 20


def takes_tap_path(x: Tensor, weight: Tensor) -> bool:
    """Whether :func:`head_conv2d` computes ``conv2d(x, weight)`` as a matrix product (see the module doc).

    Args:
        x: (B, C, H + kh - 1, W + kw - 1), already padded.
        weight: (O, C, kh, kw).
    """
    if x.device.type != "cpu" or torch.is_grad_enabled() or torch.compiler.is_compiling() \
            or torch.jit.is_tracing():  # export traces keep the plain convolution
        return False
    if x.dim() != 4 or x.dtype != torch.float32 or weight.dtype != torch.float32 \
            or torch.is_autocast_enabled("cpu"):
        return False
    out_h, out_w = x.shape[2] - weight.shape[2] + 1, x.shape[3] - weight.shape[3] + 1
    return weight.shape[0] <= TAP_MAX_OUT and weight.shape[1] >= TAP_MIN_IN_CHANNELS \
        and weight.shape[2] * weight.shape[3] > 1 and out_h * out_w >= TAP_MIN_PIXELS


def head_conv2d(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.conv2d(x, weight, bias)`` (stride 1, no padding), through the matrix-product path where it pays.

    Args:
        x: (B, C, Hp, Wp), padded by the caller.
        weight: (O, C, kh, kw).
        bias: (O,) or None.

    Returns:
        (B, O, Hp - kh + 1, Wp - kw + 1); NCHW-contiguous from the matrix-product path.
    """
    if not takes_tap_path(x, weight):
        return F.conv2d(x, weight, bias)
    out_nc, in_nc, kh, kw = weight.shape
    out = x.new_empty(x.shape[0], out_nc, x.shape[2] - kh + 1, x.shape[3] - kw + 1)
    taps = weight.permute(0, 2, 3, 1).reshape(out_nc * kh * kw, in_nc)  # row (o, i, j): the 1x1 conv of tap (i, j)
    for image, target in zip(x, out):
        _taps_one_image(image, taps, bias, (kh, kw), target)
    return out


def _taps_one_image(x: Tensor, taps: Tensor, bias: Tensor | None, kernel: tuple[int, int], out: Tensor) -> None:
    """The matrix-product path for one image, written into ``out`` (O, H, W).

    Args:
        x: (C, Hp, Wp) padded image.
        taps: (O * kh * kw, C) the weights, row (o, i, j) the 1x1 convolution of tap (i, j).
        bias: (O,) or None.
        kernel: (kh, kw).
    """
    (kh, kw), (out_nc, height, width) = kernel, out.shape
    padded_w = x.shape[2]
    pixels = _channels_by_pixels(x)
    rows = max(1, BAND_BYTES // (out_nc * kh * kw * padded_w * x.element_size()) - (kh - 1))
    for top in range(0, height, rows):
        band = min(rows, height - top)
        product = taps @ pixels[:, top * padded_w:(top + band + kh - 1) * padded_w]
        shifted = product.view(out_nc, kh, kw, band + kh - 1, padded_w)
        target = out[:, top:top + band]
        if bias is None:
            target.zero_()
        else:
            target.copy_(bias.view(out_nc, 1, 1).expand(out_nc, band, width))
        for i in range(kh):
            for j in range(kw):
                target += shifted[:, i, j, i:i + band, j:j + width]


def _channels_by_pixels(x: Tensor) -> Tensor:
    """(C, Hp * Wp) view of x (C, Hp, Wp) without a copy when it is stored channel-major or channels-last."""
    channels = x.shape[0]
    if x.is_contiguous():
        return x.reshape(channels, -1)
    rows_last = x.permute(1, 2, 0)
    if not rows_last.is_contiguous():
        rows_last = rows_last.contiguous()
    return rows_last.reshape(-1, channels).t()


class HeadConv2d(nn.Conv2d):
    """``nn.Conv2d`` (same parameters and state-dict keys) whose unpadded, stride-1 calls go through
    :func:`head_conv2d`."""

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, H + k - 1, W + k - 1) -> (B, C_out, H, W) for the heads (padding 0, stride 1)."""
        plain = self.stride != (1, 1) or self.dilation != (1, 1) or self.groups != 1 \
            or self.padding not in ((0, 0), "valid") or self.padding_mode != "zeros"
        return super().forward(x) if plain else head_conv2d(x, self.weight, self.bias)
