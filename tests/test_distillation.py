"""Fast-Vid2Vid's distillation stages: ``--model skd`` (spatial) and ``--model tkd`` (temporal)."""

from __future__ import annotations

import logging
import math
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
from torch.testing import assert_close

import train
from models.fast_vid2vid.distillation import TeacherFrames, compose_flows, flow_mask, sampling_gaps
from models.networks import define_G
from models.networks.i3d import InceptionI3d
from models.skd_model import SkdModel
from models.tkd_model import TkdModel
from options import TrainOptions
from scripts.make_toy_dataset import make_toy_dataset
from tests.conftest import DATASETS, require
from util.checkpoint import atomic_save, cpu_state_dict
from util.cli import run
from util.seed import seed_everything

TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_blocks", "2", "--n_downsample_G", "2",
        "--n_frames_G", "2", "--nThreads", "0", "--num_D", "1", "--n_frames_D", "2", "--no_vgg",
        "--flow_backend", "dis", "--netG", "sr_mobile_composite", "--n_scales_temporal", "1"]
STAGE = ["--niter", "1", "--niter_decay", "0", "--max_dataset_size", "1", "--n_frames_total", "4",
         "--max_frames_per_gpu", "2", "--seed", "0", "--print_freq", "1"]
CITY = ["--label_nc", "35", "--use_instance", "--fg", "--loadSize", "64"]
FACE = ["--dataset_mode", "face", "--input_nc", "15", "--loadSize", "64", "--fineSize", "64"]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=6, width=64, height=32, seed=0)
    return root


def _save_generator(argv: list[str], folder: Path) -> None:
    """Random weights of the teacher the flags describe, at ``folder/latest_net_G0.pth``."""
    opt = TrainOptions().parse(argv, save=False)
    atomic_save(cpu_state_dict(define_G(opt).scales[0]), str(folder / "latest_net_G0.pth"))


def _i3d_weights(path: Path) -> Path:
    """A randomly initialised I3D in the layout of rgb_imagenet.pt (a stand-in: no download)."""
    state = {k: v for k, v in InceptionI3d().state_dict().items() if not k.endswith("num_batches_tracked")}
    atomic_save(state, str(path))
    return path


# ---------------------------------------------------------------------------------------------- helpers
def test_flow_mask_is_the_mean_of_opencvs_hsv_flow_picture():
    flow = torch.randn(2, 2, 12, 16) * 3
    mask = flow_mask(flow)
    for b in range(2):
        dx, dy = flow[b, 0].numpy(), flow[b, 1].numpy()
        magnitude, angle = cv2.cartToPolar(dx, dy)
        hsv = np.zeros((12, 16, 3), np.uint8)
        hsv[..., 0] = angle * 180 / np.pi / 2
        hsv[..., 1] = 255
        hsv[..., 2] = cv2.normalize(magnitude, None, 0, 255, cv2.NORM_MINMAX)
        expected = cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB).mean(axis=-1) / 255.0
        assert_close(mask[b, 0], torch.from_numpy(expected).float(), atol=3 / 255, rtol=0)
    assert mask.shape == (2, 1, 12, 16)


def test_flow_mask_of_a_constant_magnitude_is_zero():
    flow = torch.zeros(1, 2, 8, 8)
    flow[:, 0] = 2.0
    assert torch.count_nonzero(flow_mask(flow)) == 0


def test_composed_flow_follows_each_pixel_through_every_frame():
    height, width = 9, 20
    xs = torch.arange(width, dtype=torch.float32).expand(height, width)
    early = torch.stack([0.05 * xs, torch.zeros_like(xs)])  # frame b+1 -> b: dx grows with x
    late = torch.stack([torch.full_like(xs, 2.0), torch.full_like(xs, 0.0)])  # frame b+2 -> b+1: 2 px left
    total = compose_flows(torch.stack([early, late]).unsqueeze(0))
    inside = slice(0, width - 3)  # pixels whose path stays in the frame
    assert_close(total[0, 0, :, inside], 2.0 + 0.05 * (xs[:, inside] + 2.0))
    assert_close(total[0, 1], torch.zeros(height, width))


