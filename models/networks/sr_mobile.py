"""``--netG sr_mobile_composite``: Fast-Vid2Vid's generator (Zhuo et al., ECCV 2022), teacher and student.

vid2vid's single-scale composite generator with every ResNet block replaced by a MobileNetV2 inverted
residual block of expand ratio 1 (:class:`InvertedResidual`). Module names and Sequential indices are the
published ``SRMobileCompositeGenerator``'s (which are also :class:`~models.networks.composite.CompositeGenerator`'s),
so its weights load unchanged; the heads and the blending are :class:`~models.networks.composite.CompositeBase`'s.

Teacher or student is chosen by ``--student`` (the published code looks for ``teacher`` in ``--name``):

- teacher: reads the labels and previous frames at full resolution; every downsampling has stride 2.
- student (the "spatially low-demand generator"): reads them at ``1/student_scale`` of the resolution
  (bilinear, no antialiasing: what torchvision 0.8's ``Resize`` did on tensors), and its first
  ``log2(student_scale)`` downsamplings have stride 1, so from there on the feature maps, the decoder and the
  full-resolution output are the teacher's. The warp reads the full-resolution previous frame.

Weight shapes do not depend on the mode: a teacher checkpoint loads into the student as it is. The foreground
branch follows the same stride rule as the main branch (the published one always uses stride 1 in its first
downsampling, which only fits the student: a full-resolution teacher's foreground came out at twice the size).
"""

from __future__ import annotations

import argparse
import copy
import math
from typing import Iterator, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.networks.blocks import NormFactory, down, get_norm_layer, stem, up
from models.networks.composite import CompositeBase, fg_width
from models.networks.fused_norm import NormActSequential, short_op_threads
from models.networks.memory_format import is_channels_last, to_channels_last
from models.networks.scale_generator import GeneratorConfig, GeneratorOutput, ScaleGenerator, ScaleInput
from models.networks.sparse_conv import SparseLayers, sparse_if_it_pays
from models.networks.warp import FLOW_SCALE


class InvertedResidual(nn.Module):
    """MobileNetV2 inverted residual block, expand ratio 1 (the hidden width is ``dim``).

    ``x + [1x1 conv, BN, ReLU6, depthwise 3x3 conv (zero pad 1), BN, ReLU6, 1x1 conv, BN](x)``, convolutions
    without bias, always BatchNorm (whatever ``--norm`` says, as published); keys ``conv.{0,1,3,4,6,7}``.
    At inference on channels-last input each BN (+ ReLU6) is fused (:mod:`models.networks.fused_norm`).

    Args:
        dim: Channels in and out.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv = NormActSequential(
            nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim), nn.ReLU6(inplace=True),
            nn.Conv2d(dim, dim, 3, padding=1, groups=dim, bias=False), nn.BatchNorm2d(dim), nn.ReLU6(inplace=True),
            nn.Conv2d(dim, dim, 1, bias=False), nn.BatchNorm2d(dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, dim, H, W) -> (B, dim, H, W)."""
        if torch.is_grad_enabled() or not is_channels_last(x):
            return x + self.conv(x)
        out = self.conv(x)  # a fresh tensor on the inference path: the residual is added in place
        with short_op_threads():
            return out.add_(x)


def inverted_residuals(dim: int, count: int) -> list[nn.Module]:
    """``count`` :class:`InvertedResidual` blocks of width ``dim``."""
    return [InvertedResidual(dim) for _ in range(count)]


