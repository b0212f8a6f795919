"""Training throughput options (issue 25): --checkpoint_activations gives the plain step's losses, gradients and
BatchNorm statistics; --autocast bf16 trains (finite losses, weights move)."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.testing import assert_close

from models.vid2vid.criterion import total_losses
from models.vid2vid.temporal_groups import TemporalBuffers
from tests.conftest import TINY_TRAIN_FLAGS, make_opt

# 3 generator frames so each frame is conditioned on two previous outputs; 2 new frames per chunk.
FLAGS = [*TINY_TRAIN_FLAGS, "--max_frames_backpropagate", "2", "--use_instance"]
FLAGS[FLAGS.index("--n_frames_G") + 1] = "3"


def _model(tmp_path, extra: list[str]):
    from models import create_model

    return create_model(make_opt(FLAGS + extra + ["--name", "tiny"], checkpoints_dir=tmp_path))


def _clip(frames: int = 4) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """label (1, T, 1, 32, 64) ids, real (1, T, 3, 32, 64), inst (1, T, 1, 32, 64)."""
    gen = torch.Generator().manual_seed(1)
    label = torch.randint(0, 4, (1, frames, 1, 32, 64), generator=gen).float()
    real = torch.rand(1, frames, 3, 32, 64, generator=gen) * 2 - 1
    inst = torch.randint(0, 3, (1, frames, 1, 32, 64), generator=gen).float()
    return label, real, inst


def _generator_loss_and_grads(model, label, real, inst) -> tuple[dict, dict]:
    """Losses of the first chunk and the gradients of the G objective w.r.t. the generator's parameters."""
    window = model.chunk_windows(real.shape[1])[0]
    chunk = model.generate_chunk(label[:, window], real[:, window], inst[:, window], None)
    frame, temporal, _, _ = model.chunk_losses(chunk, None, TemporalBuffers(), 0)
    loss_g, _, _ = total_losses(frame, temporal, model.loss_weights)
    params = dict(model.generator.named_parameters())
    grads = torch.autograd.grad(loss_g, list(params.values()), allow_unused=True)
    losses = {k: v.detach() for k, v in frame.items()}
    return losses, {k: g for k, g in zip(params, grads) if g is not None}


def _batchnorm_stats(model) -> dict:
    return {k: v.clone() for k, v in model.generator.state_dict().items() if "running" in k or "batches" in k}


def test_checkpoint_activations_gives_the_same_losses_gradients_and_batchnorm_stats(tmp_path):
    model = _model(tmp_path, [])
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in model.generator.modules())
    start = copy.deepcopy(model.generator.state_dict())
    clip = _clip()
    plain_losses, plain_grads = _generator_loss_and_grads(model, *clip)
    plain_stats = _batchnorm_stats(model)
    model.generator.load_state_dict(start)
    model.opt.checkpoint_activations = True
    ckpt_losses, ckpt_grads = _generator_loss_and_grads(model, *clip)
    assert plain_losses.keys() == ckpt_losses.keys()
    for name in plain_losses:
        assert_close(ckpt_losses[name], plain_losses[name], rtol=1e-5, atol=1e-6, msg=name)
    assert plain_grads.keys() == ckpt_grads.keys() and len(plain_grads) > 10
    for name in plain_grads:
        assert_close(ckpt_grads[name], plain_grads[name], rtol=1e-4, atol=1e-6, msg=name)
    # The backward pass replayed every frame's forward; BatchNorm statistics still moved once per frame.
    for name, value in _batchnorm_stats(model).items():
        assert_close(value, plain_stats[name], rtol=1e-6, atol=1e-7, msg=name)
    assert any(not torch.equal(v, start[k]) for k, v in plain_stats.items() if "running_mean" in k)


def test_checkpoint_activations_trains_a_whole_clip(tmp_path):
    model = _model(tmp_path, ["--checkpoint_activations"])
    before = [p.detach().clone() for p in model.generator.parameters()]
    result = model.train_clip(*_clip(6))
    assert result.frames > 0 and all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    assert any(not torch.equal(b, p) for b, p in zip(before, model.generator.parameters()))


