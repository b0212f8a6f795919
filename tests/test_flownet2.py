"""FlowNet2: official state-dict layout, checkpoint round trip, forward, vid2vid's input preparation."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from models.networks.flow.estimator import FlowNet2Estimator, create_flow_estimator
from models.networks.flow.flownet2 import FlowNet2
from tests.conftest import REFERENCE, require
from util.checkpoint import CheckpointError


@pytest.fixture(scope="module")
def flownet2() -> FlowNet2:
    torch.manual_seed(0)
    return FlowNet2(ops_impl="pytorch").eval()


def test_state_dict_matches_official_layout(flownet2):
    layouts = json.loads(require(REFERENCE / "state_dict_layouts.json", "reference layouts").read_text())
    expected = layouts["FlowNet2"]["networks"]["FlowNet2"]
    state = flownet2.state_dict()
    assert list(state) == list(expected)
    assert {k: list(v.shape) for k, v in state.items()} == expected
    assert sum(p.numel() for p in flownet2.parameters()) == 162_518_834


def test_flow_invariant_to_a_shared_colour_offset(flownet2):
    # FlowNet2 subtracts the per-sample, per-channel mean of both frames.
    image1, image2 = torch.rand(1, 3, 64, 64) * 2 - 1, torch.rand(1, 3, 64, 64) * 2 - 1
    offset = torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    with torch.no_grad():
        flow = flownet2(image1, image2)
        shifted = flownet2(image1 + offset, image2 + offset)
    assert flow.shape == (1, 2, 64, 64)
    torch.testing.assert_close(shifted, flow, rtol=1e-4, atol=1e-3)


def test_official_checkpoint_round_trip_and_forward(flownet2, tmp_path):
    path = tmp_path / "FlowNet2_checkpoint.pth.tar"
    torch.save({"epoch": 0, "state_dict": flownet2.state_dict(), "best_EPE": 1e10}, path)
    estimator = create_flow_estimator("flownet2", str(path), torch.device("cpu"))
    loaded = estimator.net.state_dict()
    for key in ("flownetc.conv1.0.weight", "flownets_1.upsampled_flow6_to_5.weight", "flownetfusion.predict_flow0.bias"):
        torch.testing.assert_close(loaded[key], flownet2.state_dict()[key], rtol=0, atol=0)
    current = torch.rand(1, 3, 128, 256) * 2 - 1
    previous = torch.roll(current, shifts=2, dims=3)
    flow, conf = estimator(current, previous)
    assert flow.shape == (1, 2, 128, 256) and conf.shape == (1, 1, 128, 256)
    assert torch.isfinite(flow).all() and not flow.requires_grad
    assert set(conf.unique().tolist()) <= {0.0, 1.0}


def test_missing_checkpoint_names_file_script_and_fallback(tmp_path):
    missing = tmp_path / "nowhere" / "FlowNet2_checkpoint.pth.tar"
    with pytest.raises(CheckpointError) as info:
        create_flow_estimator("flownet2", str(missing), torch.device("cpu"))
    message = str(info.value)
    assert str(missing) in message
    assert "python scripts/download_models_flownet2.py" in message and "--flow_backend dis" in message


def test_unknown_backend_and_wrong_checkpoint_keys(tmp_path):
    with pytest.raises(ValueError, match="unknown flow backend"):
        create_flow_estimator("raft", "", torch.device("cpu"))
    path = tmp_path / "bad.pth.tar"
    torch.save({"state_dict": {"flownetc.conv1.0.weight": torch.zeros(1)}}, path)
    with pytest.raises(CheckpointError):
        create_flow_estimator("flownet2", str(path), torch.device("cpu"))


class ConstantFlowNet(nn.Module):
    """Stands in for FlowNet2: records the input size and returns a constant flow of (1, 1) pixel."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[int, int]] = []

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(image1.shape[-2:]))
        return torch.ones(image1.shape[0], 2, *image1.shape[-2:])


@pytest.mark.parametrize("size, net_size, scale", [
    ((128, 192), (128, 192), (1.0, 1.0)),             # multiples of 64: untouched
    ((130, 200), (128, 192), (130 / 128, 130 / 128)),  # height resized: the reference's old_h/new_h on both
    ((128, 200), (128, 192), (200 / 192, 1.0)),        # width only (the reference would crash): dx by width
])
def test_input_preparation_resizes_to_multiples_of_64(size, net_size, scale):
    net = ConstantFlowNet()
    estimator = FlowNet2Estimator(net, torch.device("cpu"))
    frames = torch.rand(2, 3, 3, *size) * 2 - 1  # (B, T, 3, H, W)
    flow, conf = estimator(frames, frames)
    assert net.seen == [net_size]
    assert flow.shape == (2, 3, 2, *size) and conf.shape == (2, 3, 1, *size)
    torch.testing.assert_close(flow[:, :, 0], torch.full((2, 3, *size), scale[0]))
    torch.testing.assert_close(flow[:, :, 1], torch.full((2, 3, *size), scale[1]))


def test_confidence_rule_on_flownet2_path():
    # With a (1, 1) flow, conf is 1 where previous moved by (1, 1) matches current (inside the frame).
    previous = torch.rand(1, 3, 64, 64) * 2 - 1
    current = torch.roll(previous, shifts=(-1, -1), dims=(2, 3))
    _, conf = FlowNet2Estimator(ConstantFlowNet(), torch.device("cpu"))(current, previous)
    assert conf[0, 0, :-1, :-1].min() == 1.0
    assert conf[0, 0, -1, :].mean() < 0.5  # the wrapped last row does not match


def test_set_ops_impl_reaches_every_operator(flownet2):
    flownet2.set_ops_impl("cuda")
    try:
        assert flownet2.flownetc.corr.impl == "cuda"
        with pytest.raises(RuntimeError, match="needs CUDA tensors"), torch.no_grad():
            flownet2(torch.zeros(1, 3, 64, 64), torch.zeros(1, 3, 64, 64))
    finally:
        flownet2.set_ops_impl("pytorch")
