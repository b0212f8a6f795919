"""Networks: shapes, finiteness, gradient flow, pure helpers, warp exactness, the one-hot fast path."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from models.networks import GENERATORS, build_generator
from models.networks.blocks import ResnetBlock, get_norm_layer, init_weights
from models.networks.composite import CompositeGenerator
from models.networks.discriminators import (
    MultiscaleDiscriminator,
    NLayerDiscriminator,
    TemporalDiscriminator,
    temporal_input,
)
from models.networks.input_encoding import build_pyramid, encode_input, foreground_mask, instance_edges, one_hot_input
from models.networks.pix2pixhd import Encoder, Global_with_z, GlobalGenerator, LocalEnhancer, instance_average
from models.networks.scale_generator import GeneratorConfig, ScaleGenerator, ScaleInput
from models.networks.video_generator import InferenceState, VideoGenerator, inference_step
from models.networks.warp import warp

H, W, LABEL_NC, T_G = 32, 64, 4, 2


def _labels(batch: int = 1, frames: int = T_G) -> tuple[torch.Tensor, torch.Tensor]:
    """Blocky label ids (B, T, 1, H, W) and instance ids."""
    labels = torch.randint(0, LABEL_NC, (batch, frames, 1, H // 8, W // 8)).float()
    labels = labels.repeat_interleave(8, -2).repeat_interleave(8, -1)
    inst = labels * 10 + torch.randint(0, 2, labels.shape).float()
    return labels, inst


def _assert_all_grads(module: nn.Module) -> None:
    missing = [name for name, p in module.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, f"no gradient for {missing[:5]}"


def _tiny_video_generator(n_scales: int = 2, fg: bool = True, no_flow: bool = False) -> VideoGenerator:
    return build_generator("composite", GeneratorConfig(
        input_nc=LABEL_NC + 1, n_frames_G=T_G, ngf=8, n_downsampling=2, n_blocks=2, n_blocks_local=1,
        n_scales=n_scales, fg_labels=(1, 3) if fg else (), no_flow=no_flow))


def test_norm_layers() -> None:
    batch, instance = get_norm_layer("batch")(4), get_norm_layer("instance")(4)
    assert isinstance(batch, nn.BatchNorm2d) and batch.affine
    assert isinstance(instance, nn.InstanceNorm2d) and not instance.affine and instance.track_running_stats
    with pytest.raises(ValueError):
        get_norm_layer("group")


def test_resnet_block_keys_and_residual() -> None:
    block = ResnetBlock(4, get_norm_layer("batch"))
    assert {k.split(".")[1] for k in block.state_dict()} == {"1", "2", "5", "6"}
    nn.init.zeros_(block.conv_block[6].weight)
    nn.init.zeros_(block.conv_block[6].bias)
    x = torch.randn(2, 4, 8, 8)
    assert_close(block(x), x)  # zeroed last norm: the block is the identity


def test_video_generator_shapes_and_gradients() -> None:
    net = _tiny_video_generator()
    labels, inst = _labels(batch=2)
    pyr = build_pyramid(encode_input(labels, inst, LABEL_NC), 2)
    prev = build_pyramid(torch.rand(2, T_G - 1, 3, H, W) * 2 - 1, 2)
    outputs = net.generate_frame(pyr, prev)
    assert [o.image.shape[-2:] for o in outputs] == [(H // 2, W // 2), (H, W)]
    fine = outputs[-1]
    assert fine.flow.shape == (2, 2, H, W) and fine.weight.shape == (2, 1, H, W)
    assert fine.img_feat.shape == (2, 4, H, W) and fine.fg_feat.shape == (2, 4, H, W)
    assert all(torch.isfinite(t).all() for t in fine if t is not None)
    assert fine.image.abs().max() <= 1 and (0 <= fine.weight).all() and (fine.weight <= 1).all()
    # every scale's heads are trained through its own output (the coarse ones also through the features)
    loss = sum((t * torch.randn_like(t)).sum() for o in outputs for t in (o.image, o.flow, o.weight, o.raw_image))
    loss.backward()
    _assert_all_grads(net)


def test_detach_coarse_blocks_coarse_gradients() -> None:
    net = _tiny_video_generator()
    labels, inst = _labels()
    pyr = build_pyramid(encode_input(labels, inst, LABEL_NC), 2)
    prev = build_pyramid(torch.zeros(1, T_G - 1, 3, H, W), 2)
    outputs = net.generate_frame(pyr, prev, detach_coarse=True)
    outputs[-1].image.sum().backward()
    assert all(p.grad is None for p in net.scales[0].parameters())
    assert any(p.grad is not None for p in net.scales[1].parameters())


def test_no_flow_no_fg_generator() -> None:
    net = CompositeGenerator(input_nc=6, output_nc=3, prev_output_nc=3, ngf=8, n_downsampling=2, n_blocks=1,
                             no_flow=True)
    out = net(ScaleInput(torch.randn(1, 6, H, W), torch.randn(1, 3, H, W)))
    assert out.flow is None and out.weight is None and out.flow_feat is None and out.fg_feat is None
    assert_close(out.image, out.raw_image)
    assert not any(k.startswith(("model_final_flow", "indv_")) for k in net.state_dict())


def test_fg_model_requires_mask() -> None:
    net = _tiny_video_generator(n_scales=1)
    with pytest.raises(ValueError, match="mask"):
        net.scales[0](ScaleInput(torch.randn(1, (LABEL_NC + 1) * T_G, H, W), torch.randn(1, 3, H, W)))


def test_use_raw_only_skips_warp() -> None:
    net = _tiny_video_generator(n_scales=1, fg=False)
    labels = torch.randn(1, (LABEL_NC + 1) * T_G, H, W)
    prev = torch.randn(1, 3, H, W)
    out = net.scales[0](ScaleInput(labels, prev, use_raw_only=True))
    assert_close(out.image, out.raw_image)
    blended = net.scales[0](ScaleInput(labels, prev, use_raw_only=False))
    assert (blended.image - blended.raw_image).abs().max() > 0


def test_encode_input_one_hot_and_edges() -> None:
    labels = torch.tensor([[0.0, 1.0], [2.0, 2.0]]).view(1, 1, 1, 2, 2)
    inst = torch.tensor([[5.0, 5.0], [5.0, 7.0]]).view(1, 1, 1, 2, 2)
    encoded = encode_input(labels, inst, 3)
    assert encoded.shape == (1, 1, 4, 2, 2)
    assert_close(encoded[0, 0, :3].argmax(0), labels[0, 0, 0].long())
    assert_close(encoded[0, 0, :3].sum(0), torch.ones(2, 2))
    assert_close(encoded[0, 0, 3], torch.tensor([[0.0, 1.0], [1.0, 1.0]]))
    images = torch.randn(1, 2, 3, 4, 4)
    assert encode_input(images, None, 0) is images


def test_instance_edges_marks_both_sides() -> None:
    inst = torch.zeros(1, 5, 5)
    inst[0, 2, 2] = 1
    edges = instance_edges(inst)
    expected = torch.zeros(1, 5, 5)
    expected[0, 2, 1:4] = 1
    expected[0, 1:4, 2] = 1
    assert_close(edges, expected)


def test_build_pyramid_and_mask() -> None:
    x = torch.rand(2, 3, 4, 8, 16)
    pyr = build_pyramid(x, 3)
    assert [p.shape for p in pyr] == [(2, 3, 4, 8, 16), (2, 3, 4, 4, 8), (2, 3, 4, 2, 4)]
    pool = nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False)
    assert_close(pyr[1][1, 2], pool(x[1, 2]))
    frame = torch.zeros(1, 5, 2, 2)
    frame[0, 1, 0, 0] = frame[0, 3, 0, 0] = 0.75
    frame[0, 3, 1, 1] = 0.5
    assert_close(foreground_mask(frame, [1, 3]), torch.tensor([[[[1.0, 0.0], [0.0, 0.5]]]]))


def test_warp_zero_flow_and_integer_shift() -> None:
    image = torch.rand(2, 3, H, W)
    assert_close(warp(image, torch.zeros(2, 2, H, W)), image)
    flow = torch.zeros(2, 2, H, W)
    flow[:, 0], flow[:, 1] = 3.0, -2.0  # out(y, x) = image(y - 2, x + 3)
    shifted = warp(image, flow)
    assert_close(shifted[:, :, 2:, : W - 3], image[:, :, : H - 2, 3:], atol=1e-5, rtol=0)


def test_generator_fast_path_matches_and_streams() -> None:
    net = _tiny_video_generator().train()
    labels, inst = _labels(frames=T_G + 2)
    states = [InferenceState(), InferenceState()]
    for k in range(3):
        window = (labels[:, k:k + T_G], inst[:, k:k + T_G])
        encoded = encode_input(*window, LABEL_NC)
        plain = inference_step(net, states[0], encoded, no_first_img=True)
        fast = inference_step(net, states[1], encoded, no_first_img=True, onehot=one_hot_input(*window, LABEL_NC))
        assert_close(fast[-1].image, plain[-1].image, atol=1e-4, rtol=1e-4)
    assert states[0].frames_done == 3 and states[0].prev_pyr[1].shape == (1, T_G - 1, 3, H // 2, W // 2)
    states[0].reset()
    assert states[0].prev_pyr is None
    with pytest.raises(ValueError, match="first_frames"):
        inference_step(net, states[0], encoded)


def test_inference_uses_raw_only_on_first_output() -> None:
    net = _tiny_video_generator(n_scales=1, fg=False).train()
    labels, inst = _labels(frames=T_G + 1)
    state = InferenceState()
    first = inference_step(net, state, encode_input(labels[:, :T_G], inst[:, :T_G], LABEL_NC), no_first_img=True)
    assert_close(first[-1].image, first[-1].raw_image)
    second = inference_step(net, state, encode_input(labels[:, 1:], inst[:, 1:], LABEL_NC), no_first_img=True)
    assert (second[-1].image - second[-1].raw_image).abs().max() > 0
    assert_close(state.prev_pyr[0][:, -1], second[-1].image)


@pytest.mark.parametrize("interm", [True, False])
def test_discriminators(interm: bool) -> None:
    net = MultiscaleDiscriminator(input_nc=5, ndf=8, n_layers=3, num_D=2, get_interm_feat=interm)
    net.apply(init_weights)
    out = net(torch.randn(2, 5, H, W))
    assert len(out) == 2 and len(out[0]) == (5 if interm else 1)
    assert out[0][-1].shape[:2] == (2, 1) and out[1][-1].shape[-1] < out[0][-1].shape[-1]
    sum(o[-1].sum() for o in out).backward()
    _assert_all_grads(net)
    assert set(k.split(".")[0] for k in net.state_dict()) == (
        {f"scale{i}_layer{j}" for i in range(2) for j in range(5)} if interm else {"layer0", "layer1"})
    single = NLayerDiscriminator(input_nc=5, ndf=8, n_layers=2)
    assert len(single(torch.randn(1, 5, 16, 16))) == 4


def test_ndf_capped_at_64() -> None:
    net = MultiscaleDiscriminator(input_nc=3, ndf=64, n_layers=1, num_D=3)
    assert [getattr(net, f"scale{i}_layer0")[0].out_channels for i in range(3)] == [64, 64, 64]
    small = MultiscaleDiscriminator(input_nc=3, ndf=16, n_layers=1, num_D=3)
    assert [getattr(small, f"scale{i}_layer0")[0].out_channels for i in range(3)] == [64, 32, 16]


def test_temporal_discriminator_input_divides_flow() -> None:
    frames, flows = torch.randn(2, 3, 3, 16, 16), torch.randn(2, 2, 2, 16, 16) * 20
    stack = temporal_input(frames, flows)
    assert stack.shape == (2, 3 * 3 + 2 * 2, 16, 16)
    assert_close(stack, torch.cat([frames.flatten(1, 2), flows.flatten(1, 2) / 20], 1))
    net = TemporalDiscriminator(input_nc=3 * 3 + 2 * 2, ndf=4, n_layers=2, num_D=1)
    assert net(stack)[0][-1].shape[:2] == (2, 1)


def test_generator_registry_builds_every_entry() -> None:
    config = GeneratorConfig(input_nc=LABEL_NC + 1, n_frames_G=T_G, ngf=8, n_downsampling=2, n_blocks=2,
                             n_blocks_local=1, n_scales=2)
    for name in GENERATORS:
        try:
            net, n_scales = build_generator(name, config), 2
        except ValueError as err:  # a single-scale generator (sr_mobile_composite) says so, naming the flag
            assert "--n_scales_spatial" in str(err)
            net, n_scales = build_generator(name, dataclasses.replace(config, n_scales=1)), 1
        assert isinstance(net, VideoGenerator) and net.n_scales == n_scales
        assert all(isinstance(s, ScaleGenerator) for s in net.scales)
    with pytest.raises(ValueError, match="unknown --netG 'nope'"):
        build_generator("nope", config)


def test_single_generators_shapes() -> None:
    x = torch.randn(1, 5, 32, 32)
    assert GlobalGenerator(input_nc=5, output_nc=3, ngf=4, n_downsampling=2, n_blocks=1)(x).shape == (1, 3, 32, 32)
    local = LocalEnhancer(input_nc=5, output_nc=3, ngf=2, n_downsample_global=2, n_blocks_global=1,
                          n_local_enhancers=1, n_blocks_local=1)
    assert local(x).shape == (1, 3, 32, 32)
    face = Global_with_z(input_nc=5, output_nc=3, nz=2, ngf=4, n_downsampling=2, n_blocks=1)
    out = face(x, torch.randn(1, 2, 32, 32))
    assert out.shape == (1, 3, 32, 32)
    out.sum().backward()
    _assert_all_grads(face)


def test_encoder_instance_average() -> None:
    inst = torch.zeros(2, 1, 16, 16)
    inst[:, :, :8] = 3
    inst[1, :, :, :4] = 9
    enc = Encoder(input_nc=3, output_nc=2, ngf=2, n_downsampling=2)
    feat = enc.model(torch.randn(2, 3, 16, 16))
    pooled = instance_average(feat, inst)
    for b in range(2):
        for region in inst[b].unique():
            where = inst[b, 0] == region
            for c in range(2):
                assert_close(pooled[b, c][where], feat[b, c][where].mean().expand(int(where.sum())))
    assert enc(torch.randn(2, 3, 16, 16), inst).shape == (2, 2, 16, 16)