def test_autocast_bf16_step_is_finite_and_moves_the_weights(tmp_path):
    model = _model(tmp_path, ["--autocast", "bf16"])
    with model.autocast():
        probe = torch.nn.functional.conv2d(torch.ones(1, 1, 4, 4), torch.ones(1, 1, 3, 3))
    assert probe.dtype == torch.bfloat16
    before = {k: v.detach().clone() for k, v in model.generator.named_parameters()}
    result = model.train_clip(*_clip(4))
    assert result.losses and all(torch.isfinite(torch.tensor(v)) for v in result.losses.values())
    after = dict(model.generator.named_parameters())
    assert all(after[k].dtype == torch.float32 for k in before)
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_autocast_with_fp16_is_a_flag_error(tmp_path):
    from options.validation import OptionError

    with pytest.raises(OptionError, match="--fp16 and --autocast bf16"):
        make_opt(FLAGS + ["--autocast", "bf16", "--fp16", "--name", "tiny"])


def test_frame_d_on_the_real_side_once_gives_the_same_losses_and_gradients(tmp_path):
    from models.losses import discriminator_losses

    model = _model(tmp_path, [])
    net, gan, opt = model.criterion.nets["D"], model.criterion.gan, model.opt
    gen = torch.Generator().manual_seed(2)
    real, fake, fake_raw = (torch.rand(2, 8, 32, 64, generator=gen) for _ in range(3))
    fake.requires_grad_(True)
    fake_raw.requires_grad_(True)
    kw = dict(num_D=opt.num_D, n_layers_D=opt.n_layers_D, lambda_feat=opt.lambda_feat)

    def objectives(shared: bool) -> list[torch.Tensor]:
        pred_real = net(real) if shared else None
        terms = [discriminator_losses(net, real, f, gan, pred_real=pred_real, **kw) for f in (fake, fake_raw)]
        summed = {k: terms[0][k] + terms[1][k] for k in terms[0]}
        return [summed["G_GAN"] + summed["G_GAN_Feat"], (summed["D_real"] + summed["D_fake"]) * 0.5]

    results = []
    for shared in (False, True):
        loss_g, loss_d = objectives(shared)
        grads_g = torch.autograd.grad(loss_g, [fake, fake_raw])
        grads_d = torch.autograd.grad(loss_d, list(net.parameters()))
        results.append((loss_g.detach(), loss_d.detach(), grads_g, grads_d))
    for separate, shared in zip(*results):
        assert_close(shared, separate, rtol=1e-5, atol=1e-7)


def test_vgg_loss_against_precomputed_real_features(tmp_path):
    from models.losses import VGGLoss
    from tests.test_losses import _random_vgg_file

    vgg = VGGLoss(weights_path=_random_vgg_file(tmp_path))
    gen = torch.Generator().manual_seed(3)
    real, fake = (torch.rand(2, 3, 32, 64, generator=gen) * 2 - 1 for _ in range(2))
    target = vgg.target_features(real)
    assert all(not f.requires_grad for f in target)
    assert_close(vgg(fake, real_features=target), vgg(fake, real))
    assert vgg(fake, real_features=target) > 0


def test_bench_train_profile_splits_a_step_into_stages(tmp_path):
    from bench.train import profile

    rows = profile(64, 1, 8, 2, str(tmp_path), [])
    shares = {row.split("|")[1].strip(): (float(row.split("|")[2]), row.split("|")[3].strip()) for row in rows}
    for stage in ("generator forward", "frame D + warp/L1 terms", "backward passes"):
        assert shares[stage][0] > 0, stage
    for stage in ("temporal D", "optimizer steps", "data loading", "reference flow"):  # milliseconds at 64x32
        assert shares[stage][0] >= 0, stage  # present; may round to 0.00 s on an idle machine
    parts = sum(float(share.rstrip("%")) for name, (_, share) in shares.items() if name != "total")
    assert abs(parts - 100) < 0.5
