"""``--netG composite``: vid2vid's per-scale generators, CompositeGenerator (coarsest scale G0) and
CompositeLocalGenerator (finer scales G1, ...).

Both predict, for one output frame, a hallucinated image, an optical flow to the previous output with an
occlusion weight, and (with the foreground model) a separate foreground image; :class:`CompositeBase`
holds the blending they share. Attribute names and Sequential indices follow the released checkpoints.
"""

from __future__ import annotations

import copy
from typing import Optional

import torch
from torch import Tensor, nn

from models.networks.blocks import down, get_norm_layer, head, resnet_blocks, stem, up
from models.networks.head_conv import head_conv2d
from models.networks.scale_generator import (
    GeneratorConfig,
    GeneratorOutput,
    LabelStem,
    ScaleGenerator,
    ScaleInput,
    SparseStack,
)
from models.networks.sparse_conv import stem_convs
from models.networks.warp import FLOW_SCALE, warp


def fg_width(ngf: int, n_downsampling: int) -> int:
    """Foreground branch width: half of ``ngf`` when the coarsest G downsamples more than twice."""
    return ngf // 2 if n_downsampling > 2 else ngf


class CompositeBase(ScaleGenerator):
    """Heads, label stems and composition shared by the composite generators (subclasses build the trunks).

    The label-reading branches (``model_down_seg``, ``indv_down``) start with a reflection pad and a 7x7
    convolution, so they support the exact sparse label stem.
    """

    supports_sparse_stem = True
    flow_multiplier: float
    no_flow: bool
    use_fg_model: bool

    def _build_heads(self, ngf: int, output_nc: int, ngf_fg: int) -> None:
        """The 7x7 output heads: image (Tanh), flow (linear), weight (Sigmoid), foreground image (Tanh)."""
        self.model_final_img = nn.Sequential(*head(ngf, output_nc, nn.Tanh()))
        if not self.no_flow:
            self.model_final_flow = nn.Sequential(*head(ngf, 2, None))
            self.model_final_w = nn.Sequential(*head(ngf, 1, nn.Sigmoid()))
        if self.use_fg_model:
            self.indv_final = nn.Sequential(*head(ngf_fg, output_nc, nn.Tanh()))

    def _label_branches(self) -> list[nn.Sequential]:
        return [self.model_down_seg] + ([self.indv_down] if self.use_fg_model else [])

    def label_stems(self) -> list[LabelStem]:
        """``model_down_seg`` (and ``indv_down``): [reflection pad, 7x7 conv, ...] split after the conv."""
        return [LabelStem(branch[1], branch[2:]) for branch in self._label_branches()]

    def _stems(self, labels: Tensor, sparse: Optional[SparseStack]) -> list[Tensor]:
        """Run the label-reading branches; with ``sparse`` their first conv is the exact embedding-bag sum."""
        if sparse is None:
            return [branch(labels) for branch in self._label_branches()]
        stems = self.label_stems()
        firsts = stem_convs([s.conv for s in stems], sparse, labels)
        return [s.rest(first) for s, first in zip(stems, firsts)]

    def _flow_and_weight(self, flow_feat: Tensor) -> tuple[Tensor, Tensor]:
        """Flow (B, 2, H, W) in pixels and occlusion weight (B, 1, H, W) from one 7x7 conv over their shared input.

        ``model_final_flow`` and ``model_final_w`` read the same padded features; one convolution with both
        weight sets reads them once.
        """
        flow_conv, weight_conv = self.model_final_flow[1], self.model_final_w[1]
        both = head_conv2d(self.model_final_flow[0](flow_feat), torch.cat([flow_conv.weight, weight_conv.weight]),
                        torch.cat([flow_conv.bias, weight_conv.bias]))
        return both[:, :2] * self.flow_multiplier, self.model_final_w[2](both[:, 2:])

    def _compose(self, prev: Tensor, mask: Optional[Tensor], use_raw_only: bool, *, img_feat: Tensor,
                 flow_feat: Optional[Tensor], fg_feat: Optional[Tensor]) -> GeneratorOutput:
        """Heads plus blending: ``raw*w + warp(prev_last, flow)*(1-w)``, then the foreground by ``mask``."""
        raw = self.model_final_img(img_feat)
        flow = weight = None
        image = raw
        if not self.no_flow:
            flow, weight = self._flow_and_weight(flow_feat)
            if not use_raw_only:
                image = raw * weight + warp(prev[:, -3:], flow) * (1 - weight)
        if self.use_fg_model:
            fg = self.indv_final(fg_feat)
            image = fg * mask + image * (1 - mask)
            raw = fg * mask + raw * (1 - mask)
        return GeneratorOutput(image, flow, weight, raw, img_feat, flow_feat, fg_feat)

    def _check_mask(self, mask: Optional[Tensor]) -> None:
        """Fail early, with a clear message, when the foreground model gets no mask."""
        if self.use_fg_model and mask is None:
            raise ValueError("the foreground model (--fg) needs a mask (B, 1, H, W); got None")


