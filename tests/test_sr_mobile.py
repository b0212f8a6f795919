"""``--netG sr_mobile_composite``: Fast-Vid2Vid's teacher and student, their options and a short training run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
import torchvision
from PIL import Image
from torch import nn
from torch.testing import assert_close

import models.networks
from models.networks import build_generator, define_G, generator_config
from models.networks.input_encoding import encode_input, foreground_mask, one_hot_input
from models.networks.scale_generator import GeneratorConfig, ScaleInput
from models.networks.sr_mobile import InvertedResidual, SRMobileCompositeGenerator, shrink, shrunk_sparse
from models.networks.video_generator import InferenceState, inference_step
from models.networks.warp import warp
from options import OptionError
from tests.conftest import TINY_FLAGS, make_opt
from tests.fast_vid2vid_published import SRMobileCompositeGenerator as PublishedGenerator

H, W, LABEL_NC, T_G = 32, 64, 4, 2


def _config(student: bool = False, fg: bool = True, **changes) -> GeneratorConfig:
    config = GeneratorConfig(input_nc=LABEL_NC + 1, n_frames_G=T_G, ngf=8, n_downsampling=2, n_blocks=3,
                             fg_labels=(1, 3) if fg else (), student=student)
    return dataclasses.replace(config, **changes)


def _inputs(batch: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Label ids (B, tG, 1, H, W), instance ids, previous frames (B, tG-1, 3, H, W)."""
    labels = torch.randint(0, LABEL_NC, (batch, T_G, 1, H // 8, W // 8)).float()
    labels = labels.repeat_interleave(8, -2).repeat_interleave(8, -1)
    inst = labels * 10 + torch.randint(0, 2, labels.shape).float()
    return labels, inst, torch.rand(batch, T_G - 1, 3, H, W) * 2 - 1


def _scale_input(labels, inst, prev) -> ScaleInput:
    encoded = encode_input(labels, inst, LABEL_NC)
    return ScaleInput(encoded.flatten(1, 2), prev.flatten(1, 2), foreground_mask(encoded[:, -1], (1, 3)))


@pytest.mark.parametrize("student", [False, True])
def test_full_resolution_output_and_gradients(student: bool) -> None:
    net = build_generator("sr_mobile_composite", _config(student)).scales[0]
    out = net(_scale_input(*_inputs(batch=2)))
    assert out.image.shape == (2, 3, H, W) and out.flow.shape == (2, 2, H, W) and out.weight.shape == (2, 1, H, W)
    assert out.fg_feat.shape == (2, 8, H, W) and all(torch.isfinite(t).all() for t in out if t is not None)
    sum((t * torch.randn_like(t)).sum() for t in (out.image, out.flow, out.weight, out.raw_image)).backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert not missing, missing[:5]


def test_inverted_residual_layout() -> None:
    block = InvertedResidual(6)
    assert {k.split(".")[1] for k in block.state_dict()} == {"0", "1", "3", "4", "6", "7"}
    convs = [block.conv[i] for i in (0, 3, 6)]
    assert all(c.bias is None for c in convs) and convs[1].groups == 6 and convs[0].kernel_size == (1, 1)
    assert [type(block.conv[i]) for i in (2, 5)] == [nn.ReLU6, nn.ReLU6]
    nn.init.zeros_(block.conv[7].weight)
    x = torch.randn(2, 6, 8, 8)
    assert_close(block(x), x)  # zeroed last BatchNorm: the identity
    instance = build_generator("sr_mobile_composite", _config(norm="instance")).scales[0]
    assert isinstance(instance.model_res_img[0].conv[1], nn.BatchNorm2d)  # BatchNorm whatever --norm says
    assert isinstance(instance.model_down_seg[2], nn.InstanceNorm2d)


def test_strides_teacher_and_student() -> None:
    teacher, student = (build_generator("sr_mobile_composite", _config(s)).scales[0] for s in (False, True))
    for branch in ("model_down_seg", "model_down_img", "indv_down"):
        assert [getattr(teacher, branch)[i].stride for i in (4, 7)] == [(2, 2), (2, 2)]
        assert [getattr(student, branch)[i].stride for i in (4, 7)] == [(1, 1), (2, 2)]
    quarter = build_generator("sr_mobile_composite", _config(True, student_scale=4)).scales[0]
    assert [quarter.model_down_seg[i].stride for i in (4, 7)] == [(1, 1), (1, 1)]
    assert quarter(_scale_input(*_inputs())).image.shape == (1, 3, H, W)


def test_teacher_checkpoint_loads_into_the_student() -> None:
    teacher = build_generator("sr_mobile_composite", _config()).scales[0]
    student = build_generator("sr_mobile_composite", _config(True)).scales[0]
    student.load_state_dict(teacher.state_dict(), strict=True)
    assert {k: v.shape for k, v in teacher.state_dict().items()} == {k: v.shape for k, v in student.state_dict().items()}


def test_shrink_is_torchvision_resize_without_antialiasing() -> None:
    x = torch.randn(2, 5, H, W)
    expected = torchvision.transforms.Resize((H // 2, W // 2), antialias=False)(x)
    assert_close(shrink(x, 2), expected, rtol=0, atol=0)
    with pytest.raises(ValueError, match="--student_scale 4"):
        shrink(torch.randn(1, 1, 6, 8), 4)


def test_student_reads_half_resolution_and_warps_the_full_frame() -> None:
    net = build_generator("sr_mobile_composite", _config(True, fg=False)).scales[0]
    seen = {}
    for name in ("model_down_seg", "model_down_img"):
        getattr(net, name)[0].register_forward_hook(lambda m, args, out, name=name: seen.update({name: args[0].shape}))
    labels, inst, prev = _inputs()
    out = net(_scale_input(labels, inst, prev)._replace(mask=None))
    assert seen["model_down_seg"][-2:] == (H // 2, W // 2) and seen["model_down_img"][-2:] == (H // 2, W // 2)
    blend = out.raw_image * out.weight + warp(prev[:, -1], out.flow) * (1 - out.weight)
    assert_close(out.image, blend)


def test_student_computes_the_published_forward(monkeypatch) -> None:
    """Published weights in our student give the published student's output (resize, strides, warp, fg)."""
    torch.manual_seed(3)
    published = PublishedGenerator(input_nc=(LABEL_NC + 1) * T_G, prev_nc=3 * (T_G - 1), ngf=8, n_down=3, n_blocks=3,
                                   fg=True, name="test_vid2vid", small_size=(H // 2, W // 2))
    for module in published.modules():
        if isinstance(module, nn.BatchNorm2d):  # non-trivial affine parameters
            nn.init.normal_(module.weight, 1.0, 0.2)
            nn.init.normal_(module.bias, 0.0, 0.2)
    ours = build_generator("sr_mobile_composite", _config(True, n_downsampling=3)).scales[0]
    ours.load_state_dict(published.state_dict(), strict=True)
    inputs = _scale_input(*_inputs(batch=2))
    monkeypatch.setattr(models.networks.sr_mobile, "CHANNELS_LAST_MIN_PIXELS", H * W)  # the fast path at 64x32 too
    with torch.no_grad():
        expected = published(inputs.labels, inputs.prev, inputs.mask)
        # the channels-last inference path with fused BatchNorm: float rounding apart, the same frame
        assert_close(ours(inputs).image, expected, atol=1e-4, rtol=1e-4)
        monkeypatch.setattr(models.networks.sr_mobile, "CHANNELS_LAST_INFERENCE", False)
        assert_close(ours(inputs).image, expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("student_scale", [1, 2, 4])
def test_sparse_label_stems_match_the_convolutions(monkeypatch: pytest.MonkeyPatch, student_scale: int) -> None:
    """The teacher's stems read the one-hot stack, the student's its downsampled stack (2x2 means, at most 4 labels
    per pixel) as sparse layers: the frames of the convolutions, on the plain and on the channels-last path."""
    label_nc = 20  # enough channels for the sparse layers to pay (4 labels + an edge of 21 channels per frame)
    config = _config(student_scale > 1, student_scale=max(student_scale, 2), input_nc=label_nc + 1)
    torch.manual_seed(3)
    net = build_generator("sr_mobile_composite", config).train()
    assert net.supports_sparse_stem
    _, inst, prev = _inputs()
    labels = torch.randint(0, label_nc, (1, T_G, 1, H // 4, W // 4)).repeat_interleave(4, -2).repeat_interleave(4, -1)
    encoded, onehot = encode_input(labels, inst, label_nc), one_hot_input(labels, inst, label_nc)
    if student_scale > 1:  # what the student's stems read: a few labels per pixel, so the sparse layers pay
        layers = shrunk_sparse(shrink(encoded.flatten(1, 2), student_scale), T_G)
        assert layers is not None and 1 < layers.ids.shape[2] <= 5
    for fast_path in (False, True):
        monkeypatch.setattr(models.networks.sr_mobile, "CHANNELS_LAST_MIN_PIXELS", H * W if fast_path else H * W + 1)
        with torch.no_grad():
            plain = inference_step(net, InferenceState(), encoded, first_frames=prev)
            fast = inference_step(net, InferenceState(), encoded, first_frames=prev, onehot=onehot)
        assert_close(fast[-1].image, plain[-1].image, atol=1e-4, rtol=1e-4)


def test_the_student_sparse_stem_trains_with_the_convolution_gradients() -> None:
    """Training through the student's sparse stems: the convolutions' losses and stem gradients."""
    torch.manual_seed(4)
    net = build_generator("sr_mobile_composite", _config(True)).train()
    labels, inst, prev = _inputs()
    encoded, onehot = encode_input(labels, inst, LABEL_NC), one_hot_input(labels, inst, LABEL_NC)
    grads = []
    for sparse in (None, onehot):
        net.zero_grad()
        out = net.generate_frame([encoded], [prev], onehot=sparse)[-1]
        out.image.square().mean().backward()
        grads.append([s.conv.weight.grad.clone() for s in net.scales[0].label_stems()])
    for plain, fast in zip(*grads):
        assert_close(fast, plain, atol=1e-5, rtol=1e-4)


def test_single_scale_only_and_student_scale_checked() -> None:
    with pytest.raises(ValueError, match="--n_scales_spatial"):
        build_generator("sr_mobile_composite", _config(n_scales=2))
    with pytest.raises(ValueError, match="--student_scale 3"):
        build_generator("sr_mobile_composite", _config(True, student_scale=3))


def test_options_select_the_student() -> None:
    opt = make_opt(TINY_FLAGS + ["--netG", "sr_mobile_composite", "--student", "--student_scale", "4"])
    config = generator_config(opt)
    assert config.student and config.student_scale == 4
    assert isinstance(define_G(opt).scales[0], SRMobileCompositeGenerator)
    teacher = make_opt(TINY_FLAGS + ["--netG", "sr_mobile_composite", "--name", "label2city_student"])
    assert not generator_config(teacher).student  # never chosen by the name
    assert "sr_mobile_composite" in models.networks.GENERATORS


@pytest.mark.parametrize("argv", [["--student"], ["--netG", "sr_mobile_composite", "--student", "--student_scale", "3"],
                                  ["--netG", "sr_mobile_composite", "--student", "--student_scale", "8"]])
def test_student_flags_are_checked(argv) -> None:
    with pytest.raises(OptionError, match="--student"):
        make_opt(TINY_FLAGS + argv)


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory):
    from scripts.make_toy_dataset import make_toy_dataset

    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=6, width=128, height=64, seed=0)
    return root


def test_teacher_then_student_train_with_the_vid2vid_losses(toy_root, tmp_path) -> None:
    """Stage A (teacher, plain vid2vid losses and schedule), then a student started from the teacher's weights."""
    import train
    from tests.test_train import TINY

    common = ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), *TINY, "--netG", "sr_mobile_composite",
              "--niter", "1", "--niter_decay", "0"]
    train.main([*common, "--name", "teacher"])
    log = (tmp_path / "teacher" / "loss_log.txt").read_text()
    for name in ("G_GAN", "G_GAN_Feat", "G_Warp", "F_Flow", "D_real", "D_T_real0"):
        assert name in log, name
    assert "nan" not in log.lower()
    teacher_g0 = torch.load(tmp_path / "teacher" / "latest_net_G0.pth", weights_only=True)
    assert any(".conv.3.weight" in key for key in teacher_g0)  # inverted residual blocks
    # --load_pretrain loads G0 strictly: the teacher's weights fit the student as they are
    train.main([*common, "--name", "student", "--student", "--load_pretrain", str(tmp_path / "teacher")])
    student_g0 = torch.load(tmp_path / "student" / "latest_net_G0.pth", weights_only=True)
    assert student_g0.keys() == teacher_g0.keys()
    assert "nan" not in (tmp_path / "student" / "loss_log.txt").read_text().lower()


@pytest.mark.parametrize("task", ["street", "face", "pose"])
def test_teacher_recipes(task: str) -> None:
    from tests.test_scripts import REPO, entry_commands

    path = REPO / "scripts" / task / "train_teacher.sh"
    text = path.read_text()
    assert not text.rstrip().endswith("\\") and "--nThread " not in text
    [(entry, argv)] = entry_commands(path)
    assert entry == "train.py" and argv[argv.index("--netG") + 1] == "sr_mobile_composite"
    assert "--student" not in argv and "--n_scales_spatial" not in argv and argv[argv.index("--name") + 1].endswith(
        "teacher")


@pytest.mark.parametrize("student", [False, True])
def test_test_script_generates_with_teacher_and_student(toy_root, tmp_path, student: bool) -> None:
    """test.py with sr_mobile checkpoints (both take the CPU's default sparse label stem)."""
    import test as test_script
    from util.checkpoint import atomic_save, cpu_state_dict

    flags = ["--label_nc", "35", "--use_instance", "--fg", "--ngf", "8", "--n_downsample_G", "2", "--n_blocks", "1",
             "--gpu_ids", "-1", "--nThreads", "0", "--loadSize", "64", "--netG", "sr_mobile_composite",
             "--name", "fast", "--checkpoints_dir", str(tmp_path / "ckpt")] + (["--student"] if student else [])
    net = define_G(make_opt(flags, train=False)).scales[0]
    atomic_save(cpu_state_dict(net), str(tmp_path / "ckpt" / "fast" / "latest_net_G0.pth"))
    summary = test_script.main(["--dataroot", str(toy_root), "--results_dir", str(tmp_path / "results"), *flags,
                                "--no_first_img"])
    frames = sorted(Path(summary["folder"]).rglob("fake_B_*.jpg"))
    assert frames and all(Image.open(f).size == (64, 32) for f in frames)


@pytest.mark.parametrize("activation", [nn.ReLU6(True), nn.ReLU(True), None])
def test_fused_batch_norm_matches_the_modules(activation) -> None:
    """Batch statistics, affine and clamp in the fused path: PyTorch's numbers and running-buffer updates."""
    from models.networks.fused_norm import NormActSequential

    norm = nn.BatchNorm2d(6)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 2.0)
        norm.bias.uniform_(-1.0, 1.0)
    layers = [nn.Conv2d(3, 6, 3, padding=1), norm] + ([activation] if activation is not None else [])
    plain = nn.Sequential(*layers)
    fused = NormActSequential(*[m for m in layers])
    fused.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 9, 11) * 3 + 1
    before = {k: v.clone() for k, v in norm.state_dict().items()}
    expected = plain(x).detach()
    plain_buffers = {k: v.clone() for k, v in norm.state_dict().items()}
    norm.load_state_dict(before)
    with torch.no_grad():
        out = fused(x.contiguous(memory_format=torch.channels_last))
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert_close(out, expected, atol=1e-5, rtol=1e-5)
    for key, value in norm.state_dict().items():
        assert_close(value, plain_buffers[key], atol=1e-6, rtol=1e-5)
    assert not torch.equal(norm.running_mean, before["running_mean"])


def _count_fused_calls(monkeypatch) -> list:
    """Record each fused BatchNorm call of models.networks.fused_norm."""
    import models.networks.fused_norm as fused_norm

    calls, original = [], fused_norm.batch_norm_act

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)
    monkeypatch.setattr(fused_norm, "batch_norm_act", spy)
    return calls


@pytest.mark.parametrize("student", [False, True])
def test_channels_last_inference_matches_the_plain_modules(student: bool, monkeypatch) -> None:
    """Without autograd, from CHANNELS_LAST_MIN_PIXELS on, the generator runs channels-last with fused BatchNorm;
    the frame is the plain path's (here the threshold is lowered to the test's 64x32 frames)."""
    monkeypatch.setattr(models.networks.sr_mobile, "CHANNELS_LAST_MIN_PIXELS", H * W)
    fused_calls = _count_fused_calls(monkeypatch)
    torch.manual_seed(3)
    net = build_generator("sr_mobile_composite", _config(student)).scales[0]
    inputs = _scale_input(*_inputs())
    plain = net(inputs)  # autograd on: the plain nn.Sequential path in the default layout
    assert not fused_calls
    with torch.no_grad():
        fast = net(inputs)
    assert fused_calls  # the fast path did run
    for name in ("image", "flow", "weight", "raw_image"):
        assert_close(getattr(fast, name), getattr(plain, name).detach(), atol=1e-4, rtol=1e-4, msg=name)


def test_small_frames_keep_the_plain_path(monkeypatch) -> None:
    """Below CHANNELS_LAST_MIN_PIXELS (where it was measured slower) inference keeps the plain modules: no fused
    BatchNorm runs, the frame is the autograd path's (oneDNN's inference kernels may round differently)."""
    monkeypatch.setattr(models.networks.sr_mobile, "CHANNELS_LAST_MIN_PIXELS", H * W + 1)
    fused_calls = _count_fused_calls(monkeypatch)
    torch.manual_seed(3)
    net = build_generator("sr_mobile_composite", _config(True)).scales[0]
    inputs = _scale_input(*_inputs())
    plain = net(inputs)
    with torch.no_grad():
        small = net(inputs)
    assert not fused_calls
    assert_close(small.image, plain.image.detach(), atol=1e-5, rtol=1e-5)


def _toy_sequence(frames: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A moving stripe sequence: encoded labels (1, T, C, H, W) and its frames (1, T, 3, H, W), a colour per label."""
    base = torch.arange(W).expand(H, W) // 8
    labels = torch.stack([((base + t // 2) % LABEL_NC).float() for t in range(frames)]).reshape(1, frames, 1, H, W)
    colours = torch.linspace(-0.9, 0.9, 3 * LABEL_NC).reshape(LABEL_NC, 3)[torch.randperm(LABEL_NC)]
    images = colours[labels[:, :, 0].long()].permute(0, 1, 4, 2, 3)
    return encode_input(labels, labels * 10, LABEL_NC), images


@pytest.mark.slow
def test_bf16_autocast_stays_close_over_a_sequence(monkeypatch) -> None:
    """--autocast bf16: a (briefly trained) student's frames, fed back over a 10-frame sequence, stay >= 35 dB
    from float32 on every frame (on the channels-last path with fused BatchNorm, lowered to the test's size)."""
    from tests.test_cost import _bench

    monkeypatch.setattr(models.networks.sr_mobile, "CHANNELS_LAST_MIN_PIXELS", H * W)
    torch.manual_seed(4)
    encoded, images = _toy_sequence(10)
    net = build_generator("sr_mobile_composite", _config(True)).train()
    bench = _bench()
    losses = bench.train_toy(net, encoded, images, steps=30)
    assert losses[-1] < losses[0]
    psnr = bench.autocast_psnr(net, encoded, images[:, :T_G - 1])
    assert len(psnr) == 10 - T_G + 1 and min(psnr) >= 35, psnr
    assert max(psnr) < 200  # bf16 did run: the frames are not bitwise the float32 ones


@pytest.mark.parametrize("label_stem", ["auto", "conv"])
def test_autocast_stores_conv_weights_once_with_the_same_frames(label_stem: str) -> None:
    """test.py --autocast bf16: the student's convolution weights are stored in bf16 once (autocast would cast them
    at every step), except the label stems' when the sparse stem (``--label_stem auto`` on the CPU) reads them as a
    float32 table; the frame is bitwise the one of autocast casting float32 weights."""
    from models.vid2vid.inference import Vid2VidInference

    opt = make_opt(TINY_FLAGS + ["--netG", "sr_mobile_composite", "--student", "--autocast", "bf16",
                                 "--no_first_img", "--label_stem", label_stem], train=False)
    torch.manual_seed(6)
    stored = build_generator("sr_mobile_composite", _config(True)).train()
    reference = build_generator("sr_mobile_composite", _config(True)).train()
    reference.load_state_dict(stored.state_dict())
    Vid2VidInference(opt, stored, torch.device("cpu"))
    stems = {id(s.conv) for s in stored.scales[0].label_stems()} if label_stem == "auto" else set()
    convs = [m for m in stored.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    assert len(convs) > len(stems) and all(m.weight.dtype == (torch.float32 if id(m) in stems else torch.bfloat16)
                                           for m in convs)
    norms = [m for m in stored.modules() if isinstance(m, nn.BatchNorm2d)]
    assert all(m.weight.dtype == torch.float32 for m in norms)
    labels, inst, prev = _inputs()
    encoded = encode_input(labels, inst, LABEL_NC)
    onehot = one_hot_input(labels, inst, LABEL_NC) if label_stem == "auto" else None
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        a = inference_step(reference, InferenceState(), encoded, first_frames=prev, onehot=onehot)[-1].image
        b = inference_step(stored, InferenceState(), encoded, first_frames=prev, onehot=onehot)[-1].image
    assert torch.equal(a, b)
