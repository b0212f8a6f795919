"""The output heads' matrix-product path (models/networks/head_conv.py) against the plain convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

import models.networks.head_conv as head_conv
from models.networks import build_generator
from models.networks.blocks import head
from models.networks.head_conv import HeadConv2d, head_conv2d, takes_tap_path
from tests.test_sr_mobile import H, W, _config, _inputs, _scale_input


@pytest.fixture
def small_maps(monkeypatch) -> None:
    """The path on the tests' 64x32 frames, with bands of a few rows (several bands per map)."""
    monkeypatch.setattr(head_conv, "TAP_MIN_PIXELS", 1)
    monkeypatch.setattr(head_conv, "TAP_MIN_IN_CHANNELS", 1)
    monkeypatch.setattr(head_conv, "BAND_BYTES", 40 * 1024)


@pytest.mark.parametrize("out_nc, kernel, bias", [(3, (7, 7), True), (1, (7, 7), False), (4, (3, 5), True)])
@pytest.mark.parametrize("channels_last", [False, True])
def test_matches_conv2d(small_maps, out_nc, kernel, bias, channels_last) -> None:
    torch.manual_seed(0)
    x = torch.randn(2, 16, H + kernel[0] - 1, W + kernel[1] - 1)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    weight, b = torch.randn(out_nc, 16, *kernel) * 0.1, (torch.randn(out_nc) if bias else None)
    with torch.no_grad():
        assert takes_tap_path(x, weight)
        out = head_conv2d(x, weight, b)
        assert out.shape == (2, out_nc, H, W)
        assert_close(out, F.conv2d(x, weight, b), atol=1e-5, rtol=1e-5)


def test_bands_cover_every_row(monkeypatch) -> None:
    """A band size that does not divide the height still writes every output row once."""
    monkeypatch.setattr(head_conv, "TAP_MIN_PIXELS", 1)
    monkeypatch.setattr(head_conv, "TAP_MIN_IN_CHANNELS", 1)
    x, weight = torch.randn(1, 8, 37 + 6, 20 + 6), torch.randn(3, 8, 7, 7)
    with torch.no_grad():
        for band_bytes in (1, 3 * 49 * 26 * 4 * 7, 2 ** 30):  # one row, 1 row a band, one band
            monkeypatch.setattr(head_conv, "BAND_BYTES", band_bytes)
            assert_close(head_conv2d(x, weight), F.conv2d(x, weight), atol=1e-5, rtol=1e-5)


def test_plain_convolution_where_the_path_does_not_apply(small_maps) -> None:
    x, weight = torch.randn(1, 8, H + 6, W + 6), torch.randn(3, 8, 7, 7)
    assert not takes_tap_path(x, weight)  # autograd on: training keeps oneDNN's convolution
    with torch.no_grad():
        assert takes_tap_path(x, weight)
        assert not takes_tap_path(x, torch.randn(5, 8, 7, 7))  # more outputs: oneDNN is efficient there
        assert not takes_tap_path(x, torch.randn(3, 8, 1, 1))
        assert not takes_tap_path(x.bfloat16(), weight.bfloat16())
        with torch.autocast("cpu", dtype=torch.bfloat16):
            assert not takes_tap_path(x, weight)
    head_conv.TAP_MIN_IN_CHANNELS = 9  # thinner than that: the convolution (monkeypatch restores both)
    with torch.no_grad():
        assert not takes_tap_path(x, weight)
    head_conv.TAP_MIN_IN_CHANNELS, head_conv.TAP_MIN_PIXELS = 1, H * W + 1
    with torch.no_grad():
        assert not takes_tap_path(x, weight)


def test_head_module_keeps_the_conv_layout_and_falls_back_when_padded(small_maps) -> None:
    layers = head(8, 3, torch.nn.Tanh())
    assert isinstance(layers[1], HeadConv2d)
    assert set(layers[1].state_dict()) == {"weight", "bias"}
    padded = HeadConv2d(8, 3, kernel_size=7, padding=3)
    x = torch.randn(1, 8, H, W)
    with torch.no_grad():
        assert_close(padded(x), F.conv2d(x, padded.weight, padded.bias, padding=3))


@pytest.mark.parametrize("net_g, student", [("composite", False), ("sr_mobile_composite", True)])
def test_generators_give_the_same_frame(monkeypatch, net_g, student) -> None:
    """A whole generator step (image, flow and weight heads, foreground head) with and without the path."""
    torch.manual_seed(1)
    config = _config(student, n_downsampling=3) if student else _config(False)
    net = build_generator(net_g, config).scales[0]
    inputs = _scale_input(*_inputs())
    with torch.no_grad():
        plain = net(inputs)
        monkeypatch.setattr(head_conv, "TAP_MIN_PIXELS", 1)
        monkeypatch.setattr(head_conv, "TAP_MIN_IN_CHANNELS", 1)  # the tiny network's 8-channel heads
        tapped = net(inputs)
    for name in ("image", "flow", "weight", "raw_image"):
        assert_close(getattr(tapped, name), getattr(plain, name), atol=1e-4, rtol=1e-4)
