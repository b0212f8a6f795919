"""FlowNet2 (Ilg et al., CVPR 2017) as vid2vid uses it: FlowNetC, two FlowNetS, FlowNetSD and FlowNetFusion.

Attribute names follow the official ``FlowNet2_checkpoint.pth.tar`` (``flownetc.conv1.0.weight``, ...), so
``checkpoint["state_dict"]`` loads unchanged. Convolutions have biases (``batchNorm=False``) and the network is
meant for inference: every sub-network returns only its finest flow, which is all FlowNet2 uses in eval mode.
Architecture facts: vid2vid.md section 8.2 and fast-vid2vid-and-flownet2.md section 3.4.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from models.networks.flow.ops import Correlation, channel_norm, resample2d

DIV_FLOW = 20.0


def conv(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1) -> nn.Sequential:
    """Conv2d ("same" padding, bias) + LeakyReLU(0.1): FlowNet's ``conv`` block without batch norm."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2),
                         nn.LeakyReLU(0.1))


def inter_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 Conv2d with bias and no activation: FlowNet's ``i_conv`` block."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 3, 1, 1))


def deconv(in_channels: int, out_channels: int) -> nn.Sequential:
    """ConvTranspose2d(4, stride 2, padding 1) + LeakyReLU(0.1): doubles the resolution."""
    return nn.Sequential(nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1), nn.LeakyReLU(0.1))


def predict_flow(in_channels: int) -> nn.Conv2d:
    """3x3 Conv2d to a 2-channel flow."""
    return nn.Conv2d(in_channels, 2, 3, 1, 1)


def upsample_flow(bias: bool) -> nn.ConvTranspose2d:
    """ConvTranspose2d(2 -> 2, 4, stride 2, padding 1): a learned 2x upsampling of a flow."""
    return nn.ConvTranspose2d(2, 2, 4, 2, 1, bias=bias)


def refine(net: nn.Module, coarse: Tensor, skips: Sequence[Tensor], levels: Sequence[int], inter: bool) -> Tensor:
    """FlowNet's coarse-to-fine decoder, reading layers of ``net`` by their checkpoint names.

    At each level ``l`` (``levels`` listed coarse to fine, the first being the level of ``coarse``):
    ``feat = cat(skip_l, deconv_l(feat), upsampled_flow(l+1)_to_l(flow))`` and
    ``flow = predict_flow_l(inter_conv_l(feat) if inter else feat)``.

    Args:
        net: Module with ``predict_flow<l>``, ``deconv<l>``, ``upsampled_flow<l+1>_to_<l>`` (and ``inter_conv<l>``).
        coarse: (B, C, h, w) features at the coarsest level.
        skips: Encoder features for ``levels[1:]``, each (B, C_l, 2^k h, 2^k w).
        levels: Level numbers, e.g. (6, 5, 4, 3, 2).
        inter: Whether an ``inter_conv`` precedes each prediction but the first (FlowNetSD, Fusion).

    Returns:
        (B, 2, H_finest, W_finest) flow at the finest level.
    """
    feat = coarse
    flow = getattr(net, f"predict_flow{levels[0]}")(feat)
    for level, skip in zip(levels[1:], skips):
        up = getattr(net, f"upsampled_flow{level + 1}_to_{level}")(flow)
        feat = torch.cat((skip, getattr(net, f"deconv{level}")(feat), up), dim=1)
        head_in = getattr(net, f"inter_conv{level}")(feat) if inter else feat
        flow = getattr(net, f"predict_flow{level}")(head_in)
    return flow


def add_decoder(net: nn.Module, *, upsample_bias: bool, inter: bool) -> None:
    """Attach the 1/64 -> 1/4 decoder shared by FlowNetC, FlowNetS and FlowNetSD to ``net``."""
    net.deconv5, net.deconv4, net.deconv3, net.deconv2 = deconv(1024, 512), deconv(1026, 256), deconv(770, 128), \
        deconv(386, 64)
    if inter:
        net.inter_conv5, net.inter_conv4 = inter_conv(1026, 512), inter_conv(770, 256)
        net.inter_conv3, net.inter_conv2 = inter_conv(386, 128), inter_conv(194, 64)
    heads = (1024, 512, 256, 128, 64) if inter else (1024, 1026, 770, 386, 194)
    for level, channels in zip((6, 5, 4, 3, 2), heads):
        setattr(net, f"predict_flow{level}", predict_flow(channels))
    for level in (6, 5, 4, 3):
        setattr(net, f"upsampled_flow{level}_to_{level - 1}", upsample_flow(upsample_bias))


