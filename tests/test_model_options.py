"""Each model's own rules (issue 21): its ``validate_options`` hook, its generator's frame sizes, its loss-weight
table; and the defects found while auditing (the face discriminator that never ran, the I3D term dropped without
a word, the idle temporal discriminators of stage C)."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path

import pytest
import torch

import train
from data.frame_checks import check_geometry
from models import available_models, find_model_using_name
from models.losses import format_weights, weigh, weighted_total, weights_from
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
    # refused by the flags themselves (the code before the fix parsed them and trained with zero face terms)
    with pytest.raises(OptionError, match="--add_face_disc .*--remove_face_labels"):
        TrainOptions().parse(argv, save=False)
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
    # refused by the flags themselves (the code before the fix parsed them and trained without the I3D term)
    with pytest.raises(OptionError, match="--i3d_weights"):
        TrainOptions().parse(_train_argv(tmp_path, "--model", "tkd", *folders), save=False)
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


def test_stage_c_training_step_says_once_that_the_temporal_discriminators_idle(tmp_path, caplog):
    """A tkd step on the recipe's clips (--n_frames_total 6, tG 3, tD 3: gaps 2 or 3 leave 2 or 1 generated
    frames): no temporal discriminator term, and one warning saying why (the published code was silent)."""
    from data import create_dataset
    from models import create_model
    from models.networks import define_G
    from scripts.make_toy_dataset import make_toy_dataset
    from util.checkpoint import atomic_save, cpu_state_dict

    root = make_toy_dataset(tmp_path / "toy", n_seqs=1, n_frames=8, width=64, height=32, seed=0)
    flags = ["--dataroot", str(root), "--checkpoints_dir", str(tmp_path), "--gpu_ids", "-1", "--ngf", "8", "--ndf",
             "8", "--n_blocks", "1", "--n_downsample_G", "2", "--nThreads", "0", "--num_D", "1", "--no_vgg",
             "--flow_backend", "dis", "--netG", "sr_mobile_composite", "--label_nc", "35", "--loadSize", "64",
             "--n_frames_total", "6", "--max_frames_per_gpu", "2"]
    generator = define_G(TrainOptions().parse(flags, save=False))
    for role in ("teacher", "student"):
        atomic_save(cpu_state_dict(generator.scales[0]), str(tmp_path / role / "latest_net_G0.pth"))
    opt = TrainOptions().parse(flags + ["--name", "tkd", "--model", "tkd", "--teacher_dir", str(tmp_path / "teacher"),
                                        "--student_dir", str(tmp_path / "student"), "--lambda_kd_i3d", "0"],
                               save=False)
    item = create_dataset(opt)[0]
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else [v] for k, v in item.items()}
    model = create_model(opt)
    with caplog.at_level(logging.WARNING):
        losses = [model.train_sequence(batch).losses for _ in range(2)]
    notes = [r.getMessage() for r in caplog.records if "temporal discriminators do not run" in r.getMessage()]
    assert len(notes) == 1 and "--n_frames_D 3" in notes[0], caplog.text
    assert all(not any(name.startswith(("D_T", "G_T")) for name in step) for step in losses), losses


def test_loss_weights_are_one_table_summed_by_name():
    opt = TrainOptions().parse([*TINY, "--lambda_feat", "5", "--n_scales_spatial", "2", "--ngf", "8"], save=False)
    from models.vid2vid.criterion import VID2VID_LOSS_WEIGHTS

    weights = weights_from(VID2VID_LOSS_WEIGHTS, opt)
    assert weights["G_GAN_Feat"] == weights["G_VGG"] == 5 and weights["F_Flow"] == opt.lambda_F / 2
    raw = {"G_GAN": torch.tensor(1.0), "G_VGG": torch.tensor(2.0)}
    weighted = weigh(raw, weights)
    assert float(weighted["G_VGG"]) == 10 and float(weighted_total({**weighted, "D_real": torch.tensor(7.0)},
                                                                   weights)) == 11
    with pytest.raises(KeyError, match="G_new"):
        weigh({"G_new": torch.tensor(1.0)}, weights)
    assert format_weights({"G_GAN": 1.0, "G_VGG": 10.0}) == "G_GAN 1, G_VGG 10"


# rows every table must show, weight flag and default weight as the reference's and Fast-Vid2Vid's defaults give them
KNOWN_ROWS = {
    "vid2vid": [("G_GAN", "constant", "1"), ("G_GAN_Feat", "--lambda_feat", "10"), ("G_Warp", "--lambda_T", "10"),
                ("F_Flow", "--lambda_F / 2**(--n_scales_spatial - 1)", "10"),
                ("G_f_GAN_Feat", "2 x --lambda_feat", "20")],
    "single": [("G_GAN", "constant", "1"), ("G_VGG", "--lambda_feat", "10")],
    "skd": [("G_VGG", "--lambda_feat", "10"), ("G_KD_L1", "--lambda_kd_l1", "1"), ("G_KD_VGG", "--lambda_kd_vgg", "1")],
    "tkd": [("G_KD_L1", "--lambda_kd_l1", "4"), ("G_KD_Flow", "--lambda_kd_flow", "20"),
            ("G_KD_I3D", "--lambda_kd_i3d", "30")],
    "template": [("G_L1", "--lambda_template", "1")],
}


@pytest.mark.parametrize("model", available_models())
def test_help_shows_the_models_loss_weight_table(model, capsys):
    """``train.py --model M --help``: every loss of the model's declaration, its weight flag (a flag of that
    model) and its weight under the defaults, one row each."""
    with pytest.raises(SystemExit) as info:
        train.main(["--model", model, "--help"])
    assert info.value.code == 0
    flags, _, table_text = capsys.readouterr().out.partition(f"loss weights of --model {model} ")
    rows = {line.split()[0]: line for line in table_text.splitlines()[2:] if line.strip()}
    table = find_model_using_name(model).declare_loss_weights()
    defaults = weights_from(table, TrainOptions().gather(["--model", model]))
    assert table and list(rows) == list(table)
    for name, rule in table.items():
        assert re.fullmatch(rf"\s+{name}\s+{re.escape(rule.describe())}\s+{defaults[name]:g}", rows[name]), rows[name]
        assert all(f"--{flag} " in flags for flag in rule.flags()), rule
    for name, rule_text, default in KNOWN_ROWS[model]:
        assert re.fullmatch(rf"\s+{name}\s+{re.escape(rule_text)}\s+{default}", rows[name]), rows[name]


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
