"""The vid2vid sequential generators: CompositeGenerator (coarsest scale G0) and CompositeLocalGenerator.

Both predict, for one output frame, a hallucinated image, an optical flow to the previous output with an
occlusion weight, and (with the foreground model) a separate foreground image; :class:`_CompositeBase`
holds the blending they share. Attribute names and Sequential indices follow the released checkpoints.
"""

from __future__ import annotations

import copy
from typing import NamedTuple, Optional, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.networks.blocks import down, get_norm_layer, head, resnet_blocks, stem, up
from models.networks.sparse_conv import OneHotInput, SparseLayers, one_hot_stem_conv, sparse_stem_conv
from models.networks.warp import warp

SparseStack = Union[OneHotInput, SparseLayers]


class GeneratorOutput(NamedTuple):
    """What one generator scale produces for one frame.

    Attributes:
        image: (B, 3, H, W) final frame in [-1, 1] (blend of raw, warped previous and foreground).
        flow: (B, 2, H, W) flow to the previous frame in pixels of this scale, or None with no_flow.
        weight: (B, 1, H, W) occlusion weight in [0, 1] (1 = hallucinate), or None with no_flow.
        raw_image: (B, 3, H, W) hallucinated frame (with the foreground pasted in when fg is on).
        img_feat: (B, ngf, H, W) image decoder features, passed to the next finer scale.
        flow_feat: (B, ngf, H, W) flow decoder features, or None with no_flow.
        fg_feat: (B, ngf_fg, H, W) foreground decoder features, or None without the foreground model.
    """

    image: Tensor
    flow: Optional[Tensor]
    weight: Optional[Tensor]
    raw_image: Tensor
    img_feat: Tensor
    flow_feat: Optional[Tensor]
    fg_feat: Optional[Tensor]


class CoarseFeatures(NamedTuple):
    """Decoder features handed from a coarser scale: (B, C, H/2, W/2) each; flow/fg may be None."""

    img_feat: Tensor
    flow_feat: Optional[Tensor]
    fg_feat: Optional[Tensor]


def fg_width(ngf: int, n_downsampling: int) -> int:
    """Foreground branch width: half of ``ngf`` when the coarsest G downsamples more than twice."""
    return ngf // 2 if n_downsampling > 2 else ngf


class _CompositeBase(nn.Module):
    """Heads and composition shared by both generator classes (subclasses build the trunks)."""

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

    @staticmethod
    def _stems(branches: list[nn.Sequential], labels: Tensor, sparse: Optional[SparseStack]) -> list[Tensor]:
        """Run the label-reading Sequentials; with ``sparse`` their first conv is the exact embedding-bag sum."""
        if sparse is None:
            return [branch(labels) for branch in branches]
        convs = [branch[1] for branch in branches]
        if isinstance(sparse, OneHotInput):
            firsts = one_hot_stem_conv(convs, sparse)
        else:
            firsts = sparse_stem_conv(convs, sparse)
        return [branch[2:](first) for branch, first in zip(branches, firsts)]

    def _flow_and_weight(self, flow_feat: Tensor) -> tuple[Tensor, Tensor]:
        """Flow (B, 2, H, W) in pixels and occlusion weight (B, 1, H, W) from one 7x7 conv over their shared input.

        ``model_final_flow`` and ``model_final_w`` read the same padded features; one convolution with both
        weight sets reads them once.
        """
        flow_conv, weight_conv = self.model_final_flow[1], self.model_final_w[1]
        both = F.conv2d(self.model_final_flow[0](flow_feat), torch.cat([flow_conv.weight, weight_conv.weight]),
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


class CompositeGenerator(_CompositeBase):
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
        self.no_flow, self.use_fg_model, self.flow_multiplier = no_flow, use_fg_model, 20.0
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

    def forward(self, labels: Tensor, prev: Tensor, mask: Optional[Tensor] = None,
                coarse: Optional[CoarseFeatures] = None, use_raw_only: bool = False, *,
                sparse: Optional[SparseStack] = None) -> GeneratorOutput:
        """Generate one frame.

        Args:
            labels: (B, input_nc, H, W) label stack of the tG input frames.
            prev: (B, prev_output_nc, H, W) previous tG-1 output frames, oldest first, in [-1, 1].
            mask: (B, 1, H, W) foreground mask in [0, 1] (needed with the fg model), else None.
            coarse: Unused at the coarsest scale (accepted so all scales share one call).
            use_raw_only: Skip the warp (first frame synthesised from nothing).
            sparse: ``labels`` as ids or sparse layers, to take the exact embedding-bag path for the first conv.

        Returns:
            A :class:`GeneratorOutput` at (H, W).
        """
        self._check_mask(mask)
        branches = [self.model_down_seg] + ([self.indv_down] if self.use_fg_model else [])
        encoded = self._stems(branches, labels, sparse)
        trunk = encoded[0] + self.model_down_img(prev)
        img_feat = self.model_up_img(self.model_res_img(trunk))
        flow_feat = None if self.no_flow else self.model_up_flow(self.model_res_flow(trunk))
        fg_feat = self.indv_up(self.indv_res(encoded[1])) if self.use_fg_model else None
        return self._compose(prev, mask, use_raw_only, img_feat=img_feat, flow_feat=flow_feat, fg_feat=fg_feat)


class CompositeLocalGenerator(_CompositeBase):
    """Finer-scale vid2vid generator (``netG1`` ...): one downsampling, features added from the coarser scale.

    Args:
        input_nc: Channels of the label stack.
        output_nc: Image channels.
        prev_output_nc: Channels of the previous-frames stack.
        ngf: Filters of this scale (``ngf // 2**scale`` of the options).
        n_downsampling: ``--n_downsample_G`` of the coarsest scale (only sets the foreground width).
        n_blocks_local: Residual blocks per decoder.
        scale: Scale index s >= 1; the flow is multiplied by ``20 * 2**s``.
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
        self.scale, self.flow_multiplier = scale, 20.0 * 2 ** scale
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

    def forward(self, labels: Tensor, prev: Tensor, mask: Optional[Tensor] = None,
                coarse: Optional[CoarseFeatures] = None, use_raw_only: bool = False, *,
                sparse: Optional[SparseStack] = None) -> GeneratorOutput:
        """Generate one frame at this scale; arguments as :meth:`CompositeGenerator.forward`.

        ``coarse`` is required: the coarser scale's features at (H/2, W/2) with 2*ngf channels.
        """
        self._check_mask(mask)
        if coarse is None:
            raise ValueError("CompositeLocalGenerator needs the coarser scale's features")
        branches = [self.model_down_seg] + ([self.indv_down] if self.use_fg_model else [])
        encoded = self._stems(branches, labels, sparse)
        trunk = encoded[0] + self.model_down_img(prev)
        img_feat = self.model_up_img(trunk + coarse.img_feat)
        flow_feat = None if self.no_flow else self.model_up_flow(trunk + coarse.flow_feat)
        fg_feat = self.indv_up(encoded[1] + coarse.fg_feat) if self.use_fg_model else None
        return self._compose(prev, mask, use_raw_only, img_feat=img_feat, flow_feat=flow_feat, fg_feat=fg_feat)


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