def test_sampling_gaps_leave_enough_frames():
    assert sampling_gaps(8, 3) == [2, 3]  # the published clip: 8 frames, tG 3
    assert sampling_gaps(5, 2) == [2, 3, 4]
    with pytest.raises(ValueError, match="--n_frames_total"):
        sampling_gaps(4, 3)


def test_skd_mask_is_per_frame_and_per_batch_element_unless_published():
    flow = torch.randn(2, 3, 2, 8, 8)
    own = SkdModel.kd_mask(SimpleNamespace(opt=SimpleNamespace(kd_published=False)), flow)
    published = SkdModel.kd_mask(SimpleNamespace(opt=SimpleNamespace(kd_published=True)), flow)
    assert own.shape == published.shape == (6, 1, 8, 8)
    assert_close(own, flow_mask(flow.reshape(6, 2, 8, 8)))
    assert not torch.allclose(own[0], own[3])
    for i in range(6):  # one mask for everything: batch element 0, last frame
        assert_close(published[i], flow_mask(flow[0, 2:3])[0])


def test_tkd_targets_are_the_teachers_frames_at_the_same_absolute_frames():
    t_g, n_frames, gap = 2, 7, 3
    frames = torch.arange(t_g - 1, n_frames, dtype=torch.float32)  # teacher output k is clip frame k + tG - 1
    fake = frames.view(1, -1, 1, 1, 1).expand(1, -1, 3, 4, 4)
    flow = torch.stack([frames.view(1, -1, 1, 1).expand(1, -1, 4, 4), torch.zeros(1, frames.numel(), 4, 4)], 2)
    model = SimpleNamespace(t_g=t_g, opt=SimpleNamespace(kd_published=False))
    model.flow_target = lambda flows, frame, g: TkdModel.flow_target(model, flows, frame, g)
    first = torch.full((1, t_g - 1, 3, 4, 4), -1.0)
    targets = TkdModel.sampled_targets(model, TeacherFrames(fake, flow), gap, first)
    assert targets.fake[0, :, 0, 0, 0].tolist() == [3.0, 6.0]  # sampled frames 1, 2 are clip frames 3, 6
    # constant flows of k px for frame k: over the gap, frames 1..3 -> 1+2+3, frames 4..6 -> 4+5+6
    assert targets.flow[0, :, 0, 0, 0].tolist() == [6.0, 15.0]
    assert targets.clip[0, :, 0, 0, 0].tolist() == [-1.0, 3.0, 6.0]
    model.opt.kd_published = True  # the published code compared with the one-frame flow
    published = TkdModel.sampled_targets(model, TeacherFrames(fake, flow), gap, first)
    assert published.flow[0, :, 0, 0, 0].tolist() == [3.0, 6.0]


def test_i3d_term_carries_the_gradient_to_the_student():
    model = SimpleNamespace(i3d=InceptionI3d().eval(), d_device=torch.device("cpu"), opt=SimpleNamespace(i3d_size=32))
    student = (torch.rand(1, 3, 3, 16, 16) * 2 - 1).requires_grad_(True)
    teacher = torch.rand(1, 3, 3, 16, 16) * 2 - 1
    distance = TkdModel.i3d_distance(model, student, teacher)
    distance.backward()
    assert distance > 0 and student.grad is not None and student.grad.abs().sum() > 0