class FlowNetC(nn.Module):
    """Correlation network: shared encoder on both images, 441-channel correlation, decoder.

    Args:
        ops_impl: Correlation implementation ("auto", "pytorch", "cuda").
    """

    def __init__(self, *, ops_impl: str = "auto") -> None:
        super().__init__()
        self.conv1, self.conv2, self.conv3 = conv(3, 64, 7, 2), conv(64, 128, 5, 2), conv(128, 256, 5, 2)
        self.conv_redir = conv(256, 32, 1, 1)
        self.corr = Correlation(pad_size=20, kernel_size=1, max_displacement=20, stride1=1, stride2=2,
                                impl=ops_impl)
        self.conv3_1 = conv(473, 256)
        self.conv4, self.conv4_1 = conv(256, 512, stride=2), conv(512, 512)
        self.conv5, self.conv5_1 = conv(512, 512, stride=2), conv(512, 512)
        self.conv6, self.conv6_1 = conv(512, 1024, stride=2), conv(1024, 1024)
        add_decoder(self, upsample_bias=True, inter=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 6, H, W), both normalised images -> (B, 2, H/4, W/4) flow divided by 20."""
        feat2a = self.conv2(self.conv1(x[:, :3]))
        feat3a = self.conv3(feat2a)
        feat3b = self.conv3(self.conv2(self.conv1(x[:, 3:])))
        corr = F.leaky_relu(self.corr(feat3a, feat3b), 0.1)
        feat3 = self.conv3_1(torch.cat((self.conv_redir(feat3a), corr), dim=1))
        feat4 = self.conv4_1(self.conv4(feat3))
        feat5 = self.conv5_1(self.conv5(feat4))
        feat6 = self.conv6_1(self.conv6(feat5))
        return refine(self, feat6, (feat5, feat4, feat3, feat2a), (6, 5, 4, 3, 2), inter=False)


class FlowNetS(nn.Module):
    """Simple stacked network on a 12-channel input (images, warped image, flow, brightness error)."""

    def __init__(self, *, in_channels: int = 12) -> None:
        super().__init__()
        self.conv1, self.conv2 = conv(in_channels, 64, 7, 2), conv(64, 128, 5, 2)
        self.conv3, self.conv3_1 = conv(128, 256, 5, 2), conv(256, 256)
        self.conv4, self.conv4_1 = conv(256, 512, stride=2), conv(512, 512)
        self.conv5, self.conv5_1 = conv(512, 512, stride=2), conv(512, 512)
        self.conv6, self.conv6_1 = conv(512, 1024, stride=2), conv(1024, 1024)
        add_decoder(self, upsample_bias=False, inter=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 12, H, W) -> (B, 2, H/4, W/4) flow divided by 20."""
        feat2 = self.conv2(self.conv1(x))
        feat3 = self.conv3_1(self.conv3(feat2))
        feat4 = self.conv4_1(self.conv4(feat3))
        feat5 = self.conv5_1(self.conv5(feat4))
        feat6 = self.conv6_1(self.conv6(feat5))
        return refine(self, feat6, (feat5, feat4, feat3, feat2), (6, 5, 4, 3, 2), inter=False)


class FlowNetSD(nn.Module):
    """Small-displacement network: 3x3 convolutions from full resolution, inter-convs in the decoder."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = conv(6, 64)
        self.conv1, self.conv1_1 = conv(64, 64, stride=2), conv(64, 128)
        self.conv2, self.conv2_1 = conv(128, 128, stride=2), conv(128, 128)
        self.conv3, self.conv3_1 = conv(128, 256, stride=2), conv(256, 256)
        self.conv4, self.conv4_1 = conv(256, 512, stride=2), conv(512, 512)
        self.conv5, self.conv5_1 = conv(512, 512, stride=2), conv(512, 512)
        self.conv6, self.conv6_1 = conv(512, 1024, stride=2), conv(1024, 1024)
        add_decoder(self, upsample_bias=True, inter=True)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 6, H, W) -> (B, 2, H/4, W/4) flow (multiplied by 20: FlowNet2 divides it)."""
        feat2 = self.conv2_1(self.conv2(self.conv1_1(self.conv1(self.conv0(x)))))
        feat3 = self.conv3_1(self.conv3(feat2))
        feat4 = self.conv4_1(self.conv4(feat3))
        feat5 = self.conv5_1(self.conv5(feat4))
        feat6 = self.conv6_1(self.conv6(feat5))
        return refine(self, feat6, (feat5, feat4, feat3, feat2), (6, 5, 4, 3, 2), inter=True)


