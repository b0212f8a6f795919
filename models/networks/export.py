"""The per-frame generator step as a plain module for ONNX export (``scripts/export_onnx.py``).

:class:`GeneratorStep` is one test-time step of a :class:`~models.networks.video_generator.VideoGenerator`
(vid2vid's composite or Fast-Vid2Vid's teacher / student): encoded labels of the newest ``n_frames_G`` frames
and the ``n_frames_G - 1`` previous outputs in, the new frame out, through the plain convolutions (the CPU's
exact sparse label stem is an equivalent rewrite of the first convolution, not exported).

Normalisation is exported as test.py computes it. The reference never calls ``.eval()``, so BatchNorm (and
instance norm with running buffers) normalises with the statistics of the current input, and the released
outputs depend on it. An ONNX ``BatchNormalization`` node in inference mode would use the running averages
instead, so :func:`with_input_statistics` replaces every norm layer in training mode by
:class:`InputStatisticsNorm`, which computes the mean and (biased) variance of its input explicitly. Norm
layers in eval mode are left as they are.
"""

from __future__ import annotations

import copy

from torch import Tensor, nn

from models.networks.input_encoding import build_pyramid
from models.networks.video_generator import VideoGenerator


class InputStatisticsNorm(nn.Module):
    """``(x - mean) / sqrt(var + eps) * weight + bias`` with the mean and biased variance of the input.

    Args:
        dims: Dimensions the statistics are taken over: (0, 2, 3) for BatchNorm, (2, 3) for instance norm.
        eps: Added to the variance.
        weight: (C,) scale, or None (no affine part).
        bias: (C,) shift, or None.
    """

    def __init__(self, dims: tuple[int, ...], eps: float, weight: Tensor | None, bias: Tensor | None) -> None:
        super().__init__()
        self.dims, self.eps = dims, eps
        self.weight = None if weight is None else nn.Parameter(weight.detach().clone(), requires_grad=False)
        self.bias = None if bias is None else nn.Parameter(bias.detach().clone(), requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        """x: (B, C, H, W) -> (B, C, H, W)."""
        mean = x.mean(dim=self.dims, keepdim=True)
        centred = x - mean
        var = (centred * centred).mean(dim=self.dims, keepdim=True)
        out = centred / (var + self.eps).sqrt()
        if self.weight is not None:
            out = out * self.weight.view(1, -1, 1, 1)
        if self.bias is not None:
            out = out + self.bias.view(1, -1, 1, 1)
        return out


def _input_statistics_of(norm: nn.Module) -> nn.Module | None:
    """The :class:`InputStatisticsNorm` doing what ``norm`` does now, or None when it uses running buffers."""
    if isinstance(norm, nn.BatchNorm2d) and (norm.training or not norm.track_running_stats):
        return InputStatisticsNorm((0, 2, 3), norm.eps, norm.weight if norm.affine else None,
                                   norm.bias if norm.affine else None)
    if isinstance(norm, nn.InstanceNorm2d) and (norm.training or not norm.track_running_stats):
        return InputStatisticsNorm((2, 3), norm.eps, norm.weight if norm.affine else None,
                                   norm.bias if norm.affine else None)
    return None


def with_input_statistics(module: nn.Module) -> nn.Module:
    """A copy of ``module`` whose norm layers in training mode compute input statistics explicitly, eval mode.

    The copy computes what ``module`` computes in its current modes (without updating running buffers).
    """
    twin = copy.deepcopy(module)
    replacements = []
    for name, child in twin.named_modules():
        swap = _input_statistics_of(child)
        if swap is not None:
            replacements.append((name, swap))
    for name, swap in replacements:
        parent_name, _, attr = name.rpartition(".")
        setattr(twin.get_submodule(parent_name) if parent_name else twin, attr, swap)
    return twin.eval().requires_grad_(False)


class GeneratorStep(nn.Module):
    """One generation step of every scale, finest output returned.

    Args:
        generator: The sequential generator (its modes decide the normalisation; see the module docstring).
    """

    def __init__(self, generator: VideoGenerator) -> None:
        super().__init__()
        self.generator = with_input_statistics(generator)

    def forward(self, labels: Tensor, prev_frames: Tensor) -> Tensor:
        """labels: (B, tG, C, H, W) encoded input; prev_frames: (B, tG-1, 3, H, W) in [-1, 1], oldest first
        -> (B, 3, H, W) the new frame in [-1, 1]."""
        n_scales = self.generator.n_scales
        outputs = self.generator.generate_frame(build_pyramid(labels, n_scales), build_pyramid(prev_frames, n_scales))
        return outputs[-1].image