# ---------------------------------------------------------------------------------------------- set-up
def test_missing_teacher_or_student_checkpoint_is_one_error_before_any_work(toy_root, tmp_path, capsys):
    common = ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), *TINY, *CITY]
    code = run(train.main, [*common, "--name", "s", "--model", "skd", "--teacher_dir", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:") and "--teacher_dir" in err and "latest_net_G0.pth" in err
    _save_generator(["--checkpoints_dir", str(tmp_path), *TINY, *CITY], tmp_path / "teacher")
    code = run(train.main, [*common, "--name", "t", "--model", "tkd", "--teacher_dir", str(tmp_path / "teacher")])
    err = capsys.readouterr().err
    assert code == 2 and "--student_dir" in err
    assert not (tmp_path / "s").exists() and not (tmp_path / "t").exists()
    code = run(train.main, [*common, "--name", "s", "--model", "skd", "--teacher_dir", str(tmp_path / "teacher"),
                            "--lambda_kd_l1", "-1"])
    assert code == 2 and "--lambda_kd_l1 must be >= 0" in capsys.readouterr().err


def test_skd_teacher_reads_full_resolution_and_the_student_starts_from_it(toy_root, tmp_path):
    base = ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), *TINY, *CITY]
    _save_generator(base, tmp_path / "teacher")
    for published, teacher_scale in ((False, 1), (True, 2)):
        argv = [*base, "--name", "s", "--model", "skd", "--teacher_dir", str(tmp_path / "teacher")]
        opt = TrainOptions().parse(argv + (["--kd_published"] if published else []), save=False)
        model = SkdModel(opt)
        model.setup()
        assert model.generator.scales[0].input_scale == 2  # the student
        assert model.teacher.scales[0].input_scale == teacher_scale
        assert "teacher" not in model.networks and not any(p.requires_grad for p in model.teacher.parameters())
        for name, value in model.teacher.scales[0].state_dict().items():
            assert_close(model.networks["G0"].state_dict()[name], value, msg=name)


def test_skd_resumed_with_continue_train_keeps_its_own_student(toy_root, tmp_path, caplog):
    common = ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), *TINY, *CITY, *STAGE]
    _save_generator(common, tmp_path / "teacher")
    argv = [*common, "--name", "s", "--model", "skd", "--teacher_dir", str(tmp_path / "teacher")]
    with caplog.at_level(logging.INFO, logger="models.fast_vid2vid.distillation"):
        train.main(argv)
        assert "student initialised from" in caplog.text
        caplog.clear()
        train.main([*argv, "--continue_train", "--niter", "2"])
    assert "student initialised from" not in caplog.text
    assert (tmp_path / "s" / "iter.txt").read_text().split() == ["3", "0"]


# ---------------------------------------------------------------------------------------------- end to end
def _three_stages(root: Path, tmp_path: Path, data: list[str], caplog) -> Path:
    """Teacher, spatial and temporal stage, each from the previous one's checkpoint; returns the folder."""
    ckpt = tmp_path / "ckpt"
    common = ["--dataroot", str(root), "--checkpoints_dir", str(ckpt), *TINY, *data, *STAGE]
    train.main([*common, "--name", "teacher"])
    with caplog.at_level(logging.INFO, logger="models.fast_vid2vid.distillation"):
        train.main([*common, "--name", "skd", "--model", "skd", "--teacher_dir", str(ckpt / "teacher")])
        train.main([*common, "--name", "tkd", "--model", "tkd", "--teacher_dir", str(ckpt / "teacher"),
                    "--student_dir", str(ckpt / "skd"), "--i3d_weights", str(_i3d_weights(tmp_path / "i3d.pt")),
                    "--i3d_size", "32"])
    assert f"student initialised from {ckpt / 'teacher'}" in caplog.text
    assert f"student initialised from {ckpt / 'skd'}" in caplog.text
    for stage, terms in (("skd", ("G_KD_L1",)), ("tkd", ("G_KD_L1", "G_KD_Flow", "G_KD_I3D"))):
        log = (ckpt / stage / "loss_log.txt").read_text()
        assert all(term in log for term in terms) and "nan" not in log.lower(), log
        state = torch.load(ckpt / stage / "latest_net_G0.pth", map_location="cpu", weights_only=True)
        assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    return ckpt