class FlowNetFusion(nn.Module):
    """Fuses the large- and small-displacement flows at full resolution (11-channel input)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv0 = conv(11, 64)
        self.conv1, self.conv1_1 = conv(64, 64, stride=2), conv(64, 128)
        self.conv2, self.conv2_1 = conv(128, 128, stride=2), conv(128, 128)
        self.deconv1, self.deconv0 = deconv(128, 32), deconv(162, 16)
        self.inter_conv1, self.inter_conv0 = inter_conv(162, 32), inter_conv(82, 16)
        self.predict_flow2, self.predict_flow1, self.predict_flow0 = predict_flow(128), predict_flow(32), \
            predict_flow(16)
        self.upsampled_flow2_to_1, self.upsampled_flow1_to_0 = upsample_flow(True), upsample_flow(True)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, 11, H, W) -> (B, 2, H, W) flow in pixels."""
        feat0 = self.conv0(x)
        feat1 = self.conv1_1(self.conv1(feat0))
        feat2 = self.conv2_1(self.conv2(feat1))
        return refine(self, feat2, (feat1, feat0), (2, 1, 0), inter=True)


class FlowNet2(nn.Module):
    """FlowNet2 with vid2vid's settings: ``rgb_max = 1`` for images in [-1, 1], ``div_flow = 20``.

    Args:
        ops_impl: Implementation of Correlation / Resample2d / ChannelNorm ("auto", "pytorch", "cuda").
        rgb_max: Divisor applied after mean subtraction (1 in vid2vid; 255 in FlowNet2's own training).
    """

    def __init__(self, *, ops_impl: str = "auto", rgb_max: float = 1.0) -> None:
        super().__init__()
        self.ops_impl = ops_impl
        self.rgb_max = rgb_max
        self.flownetc = FlowNetC(ops_impl=ops_impl)
        self.flownets_1 = FlowNetS()
        self.flownets_2 = FlowNetS()
        self.flownets_d = FlowNetSD()
        self.flownetfusion = FlowNetFusion()
        self.reset_parameters()

    def set_ops_impl(self, impl: str) -> None:
        """Switch every operator to ``impl`` ("auto", "pytorch", "cuda"); the weights are unchanged."""
        self.ops_impl = impl
        self.flownetc.corr.impl = impl

    def reset_parameters(self) -> None:
        """The reference's initialisation: Xavier-uniform weights, U(0, 1) biases."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.uniform_(module.bias)

    def _warp_stage(self, x: Tensor, flow: Tensor) -> Tensor:
        """12-channel input of a FlowNetS: ``[x (6), warped image 2 (3), flow / 20 (2), |brightness error| (1)]``."""
        warped = resample2d(x[:, 3:], flow, impl=self.ops_impl)
        error = channel_norm(x[:, :3] - warped, impl=self.ops_impl)
        return torch.cat((x, warped, flow / DIV_FLOW, error), dim=1)

    def forward(self, image1: Tensor, image2: Tensor) -> Tensor:
        """Flow from ``image1`` to ``image2``: ``resample2d(image2, flow) ~= image1``.

        Args:
            image1: (B, 3, H, W) reference image, in [-1, 1] for rgb_max 1; H and W multiples of 64.
            image2: (B, 3, H, W) second image.

        Returns:
            (B, 2, H, W) flow in pixels (channel 0 = dx).
        """
        # Mean over both frames and all pixels, per sample and colour channel (the reference's rgb_mean).
        mean = torch.stack((image1, image2), dim=2).mean(dim=(2, 3, 4), keepdim=True).squeeze(2)
        x = torch.cat(((image1 - mean) / self.rgb_max, (image2 - mean) / self.rgb_max), dim=1)
        up_bilinear = dict(scale_factor=4, mode="bilinear", align_corners=False)
        flow_c = F.interpolate(self.flownetc(x) * DIV_FLOW, **up_bilinear)
        flow_s1 = F.interpolate(self.flownets_1(self._warp_stage(x, flow_c)) * DIV_FLOW, **up_bilinear)
        flow_s2 = F.interpolate(self.flownets_2(self._warp_stage(x, flow_s1)) * DIV_FLOW, scale_factor=4,
                                mode="nearest")
        # FlowNetSD's output is divided by div_flow (inherited from the converted Caffe model).
        flow_sd = F.interpolate(self.flownets_d(x) / DIV_FLOW, scale_factor=4, mode="nearest")
        img1, img2 = x[:, :3], x[:, 3:]
        fusion_in = torch.cat((
            img1, flow_sd, flow_s2,
            channel_norm(flow_sd, impl=self.ops_impl), channel_norm(flow_s2, impl=self.ops_impl),
            channel_norm(img1 - resample2d(img2, flow_sd, impl=self.ops_impl), impl=self.ops_impl),
            channel_norm(img1 - resample2d(img2, flow_s2, impl=self.ops_impl), impl=self.ops_impl),
        ), dim=1)
        return self.flownetfusion(fusion_in)
