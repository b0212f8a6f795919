"""State-dict layouts: every released configuration builds networks with the official keys and shapes."""

from __future__ import annotations

import json
import shlex

import pytest
import torch

from models.networks import define_D, define_G, define_single_E, define_single_G
from models.networks.discriminators import MultiscaleDiscriminator
from tests.conftest import REFERENCE, make_opt, require
from util.checkpoint import CheckpointError, load_state_dict_strict


def _layouts() -> dict:
    path = REFERENCE / "state_dict_layouts.json"
    if not path.exists():
        return {}
    return {name: cfg for name, cfg in json.loads(path.read_text()).items() if name != "FlowNet2"}


LAYOUTS = _layouts()


def _build_all(flags: str) -> dict[str, torch.nn.Module]:
    opt = make_opt(shlex.split(flags) + ["--gpu_ids", "-1"], train=True)
    with torch.device("meta"):
        generator = define_G(opt)
        nets: dict[str, torch.nn.Module] = {f"G{s}": net for s, net in enumerate(generator.scales)}
        nets.update(define_D(opt))
        if opt.use_single_G:
            nets["G_single"] = define_single_G(opt)
            if opt.dataset_mode == "face":
                nets["E_single"] = define_single_E(opt)
    return nets


@pytest.mark.parametrize("config", sorted(LAYOUTS) or ["<missing>"])
def test_official_layout(config: str) -> None:
    require(REFERENCE / "state_dict_layouts.json", "reference state-dict layouts")
    expected = LAYOUTS[config]["networks"]
    nets = _build_all(LAYOUTS[config]["flags"])
    assert sorted(nets) == sorted(expected)
    for name, net in nets.items():
        got = {key: list(value.shape) for key, value in net.state_dict().items()}
        want = {key: list(shape) for key, shape in expected[name].items()}
        assert sorted(got) == sorted(want), f"{config}/{name}: key mismatch {set(got) ^ set(want)}"
        mismatched = [k for k in want if got[k] != want[k]]
        assert not mismatched, f"{config}/{name}: shapes differ for {mismatched[:5]}"


def test_round_trip_and_mismatch_message(tmp_path) -> None:
    torch.manual_seed(0)
    net = MultiscaleDiscriminator(input_nc=5, ndf=4, n_layers=2, num_D=2)
    path = tmp_path / "latest_net_D.pth"
    torch.save(net.state_dict(), path)
    other = MultiscaleDiscriminator(input_nc=5, ndf=4, n_layers=2, num_D=2)
    other.load_state_dict(torch.load(path, weights_only=True), strict=True)
    for key, value in net.state_dict().items():
        torch.testing.assert_close(other.state_dict()[key], value)
    wrong = MultiscaleDiscriminator(input_nc=6, ndf=4, n_layers=2, num_D=3)
    with pytest.raises(CheckpointError) as err:
        load_state_dict_strict(wrong, torch.load(path, weights_only=True), source=str(path))
    message = str(err.value)
    assert "missing keys" in message and "scale2_layer0.0.weight" in message
    assert "shape mismatches" in message and "scale0_layer0.0.weight" in message
    smaller = MultiscaleDiscriminator(input_nc=5, ndf=8, n_layers=2, num_D=1)
    with pytest.raises(CheckpointError, match=r"unexpected keys \(\d+\): scale1_layer0"):
        load_state_dict_strict(smaller, torch.load(path, weights_only=True), source=str(path))


def test_meta_built_network_loads_a_checkpoint_exactly() -> None:
    """A module built on ``meta`` (no initialisation) takes every tensor from the checkpoint: the same weights and
    outputs as a copy-load; a checkpoint without ``num_batches_tracked`` (torch <= 0.4) leaves zeros there."""
    from torch import nn

    def build() -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())

    torch.manual_seed(0)
    trained = build()
    state = {k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")}
    with torch.device("meta"):
        net = build()
    load_state_dict_strict(net, state)
    assert not any(t.is_meta for t in net.state_dict().values())
    for key, value in trained.state_dict().items():
        assert torch.equal(net.state_dict()[key], value), key
    x = torch.randn(2, 3, 8, 8)
    torch.testing.assert_close(net(x), trained(x), rtol=0, atol=0)
    half = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    with torch.device("meta"):
        net = build()
    load_state_dict_strict(net, half)
    assert net[0].weight.dtype == torch.float32  # cast to the module's dtype, as a copy-load would


def test_test_time_model_is_built_on_meta_and_loaded(tmp_path) -> None:
    from models import create_model
    from util.checkpoint import atomic_save, cpu_state_dict

    flags = ["--label_nc", "4", "--ngf", "8", "--n_downsample_G", "2", "--n_blocks", "1", "--loadSize", "64",
             "--gpu_ids", "-1", "--no_first_img", "--name", "tiny", "--checkpoints_dir", str(tmp_path)]
    opt = make_opt(flags, train=False)
    torch.manual_seed(0)
    saved = define_G(opt)
    for s, net in enumerate(saved.scales):
        atomic_save(cpu_state_dict(net), str(tmp_path / "tiny" / f"latest_net_G{s}.pth"))
    model = create_model(opt)
    for s, net in enumerate(model.generator.scales):
        loaded = net.state_dict()
        assert all(not v.is_meta and v.device.type == "cpu" for v in loaded.values())
        for key, value in saved.scales[s].state_dict().items():
            assert torch.equal(loaded[key], value), key