def _student_generates(root: Path, ckpt: Path, data: list[str], tmp_path: Path) -> None:
    """test.py runs the temporal stage's student (its checkpoint has vid2vid's layout)."""
    import test as test_script

    summary = test_script.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", "tkd",
                                "--model", "tkd", *TINY[:14], "--netG", "sr_mobile_composite", *data,
                                "--phase", "train", "--use_real_img", "--how_many", "2", "--no_video",
                                "--results_dir", str(tmp_path / "results")])
    assert summary["frames"] == 2


@pytest.mark.slow
def test_teacher_then_spatial_then_temporal_on_the_cityscapes_sample(cityscapes_root, tmp_path, caplog):
    ckpt = _three_stages(cityscapes_root, tmp_path, CITY, caplog)
    _student_generates(cityscapes_root, ckpt, CITY, tmp_path)


@pytest.mark.slow
def test_teacher_then_spatial_then_temporal_on_the_face_sample(tmp_path, caplog):
    root = require(DATASETS / "face" / "train_keypoints", "face sample data").parent
    ckpt = _three_stages(root, tmp_path, FACE, caplog)
    _student_generates(root, ckpt, FACE, tmp_path)


def _distance_to_teacher(model: SkdModel, batch: dict) -> tuple[float, float]:
    """Mean L1 and PSNR (dB, frames mapped to [0, 1]) between the student's and the teacher's frames."""
    with torch.no_grad():
        label, real, inst = model._unpack(batch)
        teacher = model.teacher_frames(label, real, inst).fake
        student = model.generate_chunk(label, real, inst, None).fake
    mse = float(((student - teacher) / 2).pow(2).mean())
    return float((student - teacher).abs().mean()), 10 * math.log10(1 / mse)


@pytest.mark.slow
def test_spatial_distillation_halves_the_students_distance_to_the_teacher(toy_root, tmp_path, record_property):
    """A teacher trained 40 steps, then 30 distillation steps of the student started from it. The vid2vid terms
    pull the student towards the real frames, from which this barely trained teacher is far: the test weights
    the (masked) distillation up and feature matching down, so that it measures what the distillation does. A
    control run without the distillation L1 term must stay clearly farther from the teacher."""
    from data import create_dataset
    from models import create_model

    common = ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), *TINY, "--label_nc", "35",
              "--loadSize", "64", "--no_flip", "--max_dataset_size", "1", "--n_frames_total", "4",
              "--max_frames_per_gpu", "4", "--seed", "0"]
    seed_everything(0)
    opt = TrainOptions().parse([*common, "--name", "teacher", "--lr", "0.002"], save=False)
    teacher = create_model(opt)
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in create_dataset(opt)[0].items()}
    for _ in range(40):
        teacher.train_sequence(batch)
    atomic_save(cpu_state_dict(teacher.networks["G0"]), str(tmp_path / "teacher" / "latest_net_G0.pth"))
    runs = {}
    for name, weight in (("distilled", "200"), ("control", "0")):  # the control: the same run without the L1 term
        seed_everything(1)
        opt = TrainOptions().parse([*common, "--name", name, "--model", "skd", "--teacher_dir",
                                    str(tmp_path / "teacher"), "--lambda_kd_l1", weight, "--lambda_feat", "1"],
                                   save=False)
        student = create_model(opt)
        before = _distance_to_teacher(student, batch)
        for _ in range(30):
            student.train_sequence(batch)
        runs[name] = before, _distance_to_teacher(student, batch)
    (before, after), (_, control) = runs["distilled"], runs["control"]
    measured = (f"student vs teacher: L1 {before[0]:.4f} -> {after[0]:.4f} (without the L1 term {control[0]:.4f}), "
                f"PSNR {before[1]:.2f} -> {after[1]:.2f} dB (without {control[1]:.2f} dB)")
    record_property("distance_to_teacher", measured)  # in pytest's report (--junitxml), not amid the dots
    assert after[0] <= 0.5 * before[0], measured
    assert after[0] <= 0.75 * control[0], measured
