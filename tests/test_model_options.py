"""Each model's own rules (issue 21): its ``validate_options`` hook, its generator's frame sizes, its loss-weight
table; and the defects found while auditing (the face discriminator that never ran, the I3D term dropped without
a word, the idle temporal discriminators of stage C)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
import torch

import train
from data.frame_checks import check_geometry
from models.losses import format_weights, weigh, weighted_total
from models.tkd_model import idle_temporal_note
from models.vid2vid.temporal_groups import TemporalBuffers, collect_groups
from options import TestOptions, TrainOptions
from options.validation import OptionError
from util.cli import run
from util.config import derive

REPO = Path(__file__).resolve().parent.parent
TINY = ["--gpu_ids", "-1", "--ngf", "8", "--n_downsample_G", "2", "--label_nc", "4", "--nThreads", "0"]


def _train_argv(tmp_path: Path, *extra: str) -> list[str]:
    return ["--dataroot", str(tmp_path / "none"), "--checkpoints_dir", str(tmp_path), "--name", "run", *TINY,
            *extra]


@pytest.mark.parametrize("model", ["vid2vid", "skd", "tkd"])
def test_frame_size_check_covers_every_vid2vid_generator(model):
    """96x48 frames: 48 is not a multiple of 32, which the vid2vid generator (and the students) need."""
    opt = TestOptions().parse([*TINY, "--model", model], save=False)
    problems = check_geometry(opt, {"seq/frame_0000.png": (96, 48)})
    assert len(problems) == 1 and "multiples of 32" in problems[0].message
    assert not check_geometry(opt, {"seq/frame_0000.png": (96, 64)})


def test_generic_validation_knows_no_model_names():
    source = (REPO / "options" / "validation.py").read_text()
    code = "\n".join(line.split("#")[0] for line in source.splitlines())
    assert not re.search(r"[\"'](vid2vid|skd|tkd|single|template)[\"']", code)


def test_add_face_disc_with_remove_face_labels_is_refused(tmp_path, capsys):
    argv = _train_argv(tmp_path, "--dataset_mode", "pose", "--input_nc", "6", "--label_nc", "0",
                       "--add_face_disc", "--remove_face_labels")
    code = run(train.main, argv)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:")
    assert "--add_face_disc" in err and "--remove_face_labels" in err
    assert not (tmp_path / "run").exists()
    ok = TrainOptions().parse(_train_argv(tmp_path, "--dataset_mode", "pose", "--input_nc", "3", "--label_nc", "0",
                                          "--openpose_only", "--add_face_disc", "--remove_face_labels"), save=False)
    assert ok.add_face_disc and ok.remove_face_labels  # OpenPose's head still shows where the face is


def _run_folders(tmp_path: Path) -> list[str]:
    """Teacher and student run folders holding a generator file (validation checks that it exists)."""
    flags = []
    for flag in ("teacher", "student"):
        folder = tmp_path / flag
        folder.mkdir()
        (folder / "latest_net_G0.pth").write_bytes(b"")
        flags += [f"--{flag}_dir", str(folder)]
    return flags


def test_tkd_without_i3d_weights_is_refused_naming_both_fixes(tmp_path, capsys):
    folders = _run_folders(tmp_path)
    code = run(train.main, _train_argv(tmp_path, "--model", "tkd", *folders))
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error:")
    assert "--i3d_weights" in err and "--lambda_kd_i3d 0" in err and "--lambda_kd_i3d 30" in err
    opt = TrainOptions().parse(_train_argv(tmp_path, "--model", "tkd", *folders, "--lambda_kd_i3d", "0"),
                               save=False)
    assert opt.lambda_kd_i3d == 0
    with pytest.raises(OptionError, match="--i3d_weights .*no such file"):
        TrainOptions().parse(_train_argv(tmp_path, "--model", "tkd", *folders, "--i3d_weights", "absent.pt"),
                             save=False)


def test_stage_c_recipe_clips_leave_the_temporal_discriminators_idle_and_say_so():
    # --n_frames_total 6, tG 3: clips of 8 frames, gaps 2 or 3 -> 4 or 3 sampled frames, 2 or 1 generated
    for gap, n_sampled in ((2, 4), (3, 3)):
        note = idle_temporal_note(n_sampled, gap, t_g=3, t_d=3)
        assert note and "--n_frames_D 3" in note and "--niter_step" in note
    assert idle_temporal_note(7, 2, t_g=3, t_d=3) is None  # after the curriculum doubled the clips
    # ... and indeed no temporal group forms from 2 generated frames, while 3 make one
    frames = torch.rand(1, 3, 3, 8, 8)
    flows, confs = torch.zeros(1, 3, 2, 8, 8), torch.ones(1, 3, 1, 8, 8)
    for n_generated, runs in ((2, False), (3, True)):
        _, groups = collect_groups(TemporalBuffers(), frames[:, :n_generated], frames[:, :n_generated],
                                   flows[:, :n_generated], confs[:, :n_generated], n_scales=1, t_d=3,
                                   flow_fn=lambda a, b: (None, None))
        assert (groups.real[0] is not None) == runs


def test_loss_weights_are_one_table_summed_by_name():
    opt = TrainOptions().parse([*TINY, "--lambda_feat", "5", "--n_scales_spatial", "2", "--ngf", "8"], save=False)
    from models.vid2vid.criterion import vid2vid_loss_weights

    weights = vid2vid_loss_weights(opt)
    assert weights["G_GAN_Feat"] == weights["G_VGG"] == 5 and weights["F_Flow"] == opt.lambda_F / 2
    raw = {"G_GAN": torch.tensor(1.0), "G_VGG": torch.tensor(2.0)}
    weighted = weigh(raw, weights)
    assert float(weighted["G_VGG"]) == 10 and float(weighted_total({**weighted, "D_real": torch.tensor(7.0)},
                                                                   weights)) == 11
    with pytest.raises(KeyError, match="G_new"):
        weigh({"G_new": torch.tensor(1.0)}, weights)
    assert format_weights({"G_GAN": 1.0, "G_VGG": 10.0}) == "G_GAN 1, G_VGG 10"


def test_the_training_log_starts_with_the_weight_table(cityscapes_root, tmp_path):
    train.main(["--dataroot", str(cityscapes_root), "--checkpoints_dir", str(tmp_path), "--name", "tpl",
                "--model", "template", "--label_nc", "35", "--loadSize", "64", "--gpu_ids", "-1", "--nThreads", "0",
                "--niter", "1", "--niter_decay", "0", "--n_frames_total", "1", "--max_dataset_size", "1",
                "--lambda_template", "2"])
    assert "loss weights: G_L1 2" in (tmp_path / "tpl" / "loss_log.txt").read_text()


def test_derive_copies_with_changes_and_rejects_unknown_names():
    opt = argparse.Namespace(loadSize=512, student=True)
    derived = derive(opt, loadSize=1024)
    assert derived.loadSize == 1024 and opt.loadSize == 512 and derived.student
    with pytest.raises(AttributeError, match="loadsize"):
        derive(opt, loadsize=1024)
