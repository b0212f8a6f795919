"""Training throughput (issue 25): --checkpoint_activations gives the plain step's losses, gradients and
BatchNorm statistics; --autocast bf16 trains (finite losses, weights move); fused Adam everywhere, its state
resumable by the for-loop Adam and back; one discriminator pass per generated sample and backward passes restricted
to each optimizer's parameters give the reference's losses and gradients."""

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


def test_bench_train_arithmetic_counts_forward_and_backward_macs(tmp_path):
    """The --arithmetic row: the backward passes count more multiply-adds than the forward ones (G's backward has
    input and weight gradients), and the rate against the peak is a ratio of the two measured figures."""
    from bench.train import arithmetic

    [row] = arithmetic(64, 1, 8, 2, str(tmp_path), [])
    cells = [c.strip() for c in row.strip("|").split("|")]
    forward, backward, seconds, rate, peak = (float(c.replace(",", "")) for c in cells[2:7])
    assert 0 < forward < backward and seconds > 0 and peak > 0
    assert abs(rate - (forward + backward) / seconds) <= 0.05 * rate + 0.1
    assert float(cells[8].rstrip("x")) == pytest.approx(peak / rate, rel=0.05)


def test_every_optimizer_is_fused_adam_on_the_cpu(tmp_path):
    model = _model(tmp_path, [])
    assert {"G", "D", "D_T0"} <= set(model.optimizers)
    for name, optimizer in model.optimizers.items():
        assert all(group["fused"] for group in optimizer.param_groups), name
    model.unfreeze_all_scales()  # the fresh Adam of coarse-to-fine training
    assert model.optimizers["G"].param_groups[0]["fused"]


def test_fused_adam_applies_to_float_tensors_on_fused_devices_only():
    from util.optim import fused_adam_applies

    assert fused_adam_applies([torch.zeros(2), torch.zeros(3, dtype=torch.float64)])
    assert not fused_adam_applies([torch.zeros(2), torch.zeros(2, dtype=torch.int64)])
    assert not fused_adam_applies([torch.zeros(2, device="meta")])
    assert not fused_adam_applies([])


@pytest.mark.parametrize("saved_fused", [True, False])
def test_optimizer_state_loads_across_fused_and_for_loop_adam(saved_fused):
    """A state saved by one implementation resumes in the other; the next steps match an uninterrupted run."""
    from util.optim import load_optimizer_state

    gen = torch.Generator().manual_seed(4)
    start = [torch.randn(5, 3, generator=gen), torch.randn(7, generator=gen)]
    grads = [[torch.randn(p.shape, generator=gen) for p in start] for _ in range(6)]

    def adam(fused: bool) -> tuple[list, torch.optim.Adam]:
        params = [torch.nn.Parameter(p.clone()) for p in start]
        return params, torch.optim.Adam(params, lr=0.01, betas=(0.5, 0.999), fused=fused)

    def step(params: list, optimizer: torch.optim.Adam, step_grads: list) -> None:
        for param, grad in zip(params, step_grads):
            param.grad = grad.clone()
        optimizer.step()

    saved_params, saved = adam(saved_fused)
    for step_grads in grads[:3]:
        step(saved_params, saved, step_grads)
    resumed_params, resumed = adam(not saved_fused)
    with torch.no_grad():
        for param, value in zip(resumed_params, saved_params):
            param.copy_(value)
    load_optimizer_state(resumed, copy.deepcopy(saved.state_dict()))  # as read back from a file
    assert resumed.param_groups[0]["fused"] is (not saved_fused)
    for param in resumed_params:
        assert resumed.state[param]["step"].device.type == "cpu" and float(resumed.state[param]["step"]) == 3
    for step_grads in grads[3:]:
        step(saved_params, saved, step_grads)
        step(resumed_params, resumed, step_grads)
    for ours, uninterrupted in zip(resumed_params, saved_params):
        assert_close(ours.detach(), uninterrupted.detach(), rtol=1e-6, atol=1e-7)
    assert not torch.equal(saved_params[0].detach(), start[0])


