"""Frame groups for the temporal discriminators, collected across the chunks of a training sequence.

The temporal discriminator at scale ``s`` sees ``n_frames_D`` frames ``n_frames_D ** s`` apart. Chunks of a
sequence arrive one after another, so a detached history of past frames is kept and every chunk emits the groups
that end in its own frames (gradients reach only the current chunk).
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Optional

import torch
from torch import Tensor

FlowFn = Callable[[Tensor, Tensor], tuple[Tensor, Tensor]]


class TemporalBuffers(NamedTuple):
    """Detached history of one training sequence: real and fake frames, reference flows and confidences.

    Default mode: each is ``(B, T_hist, C, H, W)`` or None. With ``--sparse_D``: a list per temporal scale.
    """

    real: object = None
    fake: object = None
    flow: object = None
    conf: object = None


class TemporalGroups(NamedTuple):
    """Per temporal scale: frame groups ``(G, tD, C, H, W)`` and their flows ``(G, tD-1, 2|1, H, W)``, or None."""

    real: list
    fake: list
    flow: list
    conf: list


def skipped_frames(history: Optional[Tensor], new: Tensor, n_scales: int, t_d: int) -> tuple[Tensor, list]:
    """Append ``new`` to ``history`` and cut the groups of ``t_d`` frames ending in the new frames.

    Args:
        history: (B, T_h, C, H, W) detached past frames, or None at the start of a sequence.
        new: (B, T_n, C, H, W) this chunk's frames.
        n_scales: Number of temporal scales; scale ``s`` takes every ``t_d ** s``-th frame.
        t_d: Frames per group (``--n_frames_D``).

    Returns:
        The trimmed history and, per scale, the groups stacked on the batch axis ``(G, t_d, C, H, W)`` or None.
    """
    frames = new if history is None else torch.cat([history.detach(), new], dim=1)
    total = frames.shape[1]
    groups: list = [None] * n_scales
    for s in range(n_scales):
        stride = t_d**s
        span = stride * (t_d - 1)
        n_groups = min(total - span, new.shape[1])
        picked = [frames[:, total - 1 - t - span: total - t: stride] for t in range(0, max(n_groups, 0), t_d)]
        if picked:
            groups[s] = torch.cat(picked, dim=0)
    keep = t_d ** (n_scales - 1) * (t_d - 1)
    return (frames[:, -keep:] if total > keep else frames), groups


def sparse_skipped_frames(history: Optional[list], new: Tensor, n_scales: int, t_d: int, chunk_start: int,
                          is_flow: bool = False) -> tuple[list, list]:
    """The ``--sparse_D`` variant: per scale, a buffer of every ``t_d ** s``-th frame, emitted in whole groups.

    Args:
        history: Per-scale buffers (B, T_s, C, H, W) or None.
        new: (B, T_n, C, H, W) this chunk's frames.
        n_scales: Number of temporal scales.
        t_d: Frames per group.
        chunk_start: Index of the chunk's first frame in the sequence (aligns the subsampling phase).
        is_flow: Drop the first element of each group (flows of consecutive pairs).
    """
    history = list(history) if history is not None else [None] * n_scales
    groups: list = [None] * n_scales
    _, _, channels, height, width = new.shape
    for s in range(n_scales):
        buffer = history[s]
        if buffer is not None and buffer.shape[1] > 0 and buffer.shape[1] % t_d == 0:
            buffer = buffer[:, -t_d + 1:] if t_d > 1 else buffer[:, :0]
        stride = t_d**s
        start = 0 if s == 0 or chunk_start == 0 else stride - ((chunk_start - 1) % stride + 1)
        if start < new.shape[1]:
            taken = new[:, start::stride]
            buffer = taken if buffer is None else torch.cat([buffer.detach(), taken], dim=1)
        length = 0 if buffer is None else buffer.shape[1]
        if length >= t_d:
            buffer = buffer[:, length % t_d:]
            group = buffer.reshape(-1, t_d, channels, height, width)
            groups[s] = group[:, 1:] if is_flow else group
        history[s] = buffer
    return history, groups


def collect_groups(buffers: TemporalBuffers, real: Tensor, fake: Tensor, flow_ref: Tensor, conf_ref: Tensor, *,
                   n_scales: int, t_d: int, flow_fn: FlowFn, sparse: bool = False,
                   chunk_start: int = 0) -> tuple[TemporalBuffers, TemporalGroups]:
    """Update the history with a chunk and return the temporal discriminators' inputs for every scale.

    Args:
        buffers: History from the previous chunk (``TemporalBuffers()`` at a sequence start).
        real: (B, T, 3, H, W) real frames of the chunk.
        fake: (B, T, 3, H, W) generated frames of the chunk.
        flow_ref: (B, T, 2, H, W) reference flow from each frame to its predecessor (pixels).
        conf_ref: (B, T, 1, H, W) its confidence.
        n_scales: ``--n_scales_temporal``.
        t_d: ``--n_frames_D``.
        flow_fn: Flow estimator ``(current, previous) -> (flow, conf)`` for the subsampled scales.
        sparse: ``--sparse_D``.
        chunk_start: Index of the chunk's first frame (sparse mode only).
    """
    if n_scales <= 0:
        return buffers, TemporalGroups([], [], [], [])
    if sparse:
        real_hist, real_groups = sparse_skipped_frames(buffers.real, real, n_scales, t_d, chunk_start)
        fake_hist, fake_groups = sparse_skipped_frames(buffers.fake, fake, n_scales, t_d, chunk_start)
        flow_hist, flow_groups = sparse_skipped_frames(buffers.flow, flow_ref, n_scales, t_d, chunk_start, True)
        conf_hist, conf_groups = sparse_skipped_frames(buffers.conf, conf_ref, n_scales, t_d, chunk_start, True)
        return (TemporalBuffers(real_hist, fake_hist, flow_hist, conf_hist),
                TemporalGroups(real_groups, fake_groups, flow_groups, conf_groups))
    real_hist, real_groups = skipped_frames(buffers.real, real, n_scales, t_d)
    fake_hist, fake_groups = skipped_frames(buffers.fake, fake, n_scales, t_d)
    flow_hist, flow_groups, conf_hist, conf_groups = _skipped_flows(buffers, real_groups, flow_ref, conf_ref,
                                                                    n_scales=n_scales, t_d=t_d, flow_fn=flow_fn)
    return (TemporalBuffers(real_hist, fake_hist, flow_hist, conf_hist),
            TemporalGroups(real_groups, fake_groups, flow_groups, conf_groups))


def _skipped_flows(buffers: TemporalBuffers, real_groups: list, flow_ref: Tensor, conf_ref: Tensor, *,
                   n_scales: int, t_d: int, flow_fn: FlowFn) -> tuple:
    """Scale 0 reuses the chunk's consecutive flows; coarser scales run the flow estimator on their groups."""
    flow_hist, flow_0 = skipped_frames(buffers.flow, flow_ref, 1, t_d)
    conf_hist, conf_0 = skipped_frames(buffers.conf, conf_ref, 1, t_d)
    flows: list = [None] * n_scales
    confs: list = [None] * n_scales
    if flow_0[0] is not None:
        flows[0], confs[0] = flow_0[0][:, 1:], conf_0[0][:, 1:]
    for s in range(1, n_scales):
        group = real_groups[s]
        if group is not None and group.shape[1] == t_d:
            flows[s], confs[s] = flow_fn(group[:, 1:], group[:, :-1])
    return flow_hist, flows, conf_hist, confs
