"""Temporal discriminator frame groups: which frames each scale sees, across chunks."""

from __future__ import annotations

import pytest
import torch

from models.vid2vid.temporal_groups import TemporalBuffers, collect_groups, skipped_frames, sparse_skipped_frames
from tests.conftest import GOLDEN, require


def _indexed(start: int, count: int, channels: int = 1) -> torch.Tensor:
    """(1, count, C, 1, 1) frames whose value is their sequence index."""
    return torch.arange(start, start + count, dtype=torch.float32).view(1, count, 1, 1, 1).expand(
        1, count, channels, 1, 1).clone()


def _frames_of(groups: torch.Tensor) -> list[list[int]]:
    return groups[:, :, 0, 0, 0].long().tolist()


def test_groups_match_the_reference_fixture():
    require(GOLDEN / "d_losses", "golden fixture d_losses")
    case = torch.load(GOLDEN / "d_losses" / "case.pt", weights_only=True)
    chunks = case["runs"]["first_img_given"]["chunks"]
    history = None
    for index, chunk in enumerate(chunks):
        # the chunk's current frames are sequence frames 2+4i .. 5+4i (n_frames_G = 3, 4 frames per chunk)
        new = _indexed(2 + 4 * index, 4)
        history, groups = skipped_frames(history, new, n_scales=2, t_d=3)
        for s, expected in enumerate(chunk["temporal_inputs"]):
            assert _frames_of(groups[s]) == expected["real_B_frames"].tolist()
        assert sum(g is not None for g in groups) == chunk["t_scales_act"]


def test_history_is_trimmed_and_detached():
    new = _indexed(0, 20).requires_grad_()
    history, groups = skipped_frames(None, new * 1, n_scales=2, t_d=3)
    assert history.shape[1] == 6
    history, _ = skipped_frames(history, _indexed(20, 2), n_scales=2, t_d=3)
    assert history[:, :4].grad_fn is None or not history[:, :4].requires_grad
    assert history[0, :, 0, 0, 0].tolist() == [16, 17, 18, 19, 20, 21]


def test_collect_groups_calls_flow_only_for_coarser_scales():
    calls = []

    def flow_fn(cur, prev):
        calls.append((cur.shape, prev.shape))
        return torch.zeros(*cur.shape[:2], 2, 1, 1), torch.ones(*cur.shape[:2], 1, 1, 1)

    frames = _indexed(0, 9, 3)
    flows = torch.zeros(1, 9, 2, 1, 1)
    _, groups = collect_groups(TemporalBuffers(), frames, frames, flows, flows[:, :, :1], n_scales=2, t_d=3,
                               flow_fn=flow_fn)
    assert _frames_of(groups.real[1]) == [[2, 5, 8]]
    assert groups.flow[0].shape[1] == 2 and len(calls) == 1 and calls[0][0][1] == 2


@pytest.mark.parametrize("chunk", [2, 3, 4])
def test_sparse_groups_are_strided_and_whole(chunk):
    history, seen = None, {0: [], 1: []}
    for start in range(0, 18, chunk):
        history, groups = sparse_skipped_frames(history, _indexed(start, chunk), 2, 3, start)
        for s in (0, 1):
            if groups[s] is not None:
                seen[s] += _frames_of(groups[s])
    assert all(g[1] - g[0] == 1 and g[2] - g[1] == 1 for g in seen[0])
    assert all(g[1] - g[0] == 3 and g[2] - g[1] == 3 and g[0] % 3 == 0 for g in seen[1])
    assert seen[1]
