"""Video quality measures on tensors: PSNR, SSIM, temporal warping error and the Frechet distance.

Images are (N, 3, H, W) RGB in [0, 1]. PSNR and SSIM come from torchmetrics (SSIM with the Gaussian 11x11,
sigma 1.5 window of Wang et al. 2004, data range 1). The warping error follows Lai et al. 2018 ("Learning
blind video temporal consistency"): the flow is estimated on the real frames and handed in as a callable,
together with the warp function, so this module depends on no network code.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch
from scipy import linalg
from torch import Tensor
from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

# flow(current, previous): (N, 3, H, W) in [-1, 1] -> (N, 2, H, W) pixels with warp(previous, flow) ~= current.
FlowFn = Callable[[Tensor, Tensor], Tensor]
# warp(image, flow): (N, C, H, W), (N, 2, H, W) -> (N, C, H, W), sampling image at p + flow(p).
WarpFn = Callable[[Tensor, Tensor], Tensor]

# Forward-backward consistency (Sundaram et al. 2010, as used by Ruder et al. 2016 and Lai et al. 2018):
# a pixel is visible when |b + f(p + b)|^2 < FB_ALPHA * (|b|^2 + |f(p + b)|^2) + FB_BETA (pixels^2).
FB_ALPHA = 0.01
FB_BETA = 0.5


def psnr(fake: Tensor, real: Tensor) -> Tensor:
    """Peak signal-to-noise ratio per image, in dB (inf for identical images).

    Args:
        fake: (N, 3, H, W) in [0, 1].
        real: (N, 3, H, W) in [0, 1].

    Returns:
        (N,) float tensor.
    """
    return peak_signal_noise_ratio(fake.float(), real.float(), data_range=1.0, reduction="none", dim=(1, 2, 3))


def ssim(fake: Tensor, real: Tensor) -> Tensor:
    """Structural similarity per image (Gaussian window 11x11, sigma 1.5, data range 1), 1 for identical images.

    Args:
        fake: (N, 3, H, W) in [0, 1], at least 11x11 pixels.
        real: (N, 3, H, W) in [0, 1].

    Returns:
        (N,) float tensor.
    """
    value = structural_similarity_index_measure(fake.float(), real.float(), gaussian_kernel=True, sigma=1.5,
                                                kernel_size=11, data_range=1.0, reduction="none")
    return value.reshape(fake.shape[0])


def in_frame(flow: Tensor) -> Tensor:
    """1 where ``p + flow(p)`` falls inside the frame.

    Args:
        flow: (N, 2, H, W) in pixels.

    Returns:
        (N, 1, H, W) float mask.
    """
    _, _, height, width = flow.shape
    xs = torch.arange(width, device=flow.device, dtype=flow.dtype).view(1, 1, width) + flow[:, 0]
    ys = torch.arange(height, device=flow.device, dtype=flow.dtype).view(1, height, 1) + flow[:, 1]
    inside = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    return inside.unsqueeze(1).to(flow.dtype)


def visibility_mask(flow_back: Tensor, flow_fwd: Tensor, warp_fn: WarpFn) -> Tensor:
    """Pixels of frame t seen in frame t-1: forward-backward consistent and landing inside the frame.

    Args:
        flow_back: (N, 2, H, W) flow t -> t-1 in pixels (``warp(frame_{t-1}, flow_back) ~= frame_t``).
        flow_fwd: (N, 2, H, W) flow t-1 -> t in pixels.
        warp_fn: The warp (see :data:`WarpFn`).

    Returns:
        (N, 1, H, W) float mask, 1 = visible, 0 = occluded or out of frame.
    """
    fwd_at_target = warp_fn(flow_fwd, flow_back)
    mismatch = (flow_back + fwd_at_target).pow(2).sum(dim=1, keepdim=True)
    magnitude = flow_back.pow(2).sum(dim=1, keepdim=True) + fwd_at_target.pow(2).sum(dim=1, keepdim=True)
    consistent = (mismatch < FB_ALPHA * magnitude + FB_BETA).to(flow_back.dtype)
    return consistent * in_frame(flow_back)


def warping_error(frame: Tensor, prev_frame: Tensor, flow_back: Tensor, mask: Tensor, warp_fn: WarpFn) -> Tensor:
    """Masked mean squared difference between frame t and frame t-1 warped onto it (Lai et al. 2018).

    The squared difference is summed over the RGB channels (values in [0, 1]) and averaged over the visible
    pixels; NaN where no pixel is visible.

    Args:
        frame: (N, 3, H, W) frame t in [0, 1].
        prev_frame: (N, 3, H, W) frame t-1 in [0, 1].
        flow_back: (N, 2, H, W) flow t -> t-1 in pixels, estimated on the real frames.
        mask: (N, 1, H, W) visibility (:func:`visibility_mask`).
        warp_fn: The warp (see :data:`WarpFn`).

    Returns:
        (N,) float tensor.
    """
    squared = (frame.float() - warp_fn(prev_frame.float(), flow_back.float())).pow(2).sum(dim=1, keepdim=True)
    visible = mask.float().sum(dim=(1, 2, 3))
    total = (squared * mask.float()).sum(dim=(1, 2, 3))
    return torch.where(visible > 0, total / visible.clamp(min=1), torch.full_like(total, math.nan))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Frechet distance between Gaussian fits of two feature sets (the FID/FVD formula of pytorch-fid).

    ``|mu_a - mu_b|^2 + tr(S_a) + tr(S_b) - 2 tr((S_a S_b)^(1/2))`` with unbiased covariances. When there
    are fewer samples than dimensions (the usual case for a few test videos) the covariances are singular and
    ``sqrtm`` is unstable; the trace term is then computed exactly as the nuclear norm of
    ``A_a A_b^T / sqrt((n_a - 1)(n_b - 1))`` (A: centred samples), whose singular values are the square roots
    of the non-zero eigenvalues of ``S_a S_b``.

    Args:
        feats_a: (N_a, D) features, N_a >= 2.
        feats_b: (N_b, D) features, N_b >= 2.

    Returns:
        The distance (>= 0 up to rounding).

    Raises:
        ValueError: fewer than two samples on a side, or feature sizes differ.
    """
    a, b = np.asarray(feats_a, dtype=np.float64), np.asarray(feats_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"feature sets must be (N, D) with the same D, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"the Frechet distance needs at least 2 samples per side, got {len(a)} and {len(b)}")
    centred_a, centred_b = a - a.mean(axis=0), b - b.mean(axis=0)
    scale_a, scale_b = 1.0 / (len(a) - 1), 1.0 / (len(b) - 1)
    mean_term = float(np.sum((a.mean(axis=0) - b.mean(axis=0)) ** 2))
    trace_a, trace_b = float(np.sum(centred_a**2)) * scale_a, float(np.sum(centred_b**2)) * scale_b
    if max(len(a), len(b)) <= a.shape[1]:
        cross = centred_a @ centred_b.T * math.sqrt(scale_a * scale_b)
        root_trace = float(np.linalg.svd(cross, compute_uv=False).sum())
    else:
        root_trace = _sqrtm_trace(centred_a.T @ centred_a * scale_a, centred_b.T @ centred_b * scale_b)
    return mean_term + trace_a + trace_b - 2.0 * root_trace


def _sqrtm_trace(sigma_a: np.ndarray, sigma_b: np.ndarray, eps: float = 1e-6) -> float:
    """``tr((S_a S_b)^(1/2))`` with scipy's sqrtm, regularised by ``eps`` on the diagonal if it fails (pytorch-fid)."""
    root = linalg.sqrtm(sigma_a @ sigma_b)
    if not np.isfinite(root).all():
        offset = np.eye(sigma_a.shape[0]) * eps
        root = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    return float(np.real(np.trace(root)))
