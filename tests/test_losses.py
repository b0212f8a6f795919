"""Losses: known values, the VGG weights contract, and the reference's per-frame and temporal D losses."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch.testing import assert_close

from models.losses import (
    GANLoss,
    MaskedL1Loss,
    VGGLoss,
    discriminator_losses,
    feature_matching_loss,
    load_vgg19_features,
)
from models.networks.discriminators import MultiscaleDiscriminator, TemporalDiscriminator
from models.networks.input_encoding import encode_input
from models.networks.warp import warp
from tests.conftest import GOLDEN, require
from util.checkpoint import CheckpointError, load_state_dict_strict


def _fake_d_output(score: float, n_scales: int = 2) -> list[list[torch.Tensor]]:
    return [[torch.randn(2, 4, 8, 8), torch.full((2, 1, 5, 5), score)] for _ in range(n_scales)]


def test_gan_loss_known_values() -> None:
    pred = _fake_d_output(0.5)
    assert_close(GANLoss("ls")(pred, True), torch.tensor(0.5))  # (0.5-1)^2 summed over 2 scales
    assert_close(GANLoss("ls")(pred, False), torch.tensor(0.5))
    zero_logits = _fake_d_output(0.0, n_scales=1)
    assert_close(GANLoss("original")(zero_logits, True), torch.log(torch.tensor(2.0)))
    assert_close(GANLoss("ls")([torch.zeros(3, 1, 2, 2)], True), torch.tensor(1.0))  # single-scale list
    with pytest.raises(ValueError, match="unknown GAN mode"):
        GANLoss("hinge")


def test_gan_loss_targets_follow_input_dtype() -> None:
    pred = [[torch.full((1, 1, 2, 2), 0.25, dtype=torch.float64)]]
    assert GANLoss("ls")(pred, True).dtype == torch.float64


def test_feature_matching_known_value() -> None:
    real = [[torch.zeros(1, 2, 4, 4) for _ in range(5)] for _ in range(2)]
    fake = [[torch.ones(1, 2, 4, 4) for _ in range(4)] + [torch.full((1, 2, 4, 4), 7.0)] for _ in range(2)]
    # 2 scales x 4 features (last excluded) x 1/2 x 4/4 x L1=1 x lambda 10
    loss = feature_matching_loss(fake, real, num_D=2, n_layers_D=3, lambda_feat=10.0)
    assert_close(loss, torch.tensor(40.0))


def test_masked_l1_averages_over_all_elements() -> None:
    mask = torch.zeros(1, 1, 2, 2)
    mask[0, 0, 0, 0] = 1
    assert_close(MaskedL1Loss()(torch.ones(1, 3, 2, 2), torch.zeros(1, 3, 2, 2), mask), torch.tensor(0.25))


def test_discriminator_losses_gradients() -> None:
    net = MultiscaleDiscriminator(input_nc=4, ndf=4, n_layers=2, num_D=2)
    real, fake = torch.randn(2, 4, 16, 16), torch.randn(2, 4, 16, 16, requires_grad=True)
    losses = discriminator_losses(net, real, fake, GANLoss("ls"), num_D=2, n_layers_D=2)
    assert sorted(losses) == ["D_fake", "D_real", "G_GAN", "G_GAN_Feat"]
    (losses["D_fake"]).backward(retain_graph=True)
    assert fake.grad is None  # the D term sees a detached fake
    (losses["G_GAN"] + losses["G_GAN_Feat"]).backward()
    assert fake.grad is not None and fake.grad.abs().sum() > 0
    off = discriminator_losses(net, real, fake, GANLoss("ls"), num_D=2, n_layers_D=2, use_feat=False)
    assert off["G_GAN_Feat"].item() == 0.0


def _random_vgg_file(tmp_path) -> str:
    """A torchvision-format vgg19 state dict with random features (classifier as tiny expanded storages)."""
    from torchvision.models import vgg19

    with torch.device("meta"):
        shapes = {k: v.shape for k, v in vgg19(weights=None).state_dict().items()}
    torch.manual_seed(0)
    state = {k: (torch.randn(s) * 0.05 if k.startswith("features") else torch.zeros(1).expand(s))
             for k, s in shapes.items()}
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    torch.save(state, path)
    return str(path)


def test_vgg_loss_with_local_weights(tmp_path) -> None:
    path = _random_vgg_file(tmp_path)
    loss = VGGLoss(weights_path=path)
    assert not any(p.requires_grad for p in loss.parameters())
    x, y = torch.rand(1, 3, 32, 32) * 2 - 1, torch.rand(1, 3, 32, 32) * 2 - 1
    assert_close(loss(x, x), torch.tensor(0.0))
    features = load_vgg19_features(path)
    expected, fx, fy = torch.tensor(0.0), x, y
    for weight, (a, b) in zip((1 / 32, 1 / 16, 1 / 8, 1 / 4, 1.0), ((0, 2), (2, 7), (7, 12), (12, 21), (21, 30))):
        fx, fy = features[a:b](fx), features[a:b](fy)
        expected = expected + weight * (fx - fy).abs().mean()
    assert_close(loss(x, y), expected)
    wide_x, wide_y = torch.rand(1, 3, 32, 1032), torch.rand(1, 3, 32, 1032)
    assert_close(loss(wide_x, wide_y), loss(F.avg_pool2d(wide_x, 2), F.avg_pool2d(wide_y, 2)))


def test_vgg_missing_weights_message(tmp_path) -> None:
    missing = tmp_path / "nowhere" / "vgg19.pth"
    with pytest.raises(CheckpointError) as err:
        VGGLoss(weights_path=str(missing))
    message = str(err.value)
    assert str(missing) in message and "vgg19-dcbb9e9d.pth" in message and "--no_vgg" in message
    assert "checkpoints" in message  # where torchvision's cache expects it


# ---------------------------------------------------------------------------- golden d_losses, chunk 0
def _d_losses_case():
    folder = require(GOLDEN / "d_losses", "golden fixture d_losses")
    return folder, torch.load(folder / "case.pt", weights_only=True)


def _load_d(folder, name: str, input_nc: int) -> MultiscaleDiscriminator:
    cls = TemporalDiscriminator if name.startswith("D_T") else MultiscaleDiscriminator
    net = cls(input_nc=input_nc, ndf=4, n_layers=3, num_D=2)
    load_state_dict_strict(net, torch.load(folder / f"latest_net_{name}.pth", weights_only=True))
    return net.train()


def test_golden_frame_losses_chunk0() -> None:
    folder, case = _d_losses_case()
    chunk = case["runs"]["first_img_given"]["chunks"][0]
    data, g_out = case["inputs"]["data"], chunk["G_out"]
    h, w = data["A"].shape[-2:]
    labels = encode_input(data["A"].view(1, 10, 1, h, w), data["inst"].view(1, 10, 1, h, w), 6)
    real = data["B"].view(10, 3, h, w)
    frames = g_out["real_Bp_frames"][0]  # [prev, current...]
    real_prev, real_cur, label = real[frames[:-1]], real[frames[1:]], labels[0, frames[1:]]
    flat = {k: g_out[k][0] for k in ("fake_B", "fake_B_raw", "flow", "weight", "fake_B_prev_for_D")}
    flow_ref, conf_ref = chunk["flow_ref"][0], chunk["conf_ref"][0]
    net_d, gan, l1 = _load_d(folder, "D", 10), GANLoss("ls"), MaskedL1Loss()
    kw = dict(num_D=2, n_layers_D=3, lambda_feat=10.0)
    real_in = torch.cat([label, real_cur], 1)
    blend = discriminator_losses(net_d, real_in, torch.cat([label, flat["fake_B"]], 1), gan, **kw)
    raw = discriminator_losses(net_d, real_in, torch.cat([label, flat["fake_B_raw"]], 1), gan, **kw)
    got = {k: blend[k] + raw[k] for k in blend}
    got["F_Flow"] = l1(flat["flow"], flow_ref, conf_ref) * 10.0
    got["F_Warp"] = l1(warp(real_prev, flat["flow"]), real_cur, conf_ref) * 10.0
    got["G_Warp"] = l1(flat["fake_B"], warp(flat["fake_B_prev_for_D"], flow_ref), conf_ref) * 10.0
    for name, value in got.items():
        assert_close(value, chunk["losses"][name], atol=1e-5, rtol=1e-5, msg=name)


def test_golden_temporal_losses_chunk0() -> None:
    folder, case = _d_losses_case()
    chunk = case["runs"]["first_img_given"]["chunks"][0]
    h, w = case["inputs"]["data"]["B"].shape[-2:]
    real = case["inputs"]["data"]["B"].view(10, 3, h, w)
    group = chunk["temporal_inputs"][0]["real_B_frames"]  # (1, 3) sequence indices
    first_flow_frame = chunk["G_out"]["real_Bp_frames"][0, 1]
    flows = chunk["flow_ref"][0][group[:, 1:] - first_flow_frame]  # (1, tD-1, 2, H, W)
    net = _load_d(folder, "D_T0", 13)
    real_in = net_input(real[group], flows)
    fake_in = net_input(chunk["temporal_inputs"][0]["fake_B"], flows)
    got = discriminator_losses(net, real_in, fake_in, GANLoss("ls"), num_D=2, n_layers_D=3, lambda_feat=10.0)
    names = {"G_GAN": "G_T_GAN", "G_GAN_Feat": "G_T_GAN_Feat", "D_real": "D_T_real", "D_fake": "D_T_fake"}
    for name, ref_name in names.items():
        assert_close(got[name], chunk["losses_T"][0][ref_name], atol=1e-5, rtol=1e-5, msg=ref_name)


def net_input(frames: torch.Tensor, flows: torch.Tensor) -> torch.Tensor:
    """(N, tD, 3, H, W) frames + (N, tD-1, 2, H, W) flows -> the temporal D input (flows / 20)."""
    n, _, _, h, w = frames.shape
    return torch.cat([frames.reshape(n, -1, h, w), flows.reshape(n, -1, h, w) / 20], dim=1)
