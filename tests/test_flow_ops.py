"""FlowNet2 operators in pure PyTorch: naive-loop semantics, gradcheck, channel order, golden fixtures."""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from models.networks.flow import ops
from tests.conftest import GOLDEN, require

# (pad, kernel, max_displacement, stride1, stride2); the first is FlowNetC's.
CORR_SETTINGS = [(20, 1, 20, 1, 2), (4, 1, 4, 1, 1), (3, 1, 4, 2, 2), (2, 3, 2, 1, 1), (5, 3, 4, 2, 2), (0, 1, 2, 1, 1)]


def naive_correlation(f1: np.ndarray, f2: np.ndarray, pad: int, k: int, md: int, s1: int, s2: int) -> np.ndarray:
    """The reference formula, one output value at a time; reads outside the padded buffer are zero."""
    batch, channels, height, width = f1.shape
    p1 = np.pad(f1, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    p2 = np.pad(f2, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    kr, radius = (k - 1) // 2, md // s2
    size = 2 * radius + 1
    out_h = math.ceil((height + 2 * pad - 2 * (kr + md)) / s1)
    out_w = math.ceil((width + 2 * pad - 2 * (kr + md)) / s1)
    out = np.zeros((batch, size * size, out_h, out_w))

    def read(buf: np.ndarray, b: int, y: int, x: int) -> np.ndarray:
        inside = 0 <= y < buf.shape[2] and 0 <= x < buf.shape[3]
        return buf[b, :, y, x] if inside else np.zeros(channels)

    for b in range(batch):
        for oy in range(out_h):
            for ox in range(out_w):
                y1, x1 = oy * s1 + md, ox * s1 + md
                for tj in range(-radius, radius + 1):
                    for ti in range(-radius, radius + 1):
                        total = 0.0
                        for j in range(-kr, kr + 1):
                            for i in range(-kr, kr + 1):
                                a = read(p1, b, y1 + j, x1 + i)
                                c = read(p2, b, y1 + j + tj * s2, x1 + i + ti * s2)
                                total += float(a @ c)
                        out[b, (tj + radius) * size + ti + radius, oy, ox] = total / (k * k * channels)
    return out


def naive_resample2d(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """Resample2d as the CUDA kernel states it: floor-based weights, each corner clamped on its own."""
    batch, channels, height, width = image.shape
    out = np.zeros_like(image)
    for b in range(batch):
        for y in range(height):
            for x in range(width):
                xf, yf = x + flow[b, 0, y, x], y + flow[b, 1, y, x]
                alpha, beta = xf - math.floor(xf), yf - math.floor(yf)
                xl, yt = math.floor(xf), math.floor(yf)
                x0, x1 = min(max(xl, 0), width - 1), min(max(xl + 1, 0), width - 1)
                y0, y1 = min(max(yt, 0), height - 1), min(max(yt + 1, 0), height - 1)
                out[b, :, y, x] = ((1 - alpha) * (1 - beta) * image[b, :, y0, x0] + alpha * (1 - beta)
                                   * image[b, :, y0, x1] + (1 - alpha) * beta * image[b, :, y1, x0]
                                   + alpha * beta * image[b, :, y1, x1])
    return out


@pytest.mark.parametrize("setting", CORR_SETTINGS)
def test_correlation_matches_naive_loops(setting):
    pad, k, md, s1, s2 = setting
    f1, f2 = torch.randn(2, 3, 6, 7, dtype=torch.float64), torch.randn(2, 3, 6, 7, dtype=torch.float64)
    out = ops.correlation(f1, f2, pad_size=pad, kernel_size=k, max_displacement=md, stride1=s1, stride2=s2)
    expected = naive_correlation(f1.numpy(), f2.numpy(), pad, k, md, s1, s2)
    assert out.shape[1] == (2 * (md // s2) + 1) ** 2
    torch.testing.assert_close(out, torch.from_numpy(expected))


def test_correlation_flownetc_shape_and_channel_order():
    # f2 is f1 moved by (dy, dx) = (4, -6): the matching channel is (dy/2 + 10) * 21 + (dx/2 + 10).
    f1 = torch.randn(1, 64, 24, 32)
    f2 = torch.roll(f1, shifts=(4, -6), dims=(2, 3))
    out = ops.correlation(f1, f2)
    assert out.shape == (1, 441, 24, 32)
    best = out[0, :, 8:16, 10:20].argmax(dim=0)
    assert torch.all(best == (2 + 10) * 21 + (-3 + 10))


@pytest.mark.parametrize("setting", [(4, 1, 4, 1, 2), (3, 1, 4, 2, 2), (1, 3, 1, 1, 1)])
def test_correlation_gradcheck(setting):
    pad, k, md, s1, s2 = setting
    f1 = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    f2 = torch.randn(1, 2, 4, 5, dtype=torch.float64, requires_grad=True)
    fn = lambda a, b: ops.correlation(a, b, pad_size=pad, kernel_size=k, max_displacement=md,  # noqa: E731
                                      stride1=s1, stride2=s2)
    assert torch.autograd.gradcheck(fn, (f1, f2))


def test_resample2d_matches_naive_loops_and_edge_cases():
    image = torch.randn(2, 3, 7, 9, dtype=torch.float64)
    flow = torch.randn(2, 2, 7, 9, dtype=torch.float64) * 4  # many samples land outside the frame
    flow[0, :, 0, :3] = torch.tensor([[-0.5, -2.0, 3.0], [-0.25, 1.0, -7.5]], dtype=torch.float64)
    flow[1, :, 2, 2] = torch.tensor([1.0, -1.0], dtype=torch.float64)  # integer sample position
    out = ops.resample2d(image, flow)
    torch.testing.assert_close(out, torch.from_numpy(naive_resample2d(image.numpy(), flow.numpy())))


def test_resample2d_zero_flow_is_identity_and_gradcheck():
    image = torch.randn(1, 2, 5, 6, dtype=torch.float64, requires_grad=True)
    torch.testing.assert_close(ops.resample2d(image, torch.zeros(1, 2, 5, 6, dtype=torch.float64)), image)
    # Non-integer sample positions (bilinear interpolation has kinks at integers).
    flow = (torch.rand(1, 2, 5, 6, dtype=torch.float64) * 3 - 1.5 + 0.37).requires_grad_()
    assert torch.autograd.gradcheck(ops.resample2d, (image, flow))


def test_channel_norm_value_gradient_and_gradcheck():
    x = torch.randn(2, 5, 4, 3, dtype=torch.float64, requires_grad=True)
    out = ops.channel_norm(x)
    torch.testing.assert_close(out, (x**2).sum(1, keepdim=True).sqrt())
    grad_out = torch.randn_like(out)
    (grad,) = torch.autograd.grad(out, x, grad_out)
    torch.testing.assert_close(grad, grad_out * x / (out + 1e-9), rtol=1e-6, atol=1e-8)
    assert torch.autograd.gradcheck(ops.channel_norm, (x,))


def test_golden_ops_outputs_and_gradients():
    case = torch.load(require(GOLDEN / "ops" / "case.pt", "golden ops fixture"), weights_only=True)
    for item in case["correlation"]:
        s = item["settings"]
        f1, f2 = item["input1"].clone().requires_grad_(), item["input2"].clone().requires_grad_()
        out = ops.correlation(f1, f2, pad_size=s["pad_size"], kernel_size=s["kernel_size"],
                              max_displacement=s["max_displacement"], stride1=s["stride1"], stride2=s["stride2"])
        out.backward(item["grad_output"])
        for got, want in ((out, item["output"]), (f1.grad, item["grad_input1"]), (f2.grad, item["grad_input2"])):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-5)
    res = case["resample2d"]
    image, flow = res["input1_image"].clone().requires_grad_(), res["input2_flow"].clone().requires_grad_()
    out = ops.resample2d(image, flow)
    out.backward(res["grad_output"])
    torch.testing.assert_close(out, res["output"], rtol=0, atol=1e-5)
    torch.testing.assert_close(image.grad, res["grad_input1_exact"], rtol=0, atol=1e-5)
    torch.testing.assert_close(image.grad, res["grad_input1_cuda_kernel"], rtol=0, atol=1e-5)
    torch.testing.assert_close(flow.grad, res["grad_input2_flow"], rtol=0, atol=1e-5)
    norm = case["channelnorm"]
    x = norm["input1"].clone().requires_grad_()
    out = ops.channel_norm(x)
    out.backward(norm["grad_output"])
    torch.testing.assert_close(out, norm["output"], rtol=0, atol=1e-5)
    torch.testing.assert_close(x.grad, norm["grad_input1"], rtol=0, atol=1e-5)


def test_resample2d_is_the_project_warp_and_grid_sample_convention():
    image, flow = torch.randn(1, 3, 8, 10), torch.randn(1, 2, 8, 10) * 3
    ys, xs = torch.meshgrid(torch.arange(8.0), torch.arange(10.0), indexing="ij")
    grid = torch.stack((2 * (xs + flow[0, 0]) / 9 - 1, 2 * (ys + flow[0, 1]) / 7 - 1), dim=-1)[None]
    expected = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=True)
    torch.testing.assert_close(ops.resample2d(image, flow), expected, rtol=1e-5, atol=1e-5)


def test_implementation_choice_and_errors(caplog):
    f = torch.randn(1, 4, 8, 8)
    with pytest.raises(ValueError, match="unknown operator implementation"):
        ops.correlation(f, f, impl="triton")
    with pytest.raises(RuntimeError, match="needs CUDA tensors"):
        ops.channel_norm(f, impl="cuda")
    with pytest.raises(ValueError, match="too small"):
        ops.correlation(torch.randn(1, 2, 3, 3), torch.randn(1, 2, 3, 3), pad_size=0, max_displacement=4)
    ops._announced.clear()
    with caplog.at_level(logging.INFO, logger="models.networks.flow.ops"):
        ops.channel_norm(f)
        ops.channel_norm(f)
    messages = [r.getMessage() for r in caplog.records if "ChannelNorm" in r.getMessage()]
    assert messages == ["FlowNet2 ChannelNorm: pure-PyTorch implementation"]