class CompositeGenerator(CompositeBase):
    """Coarsest-scale vid2vid generator (``netG0``).

    Args:
        input_nc: Channels of the label stack (per-frame channels x n_frames_G).
        output_nc: Image channels.
        prev_output_nc: Channels of the previous-frames stack ((n_frames_G - 1) x output_nc).
        ngf: Filters of the first layer.
        n_downsampling: Stride-2 downsamplings.
        n_blocks: Residual blocks (ceil half in the encoders, floor half per decoder branch, all in fg).
        norm: ``"batch"`` or ``"instance"``.
        use_fg_model: Add the foreground branch (``indv_*``).
        no_flow: Drop the flow and weight branches.
    """

    def __init__(self, *, input_nc: int, output_nc: int, prev_output_nc: int, ngf: int, n_downsampling: int,
                 n_blocks: int, norm: str = "batch", use_fg_model: bool = False, no_flow: bool = False) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.no_flow, self.use_fg_model, self.flow_multiplier = no_flow, use_fg_model, FLOW_SCALE
        widths = [ngf * 2 ** i for i in range(n_downsampling + 1)]
        ngf_fg = fg_width(ngf, n_downsampling)
        if use_fg_model:
            fg_widths = [ngf_fg * 2 ** i for i in range(n_downsampling + 1)]
            self.indv_down = nn.Sequential(*_encoder(input_nc, fg_widths, norm_layer))
            self.indv_res = nn.Sequential(*resnet_blocks(fg_widths[-1], n_blocks, norm_layer))
            self.indv_up = nn.Sequential(*_decoder(fg_widths, norm_layer))
        self.model_down_seg = nn.Sequential(*_encoder(input_nc, widths, norm_layer),
                                            *resnet_blocks(widths[-1], n_blocks - n_blocks // 2, norm_layer))
        self.model_down_img = nn.Sequential(*stem(prev_output_nc, ngf, norm_layer),
                                            *copy.deepcopy(list(self.model_down_seg)[4:]))
        self.model_res_img = nn.Sequential(*resnet_blocks(widths[-1], n_blocks // 2, norm_layer))
        self.model_up_img = nn.Sequential(*_decoder(widths, norm_layer))
        if not no_flow:
            self.model_res_flow = copy.deepcopy(self.model_res_img)
            self.model_up_flow = copy.deepcopy(self.model_up_img)
        self._build_heads(ngf, output_nc, ngf_fg)

    def forward(self, inputs: ScaleInput) -> GeneratorOutput:
        """Generate one frame at (H, W) from :class:`ScaleInput` (``coarse`` is unused at the coarsest scale)."""
        self._check_mask(inputs.mask)
        encoded = self._stems(inputs.labels, inputs.sparse)
        trunk = encoded[0] + self.model_down_img(inputs.prev)
        img_feat = self.model_up_img(self.model_res_img(trunk))
        flow_feat = None if self.no_flow else self.model_up_flow(self.model_res_flow(trunk))
        fg_feat = self.indv_up(self.indv_res(encoded[1])) if self.use_fg_model else None
        return self._compose(inputs.prev, inputs.mask, inputs.use_raw_only, img_feat=img_feat, flow_feat=flow_feat,
                             fg_feat=fg_feat)


class CompositeLocalGenerator(CompositeBase):
    """Finer-scale vid2vid generator (``netG1`` ...): one downsampling, features added from the coarser scale.

    Args:
        input_nc: Channels of the label stack.
        output_nc: Image channels.
        prev_output_nc: Channels of the previous-frames stack.
        ngf: Filters of this scale (``ngf // 2**scale`` of the options).
        n_downsampling: ``--n_downsample_G`` of the coarsest scale (only sets the foreground width).
        n_blocks_local: Residual blocks per decoder.
        scale: Scale index s >= 1; the flow is multiplied by ``FLOW_SCALE * 2**s``.
        norm: ``"batch"`` or ``"instance"``.
        use_fg_model: Add the foreground branch.
        no_flow: Drop the flow and weight branches.
    """

    def __init__(self, *, input_nc: int, output_nc: int, prev_output_nc: int, ngf: int, n_downsampling: int,
                 n_blocks_local: int, scale: int, norm: str = "batch", use_fg_model: bool = False,
                 no_flow: bool = False) -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.no_flow, self.use_fg_model = no_flow, use_fg_model
        self.scale, self.flow_multiplier = scale, FLOW_SCALE * 2 ** scale
        ngf_fg = fg_width(ngf, n_downsampling)
        if use_fg_model:
            self.indv_down = nn.Sequential(*_encoder(input_nc, [ngf_fg, 2 * ngf_fg], norm_layer))
            self.indv_up = nn.Sequential(*resnet_blocks(2 * ngf_fg, n_blocks_local, norm_layer),
                                         *up(2 * ngf_fg, ngf_fg, norm_layer))
        self.model_down_seg = nn.Sequential(*_encoder(input_nc, [ngf, 2 * ngf], norm_layer))
        self.model_down_img = nn.Sequential(*_encoder(prev_output_nc, [ngf, 2 * ngf], norm_layer))
        self.model_up_img = nn.Sequential(*resnet_blocks(2 * ngf, n_blocks_local, norm_layer),
                                          *up(2 * ngf, ngf, norm_layer))
        if not no_flow:
            self.model_up_flow = copy.deepcopy(self.model_up_img)
        self._build_heads(ngf, output_nc, ngf_fg)

    def forward(self, inputs: ScaleInput) -> GeneratorOutput:
        """Generate one frame at this scale; ``inputs.coarse`` is required: the coarser scale's features at
        (H/2, W/2) with 2*ngf channels."""
        self._check_mask(inputs.mask)
        coarse = inputs.coarse
        if coarse is None:
            raise ValueError("CompositeLocalGenerator needs the coarser scale's features")
        encoded = self._stems(inputs.labels, inputs.sparse)
        trunk = encoded[0] + self.model_down_img(inputs.prev)
        img_feat = self.model_up_img(trunk + coarse.img_feat)
        flow_feat = None if self.no_flow else self.model_up_flow(trunk + coarse.flow_feat)
        fg_feat = self.indv_up(encoded[1] + coarse.fg_feat) if self.use_fg_model else None
        return self._compose(inputs.prev, inputs.mask, inputs.use_raw_only, img_feat=img_feat, flow_feat=flow_feat,
                             fg_feat=fg_feat)


def _encoder(in_nc: int, widths: list[int], norm_layer) -> list[nn.Module]:
    """Stem to ``widths[0]`` then one stride-2 conv per further width."""
    layers = stem(in_nc, widths[0], norm_layer)
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += down(w_in, w_out, norm_layer)
    return layers


def _decoder(widths: list[int], norm_layer) -> list[nn.Module]:
    """Transposed convs from ``widths[-1]`` back down to ``widths[0]``."""
    layers: list[nn.Module] = []
    for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]):
        layers += up(w_in, w_out, norm_layer)
    return layers


def composite_scales(config: GeneratorConfig) -> list[ScaleGenerator]:
    """``--netG composite``: vid2vid's CompositeGenerator at the coarsest scale, CompositeLocalGenerator above."""
    common = dict(input_nc=config.input_nc * config.n_frames_G, output_nc=config.output_nc,
                  prev_output_nc=(config.n_frames_G - 1) * config.output_nc, n_downsampling=config.n_downsampling,
                  norm=config.norm, use_fg_model=config.use_fg, no_flow=config.no_flow)
    scales: list[ScaleGenerator] = [CompositeGenerator(ngf=config.ngf, n_blocks=config.n_blocks, **common)]
    for s in range(1, config.n_scales):
        scales.append(CompositeLocalGenerator(ngf=config.ngf // 2 ** s, n_blocks_local=config.n_blocks_local,
                                              scale=s, **common))
    return scales
