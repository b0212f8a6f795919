"""pix2pixHD single-frame generators used to make the first frames at test time (``--use_single_G``).

``GlobalGenerator`` and ``LocalEnhancer`` serve street scenes, ``Global_with_z`` plus ``Encoder`` serve faces.
Key layouts follow the released ``label2city_single`` / ``edge2face_single`` checkpoints.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from models.networks.blocks import down, get_norm_layer, head, resnet_blocks, stem, up

CH_MAX = 1024


def _avg_pool() -> nn.AvgPool2d:
    """The pix2pixHD input downsampler: AvgPool2d(3, 2, 1) without padded zeros in the mean."""
    return nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)


def _global_layers(input_nc: int, output_nc: int, ngf: int, n_downsampling: int, n_blocks: int, *,
                   norm: str) -> list[nn.Module]:
    """GlobalGenerator's layer list: stem, downsamplings, residual blocks, upsamplings, Tanh head."""
    norm_layer = get_norm_layer(norm)
    widths = [min(CH_MAX, ngf * 2 ** i) for i in range(n_downsampling + 1)]
    layers = stem(input_nc, widths[0], norm_layer)
    for w_in, w_out in zip(widths[:-1], widths[1:]):
        layers += down(w_in, w_out, norm_layer)
    layers += resnet_blocks(widths[-1], n_blocks, norm_layer)
    for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]):
        layers += up(w_in, w_out, norm_layer)
    return layers + head(ngf, output_nc, nn.Tanh())


class GlobalGenerator(nn.Module):
    """pix2pixHD global generator: one ``model`` Sequential, channels capped at 1024.

    Args:
        input_nc: Input channels (one-hot labels, plus features if ``feat`` is given to forward).
        output_nc: Output channels.
        ngf: First-layer filters.
        n_downsampling: Stride-2 downsamplings.
        n_blocks: Residual blocks at the bottleneck.
        norm: ``"batch"`` or ``"instance"``.
    """

    def __init__(self, *, input_nc: int, output_nc: int, ngf: int = 64, n_downsampling: int = 3,
                 n_blocks: int = 9, norm: str = "instance") -> None:
        super().__init__()
        self.model = nn.Sequential(*_global_layers(input_nc, output_nc, ngf, n_downsampling, n_blocks, norm=norm))

    def forward(self, x: Tensor, feat: Optional[Tensor] = None) -> Tensor:
        """x: (B, C, H, W), feat: (B, F, H, W) or None (concatenated to x) -> (B, output_nc, H, W) in [-1, 1]."""
        if feat is not None:
            x = torch.cat([x, feat], dim=1)
        return self.model(x)


class LocalEnhancer(nn.Module):
    """pix2pixHD coarse-to-fine generator: a global trunk (``model``) and ``model{n}_1``/``model{n}_2`` levels.

    Args:
        input_nc: Input channels.
        output_nc: Output channels.
        ngf: Filters of the finest enhancer (the global trunk has ``ngf * 2**n_local_enhancers``).
        n_downsample_global: Downsamplings of the global trunk.
        n_blocks_global: Residual blocks of the global trunk.
        n_local_enhancers: Enhancer levels.
        n_blocks_local: Residual blocks per enhancer.
        norm: ``"batch"`` or ``"instance"``.
    """

    def __init__(self, *, input_nc: int, output_nc: int, ngf: int = 32, n_downsample_global: int = 3,
                 n_blocks_global: int = 9, n_local_enhancers: int = 1, n_blocks_local: int = 3,
                 norm: str = "instance") -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.n_local_enhancers = n_local_enhancers
        trunk = _global_layers(input_nc, output_nc, ngf * 2 ** n_local_enhancers, n_downsample_global,
                               n_blocks_global, norm=norm)
        self.model = nn.Sequential(*trunk[:-3])
        for n in range(1, n_local_enhancers + 1):
            width = ngf * 2 ** (n_local_enhancers - n)
            enhancer_up = resnet_blocks(2 * width, n_blocks_local, norm_layer) + up(2 * width, width, norm_layer)
            if n == n_local_enhancers:
                enhancer_up += head(ngf, output_nc, nn.Tanh())
            setattr(self, f"model{n}_1", nn.Sequential(*stem(input_nc, width, norm_layer),
                                                      *down(width, 2 * width, norm_layer)))
            setattr(self, f"model{n}_2", nn.Sequential(*enhancer_up))
        self.downsample = _avg_pool()

    def forward(self, x: Tensor, feat: Optional[Tensor] = None) -> Tensor:
        """x: (B, C, H, W), H and W divisible by 2**(levels+downsamplings) -> (B, output_nc, H, W)."""
        if feat is not None:
            x = torch.cat([x, feat], dim=1)
        pyramid = [x]
        for _ in range(self.n_local_enhancers):
            pyramid.append(self.downsample(pyramid[-1]))
        out = self.model(pyramid[-1])
        for n in range(1, self.n_local_enhancers + 1):
            level_in = pyramid[self.n_local_enhancers - n]
            out = getattr(self, f"model{n}_2")(getattr(self, f"model{n}_1")(level_in) + out)
        return out


