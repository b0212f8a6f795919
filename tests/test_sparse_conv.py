"""The embedding-bag stems equal the convolutions they replace, on one-hot and on pooled one-hot stacks."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from models.networks import sparse_conv
from models.networks.input_encoding import build_pyramid, encode_input, one_hot_input
from models.networks.sparse_conv import (
    OneHotInput,
    one_hot_stem_conv,
    sparse_layers,
    sparse_pays_off,
    sparse_stem_conv,
    stem_convs,
)

LABEL_NC, FRAMES, H, W = 5, 3, 24, 36


def _blocky(batch: int = 2, block: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """Label ids and instance ids (B, T, 1, H, W) made of constant blocks."""
    gen = torch.Generator().manual_seed(0)
    coarse = torch.randint(0, LABEL_NC, (batch, FRAMES, 1, H // block, W // block), generator=gen).float()
    inst = coarse * 10 + torch.randint(0, 2, coarse.shape, generator=gen).float()
    return tuple(x.repeat_interleave(block, -2).repeat_interleave(block, -1) for x in (coarse, inst))


def _plain(conv: nn.Conv2d, stack: torch.Tensor) -> torch.Tensor:
    """conv(ReflectionPad2d(3)(stack)) for a (B, T, C, H, W) stack."""
    return conv(nn.ReflectionPad2d(3)(stack.flatten(1, 2)))


@pytest.mark.parametrize("rows_per_chunk", [None, 7])
def test_one_hot_stem_folds_binary_edges(rows_per_chunk: int | None) -> None:
    labels, inst = _blocky()
    convs = [nn.Conv2d(FRAMES * (LABEL_NC + 1), 8, 7), nn.Conv2d(FRAMES * (LABEL_NC + 1), 5, 7)]
    fast = one_hot_stem_conv(convs, one_hot_input(labels, inst, LABEL_NC), rows_per_chunk=rows_per_chunk)
    stack = encode_input(labels, inst, LABEL_NC)
    for conv, out in zip(convs, fast):
        assert_close(out, _plain(conv, stack), atol=1e-5, rtol=1e-5)


def test_one_hot_stem_with_non_binary_extra_and_without_extra() -> None:
    labels, _ = _blocky()
    extra = torch.rand(2, FRAMES, 1, H, W)
    conv = nn.Conv2d(FRAMES * (LABEL_NC + 1), 6, 7)
    fast = one_hot_stem_conv([conv], OneHotInput(labels[:, :, 0].long(), LABEL_NC, extra))
    stack = torch.cat([encode_input(labels, None, LABEL_NC), extra], dim=2)
    assert_close(fast[0], _plain(conv, stack), atol=1e-5, rtol=1e-5)
    bare = nn.Conv2d(FRAMES * LABEL_NC, 4, 7)
    fast = one_hot_stem_conv([bare], OneHotInput(labels[:, :, 0].long(), LABEL_NC, None))
    assert_close(fast[0], _plain(bare, encode_input(labels, None, LABEL_NC)), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("scatter_cost", [sparse_conv.SCATTER_COST, 0])
def test_sparse_stem_on_pooled_one_hot(monkeypatch: pytest.MonkeyPatch, scatter_cost: int) -> None:
    """Both scales of the pyramid; scatter cost 0 sends every layer past the first through the scattered sums."""
    monkeypatch.setattr(sparse_conv, "SCATTER_COST", scatter_cost)
    labels, inst = _blocky(block=3)
    conv = nn.Conv2d(FRAMES * (LABEL_NC + 1), 7, 7)
    for stack in build_pyramid(encode_input(labels, inst, LABEL_NC), 3)[1:]:
        layers = sparse_layers(stack)
        assert layers.ids.shape[2] > 1 and int(layers.counts.max()) == layers.ids.shape[2]
        assert_close(sparse_stem_conv([conv], layers)[0], _plain(conv, stack), atol=1e-5, rtol=1e-5)


def test_sparse_layers_keep_every_entry_and_judge_cost() -> None:
    stack = torch.zeros(1, 2, 12, 4, 5)
    stack[0, 0, 3, 1, 2], stack[0, 0, 7, 1, 2], stack[0, 1, 11, 0, 0] = 0.25, -0.75, 1.0
    layers = sparse_layers(stack)
    assert layers.ids.shape == (1, 2, 2, 4, 5) and layers.counts[0, 0, 1, 2] == 2
    rebuilt = torch.zeros_like(stack).scatter_add_(2, layers.ids, layers.values)
    assert torch.equal(rebuilt, stack)
    assert sparse_pays_off(layers)  # 2 layers of 12 channels
    assert not sparse_pays_off(sparse_layers(torch.rand(1, 2, 4, 3, 3)))  # dense: 4 layers of 4 channels


def test_stem_rejects_convs_it_cannot_replace() -> None:
    labels, inst = _blocky()
    with pytest.raises(ValueError, match="7x7, stride 1"):
        one_hot_stem_conv([nn.Conv2d(FRAMES * (LABEL_NC + 1), 4, 7, padding=3)], one_hot_input(labels, inst, LABEL_NC))


@pytest.mark.parametrize("one_hot", [True, False])
def test_stems_give_the_layout_of_their_dense_input(one_hot: bool) -> None:
    """A channels-last network gets channels-last stems (the trunk after them stays on its fast path), NCHW ones
    stay NCHW; the numbers do not depend on the layout."""
    labels, inst = _blocky(batch=1)
    stack = encode_input(labels, inst, LABEL_NC)
    if not one_hot:
        stack = build_pyramid(stack, 2)[1]
    sparse = one_hot_input(labels, inst, LABEL_NC) if one_hot else sparse_layers(stack)
    convs = [nn.Conv2d(FRAMES * (LABEL_NC + 1), 8, 7), nn.Conv2d(FRAMES * (LABEL_NC + 1), 5, 7)]
    dense = stack.flatten(1, 2)
    plain = stem_convs(convs, sparse, dense)
    last = stem_convs(convs, sparse, dense.contiguous(memory_format=torch.channels_last))
    for conv, a, b in zip(convs, plain, last):
        assert a.is_contiguous() and b.is_contiguous(memory_format=torch.channels_last) and not b.is_contiguous()
        assert torch.equal(a, b)
        assert_close(b, _plain(conv, stack), atol=1e-5, rtol=1e-5)