def test_training_state_of_fused_adam_resumes_in_a_for_loop_adam_model(tmp_path, monkeypatch):
    import models.base_model as base_model

    fused = _model(tmp_path, [])
    fused.train_clip(*_clip(4))
    state = fused.training_state()
    assert state["optimizer_G"]["param_groups"][0]["fused"]
    monkeypatch.setattr(base_model, "fused_adam_applies", lambda params: False)
    plain = _model(tmp_path, [])
    assert not plain.optimizers["G"].param_groups[0]["fused"]
    plain.load_training_state(state)
    for name, optimizer in plain.optimizers.items():
        assert not optimizer.param_groups[0]["fused"], name
        moments = [s["exp_avg"] for s in optimizer.state.values()]
        saved = [s["exp_avg"] for s in fused.optimizers[name].state.values()]
        assert len(moments) == len(saved) and (len(saved) > 0 or name == "D_T1")  # scale 1: no group in 4 frames
        for ours, theirs in zip(moments, saved):
            assert torch.equal(ours, theirs)


def _recorded_gradients(model) -> dict:
    """Wrap each optimizer's ``step`` to record its parameters' gradients (name -> list per step)."""
    record: dict = {}
    for name, optimizer in model.optimizers.items():
        def step(*args, _name=name, _optimizer=optimizer, _step=optimizer.step, **kwargs):
            params = [p for group in _optimizer.param_groups for p in group["params"]]
            record.setdefault(_name, []).append([None if p.grad is None else p.grad.clone() for p in params])
            return _step(*args, **kwargs)
        optimizer.step = step
    return record


def _reference_optimize(model, objectives: dict, backward_first: tuple = ()) -> None:
    """The reference's updates: per objective, zero its grads, a full ``backward()``, then its step."""
    for name, loss in objectives.items():
        optimizer = model.optimizers[name]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()