class Global_with_z(nn.Module):  # noqa: N801 - the reference's class name, kept for recognisability
    """Face single-frame generator conditioned on a feature map z (nz channels) at three depths.

    Args:
        input_nc: Edge-map channels.
        output_nc: Output channels.
        nz: Feature-map channels (16 for the face model).
        ngf: First-layer filters.
        n_downsampling: Stride-2 downsamplings.
        n_blocks: Residual blocks (width ``min(ngf*2**n, 1024) + nz``).
        norm: ``"batch"`` or ``"instance"``.
    """

    def __init__(self, *, input_nc: int, output_nc: int, nz: int, ngf: int = 64, n_downsampling: int = 3,
                 n_blocks: int = 9, norm: str = "instance") -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        self.n_downsampling = n_downsampling
        widths = [min(CH_MAX, ngf * 2 ** i) for i in range(n_downsampling + 1)]
        layers = stem(input_nc + nz, widths[0], norm_layer)
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += down(w_in, w_out, norm_layer)
        self.model_downsample = nn.Sequential(*layers)
        self.model_resnet = nn.Sequential(*resnet_blocks(widths[-1] + nz, n_blocks, norm_layer))
        ups: list[nn.Module] = []
        for i, (w_in, w_out) in enumerate(zip(widths[:0:-1], widths[-2::-1])):
            ups += up(w_in + (2 * nz if i == 0 else 0), w_out, norm_layer)
        self.model_upsample = nn.Sequential(*ups)
        self.model_upsample_conv = nn.Sequential(*head(ngf + nz, output_nc, nn.Tanh()))
        self.downsample = _avg_pool()

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        """x: (B, input_nc, H, W), z: (B, nz, H, W) -> (B, output_nc, H, W) in [-1, 1]."""
        z_small = z
        for _ in range(self.n_downsampling):
            z_small = self.downsample(z_small)
        feat = self.model_downsample(torch.cat([x, z], dim=1))
        feat = self.model_resnet(torch.cat([feat, z_small], dim=1))
        feat = self.model_upsample(torch.cat([feat, z_small], dim=1))
        return self.model_upsample_conv(torch.cat([feat, z], dim=1))


class Encoder(nn.Module):
    """Face feature encoder: encoder-decoder with Tanh, then instance-wise average pooling.

    Args:
        input_nc: Image channels.
        output_nc: Feature channels (16).
        ngf: First-layer filters.
        n_downsampling: Stride-2 downsamplings (no channel cap).
        norm: ``"batch"`` or ``"instance"``.
    """

    def __init__(self, *, input_nc: int, output_nc: int, ngf: int = 32, n_downsampling: int = 4,
                 norm: str = "instance") -> None:
        super().__init__()
        norm_layer = get_norm_layer(norm)
        widths = [ngf * 2 ** i for i in range(n_downsampling + 1)]
        layers = stem(input_nc, ngf, norm_layer)
        for w_in, w_out in zip(widths[:-1], widths[1:]):
            layers += down(w_in, w_out, norm_layer)
        for w_in, w_out in zip(widths[:0:-1], widths[-2::-1]):
            layers += up(w_in, w_out, norm_layer)
        self.model = nn.Sequential(*layers, *head(ngf, output_nc, nn.Tanh()))

    def forward(self, image: Tensor, inst: Tensor) -> Tensor:
        """image: (B, input_nc, H, W), inst: (B, 1, H, W) region ids -> (B, output_nc, H, W) region means."""
        return instance_average(self.model(image), inst)


def instance_average(feat: Tensor, inst: Tensor) -> Tensor:
    """Replace every channel by its mean over each region of ``inst``, per sample.

    Args:
        feat: (B, C, H, W) features.
        inst: (B, 1, H, W) integer-valued region ids (any non-negative values).

    Returns:
        (B, C, H, W) with each region filled by its per-channel mean.
    """
    batch, channels = feat.shape[:2]
    ids = inst.reshape(batch, -1).long()
    _, dense = torch.unique(ids, return_inverse=True)
    n_regions = int(dense.max()) + 1
    flat = feat.reshape(batch, channels, -1)
    index = dense.unsqueeze(1).expand(-1, channels, -1)
    sums = flat.new_zeros(batch, channels, n_regions).scatter_add_(2, index, flat)
    counts = flat.new_zeros(batch, 1, n_regions).scatter_add_(2, dense.unsqueeze(1), torch.ones_like(flat[:, :1]))
    means = sums / counts.clamp(min=1)
    return means.gather(2, index).reshape_as(feat)
