"""Network-ready inputs: one-hot label maps with instance edges, image pyramids and the foreground mask.

The reference's ``encode_input``, ``build_pyr`` and ``compute_mask``; :func:`one_hot_input` gives the same
stack as label ids for the generators' exact embedding-bag first convolution.
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from models.networks.sparse_conv import OneHotInput


def instance_edges(inst: Tensor) -> Tensor:
    """Instance boundary map: 1 where a pixel differs from its left, right, upper or lower neighbour.

    Args:
        inst: (..., H, W) instance ids (any dtype).

    Returns:
        (..., H, W) float map in {0, 1} with ``inst``'s float dtype (float32 for integer input).
    """
    edge = torch.zeros_like(inst, dtype=torch.bool)
    dx = inst[..., :, 1:] != inst[..., :, :-1]
    dy = inst[..., 1:, :] != inst[..., :-1, :]
    edge[..., :, 1:] |= dx
    edge[..., :, :-1] |= dx
    edge[..., 1:, :] |= dy
    edge[..., :-1, :] |= dy
    return edge.to(inst.dtype if inst.is_floating_point() else torch.float32)


def encode_input(labels: Tensor, inst: Optional[Tensor], label_nc: int) -> Tensor:
    """Network-ready input: one-hot labels (or the image as is) plus the instance-edge channel.

    Args:
        labels: (B, T, 1, H, W) integer-valued label ids in [0, label_nc) when ``label_nc > 0``;
            otherwise (B, T, C, H, W) input images, passed through.
        inst: (B, T, 1, H, W) instance ids, or None (no edge channel).
        label_nc: Number of classes; 0 means image input.

    Returns:
        (B, T, C', H, W) with C' = (label_nc or C) + (1 if inst is given).
    """
    edges = instance_edges(inst) if inst is not None else None
    if label_nc <= 0:
        return labels if edges is None else torch.cat([labels, edges.to(labels.dtype)], dim=2)
    batch, frames, _, height, width = labels.shape
    n_extra = 0 if edges is None else 1
    encoded = labels.new_zeros(batch, frames, label_nc + n_extra, height, width, dtype=torch.float32)
    encoded[:, :, :label_nc].scatter_(2, labels.long(), 1.0)
    if edges is not None:
        encoded[:, :, label_nc:] = edges
    return encoded


def one_hot_input(labels: Tensor, inst: Optional[Tensor], label_nc: int) -> OneHotInput:
    """The same stack as :func:`encode_input` as label ids, for the generators' exact fast first conv.

    Args:
        labels: (B, T, 1, H, W) label ids; inst: (B, T, 1, H, W) instance ids or None.
    """
    extra = instance_edges(inst).float() if inst is not None else None
    return OneHotInput(labels[:, :, 0].long(), label_nc, extra)


def takes_sparse_stem(label_nc: int, label_stem: str, devices: Sequence[torch.device]) -> bool:
    """Whether the label stems take the exact embedding-bag path (:mod:`models.networks.sparse_conv`): one-hot
    labels (``label_nc > 0``) and ``--label_stem sparse``, or ``auto`` with every device a CPU."""
    on_cpu = all(device.type == "cpu" for device in devices)
    return label_nc > 0 and (label_stem == "sparse" or (label_stem == "auto" and on_cpu))


def build_pyramid(x: Tensor, n_scales: int) -> list[Tensor]:
    """Image pyramid, finest first; each level is ``AvgPool2d(3, 2, 1, count_include_pad=False)`` of the last.

    Args:
        x: (..., H, W) with H and W divisible by 2**(n_scales-1).

    Returns:
        ``n_scales`` tensors (..., H/2**s, W/2**s).
    """
    levels = [x]
    for _ in range(1, n_scales):
        last = levels[-1]
        height, width = last.shape[-2:]
        pooled = F.avg_pool2d(last.reshape(-1, 1, height, width), 3, stride=2, padding=1, count_include_pad=False)
        levels.append(pooled.reshape(*last.shape[:-2], *pooled.shape[-2:]))
    return levels


def foreground_mask(encoded_frame: Tensor, fg_labels: Sequence[int]) -> Tensor:
    """Sum of the foreground classes' one-hot channels, clamped to [0, 1].

    Args:
        encoded_frame: (B, C, H, W) encoded (possibly downsampled) label frame.
        fg_labels: Foreground class ids (channel indices).

    Returns:
        (B, 1, H, W) mask.
    """
    return encoded_frame[:, list(fg_labels)].sum(dim=1, keepdim=True).clamp(0, 1)
