"""PatchGAN discriminators: NLayerDiscriminator, MultiscaleDiscriminator, and the three vid2vid roles.

The image discriminator judges (label stack, frame) pairs, the temporal discriminator judges tD consecutive
frames with the tD-1 reference flows between them, and the face discriminator judges face crops (pose).
Attribute names (``scale{i}_layer{j}`` / ``layer{i}``) follow the released checkpoints.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from models.networks.blocks import get_norm_layer
from models.networks.warp import FLOW_SCALE

NDF_MAX = 64


def _patch_blocks(input_nc: int, ndf: int, n_layers: int, norm: str) -> list[list[nn.Module]]:
    """The n_layers+2 PatchGAN blocks: kernel 4, padding 2, LeakyReLU 0.2, widths capped at 512."""
    norm_layer = get_norm_layer(norm)
    blocks = [[nn.Conv2d(input_nc, ndf, 4, stride=2, padding=2), nn.LeakyReLU(0.2, True)]]
    width = ndf
    for n in range(1, n_layers + 1):
        prev, width = width, min(2 * width, 512)
        stride = 2 if n < n_layers else 1
        blocks.append([nn.Conv2d(prev, width, 4, stride=stride, padding=2), norm_layer(width),
                       nn.LeakyReLU(0.2, True)])
    blocks.append([nn.Conv2d(width, 1, 4, stride=1, padding=2)])
    return blocks


class NLayerDiscriminator(nn.Module):
    """PatchGAN with ``model0..model{n_layers+1}`` (intermediate features) or one ``model`` Sequential.

    Args:
        input_nc: Input channels.
        ndf: First-layer filters.
        n_layers: Stride-2 layers after the first conv (the last of them has stride 1).
        norm: ``"batch"`` or ``"instance"``.
        get_interm_feat: Return every block's output (for feature matching) instead of only the last.
    """

    def __init__(self, *, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch",
                 get_interm_feat: bool = True) -> None:
        super().__init__()
        self.get_interm_feat = get_interm_feat
        blocks = _patch_blocks(input_nc, ndf, n_layers, norm)
        if get_interm_feat:
            for j, block in enumerate(blocks):
                setattr(self, f"model{j}", nn.Sequential(*block))
        else:
            self.model = nn.Sequential(*[layer for block in blocks for layer in block])

    def blocks(self) -> list[nn.Module]:
        """The Sequentials run in order (one with intermediate features off)."""
        if not self.get_interm_feat:
            return [self.model]
        return [getattr(self, f"model{j}") for j in range(len(self._modules))]

    def forward(self, x: Tensor) -> list[Tensor]:
        """x: (B, input_nc, H, W) -> list of block outputs, the last being the (B, 1, h, w) patch scores."""
        return run_blocks(self.blocks(), x)


def run_blocks(blocks: list[nn.Module], x: Tensor) -> list[Tensor]:
    """Apply ``blocks`` in sequence and return every output."""
    outputs = []
    for block in blocks:
        x = block(x)
        outputs.append(x)
    return outputs


class MultiscaleDiscriminator(nn.Module):
    """``num_D`` PatchGANs on the input average-pooled 0..num_D-1 times.

    Sub-D ``i`` has ``min(64, ndf * 2**(num_D-1-i))`` filters; sub-D ``num_D-1`` sees full resolution.

    Args:
        input_nc: Input channels.
        ndf: Base filters (capped at 64 per sub-D, as the reference).
        n_layers: PatchGAN depth.
        norm: ``"batch"`` or ``"instance"``.
        num_D: Number of scales.
        get_interm_feat: Keep per-block outputs (``scale{i}_layer{j}`` attributes) or not (``layer{i}``).
    """

    def __init__(self, *, input_nc: int, ndf: int = 64, n_layers: int = 3, norm: str = "batch", num_D: int = 2,
                 get_interm_feat: bool = True) -> None:
        super().__init__()
        self.num_D, self.n_layers, self.get_interm_feat = num_D, n_layers, get_interm_feat
        for i in range(num_D):
            width = min(NDF_MAX, ndf * 2 ** (num_D - 1 - i))
            blocks = _patch_blocks(input_nc, width, n_layers, norm)
            if get_interm_feat:
                for j, block in enumerate(blocks):
                    setattr(self, f"scale{i}_layer{j}", nn.Sequential(*block))
            else:
                setattr(self, f"layer{i}", nn.Sequential(*[layer for block in blocks for layer in block]))
        self.downsample = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)

    def _sub_d(self, i: int) -> list[nn.Module]:
        """The blocks of sub-discriminator ``i``."""
        if self.get_interm_feat:
            return [getattr(self, f"scale{i}_layer{j}") for j in range(self.n_layers + 2)]
        return [getattr(self, f"layer{i}")]

    def forward(self, x: Tensor) -> list[list[Tensor]]:
        """x: (B, input_nc, H, W) -> per scale (finest first) the list of block outputs (last = scores)."""
        results = []
        for k in range(self.num_D):
            results.append(run_blocks(self._sub_d(self.num_D - 1 - k), x))
            if k != self.num_D - 1:
                x = self.downsample(x)
        return results


class ImageDiscriminator(MultiscaleDiscriminator):
    """Per-frame conditional D (checkpoint label ``D``): judges ``cat(label_stack, frame)``."""


class FaceDiscriminator(ImageDiscriminator):
    """Face-crop D of the pose model (checkpoint label ``D_f``); same input as :class:`ImageDiscriminator`."""


class TemporalDiscriminator(MultiscaleDiscriminator):
    """Temporal D (checkpoint labels ``D_T{s}``): tD frames and the tD-1 reference flows between them.

    Input channels are ``3*tD + 2*(tD-1)``, stacked by :func:`temporal_input`.
    """


def temporal_input(frames: Tensor, flows: Tensor) -> Tensor:
    """The temporal discriminators' input: frames then flows divided by ``FLOW_SCALE``, as the reference.

    Args:
        frames: (N, tD, 3, H, W) frame groups; flows: (N, tD-1, 2, H, W) reference flows in pixels.

    Returns:
        (N, 3*tD + 2*(tD-1), H, W).
    """
    n, _, _, height, width = frames.shape
    return torch.cat([frames.reshape(n, -1, height, width), flows.reshape(n, -1, height, width) / FLOW_SCALE], dim=1)
