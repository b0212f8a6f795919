"""Every invalid flag value is one ``error:`` naming the flag, exit code 2, and nothing written; flags that have
no effect say so; output folders are checked for writing before any work."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import pytest

import test as test_script
import train
from options import TestOptions, TrainOptions
from scripts.make_toy_dataset import make_toy_dataset
from util.cli import run

BASE = ["--gpu_ids", "-1", "--nThreads", "0", "--label_nc", "35", "--use_instance", "--loadSize", "64",
        "--ngf", "8", "--n_downsample_G", "2", "--n_frames_G", "2"]
TRAIN = BASE + ["--no_vgg", "--flow_backend", "dis", "--niter", "1", "--niter_decay", "0", "--num_D", "1"]
TEST = BASE + ["--use_real_img"]

# (flags, the flag the error names); train.py
TRAIN_CASES = [
    (["--print_freq", "0"], "--print_freq"),
    (["--display_freq", "0"], "--display_freq"),
    (["--save_latest_freq", "0"], "--save_latest_freq"),  # crashed after the first step
    (["--save_epoch_freq", "0"], "--save_epoch_freq"),  # nothing saved after the whole epoch
    (["--loadSize", "0"], "--loadSize"),
    (["--loadSize", "7"], "--loadSize"),
    (["--ngf", "0"], "--ngf"),
    (["--ndf", "0"], "--ndf"),
    (["--n_frames_D", "1"], "--n_frames_D"),
    (["--lr", "-1"], "--lr"),
    (["--lr", "nan"], "--lr"),
    (["--beta1", "1"], "--beta1"),
    (["--nThreads", "-1"], "--nThreads"),
    (["--n_scales_spatial", "5", "--n_downsample_G", "3", "--ngf", "16"], "--loadSize"),  # 64 px halved 7 times
    (["--n_scales_spatial", "3", "--ngf", "2"], "--ngf"),  # scale 2 would have 0 filters
    (["--resize_or_crop", "resize_and_crop", "--loadSize", "100000", "--fineSize", "100000"], "--loadSize"),
    (["--loadSize", "100000"], "--loadSize"),  # scaleWidth: the data check knows the frame's height
    (["--max_dataset_size", "0"], "--max_dataset_size"),
    (["--niter", "0", "--niter_decay", "0"], "--niter"),  # "succeeded" and saved untrained weights
    (["--niter", "-1"], "--niter"),
    (["--n_frames_G", "1"], "--n_frames_G"),  # the vid2vid model needs 2
    (["--n_frames_G", "0"], "--n_frames_G"),
    (["--batchSize", "0"], "--batchSize"),
    (["--num_D", "0"], "--num_D"),
    (["--n_layers_D", "0"], "--n_layers_D"),
    (["--n_frames_total", "0"], "--n_frames_total"),
    (["--max_frames_per_gpu", "0"], "--max_frames_per_gpu"),
    (["--max_frames_backpropagate", "0"], "--max_frames_backpropagate"),
    (["--max_t_step", "0"], "--max_t_step"),
    (["--niter_step", "0"], "--niter_step"),
    (["--n_scales_temporal", "0"], "--n_scales_temporal"),
    (["--lambda_T", "-1"], "--lambda_T"),
    (["--random_drop_prob", "1.5"], "--random_drop_prob"),
    (["--seed", "-1"], "--seed"),
    (["--display_winsize", "0"], "--display_winsize"),
    (["--gpu_ids", "abc"], "--gpu_ids"),  # 27 lines of traceback before
    (["--n_gpus_gen", "3"], "--n_gpus_gen"),
    (["--resize_or_crop", "randomScaleWidth", "--fineSize", "128"], "--fineSize"),
    (["--fg", "--fg_labels", ""], "--fg_labels"),  # the foreground branch was never used
    (["--netG", "sr_mobile_composite", "--n_scales_spatial", "2"], "--n_scales_spatial"),  # ValueError before
    (["--model", "vid2vdi"], "did you mean vid2vid?"),
    (["--dataset_mode", "temporl"], "did you mean temporal?"),
    (["--output_nc", "1"], "--output_nc"),  # a shape error after opt.txt was written
]
# test.py
TEST_CASES = [
    (["--how_many", "0"], "--how_many"),  # made one frame
    (["--ntest", "0"], "--ntest"),
    (["--start_frame", "-1"], "--start_frame"),
    (["--aspect_ratio", "0"], "--aspect_ratio"),
    (["--loadSize", "7"], "--loadSize"),
    (["--batchSize", "0"], "--batchSize"),
    (["--max_dataset_size", "0"], "--max_dataset_size"),
    (["--n_frames_G", "1"], "--n_frames_G"),
    (["--use_real_img", "--use_single_G", "--no_first_img"], "--no_first_img"),
    (["--keyframes", "interval"], "--key_interval"),  # an interval rule without an interval
    (["--keyframes", "interval", "--key_interval", "-2"], "--key_interval"),
    (["--keyframes", "published", "--key_interval", "3"], "--key_interval"),  # would be silently ignored
    (["--key_interval", "3"], "--keyframes"),
    (["--max_key_gap", "4"], "--keyframes"),
    (["--keyframes", "published", "--max_key_gap", "-1"], "--max_key_gap"),
    (["--keyframes", "published", "--flow_backend", "flownet2", "--flownet_checkpoint", "absent.pth"],
     "absent.pth"),  # the interpolation's flow network, before any frame is read
    (["--aspect_ratio", "1e-9"], "--aspect_ratio"),  # OverflowError after partial results
    (["--aspect_ratio", "1e7"], "--aspect_ratio"),  # MemoryError after partial results
    (["--model", "vid2vdi"], "did you mean vid2vid?"),
    (["--start_frame", "1000"], "--start_frame 1000 skips the whole first sequence"),  # the only one
]
# test.py without TEST's --use_real_img: the first-frame mode
FIRST_FRAME_CASES = [
    ([], "test.py --model vid2vid needs a first-frame mode"),  # a ValueError traceback once the model was built
    (["--use_single_G", "--no_first_img"], "--use_single_G and --no_first_img"),  # --use_single_G was ignored
    (["--use_single_G", "--use_real_img"], "--use_single_G and --use_real_img"),
    (["--use_single_G", "--loadSize", "128"], "released ones are for 512, 1024, 2048"),  # no such generator
]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=4, width=64, height=32, seed=0, n_test_seqs=1)
    return root


def _outputs(tmp_path: Path, entry: str) -> list[str]:
    flags = ["--checkpoints_dir", str(tmp_path / "ckpt")]
    return flags + (["--results_dir", str(tmp_path / "results")] if entry == "test" else [])


def _assert_one_error(code: int, err: str, flag: str, tmp_path: Path) -> None:
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert flag in err, err
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("flags,flag", TRAIN_CASES, ids=[" ".join(f) for f, _ in TRAIN_CASES])
def test_invalid_training_flag(toy, tmp_path, capsys, flags, flag):
    code = run(train.main, ["--dataroot", str(toy), "--name", "x", *_outputs(tmp_path, "train"), *TRAIN, *flags])
    _assert_one_error(code, capsys.readouterr().err, flag, tmp_path)


@pytest.mark.parametrize("flags,flag", TEST_CASES, ids=[" ".join(f) for f, _ in TEST_CASES])
def test_invalid_test_flag(toy, tmp_path, capsys, flags, flag):
    code = run(test_script.main, ["--dataroot", str(toy), "--name", "x", *_outputs(tmp_path, "test"), *TEST, *flags])
    _assert_one_error(code, capsys.readouterr().err, flag, tmp_path)


@pytest.mark.parametrize("flags,message", FIRST_FRAME_CASES, ids=[" ".join(f) or "none" for f, _ in FIRST_FRAME_CASES])
def test_first_frame_mode_flags(toy, tmp_path, capsys, flags, message):
    code = run(test_script.main, ["--dataroot", str(toy), "--name", "x", *_outputs(tmp_path, "test"), *BASE, *flags])
    _assert_one_error(code, capsys.readouterr().err, message, tmp_path)


def test_argparse_type_errors_stay_usage_errors(toy, tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run(train.main, ["--dataroot", str(toy), *_outputs(tmp_path, "train"), *TRAIN, "--ngf", "abc"])
    assert info.value.code == 2 and "--ngf" in capsys.readouterr().err


@pytest.mark.parametrize("entry", ["train", "test"])
def test_unwritable_output_folder_fails_first_naming_it(toy, tmp_path, capsys, entry):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    flag = "--checkpoints_dir" if entry == "train" else "--results_dir"
    main, common = (train.main, TRAIN) if entry == "train" else (test_script.main, TEST)
    argv = ["--dataroot", str(tmp_path / "no_dataset"), *common, flag, str(blocker / "out")]
    if entry == "test":
        argv += ["--checkpoints_dir", str(tmp_path / "ckpt")]
    code = run(main, argv)
    err = capsys.readouterr().err
    _assert_one_error(code, err, flag, tmp_path)
    assert str(blocker) in err and "no_dataset" not in err  # before the data check


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write into read-only folders")
def test_read_only_results_dir_is_refused(toy, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    code = run(test_script.main, ["--dataroot", str(toy), *TEST, "--results_dir", str(locked / "r"),
                                  "--checkpoints_dir", str(tmp_path / "ckpt")])
    _assert_one_error(code, capsys.readouterr().err, str(locked), tmp_path)


def test_fp16_without_effect_says_so(caplog):
    with caplog.at_level(logging.WARNING):
        TestOptions().parse(["--gpu_ids", "-1", "--fp16"], save=False)
    assert "--fp16 has no effect in test.py" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        TrainOptions().parse(["--gpu_ids", "-1", "--fp16"], save=False)
    assert "--fp16 has no effect on the cpu" in caplog.text


def _help(options) -> dict[str, str]:
    parser = options.initialize(argparse.ArgumentParser())
    return {action.dest: action.help or "" for action in parser._actions}


def test_help_says_what_debug_display_winsize_and_unused_flags_do():
    for options in (TrainOptions(), TestOptions()):
        texts = _help(options)
        assert "tracebacks" in texts["debug"] and "worker" in texts["debug"] and "display" not in texts["debug"]
        assert "results page" in texts["display_winsize"]
        for unused in ("label_feat", "feat_num", "nef", "load_features", "netE", "n_downsample_E", "display_id"):
            assert "unused" in texts[unused] and "kept for scripts" in texts[unused], unused
        assert "kept for old launch scripts" in texts["local_rank"]
        assert "(new)" in texts["skip_check"]
    assert "unused" in _help(TrainOptions())["pool_size"]


def test_results_page_uses_display_winsize(toy, tmp_path):
    from util.results_writer import ResultsWriter

    opt = TestOptions().parse(["--gpu_ids", "-1", "--results_dir", str(tmp_path), "--display_winsize", "200"],
                              save=False)
    with ResultsWriter(opt) as writer:
        assert writer.page.width == 200


def test_legitimate_reference_settings_pass(tmp_path):
    # 2048x1024 Cityscapes training settings (scripts/street/train_2048.sh) must not be refused by the
    # memory estimate; the frame sizes the generator receives divide evenly.
    from data.frame_checks import check_geometry
    from data.transforms import get_params

    flags = ["--gpu_ids", "-1", "--label_nc", "35", "--loadSize", "2048", "--n_scales_spatial", "3", "--num_D",
             "4", "--use_instance", "--fg", "--n_frames_total", "4", "--no_vgg", "--checkpoints_dir", str(tmp_path)]
    opt = TrainOptions().parse(flags, save=False)
    size = get_params(opt, (2048, 1024)).out_size
    assert size == (2048, 1024) and check_geometry(opt, {"frame.png": size}) == []
