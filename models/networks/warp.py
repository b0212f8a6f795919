"""Backward warping of images by optical flow in pixels: the one warp used by generator, losses and flow."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

#: The generators predict flow divided by this factor (their heads output flow / 20 at the coarsest scale), and
#: the temporal discriminators read reference flows divided by it, as in the reference.
FLOW_SCALE = 20.0


def base_grid(flow: Tensor) -> Tensor:
    """Identity sampling grid in [-1, 1] for ``flow``'s size, on its device and dtype.

    Args:
        flow: (B, 2, H, W).

    Returns:
        (1, H, W, 2) grid, x first, corners at -1 and 1 (the align_corners=True convention).
    """
    _, _, height, width = flow.shape
    ys = torch.linspace(-1.0, 1.0, height, device=flow.device, dtype=flow.dtype)
    xs = torch.linspace(-1.0, 1.0, width, device=flow.device, dtype=flow.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y), dim=-1).unsqueeze(0)


def warp(image: Tensor, flow: Tensor) -> Tensor:
    """Sample ``image`` at ``p + flow(p)``: bilinear, border padding, align_corners=True.

    This is the reference's ``resample`` (and FlowNet2's Resample2d): the released weights were trained
    with the align_corners=True convention of the PyTorch of 2018, so it is kept.

    Args:
        image: (B, C, H, W).
        flow: (B, 2, H, W) in pixels; channel 0 is dx, channel 1 is dy.

    Returns:
        (B, C, H, W) warped image.
    """
    _, _, height, width = flow.shape
    scale = flow.new_tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)]).view(1, 2, 1, 1)
    grid = base_grid(flow) + (flow * scale).permute(0, 2, 3, 1)
    return F.grid_sample(image, grid.to(image.dtype), mode="bilinear", padding_mode="border", align_corners=True)
