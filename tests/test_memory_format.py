"""Row-blocked layout conversions and the channels-last transposed convolution are exact."""

from __future__ import annotations

import torch
from torch import nn

from models.networks.memory_format import ConvTranspose2d, to_channels_last, to_contiguous


def test_conversions_are_bitwise_copies() -> None:
    x = torch.randn(2, 5, 9, 7)
    last = to_channels_last(x)
    assert last.is_contiguous(memory_format=torch.channels_last) and torch.equal(last, x)
    back = to_contiguous(last)
    assert back.is_contiguous() and torch.equal(back, x)


def test_conv_transpose_matches_parent_with_and_without_grad() -> None:
    torch.manual_seed(0)
    ours = ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
    parent = nn.ConvTranspose2d(6, 4, 3, stride=2, padding=1, output_padding=1)
    parent.load_state_dict(ours.state_dict())
    x = torch.randn(2, 6, 10, 12)
    with torch.no_grad():
        fast = ours(x)
    assert fast.is_contiguous() and fast.shape == (2, 4, 20, 24)
    torch.testing.assert_close(fast, parent(x), atol=1e-6, rtol=1e-6)
    x.requires_grad_(True)
    ours(x).sum().backward()
    assert x.grad is not None and ours.weight.grad is not None