def test_shared_fake_pass_and_restricted_backward_give_the_reference_updates(tmp_path):
    """One discriminator pass per generated sample for D's and G's terms, D's gradients first and every backward
    restricted to its optimizer's parameters: the same losses and gradients as the reference's separate passes
    and full backward calls, over a clip of two chunks (so the temporal D and the chunk carry-over run too)."""
    torch.manual_seed(5)
    model = _model(tmp_path, ["--n_frames_D", "2"])
    start = {k: copy.deepcopy(net.state_dict()) for k, net in model.networks.items()}
    clip = _clip(6)
    record = _recorded_gradients(model)
    ours = model.train_clip(*clip)
    reference = _model(tmp_path, ["--n_frames_D", "2"])
    for label, net in reference.networks.items():
        net.load_state_dict(start[label])
    reference.criterion.shared_fake = False
    reference.optimize = lambda objectives, backward_first=(): _reference_optimize(reference, objectives)
    expected = _recorded_gradients(reference)
    theirs = reference.train_clip(*clip)
    assert ours.losses.keys() == theirs.losses.keys()
    for name, value in theirs.losses.items():
        assert ours.losses[name] == pytest.approx(value, rel=1e-5, abs=1e-6), name
    assert record.keys() == expected.keys() and {"G", "D", "D_T0"} <= record.keys()
    assert len(record["G"]) == len(expected["G"]) == 2  # two chunks
    for name in expected:
        for step_ours, step_theirs in zip(record[name], expected[name]):
            assert [g is None for g in step_ours] == [g is None for g in step_theirs], name
            for got, want in zip(step_ours, step_theirs):
                if want is not None:
                    assert_close(got, want, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.parametrize("stack", ["one-hot", "one-hot + edges", "pooled"])
def test_trainable_sparse_stem_has_the_convolution_outputs_and_gradients(stack):
    from models.networks.input_encoding import build_pyramid, encode_input, one_hot_input
    from models.networks.sparse_conv import sparse_layers, stem_convs

    gen = torch.Generator().manual_seed(6)
    labels = torch.randint(0, 5, (2, 3, 1, 24, 40), generator=gen)
    inst = torch.randint(0, 3, (2, 3, 1, 24, 40), generator=gen).float() if stack != "one-hot" else None
    sparse = one_hot_input(labels, inst, 5)
    if stack == "pooled":  # a coarser scale's average-pooled stack
        labels = build_pyramid(encode_input(labels, inst, 5), 2)[1]
        sparse, inst = sparse_layers(labels), None
    dense = (labels if stack == "pooled" else encode_input(labels, inst, 5)).flatten(1, 2)
    torch.manual_seed(6)
    convs = [torch.nn.Conv2d(dense.shape[1], n, 7) for n in (4, 3)]
    weights = [torch.randn(2, n, *dense.shape[2:], generator=gen) for n in (4, 3)]
    outputs = {}
    for path in ("conv", "sparse"):
        for conv in convs:
            conv.zero_grad(set_to_none=True)
        padded = torch.nn.functional.pad(dense, (3, 3, 3, 3), mode="reflect")
        outs = [conv(padded) for conv in convs] if path == "conv" else stem_convs(convs, sparse, dense)
        sum((o * w).sum() for o, w in zip(outs, weights)).backward()
        outputs[path] = ([o.detach() for o in outs], [p.grad.clone() for c in convs for p in (c.weight, c.bias)])
    for got, want in zip(outputs["sparse"][0], outputs["conv"][0]):
        assert_close(got, want, rtol=1e-5, atol=1e-5)
    for got, want in zip(outputs["sparse"][1], outputs["conv"][1]):  # sums over 2x960 pixels: float rounding
        assert_close(got, want, rtol=1e-5, atol=1e-5 * float(want.abs().max()))
    assert all(g.abs().max() > 0 for g in outputs["sparse"][1])


def test_sparse_label_stem_in_training_gives_the_convolution_losses_and_gradients(tmp_path):
    """On the CPU the label stems' forward is the embedding-bag sum and their gradients the convolution's (exact:
    the test above). Through the L1 and warp terms' kinks and tiny BatchNorm batches the generator's gradients
    move by 0.3-3% of a tensor's largest entry for ANY forward difference of float rounding (a 1e-7 relative
    change of the stem's weights in the convolution path moves them as much), so the whole gradient is compared
    by its relative norm."""
    torch.manual_seed(7)
    model = _model(tmp_path, [])
    assert model.chunks._sparse_stem(model.generator, model.gen_devices)
    start = copy.deepcopy(model.generator.state_dict())
    clip = _clip()
    sparse_losses, sparse_grads = _generator_loss_and_grads(model, *clip)
    model.generator.load_state_dict(start)
    model.opt.label_stem = "conv"
    assert not model.chunks._sparse_stem(model.generator, model.gen_devices)
    conv_losses, conv_grads = _generator_loss_and_grads(model, *clip)
    for name in conv_losses:
        assert_close(sparse_losses[name], conv_losses[name], rtol=1e-5, atol=1e-6, msg=name)
    assert sparse_grads.keys() == conv_grads.keys() and any("model_down_seg.1." in k for k in conv_grads)
    ours = torch.cat([sparse_grads[k].flatten() for k in conv_grads])
    theirs = torch.cat([conv_grads[k].flatten() for k in conv_grads])
    assert float((ours - theirs).norm() / theirs.norm()) < 0.05


def test_bench_train_measure_reports_cpu_time_and_each_steps_objectives(tmp_path):
    from bench.train import block_means, measure

    wall, cpu, frames, curve = measure(64, 1, 8, 2, str(tmp_path))
    assert wall > 0 and cpu > 0 and frames > 0
    assert len(curve) == 2 and all(g > 0 and d > 0 for g, d in curve)  # warm-up step, then the timed one
    table = block_means([curve, [(2 * g, d) for g, d in curve]], "x", block=1).splitlines()
    assert len(table) == 4 and table[2].split("|")[4].strip() == "2.000"
