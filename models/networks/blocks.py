"""Shared building blocks: norm selection, the residual block, weight init, conv helpers.

Layer lists returned by the helpers are plain ``list[nn.Module]`` so callers can splice them into an
``nn.Sequential`` at the indices the released checkpoints expect (pads and activations take indices too).
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

from torch import Tensor, nn

from models.networks.head_conv import HeadConv2d
from models.networks.memory_format import ConvTranspose2d

NormFactory = Callable[[int], nn.Module]


def get_norm_layer(kind: str) -> NormFactory:
    """Norm layer factory as in the reference.

    Args:
        kind: ``"batch"`` -> ``BatchNorm2d(affine=True)``; ``"instance"`` ->
            ``InstanceNorm2d(affine=False, track_running_stats=True)`` (its checkpoints carry running buffers).

    Raises:
        ValueError: for any other name.
    """
    if kind == "batch":
        return functools.partial(nn.BatchNorm2d, affine=True)
    if kind == "instance":
        return functools.partial(nn.InstanceNorm2d, affine=False, track_running_stats=True)
    raise ValueError(f"unknown norm {kind!r}; choose 'batch' or 'instance'")


def init_weights(module: nn.Module) -> None:
    """Reference init, for ``net.apply``: conv weights N(0, 0.02), BatchNorm weight N(1, 0.02) and bias 0.

    Conv biases keep PyTorch's default initialisation, as in the reference. Modules built on the ``meta`` device
    (test.py: every weight comes from a checkpoint) are left alone: there is nothing to fill, and torch's meta
    ``normal_`` imports torch._dynamo, seconds of start-up.
    """
    if any(p.is_meta for p in module.parameters(recurse=False)):
        return
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def stem(in_nc: int, out_nc: int, norm: NormFactory) -> list[nn.Module]:
    """``[ReflectionPad2d(3), Conv7(in -> out), norm, ReLU]`` (4 Sequential indices)."""
    return [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, out_nc, kernel_size=7, padding=0), norm(out_nc), nn.ReLU(True)]


def down(in_nc: int, out_nc: int, norm: NormFactory, stride: int = 2) -> list[nn.Module]:
    """``[Conv3 stride 2 pad 1, norm, ReLU]``: halves H and W (``stride=1`` keeps them, same weights)."""
    return [nn.Conv2d(in_nc, out_nc, kernel_size=3, stride=stride, padding=1), norm(out_nc), nn.ReLU(True)]


def up(in_nc: int, out_nc: int, norm: NormFactory) -> list[nn.Module]:
    """``[ConvTranspose3 stride 2 pad 1 output_padding 1, norm, ReLU]``: doubles H and W.

    The transposed convolution is :class:`models.networks.memory_format.ConvTranspose2d` (faster on CPU, same keys).
    """
    return [ConvTranspose2d(in_nc, out_nc, kernel_size=3, stride=2, padding=1, output_padding=1),
            norm(out_nc), nn.ReLU(True)]


def head(in_nc: int, out_nc: int, activation: Optional[nn.Module]) -> list[nn.Module]:
    """``[ReflectionPad2d(3), Conv7(in -> out)]`` plus ``activation`` if given.

    The convolution is :class:`models.networks.head_conv.HeadConv2d` (faster on CPU for few outputs, same keys).
    """
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), HeadConv2d(in_nc, out_nc, kernel_size=7, padding=0)]
    return layers + ([activation] if activation is not None else [])


class ResnetBlock(nn.Module):
    """``x + [ReflPad1, Conv3, norm, ReLU, ReflPad1, Conv3, norm](x)``; keys ``conv_block.{1,2,5,6}``.

    Args:
        dim: Channels in and out.
        norm: Norm layer factory (see :func:`get_norm_layer`).
    """

    def __init__(self, dim: int, norm: NormFactory) -> None:
        super().__init__()
        self.conv_block = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), norm(dim), nn.ReLU(True),
            nn.ReflectionPad2d(1), nn.Conv2d(dim, dim, kernel_size=3), norm(dim))

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, dim, H, W) -> (B, dim, H, W)."""
        return x + self.conv_block(x)


def resnet_blocks(dim: int, count: int, norm: NormFactory) -> list[nn.Module]:
    """``count`` :class:`ResnetBlock` of width ``dim``."""
    return [ResnetBlock(dim, norm) for _ in range(count)]
