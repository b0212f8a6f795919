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