def shrink(x: Tensor, factor: int) -> Tensor:
    """Bilinear downsampling by ``factor`` without antialiasing (torchvision 0.8's tensor ``Resize``).

    Args:
        x: (B, C, H, W) with H and W divisible by ``factor``.

    Returns:
        (B, C, H/factor, W/factor).
    """
    height, width = x.shape[-2:]
    if height % factor or width % factor:
        raise ValueError(f"the student reads its inputs at 1/{factor} (--student_scale {factor}); the frame size "
                         f"{width}x{height} is not divisible by {factor}")
    return F.interpolate(x, size=(height // factor, width // factor), mode="bilinear", align_corners=False,
                         antialias=False)


def shrunk_sparse(shrunk: Tensor, frames: int) -> Optional[SparseLayers]:
    """The student's downsampled label stack as sparse layers for the exact embedding-bag stem, or None.

    Without antialiasing, bilinear downsampling by a power of two averages 2x2 input pixels, so a downsampled
    one-hot stack (plus binary instance edges) has at most 4 labels (and an edge value) per pixel out of
    ``label_nc + 1`` channels per frame (36 for Cityscapes): the layered sum is then several times cheaper than the
    7x7 convolution over the stack (measured in docs/performance.md), with its result up to float rounding.

    Args:
        shrunk: (B, frames * C, h, w) the downsampled stack of a one-hot (or sparse) full-resolution stack.
        frames: Frames in the stack.

    Returns:
        :class:`SparseLayers` of the (B, frames, C, h, w) stack, or None when the convolution is cheaper.
    """
    batch, channels, height, width = shrunk.shape
    return sparse_if_it_pays(shrunk.view(batch, frames, channels // frames, height, width))


def _encoder(in_nc: int, widths: list[int], strides: list[int], norm: NormFactory) -> list[nn.Module]:
    """Stem to ``widths[0]``, then one 3x3 downsampling conv per further width with the given strides."""
    layers = stem(in_nc, widths[0], norm)
    for w_in, w_out, stride in zip(widths[:-1], widths[1:], strides):
        layers += down(w_in, w_out, norm, stride=stride)
    return layers


def _decoder(widths: list[int], norm: NormFactory) -> list[nn.Module]:
    """Transposed convs from ``widths[-1]`` back down to ``widths[0]`` (each doubles H and W)."""
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]):
        layers += up(w_in, w_out, norm)
    return layers


class SRMobileCompositeGenerator(CompositeBase):
    """Fast-Vid2Vid's single-scale generator (``netG0``): composite topology, inverted-residual blocks.

    Args:
        input_nc: Channels of the label stack (per-frame channels x n_frames_G).
        output_nc: Image channels.
        prev_output_nc: Channels of the previous-frames stack ((n_frames_G - 1) x output_nc).
        ngf: Filters of the first layer.
        n_downsampling: 3x3 downsampling convolutions per encoder.
        n_blocks: Inverted residual blocks (ceil half in the encoders, floor half per decoder branch, all in fg).
        norm: ``"batch"`` or ``"instance"`` for the convolutions outside the blocks.
        use_fg_model: Add the foreground branch (``indv_*``).
        no_flow: Drop the flow and weight branches.
        input_scale: 1 for the teacher; the student's ``student_scale`` (a power of two, at most
            ``2**n_downsampling``): inputs are read at 1/input_scale and the first log2(input_scale)
            downsamplings have stride 1.
    """

    def __init__(self, *, input_nc: int, output_nc: int, prev_output_nc: int, ngf: int, n_downsampling: int,
                 n_blocks: int, norm: str = "batch", use_fg_model: bool = False, no_flow: bool = False,
                 input_scale: int = 1) -> None:
        super().__init__()
        n_same = _stride_one_count(input_scale, n_downsampling)
        strides = [1] * n_same + [2] * (n_downsampling - n_same)
        norm_layer = get_norm_layer(norm)
        self.no_flow, self.use_fg_model, self.flow_multiplier = no_flow, use_fg_model, FLOW_SCALE
        self.input_scale = input_scale
        widths = [ngf * 2 ** i for i in range(n_downsampling + 1)]
        ngf_fg = fg_width(ngf, n_downsampling)
        if use_fg_model:
            fg_widths = [ngf_fg * 2 ** i for i in range(n_downsampling + 1)]
            self.indv_down = NormActSequential(*_encoder(input_nc, fg_widths, strides, norm_layer))
            self.indv_res = NormActSequential(*inverted_residuals(fg_widths[-1], n_blocks))
            self.indv_up = NormActSequential(*_decoder(fg_widths, norm_layer))
        self.model_down_seg = NormActSequential(*_encoder(input_nc, widths, strides, norm_layer),
                                            *inverted_residuals(widths[-1], n_blocks - n_blocks // 2))
        self.model_down_img = NormActSequential(*stem(prev_output_nc, ngf, norm_layer),
                                            *copy.deepcopy(list(self.model_down_seg)[4:]))
        self.model_res_img = NormActSequential(*inverted_residuals(widths[-1], n_blocks // 2))
        self.model_up_img = NormActSequential(*_decoder(widths, norm_layer))
        if not no_flow:
            self.model_res_flow = copy.deepcopy(self.model_res_img)
            self.model_up_flow = copy.deepcopy(self.model_up_img)
        self._build_heads(ngf, output_nc, ngf_fg)

    #: The label stems take the exact embedding-bag path: the teacher's over the one-hot stack, the student's over
    #: its downsampled stack (each pixel the mean of 2x2 one-hot pixels: at most 4 labels, see :func:`shrink`).
    supports_sparse_stem = True

    def forward(self, inputs: ScaleInput) -> GeneratorOutput:
        """Generate one full-resolution frame (H, W) from :class:`ScaleInput` (``coarse`` is unused)."""
        self._check_mask(inputs.mask)
        labels, prev = inputs.labels, inputs.prev
        fast = channels_last_pays(labels)
        sparse = inputs.sparse
        if self.input_scale > 1:
            labels, prev = shrink(labels, self.input_scale), shrink(prev, self.input_scale)
            sparse = None if sparse is None else shrunk_sparse(labels, sparse.ids.shape[1])
        if fast:
            with short_op_threads():  # row-block copies: short memory-bound ops
                labels, prev = to_channels_last(labels), to_channels_last(prev)
        encoded = self._stems(labels, sparse)
        trunk = encoded[0] + self.model_down_img(prev)
        img_feat = self.model_up_img(self.model_res_img(trunk))
        flow_feat = None if self.no_flow else self.model_up_flow(self.model_res_flow(trunk))
        fg_feat = self.indv_up(self.indv_res(encoded[1])) if self.use_fg_model else None
        # The warp and the blends use the full-resolution previous frame, as published.
        return self._compose(inputs.prev, inputs.mask, inputs.use_raw_only, img_feat=img_feat, flow_feat=flow_feat,
                             fg_feat=fg_feat)


#: The channels-last inference path (with fused BatchNorm + ReLU6) is on; bench/fast.py turns it off to compare.
CHANNELS_LAST_INFERENCE = True
#: Frames (H x W at the generator's output) from this many pixels on take the channels-last path. Measured with
#: the published street network (docs/performance.md, plain / channels-last CPU time): 0.66x at 64x32, 0.82x at
#: 128x64 (the fixed per-layer costs dominate small maps), 1.51x at 256x128, 1.40x at 512x256.
CHANNELS_LAST_MIN_PIXELS = 256 * 128


def channels_last_pays(frame: Tensor) -> bool:
    """Whether the generator's trunk runs channels-last for a full-resolution input ``frame`` (B, C, H, W): on
    the CPU without autograd, from :data:`CHANNELS_LAST_MIN_PIXELS` on (oneDNN's depthwise and 1x1 convolutions
    and the transposed convolutions then need no layout reorders between layers, and each BatchNorm + ReLU6
    takes the fused path of :mod:`models.networks.fused_norm`; measured in docs/performance.md). Training keeps
    the default layout, and so does a ``torch.compile``d forward (inductor chooses layouts and fuses each
    BatchNorm itself; measured, it did not pay: docs/performance.md)."""
    return (CHANNELS_LAST_INFERENCE and frame.device.type == "cpu" and not torch.is_grad_enabled()
            and frame.dim() == 4 and frame.shape[-2] * frame.shape[-1] >= CHANNELS_LAST_MIN_PIXELS
            and not torch.compiler.is_compiling())


def _stride_one_count(input_scale: int, n_downsampling: int) -> int:
    """log2(input_scale): the downsamplings the student runs at stride 1.

    Raises:
        ValueError: ``input_scale`` is not a power of two or exceeds ``2**n_downsampling``.
    """
    n_same = int(round(math.log2(input_scale))) if input_scale >= 1 else -1
    if n_same < 0 or 2 ** n_same != input_scale or n_same > n_downsampling:
        raise ValueError(f"--student_scale {input_scale} must be a power of two from 2 to 2**--n_downsample_G "
                         f"({2 ** n_downsampling})")
    return n_same


def single_scale_message(n_scales: int) -> str:
    """Why ``--n_scales_spatial`` other than 1 is refused with ``--netG sr_mobile_composite``."""
    return (f"--netG sr_mobile_composite is single-scale (as published): use --n_scales_spatial 1 "
            f"(got --n_scales_spatial {n_scales})")


def sr_mobile_problems(opt: argparse.Namespace) -> Iterator[str]:
    """Flags the SR-mobile generator cannot take, found before any work (see :func:`sr_mobile_scales`)."""
    if opt.netG == "sr_mobile_composite" and opt.n_scales_spatial != 1:
        yield single_scale_message(opt.n_scales_spatial)


def sr_mobile_scales(config: GeneratorConfig) -> list[ScaleGenerator]:
    """``--netG sr_mobile_composite``: one :class:`SRMobileCompositeGenerator` (teacher, or with ``--student``
    the student).

    Raises:
        ValueError: with more than one spatial scale (the published generator is single-scale).
    """
    if config.n_scales != 1:
        raise ValueError(single_scale_message(config.n_scales))
    return [SRMobileCompositeGenerator(
        input_nc=config.input_nc * config.n_frames_G, output_nc=config.output_nc,
        prev_output_nc=(config.n_frames_G - 1) * config.output_nc, ngf=config.ngf,
        n_downsampling=config.n_downsampling, n_blocks=config.n_blocks, norm=config.norm,
        use_fg_model=config.use_fg, no_flow=config.no_flow,
        input_scale=config.student_scale if config.student else 1)]
