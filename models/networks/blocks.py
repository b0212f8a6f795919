"""Shared building blocks: norm selection, the residual block, weight init, conv helpers, one-hot fast conv.

Layer lists returned by the helpers are plain ``list[nn.Module]`` so callers can splice them into an
``nn.Sequential`` at the indices the released checkpoints expect (pads and activations take indices too).
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

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

    Conv biases keep PyTorch's default initialisation, as in the reference.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def stem(in_nc: int, out_nc: int, norm: NormFactory) -> list[nn.Module]:
    """``[ReflectionPad2d(3), Conv7(in -> out), norm, ReLU]`` (4 Sequential indices)."""
    return [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, out_nc, kernel_size=7, padding=0), norm(out_nc), nn.ReLU(True)]


def down(in_nc: int, out_nc: int, norm: NormFactory) -> list[nn.Module]:
    """``[Conv3 stride 2 pad 1, norm, ReLU]``: halves H and W."""
    return [nn.Conv2d(in_nc, out_nc, kernel_size=3, stride=2, padding=1), norm(out_nc), nn.ReLU(True)]


def up(in_nc: int, out_nc: int, norm: NormFactory) -> list[nn.Module]:
    """``[ConvTranspose3 stride 2 pad 1 output_padding 1, norm, ReLU]``: doubles H and W."""
    return [nn.ConvTranspose2d(in_nc, out_nc, kernel_size=3, stride=2, padding=1, output_padding=1),
            norm(out_nc), nn.ReLU(True)]


def head(in_nc: int, out_nc: int, activation: Optional[nn.Module]) -> list[nn.Module]:
    """``[ReflectionPad2d(3), Conv7(in -> out)]`` plus ``activation`` if given."""
    layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(in_nc, out_nc, kernel_size=7, padding=0)]
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


class OneHotInput(NamedTuple):
    """A generator input stack known to be one-hot labels (plus optional extra channels) per frame.

    The stack it stands for is, frame by frame, ``[one_hot(ids[:, t]) (label_nc), extra[:, t] (E)]``.

    Attributes:
        ids: (B, T, H, W) int64 label ids in ``[0, label_nc)``.
        label_nc: Number of one-hot channels per frame.
        extra: (B, T, E, H, W) further channels per frame (e.g. the instance-edge map), or None.
    """

    ids: Tensor
    label_nc: int
    extra: Optional[Tensor]


def one_hot_stem_conv(convs: Sequence[nn.Conv2d], onehot: OneHotInput, pad: int = 3,
                      rows_per_chunk: int = 16) -> list[Tensor]:
    """Exact ``conv(ReflectionPad2d(pad)(stack))`` for one-hot stacks, without the wide convolution.

    A convolution over one-hot channels is, at every pixel, the sum over kernel taps of the weight column of
    the label found under that tap: an embedding-bag sum. Several convolutions reading the same input share
    the index computation (their weights are concatenated). Non-one-hot ``extra`` channels use a normal conv.

    Args:
        convs: Convolutions (kernel 2*pad+1, stride 1, no padding) whose input is the stack.
        onehot: The input stack, see :class:`OneHotInput`.
        pad: Reflection padding applied before the convolutions.
        rows_per_chunk: Output rows handled per embedding-bag call (bounds the index memory).

    Returns:
        One (B, out_nc_i, H, W) tensor per convolution.
    """
    ids, label_nc, extra = onehot
    batch, frames, height, width = ids.shape
    k = 2 * pad + 1
    per_frame = label_nc + (extra.shape[2] if extra is not None else 0)
    weights = [c.weight.reshape(c.out_channels, frames, per_frame, k, k) for c in convs]
    weight = torch.cat(weights, dim=0)
    # table row (t, ky, kx, label) holds the weight column of that label at that tap
    table = weight[:, :, :label_nc].permute(1, 3, 4, 2, 0).reshape(frames * k * k * label_nc, -1)
    padded = F.pad(ids.to(weight.dtype), (pad, pad, pad, pad), mode="reflect").to(torch.int32)
    # (B, rows, W, T, k, k) index of every tap: its label plus the tap's row block in the table
    tap_offset = (torch.arange(frames * k * k, device=ids.device, dtype=torch.int32) * label_nc).view(frames, k, k)
    out = weight.new_empty(batch, height, width, weight.shape[0])
    chunk_shape = (batch, min(rows_per_chunk, height), width, frames, k, k)
    buffer = padded.new_empty(chunk_shape).view(-1)
    for row in range(0, height, rows_per_chunk):
        rows = min(rows_per_chunk, height - row)
        taps = padded[:, :, row:row + rows + 2 * pad].unfold(2, k, 1).unfold(3, k, 1)  # (B, T, rows, W, k, k)
        index = buffer[:batch * rows * width * frames * k * k].view(batch, rows, width, frames, k, k)
        torch.add(taps.permute(0, 2, 3, 1, 4, 5), tap_offset, out=index)  # one pass into contiguous memory
        bags = F.embedding_bag(index.view(-1, frames * k * k), table, mode="sum")
        out[:, row:row + rows] = bags.view(batch, rows, width, -1)
    result = out.permute(0, 3, 1, 2)
    biases = [c.bias if c.bias is not None else weight.new_zeros(c.out_channels) for c in convs]
    bias = torch.cat(biases)
    if extra is not None:
        extra_w = weight[:, :, label_nc:].reshape(weight.shape[0], -1, k, k)
        extra_in = F.pad(extra.reshape(batch, -1, height, width), (pad, pad, pad, pad), mode="reflect")
        result = result + F.conv2d(extra_in.to(weight.dtype), extra_w, bias)
    else:
        result = result + bias.view(1, -1, 1, 1)
    return [o.contiguous() for o in result.split([c.out_channels for c in convs], dim=1)]
