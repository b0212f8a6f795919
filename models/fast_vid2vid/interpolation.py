"""Motion-compensated interpolation between two generated key frames, trajectory-weighted and label-aware.

Fast-Vid2Vid generates only key frames and fills the others with ffmpeg's ``minterpolate`` (block motion,
key frames assumed evenly spaced). Here, for key frames ``key0`` at time ``t0`` and ``key1`` at ``t1`` and any
in-between time ``t`` (fraction ``f = (t - t0) / (t1 - t0)``, so uneven key spacing is exact):

1. **Flow both ways** between the keys with any flow callable (``flow_fn(current, previous)`` returns the flow
   ``current -> previous`` in pixels, as :mod:`models.networks.flow.estimator`; OpenCV DIS by default), once
   per gap. With ``global_alignment`` the other key is first shifted by the keys' global (integer) translation
   found by phase correlation, and the shift added back: a camera pan of tens of pixels, beyond what DIS's
   pyramid recovers, is then only a residual.
2. **Trajectories** (``method="trajectories"``, the default): each pixel ``p`` of the frame at ``t`` tries
   straight key0 -> key1 motions ``v``: ``F01`` and ``-F10`` read at ``p`` and at a few offsets around it. Along
   ``v`` the point lies at ``p - f v`` in key0 and ``p + (1 - f) v`` in key1; the candidate's value is the linear
   blend of the keys sampled there, its weight ``softmax(-d / temperature)`` with ``d`` the keys' disagreement
   along it (windowed mean absolute difference). A clear match wins; equally good ones are averaged (the
   least-squares guess when the motion is uncertain). The plain bidirectional backward warp (key0 read at
   ``p + f F10(p)``, key1 at ``p + (1 - f) F01(p)``) is one more candidate with a fixed disagreement
   ``fallback_cost``: where no trajectory matches (the flow missed the motion) the result falls back to it
   instead of to the least bad wrong match.
   **Timing**: real frames are not evenly spaced in time (camera timestamps jitter, the motion is not
   uniform), so the frame at ``t`` is known only up to a time error; with ``timing_jitter`` (the standard
   deviation of each frame's time, in frames) the mixture is averaged over that uncertainty: sampled at
   ``p + x s v`` (three Gauss-Hermite taps ``x``) along the weighted motion ``v``, ``s`` the spread of the
   fraction (``jitter sqrt(1 + f^2 + (1 - f)^2) / (t1 - t0)``, from independent errors of the frame and of
   both keys; 0 at the keys). That is the expected-error-optimal frame under the uncertainty.
3. **Label-aware rule** (vid2vid knows the label maps of the in-between frames): with ``labels0``,
   ``labels1`` and the labels at ``t``, each key's (weighted) source must carry the label the frame has at
   ``t``. Where both do, step 2 stands. Otherwise each source is moved to the nearest pixel of its key (within
   ``label_search_radius``) with that label, and the keys whose source then matches are blended linearly in
   time (exactly one: that key only); where neither matches, step 2 stands. This fixes thin structures and
   boundaries the flow smears, and regions whose labels appear or change between the keys.

``method="splat"`` is the first version, kept for comparison (``bench/interpolation.py``): every key pixel is
rated by forward-backward and photometric **confirmation**; each key is **forward-splatted** to time ``t``
(softmax splatting ordered by confirmation, push-pull hole filling) and warped with
:func:`models.networks.warp.warp`; the two are **blended** with weights ``w_k = (c_k + eta) (s_k a_k + eps n_k +
floor)`` (``s`` linear temporal weights, ``c`` coverage, ``a`` splatted confirmation, ``n`` a sharpened
temporal weight picking the nearer key): occlusions take the key that sees the pixel, unconfirmed regions the
nearest key; then the label rule as above (where exactly one key's snapped source matches, that key only).

:class:`GapInterpolator` holds only the two keys around the current gap (and their flows), so memory stays
flat over a sequence; :func:`interpolate_gap` is the one-call form.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Callable, NamedTuple, Optional, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from models.networks.warp import warp

SEARCH_CHUNK = 32  # label-search offsets tried together
# Gauss-Hermite nodes (in standard deviations) and weights: the expectation over a normal time error
TIMING_TAPS = ((-math.sqrt(3.0), 1 / 6), (0.0, 2 / 3), (math.sqrt(3.0), 1 / 6))
FlowFn = Callable[[Tensor, Tensor], "tuple[Tensor, Tensor] | Tensor"]


@dataclass(frozen=True)
class InterpolationConfig:
    """Constants of the interpolation (see the module docstring for their roles).

    Attributes:
        fb_relative: Forward-backward tolerance, part relative to the squared flow lengths.
        fb_absolute: Forward-backward tolerance in squared pixels.
        fb_floor: Confirmation left to a photometrically matched pixel whose flows disagree (the other key's
            flow may be the wrong one).
        photo_sigma: Photometric agreement scale: mean absolute RGB difference in [-1, 1] units.
        collision_sharpness: Softmax splatting: a confirmed pixel outweighs an unconfirmed one by e^this.
        full_coverage: Splatted bilinear mass counted as fully covered (expansions spread mass below 1).
        unconfirmed_weight: ``eps``: weight of covered but unconfirmed pixels (nearest-key fallback).
        hole_weight: ``eta``: coverage credited to a key that does not cover the pixel.
        floor_weight: Smallest weight of a covering key, however far and unconfirmed.
        label_search_radius: Pixels searched around a source whose label does not match (0: no search);
            8 suits 512x256, scale it with the frame width.
        method: How each key reaches time ``t``: ``"trajectories"`` (candidate straight trajectories weighted
            by how well the two keys agree along them; the default) or ``"splat"`` (forward splatting with
            occlusion reasoning, the first version; kept for comparison).
        trajectory_offsets: ``"trajectories"``: pixel offsets (x, y) whose key-to-key motions are also tried
            at each pixel ((0, 0): the pixel's own).
        match_radius: ``"trajectories"``: the keys' disagreement along a trajectory is averaged over a
            ``2 r + 1`` square window.
        match_temperature: ``"trajectories"``: softmax temperature of the candidates' weights, in units of
            the window's mean absolute RGB difference summed over channels ([-1, 1] images).
        fallback_cost: ``"trajectories"``: the disagreement credited to the plain bidirectional warp, an extra
            candidate that takes over where no trajectory matches better (``math.inf``: no fallback).
        timing_jitter: ``"trajectories"``: standard deviation of each frame's time about its time stamp, in
            frames (time-stamp units); the frame is averaged over the resulting uncertainty along the motion
            (0: none).
        global_alignment: Shift the other key by the keys' global translation (phase correlation) before the
            flow, and add it back (large camera pans).
    """

    fb_relative: float = 0.01
    fb_absolute: float = 0.5
    fb_floor: float = 0.5
    photo_sigma: float = 0.1
    collision_sharpness: float = 10.0
    full_coverage: float = 0.5
    unconfirmed_weight: float = 0.01
    hole_weight: float = 1e-8
    floor_weight: float = 1e-6
    label_search_radius: int = 8
    method: str = "trajectories"
    trajectory_offsets: tuple[tuple[int, int], ...] = ((0, 0), (4, 0), (-4, 0), (0, 4), (0, -4))
    match_radius: int = 3
    match_temperature: float = 0.6
    fallback_cost: float = 0.35
    timing_jitter: float = 0.125
    global_alignment: bool = True


#: The first trajectory version (issue 23's starting point): no fallback, no timing average, no alignment.
FIRST_TRAJECTORIES = InterpolationConfig(match_temperature=0.4, fallback_cost=math.inf, timing_jitter=0.0,
                                         global_alignment=False)


class InterpolatedFrame(NamedTuple):
    """One interpolated frame with what decided it.

    Attributes:
        image: (3, H, W) in [-1, 1].
        key1_weight: (1, H, W) share of ``key1`` in each pixel (0: all from ``key0``).
        label_match: (2, H, W) bool, whether key0's / key1's source carries the label at ``t`` (after the
            search), or None without labels.
    """

    image: Tensor
    key1_weight: Tensor
    label_match: Optional[Tensor]


class _Key(NamedTuple):
    image: Tensor  # (1, 3, H, W)
    time: float
    labels: Optional[Tensor]  # (H, W) int64


# ---------------------------------------------------------------------------------------------- pieces
def _pixel_grid(height: int, width: int, like: Tensor) -> Tensor:
    """(2, H, W) pixel coordinates x, y on ``like``'s device and dtype."""
    ys = torch.arange(height, device=like.device, dtype=like.dtype)
    xs = torch.arange(width, device=like.device, dtype=like.dtype)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack((grid_x, grid_y))


def global_shift(key0: Tensor, key1: Tensor) -> tuple[int, int]:
    """The keys' global translation ``(dx, dy)`` in whole pixels, ``key0(p) ~ key1(p + (dx, dy))``, by phase
    correlation of the grey images (Hann-windowed; the peak of the normalised cross-power spectrum).

    Args:
        key0, key1: (1, 3, H, W) in [-1, 1].
    """
    height, width = key0.shape[-2:]
    window = torch.outer(torch.hann_window(height, periodic=False, device=key0.device),
                         torch.hann_window(width, periodic=False, device=key0.device))
    grey0, grey1 = (key.float().mean(1)[0] * window for key in (key0, key1))
    cross = torch.fft.rfft2(grey1) * torch.fft.rfft2(grey0).conj()
    surface = torch.fft.irfft2(cross / cross.abs().clamp_min(1e-12), s=(height, width))
    peak = int(surface.argmax())
    dy, dx = divmod(peak, width)
    return (dx - width if dx > width // 2 else dx), (dy - height if dy > height // 2 else dy)


def key_flows(key0: Tensor, key1: Tensor, flow_fn: FlowFn, align: bool = False) -> Tensor:
    """Flows between the keys in one call: (2, 2, H, W), ``[F01, F10]`` with ``key0(p) ~ key1(p + F01(p))``.

    Args:
        key0, key1: (1, 3, H, W) in [-1, 1].
        flow_fn: ``flow_fn(current, previous)`` -> flow ``current -> previous`` (N, 2, H, W) in pixels (or a
            (flow, confidence) pair, as the project's estimators return).
        align: Give ``flow_fn`` the other key shifted by the :func:`global_shift` (border replicated) and add
            the shift back, so it only has to find the residual motion.
    """
    dx, dy = global_shift(key0, key1) if align else (0, 0)
    result = flow_fn(torch.cat([key0, key1]), torch.cat([shifted(key1, dx, dy), shifted(key0, -dx, -dy)]))
    flow = (result[0] if isinstance(result, (tuple, list)) else result).to(key0.device, key0.dtype)
    shift = flow.new_tensor([[dx, dy], [-dx, -dy]]).view(2, 2, 1, 1)
    return flow + shift if (dx or dy) else flow


def confirmation(image: Tensor, other: Tensor, flow: Tensor, back_flow: Tensor,
                 cfg: InterpolationConfig) -> Tensor:
    """How surely each pixel of ``image`` is matched in ``other`` (forward-backward and photometric), in [0, 1].

    Args:
        image: (1, 3, H, W) in [-1, 1].
        other: (1, 3, H, W) the other key.
        flow: (1, 2, H, W) ``image -> other`` in pixels.
        back_flow: (1, 2, H, W) ``other -> image``.
        cfg: Tolerances.

    Returns:
        (1, 1, H, W); 0 where ``p + flow(p)`` leaves the picture.
    """
    back = warp(back_flow, flow)
    mismatch = (flow + back).pow(2).sum(1, keepdim=True)
    tolerance = cfg.fb_relative * (flow.pow(2) + back.pow(2)).sum(1, keepdim=True) + cfg.fb_absolute
    photo = (image - warp(other, flow)).abs().mean(1, keepdim=True)
    target = _pixel_grid(flow.shape[-2], flow.shape[-1], flow) + flow[0]
    inside = ((target[0] >= 0) & (target[0] <= flow.shape[-1] - 1) & (target[1] >= 0)
              & (target[1] <= flow.shape[-2] - 1)).to(flow.dtype)
    consistent = cfg.fb_floor + (1 - cfg.fb_floor) * torch.exp(-mismatch / tolerance)
    return consistent * torch.exp(-(photo / cfg.photo_sigma).pow(2)) * inside


def forward_splat(values: Tensor, displacement: Tensor) -> Tensor:
    """Sum every pixel's values at ``p + displacement(p)``, spread over the 4 nearest pixels bilinearly.

    Args:
        values: (C, H, W).
        displacement: (2, H, W) in pixels (x, y).

    Returns:
        (C, H, W) splatted sums (pixels landing outside are dropped).
    """
    channels, height, width = values.shape
    target = (_pixel_grid(height, width, displacement) + displacement).reshape(2, -1)
    corner = target.floor()
    frac = target - corner
    corner = corner.long()
    indices, weights = [], []
    for dx, dy in ((0, 0), (1, 0), (0, 1), (1, 1)):
        x, y = corner[0] + dx, corner[1] + dy
        weight = (frac[0] if dx else 1 - frac[0]) * (frac[1] if dy else 1 - frac[1])
        weights.append(weight * ((x >= 0) & (x < width) & (y >= 0) & (y < height)))
        indices.append(y.clamp(0, height - 1) * width + x.clamp(0, width - 1))
    spread = values.reshape(channels, 1, -1) * torch.stack(weights).unsqueeze(0)
    out = values.new_zeros(channels, height * width)
    out.index_add_(1, torch.cat(indices), spread.reshape(channels, -1))
    return out.reshape(channels, height, width)


def fill_holes(values: Tensor, known: Tensor) -> Tensor:
    """Push-pull filling: unknown pixels take the average of the known ones at the finest scale that has some.

    Args:
        values: (1, C, H, W).
        known: (1, 1, H, W) bool.

    Returns:
        (1, C, H, W), equal to ``values`` where known (zeros everywhere if nothing is known).
    """
    if bool(known.all()):
        return values
    if not bool(known.any()):
        return torch.zeros_like(values)
    weight = known.to(values.dtype)
    coarse_sum = F.avg_pool2d(values * weight, 2, ceil_mode=True)
    coarse_weight = F.avg_pool2d(weight, 2, ceil_mode=True)
    coarse = fill_holes(coarse_sum / coarse_weight.clamp_min(1e-12), coarse_weight > 0)
    upsampled = F.interpolate(coarse, scale_factor=2, mode="nearest")[..., : values.shape[-2], : values.shape[-1]]
    return torch.where(known, values, upsampled)


def flow_to_time(flow: Tensor, confirmed: Tensor, fraction: float,
                 cfg: InterpolationConfig) -> tuple[Tensor, Tensor, Tensor]:
    """Backward flow from time ``t`` into a key, by splatting the key's pixels ``fraction`` of the way.

    Args:
        flow: (1, 2, H, W) key -> other key, in pixels.
        confirmed: (1, 1, H, W) the key's :func:`confirmation`.
        fraction: How far along ``flow`` time ``t`` lies (``f`` for key0, ``1 - f`` for key1).
        cfg: Constants.

    Returns:
        flow_t (1, 2, H, W) with ``frame_t ~ warp(key, flow_t)``; coverage (1, 1, H, W) in [0, 1]; the
        splatted confirmation (1, 1, H, W) in [0, 1].
    """
    z = torch.exp(cfg.collision_sharpness * (confirmed[0] - 1))
    stacked = torch.cat([-fraction * flow[0] * z, confirmed[0] * z, z, torch.ones_like(z)])
    splat = forward_splat(stacked, fraction * flow[0]).unsqueeze(0)
    total = splat[:, 3:4].clamp_min(1e-12)
    mass = splat[:, 4:5]
    known = mass > 1e-3
    flow_t = fill_holes(splat[:, :2] / total, known)
    confirmed_t = torch.where(known, splat[:, 2:3] / total, torch.zeros_like(mass))
    return flow_t, (mass / cfg.full_coverage).clamp(0, 1), confirmed_t.clamp(0, 1)


def _lookup(labels: Tensor, xi: Tensor, yi: Tensor) -> Tensor:
    """Labels at integer pixel coordinates ``xi``, ``yi`` (any same shape); -1 outside the picture."""
    height, width = labels.shape
    inside = (xi >= 0) & (xi < width) & (yi >= 0) & (yi < height)
    index = (yi.clamp(0, height - 1) * width + xi.clamp(0, width - 1))
    return torch.where(inside, labels.reshape(-1)[index], torch.full_like(index, -1))


def _offsets(radius: int) -> list[tuple[int, int]]:
    """Integer offsets within ``radius`` (Euclidean), nearest first, (0, 0) excluded."""
    found = [(dx, dy) for dy in range(-radius, radius + 1) for dx in range(-radius, radius + 1)
             if 0 < dx * dx + dy * dy <= radius * radius]
    return sorted(found, key=lambda o: (o[0] ** 2 + o[1] ** 2, o[1], o[0]))


def _sources(flow_t: Tensor) -> Tensor:
    """(2, H * W) integer source pixels ``round(p + flow_t(p))`` of a (1, 2, H, W) flow."""
    height, width = flow_t.shape[-2:]
    return (_pixel_grid(height, width, flow_t) + flow_t[0]).round().long().reshape(2, -1)


def source_matches(flow_t: Tensor, key_labels: Tensor, labels_t: Tensor) -> Tensor:
    """(H, W) bool: whether the key pixel nearest to ``p + flow_t(p)`` carries the label ``labels_t(p)``.

    Args:
        flow_t: (1, 2, H, W) backward flow from time ``t`` into the key.
        key_labels: (H, W) int64 label ids of the key.
        labels_t: (H, W) int64 label ids at time ``t``.
    """
    source = _sources(flow_t)
    return (_lookup(key_labels, source[0], source[1]) == labels_t.reshape(-1)).view(labels_t.shape)


def snap_to_labels(flow_t: Tensor, key_labels: Tensor, labels_t: Tensor, radius: int) -> tuple[Tensor, Tensor]:
    """Move each source whose label differs from the label at ``t`` to the nearest key pixel that has it.

    Args:
        flow_t: (1, 2, H, W) backward flow from time ``t`` into the key.
        key_labels: (H, W) int64 label ids of the key.
        labels_t: (H, W) int64 label ids at time ``t``.
        radius: Search radius in pixels around the flow's source.

    Returns:
        The corrected flow (1, 2, H, W) and (H, W) bool: whether the (corrected) source carries ``labels_t``.
    """
    height, width = labels_t.shape
    source = _sources(flow_t)
    matched = source_matches(flow_t, key_labels, labels_t)
    near = (source[0] >= -radius) & (source[0] < width + radius) & (source[1] >= -radius) \
        & (source[1] < height + radius)  # sources farther out cannot reach the picture
    todo = (~matched.reshape(-1) & near).nonzero().squeeze(1)
    pad = 2 * radius  # near sources plus any offset stay inside the padded map
    padded = F.pad(key_labels[None], (pad, pad, pad, pad), value=-1)[0].reshape(-1)
    base = (source[1] + pad) * (width + 2 * pad) + source[0] + pad
    offsets = torch.tensor(_offsets(radius), dtype=torch.long, device=flow_t.device).reshape(-1, 2)
    steps = offsets[:, 1] * (width + 2 * pad) + offsets[:, 0]
    shift = torch.zeros(2, height * width, device=flow_t.device, dtype=flow_t.dtype)
    wanted = labels_t.reshape(-1)
    for chunk, step in zip(offsets.split(SEARCH_CHUNK), steps.split(SEARCH_CHUNK)):  # nearest first
        if todo.numel() == 0:
            break
        hits = padded[base[todo, None] + step] == wanted[todo, None]
        hit = hits.any(1)
        found, first = todo[hit], hits[hit].to(torch.uint8).argmax(1)
        shift[:, found] = chunk[first].t().to(shift.dtype)
        matched.view(-1)[found] = True
        todo = todo[~hit]
    return flow_t + shift.reshape(1, 2, *flow_t.shape[-2:]), matched


def blend_weights(fraction: float, coverage: Tensor, confirmed: Tensor, cfg: InterpolationConfig) -> Tensor:
    """Step 4's weights ``(c + eta) (s a + eps n + floor)`` of both keys.

    ``s`` is the linear temporal weight, ``n = s^4 / sum s^4`` picks the nearer key: confirmed pixels blend
    linearly, a key that covers the pixel always beats one that does not, and between two covering but
    unconfirmed keys the nearer wins.

    Args:
        fraction: ``f`` in [0, 1].
        coverage: (2, 1, H, W) per key.
        confirmed: (2, 1, H, W) per key.
        cfg: Constants.

    Returns:
        (2, 1, H, W) unnormalised weights.
    """
    linear = coverage.new_tensor([1.0 - fraction, fraction]).view(2, 1, 1, 1)
    nearest = linear.pow(4) / linear.pow(4).sum()
    return (coverage + cfg.hole_weight) * (linear * confirmed + cfg.unconfirmed_weight * nearest + cfg.floor_weight)


def shifted(field: Tensor, dx: int, dy: int) -> Tensor:
    """``field`` read ``(dx, dy)`` pixels away: out(p) = field(p + (dx, dy)), the border replicated.

    Args:
        field: (N, C, H, W).
        dx, dy: Integer offsets in pixels.

    Returns:
        (N, C, H, W).
    """
    if dx == 0 and dy == 0:
        return field
    height, width = field.shape[-2:]
    padded = F.pad(field, (abs(dx), abs(dx), abs(dy), abs(dy)), mode="replicate")
    return padded[..., abs(dy) + dy: abs(dy) + dy + height, abs(dx) + dx: abs(dx) + dx + width]


def box_mean(values: Tensor, radius: int) -> Tensor:
    """Mean over the ``2 radius + 1`` square around each pixel, the border replicated: (N, C, H, W) -> same."""
    if radius <= 0:
        return values
    padded = F.pad(values, (radius, radius, radius, radius), mode="replicate")
    return F.avg_pool2d(padded, 2 * radius + 1, stride=1)


def candidate_motions(flows: Tensor, offsets: Sequence[tuple[int, int]]) -> Tensor:
    """Key0 -> key1 motions to try at every pixel: ``F01`` and ``-F10``, each read at every offset.

    Args:
        flows: (2, 2, H, W) ``[F01, F10]`` in pixels.
        offsets: Pixel offsets (x, y), (0, 0) for the pixel itself.

    Returns:
        (2 * len(offsets), 2, H, W): ``v`` with a point at ``p - t v`` in key0 and ``p + (1 - t) v`` in key1.
    """
    both = torch.stack([flows[0], -flows[1]])
    return torch.cat([shifted(both, dx, dy) for dx, dy in offsets])


class Mixture(NamedTuple):
    """What :func:`trajectory_blend` makes of a frame.

    Attributes:
        image: (1, 3, H, W) the weighted mixture.
        flows_t: (2, 2, H, W) weighted flows from time ``t`` into key0 and into key1.
        motion: (1, 2, H, W) weighted key0 -> key1 motion through each pixel.
    """

    image: Tensor
    flows_t: Tensor
    motion: Tensor


def trajectory_blend(key0: Tensor, key1: Tensor, motions: Tensor, fraction: float,
                     cfg: InterpolationConfig, flows: Optional[Tensor] = None) -> Mixture:
    """The frame at ``fraction`` as a mixture of straight trajectories through each pixel, weighted by how well
    the two keys agree along them.

    Each candidate motion ``v`` puts the pixel's point at ``p - f v`` in key0 and ``p + (1 - f) v`` in key1;
    the keys sampled there are blended linearly in time. A candidate's weight is
    ``softmax(-d / temperature)`` over the candidates, ``d`` being the window mean of ``|key0 - key1|``
    (summed over RGB) along it. Where several motions match, they are averaged, which is what a
    mean-squared-error-optimal guess does when the motion is uncertain. With ``flows`` and a finite
    ``cfg.fallback_cost``, the plain bidirectional warp (key0 at ``p + f F10(p)``, key1 at
    ``p + (1 - f) F01(p)``) joins as a candidate whose disagreement is that constant.

    Args:
        key0, key1: (1, 3, H, W) in [-1, 1].
        motions: (K, 2, H, W) candidate motions (:func:`candidate_motions`).
        fraction: ``f`` in [0, 1].
        cfg: Constants (``match_radius``, ``match_temperature``, ``fallback_cost``).
        flows: Optional (2, 2, H, W) ``[F01, F10]`` for the fallback candidate.
    """
    to_key0, to_key1 = -fraction * motions, (1 - fraction) * motions
    fallback = flows is not None and math.isfinite(cfg.fallback_cost)
    if fallback:
        to_key0 = torch.cat([to_key0, fraction * flows[1:2]])
        to_key1 = torch.cat([to_key1, (1 - fraction) * flows[0:1]])
        motions = torch.cat([motions, (flows[0:1] - flows[1:2]) / 2])
    count = motions.shape[0]
    seen0 = warp(key0.expand(count, -1, -1, -1), to_key0)
    seen1 = warp(key1.expand(count, -1, -1, -1), to_key1)
    disagreement = box_mean((seen0 - seen1).abs().sum(1, keepdim=True), cfg.match_radius)
    if fallback:
        disagreement[-1] = cfg.fallback_cost
    weight = torch.softmax(-disagreement / cfg.match_temperature, dim=0)  # (K, 1, H, W)
    image = ((1 - fraction) * seen0 + fraction * seen1).mul(weight).sum(0, keepdim=True)
    flows_t = torch.stack([(to_key0 * weight).sum(0), (to_key1 * weight).sum(0)])
    return Mixture(image, flows_t, (motions * weight).sum(0, keepdim=True))


def timing_spread(fraction: float, gap: float, jitter: float) -> float:
    """Standard deviation of the true fraction of a frame stamped at ``fraction`` of a gap of ``gap`` time units
    when every frame's time (both keys' included) is off by independent errors of std ``jitter``; 0 at the
    keys themselves."""
    if jitter <= 0 or fraction <= 0 or fraction >= 1:
        return 0.0
    return jitter * math.sqrt(1 + fraction ** 2 + (1 - fraction) ** 2) / gap


def average_over_timing(image: Tensor, motion: Tensor, spread: float) -> Tensor:
    """``image`` averaged over a normal time error of std ``spread`` (in fractions of the gap): sampled at
    ``p + x spread motion(p)`` for the Gauss-Hermite nodes ``x`` (:data:`TIMING_TAPS`), border replicated.

    Args:
        image: (1, C, H, W).
        motion: (1, 2, H, W) key0 -> key1 motion in pixels.
        spread: Std of the fraction (0: ``image`` itself).
    """
    if spread <= 0:
        return image
    return sum(weight * (image if node == 0 else warp(image, node * spread * motion))
               for node, weight in TIMING_TAPS)


# ---------------------------------------------------------------------------------------------- the gap
def _as_labels(labels: Optional[Tensor], height: int, width: int, device: torch.device) -> Optional[Tensor]:
    """(H, W) integer labels (a (1, H, W) or (1, 1, H, W) map is squeezed) as int64 on ``device``, or None."""
    if labels is None:
        return None
    if labels.shape[-2:] != (height, width) or labels.numel() != height * width:
        raise ValueError(f"expected ({height}, {width}) label ids, got {tuple(labels.shape)}")
    return labels.reshape(height, width).to(device, torch.long)


class GapInterpolator:
    """Interpolates the frames between consecutive key frames, holding only the two keys of the current gap.

    Push each key frame in time order with :meth:`push_key`; after the second, :meth:`frame_at` /
    :meth:`fill` make any frame between the last two keys. The flows of a gap are computed once, on first use.

    Args:
        flow_fn: ``flow_fn(current, previous)`` -> flow ``current -> previous`` in pixels for (N, 3, H, W)
            frames in [-1, 1] (a ``(flow, confidence)`` pair is accepted), e.g.
            ``create_flow_estimator("dis", None, device)``.
        config: Constants of the method.
    """

    def __init__(self, flow_fn: FlowFn, config: InterpolationConfig = InterpolationConfig()) -> None:
        self.flow_fn, self.config = flow_fn, config
        self.keys: list[_Key] = []
        if config.method not in METHODS:
            raise ValueError(f"unknown interpolation method {config.method!r}; choose one of {sorted(METHODS)}")
        self._flows: Optional[Tensor] = None  # (2, 2, H, W) [F01, F10] of the current gap
        self._motion: Optional[tuple[Tensor, Tensor]] = None  # flows (2, 2, H, W), confirmation (2, 1, H, W)
        self._motions: Optional[Tensor] = None  # (K, 2, H, W) candidate motions of the current gap

    def reset(self) -> None:
        """Forget the keys (a new sequence starts)."""
        self.keys = []
        self._flows = self._motion = self._motions = None

    def push_key(self, image: Tensor, time: float, labels: Optional[Tensor] = None) -> None:
        """Add the next key frame; the one before the previous key is dropped.

        Args:
            image: (3, H, W) or (1, 3, H, W) generated key frame in [-1, 1].
            time: Its time stamp (frame index), greater than the previous key's.
            labels: Optional (H, W) label ids of the key (for the label-aware rule).
        """
        image = image.detach().reshape(1, 3, *image.shape[-2:])
        if self.keys and (time <= self.keys[-1].time or image.shape != self.keys[-1].image.shape):
            raise ValueError(f"key frames must come in increasing time with one size; got t={time} "
                             f"{tuple(image.shape)} after t={self.keys[-1].time} {tuple(self.keys[-1].image.shape)}")
        key = _Key(image, float(time), _as_labels(labels, *image.shape[-2:], image.device))
        self.keys = (self.keys + [key])[-2:]
        self._flows = self._motion = self._motions = None

    def _gap_flows(self) -> Tensor:
        """Flows ``[F01, F10]`` (2, 2, H, W) of the current gap, computed once."""
        if len(self.keys) < 2:
            raise RuntimeError("push two key frames before interpolating")
        if self._flows is None:
            self._flows = key_flows(self.keys[0].image, self.keys[1].image, self.flow_fn,
                                    self.config.global_alignment)
        return self._flows

    def _gap_trajectories(self) -> Tensor:
        """Candidate motions (K, 2, H, W) of the current gap (:func:`candidate_motions`, cached)."""
        if self._motions is None:
            self._motions = candidate_motions(self._gap_flows(), self.config.trajectory_offsets)
        return self._motions

    def _gap_motion(self) -> tuple[Tensor, Tensor]:
        """Flows ``[F01, F10]`` (2, 2, H, W) and confirmations (2, 1, H, W) of the current gap (cached)."""
        if self._motion is None:
            key0, key1 = self.keys[0].image, self.keys[1].image
            flows = self._gap_flows()
            confirmed = torch.cat([confirmation(key0, key1, flows[0:1], flows[1:2], self.config),
                                   confirmation(key1, key0, flows[1:2], flows[0:1], self.config)])
            self._motion = (flows, confirmed)
        return self._motion

    @torch.no_grad()
    def frame_at(self, time: float, labels: Optional[Tensor] = None) -> InterpolatedFrame:
        """The frame at ``time`` (between the two keys), with its blending weights.

        Args:
            time: Time stamp in ``[t0, t1]`` (true frame index: uneven key spacing is exact).
            labels: Optional (H, W) label ids at ``time``; used when both keys have labels too.
        """
        if len(self.keys) < 2:
            raise RuntimeError("push two key frames before interpolating")
        (key0, t0, labels0), (key1, t1, labels1) = self.keys
        fraction = (float(time) - t0) / (t1 - t0)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"time {time} is outside the gap [{t0}, {t1}]")
        labels_t = _as_labels(labels, *key0.shape[-2:], key0.device)
        use_labels = labels_t is not None and labels0 is not None and labels1 is not None
        return METHODS[self.config.method](self, fraction, labels_t if use_labels else None)

    def _splat_frame(self, fraction: float, labels_t: Optional[Tensor]) -> InterpolatedFrame:
        """``method="splat"``: forward-splatted flows to time t, occlusion-aware blend, the label rule."""
        flows, confirmed = self._gap_motion()
        (key0, _, labels0), (key1, _, labels1) = self.keys
        warped, coverage, confirmed_t, matches = [], [], [], []
        for k, (key, key_labels, share) in enumerate(((key0, labels0, fraction), (key1, labels1, 1 - fraction))):
            flow_t, cover, conf = flow_to_time(flows[k:k + 1], confirmed[k:k + 1], share, self.config)
            if labels_t is not None:
                flow_t, match = snap_to_labels(flow_t, key_labels, labels_t, self.config.label_search_radius)
                matches.append(match)
            warped.append(warp(key, flow_t))
            coverage.append(cover)
            confirmed_t.append(conf)
        weights = blend_weights(fraction, torch.cat(coverage), torch.cat(confirmed_t), self.config)
        label_match = torch.stack(matches) if labels_t is not None else None
        if label_match is not None:  # where exactly one key's source has the right label, use that key only
            only_other = label_match.flip(0) & ~label_match
            weights = weights * (~only_other).unsqueeze(1).to(weights.dtype)
        share1 = weights[1] / weights.sum(0).clamp_min(1e-30)
        image = (1 - share1) * warped[0][0] + share1 * warped[1][0]
        return InterpolatedFrame(image.clamp(-1, 1), share1, label_match)

    def _trajectory_frame(self, fraction: float, labels_t: Optional[Tensor]) -> InterpolatedFrame:
        """``method="trajectories"``: the mixture of :func:`trajectory_blend` averaged over the timing
        uncertainty (:func:`average_over_timing`), then the label rule.

        With labels, each key's (weighted) source must carry the label at ``t``. Where both do, the mixture
        stands. Elsewhere each source is moved onto the right label (:func:`snap_to_labels`) and the keys whose
        moved source matches are blended linearly in time (exactly one: that key alone); where neither
        matches, the mixture stands.
        """
        (key0, t0, labels0), (key1, t1, labels1) = self.keys
        mixture = trajectory_blend(key0, key1, self._gap_trajectories(), fraction, self.config, self._gap_flows())
        spread = timing_spread(fraction, t1 - t0, self.config.timing_jitter)
        image, flows_t = average_over_timing(mixture.image, mixture.motion, spread), mixture.flows_t
        share1 = torch.full_like(image[0, :1], fraction)
        if labels_t is None:
            return InterpolatedFrame(image[0].clamp(-1, 1), share1, None)
        before, after, snapped = [], [], []
        for k, key_labels in enumerate((labels0, labels1)):
            before.append(source_matches(flows_t[k:k + 1], key_labels, labels_t))
            flow_k, match = snap_to_labels(flows_t[k:k + 1], key_labels, labels_t, self.config.label_search_radius)
            after.append(match)
            snapped.append(flow_k)
        label_match = torch.stack(after)
        linear = label_match.new_tensor([1.0 - fraction, fraction], dtype=image.dtype).view(2, 1, 1)
        weights = linear * label_match.to(image.dtype)
        relabel = ~(before[0] & before[1]) & label_match.any(0)
        label_share1 = weights[1] / weights.sum(0).clamp_min(1e-30)
        relabelled = (1 - label_share1) * warp(key0, snapped[0])[0] + label_share1 * warp(key1, snapped[1])[0]
        image = torch.where(relabel, relabelled, image[0])
        share1 = torch.where(relabel, label_share1, share1[0]).unsqueeze(0)
        return InterpolatedFrame(image.clamp(-1, 1), share1, label_match)

    def fill(self, times: Sequence[float], labels: Optional[Sequence[Tensor]] = None) -> list[Tensor]:
        """Frames at ``times`` between the two keys: a list of (3, H, W) in [-1, 1].

        Args:
            times: Time stamps in ``[t0, t1]``.
            labels: Optional label ids (H, W) at each time.
        """
        if labels is not None and len(labels) != len(times):
            raise ValueError(f"got {len(labels)} label maps for {len(times)} times")
        return [self.frame_at(t, None if labels is None else labels[i]).image for i, t in enumerate(times)]


#: How each key reaches time t (``InterpolationConfig.method``): a frame maker per name.
METHODS: dict[str, Callable[[GapInterpolator, float, Optional[Tensor]], InterpolatedFrame]] = {
    "trajectories": GapInterpolator._trajectory_frame,
    "splat": GapInterpolator._splat_frame,
}


def interpolate_gap(key0: Tensor, key1: Tensor, fractions: Sequence[float], flow_fn: FlowFn, *,
                    labels0: Optional[Tensor] = None, labels1: Optional[Tensor] = None,
                    labels_between: Optional[Sequence[Tensor]] = None,
                    config: InterpolationConfig = InterpolationConfig(),
                    gap_frames: Optional[float] = None) -> list[Tensor]:
    """Frames between two key frames in one call.

    Args:
        key0: (3, H, W) key frame at fraction 0, in [-1, 1].
        key1: (3, H, W) key frame at fraction 1.
        fractions: Times of the wanted frames as fractions of the gap, in [0, 1] (uneven spacing allowed).
        flow_fn: Flow callable (see :class:`GapInterpolator`).
        labels0, labels1: Optional (H, W) label ids of the keys.
        labels_between: Optional (H, W) label ids at each fraction.
        config: Constants of the method.
        gap_frames: The keys' distance in frames, which scales ``config.timing_jitter``; None: no timing
            average (fractions alone do not say how uncertain a frame's time is).

    Returns:
        One (3, H, W) frame in [-1, 1] per fraction.
    """
    if gap_frames is None:
        config, gap_frames = replace(config, timing_jitter=0.0), 1.0
    gap = GapInterpolator(flow_fn, config)
    gap.push_key(key0, 0.0, labels0)
    gap.push_key(key1, float(gap_frames), labels1)
    return gap.fill([fraction * gap_frames for fraction in fractions], labels_between)
