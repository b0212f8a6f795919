"""train.py end to end on CPU: smoke runs, checkpoints, exact resume, atomic writes, device split, NaN stop."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

import train
from scripts.make_toy_dataset import make_toy_dataset
from tests.conftest import make_opt

TINY = ["--label_nc", "35", "--use_instance", "--fg", "--loadSize", "64", "--ngf", "8", "--ndf", "8",
        "--n_downsample_G", "2", "--n_blocks", "2", "--num_D", "1", "--n_frames_D", "2", "--no_vgg",
        "--flow_backend", "dis", "--n_frames_total", "4", "--max_frames_per_gpu", "2", "--gpu_ids", "-1",
        "--nThreads", "0", "--seed", "1", "--display_freq", "1", "--print_freq", "1"]


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=2, n_frames=8, width=128, height=64, seed=0)
    return root


def _run(root: Path, ckpt: Path, name: str, *extra: str) -> None:
    train.main(["--dataroot", str(root), "--checkpoints_dir", str(ckpt), "--name", name, *TINY, *extra])


def _weights(folder: Path) -> dict:
    out = {}
    for file in sorted(folder.glob("latest_net_*.pth")):
        out.update({f"{file.stem}.{k}": v for k, v in torch.load(file, weights_only=True).items()})
    return out


def test_one_epoch_writes_reference_files(toy_root, tmp_path):
    _run(toy_root, tmp_path, "smoke", "--niter", "1", "--niter_decay", "0")
    run = tmp_path / "smoke"
    for name in ["latest_net_G0.pth", "latest_net_D.pth", "latest_net_D_T0.pth", "latest_net_D_T1.pth",
                 "1_net_G0.pth", "iter.txt", "opt.txt", "loss_log.txt", "web/index.html"]:
        assert (run / name).exists(), name
    assert (run / "iter.txt").read_text().split() == ["2", "0"]
    log = (run / "loss_log.txt").read_text()
    assert "G_GAN" in log and "D_T_real0" in log and "nan" not in log.lower()


def test_resume_after_kill_gives_identical_weights(toy_root, tmp_path, monkeypatch):
    flags = ("--niter", "2", "--niter_decay", "1", "--save_latest_freq", "1")
    _run(toy_root, tmp_path / "full", "run", *flags)
    calls = {"n": 0}
    original = train.Trainer.after_step

    def dying_after_step(self, epoch, result):
        original(self, epoch, result)
        calls["n"] += 1
        if calls["n"] == 3:  # killed after the 3rd iteration, mid-epoch 2
            raise KeyboardInterrupt

    monkeypatch.setattr(train.Trainer, "after_step", dying_after_step)
    with pytest.raises(KeyboardInterrupt):
        _run(toy_root, tmp_path / "part", "run", *flags)
    monkeypatch.setattr(train.Trainer, "after_step", original)
    assert (tmp_path / "part" / "run" / "iter.txt").read_text().split() == ["2", "1"]
    _run(toy_root, tmp_path / "part", "run", *flags, "--continue_train")
    full, resumed = _weights(tmp_path / "full" / "run"), _weights(tmp_path / "part" / "run")
    assert full.keys() == resumed.keys()
    for key in full:
        assert_close(resumed[key], full[key], rtol=0, atol=0, msg=key)
    # the whole train state too: optimizers, schedule, counters and every RNG (the DataLoader's per-iterator
    # seed once came from the global torch RNG, one draw more in the resumed run)
    full_state, resumed_state = (_flat(torch.load(tmp_path / run / "run" / "latest_train_state.pth",
                                                  weights_only=True)) for run in ("full", "part"))
    assert full_state.keys() == resumed_state.keys()
    for key, value in full_state.items():
        same = torch.equal(value, resumed_state[key]) if torch.is_tensor(value) else value == resumed_state[key]
        assert same, key


def _flat(tree, prefix: str = "") -> dict:
    """Nested dicts and lists as {"/a/0/b": leaf}."""
    items = tree.items() if isinstance(tree, dict) else enumerate(tree) if isinstance(tree, (list, tuple)) else None
    if items is None:
        return {prefix: tree}
    return {key: leaf for name, sub in items for key, leaf in _flat(sub, f"{prefix}/{name}").items()}


def test_truncated_checkpoint_write_keeps_the_previous_file(tmp_path, monkeypatch):
    from util import checkpoint

    path = tmp_path / "latest_net_G0.pth"
    checkpoint.atomic_save({"w": torch.ones(3)}, str(path))

    def broken_save(obj, stream):
        stream.write(b"PK\x03\x04 half a file")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.torch, "save", broken_save)
    with pytest.raises(checkpoint.CheckpointError, match=f"disk full while saving in {tmp_path}"):
        checkpoint.atomic_save({"w": torch.zeros(3)}, str(path))
    monkeypatch.undo()
    assert_close(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["latest_net_G0.pth"]


def test_generator_and_discriminators_on_two_devices_give_the_same_losses(toy_root):
    from data import create_dataset
    from models import create_model

    opt = make_opt(["--dataroot", str(toy_root), *TINY, "--n_gpus_gen", "1"])
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in create_dataset(opt)[0].items()}
    losses = []
    for devices in ([torch.device("cpu")], [torch.device("cpu"), torch.device("cpu")]):
        torch.manual_seed(0)
        model = create_model(opt, devices=devices)
        losses.append(model.train_sequence(batch).losses)
    assert losses[0].keys() == losses[1].keys()
    for key in losses[0]:
        assert losses[0][key] == pytest.approx(losses[1][key], rel=1e-6), key


def test_nan_loss_stops_with_step_and_loss_name(toy_root, tmp_path, monkeypatch):
    from models.vid2vid import criterion as vid2vid_criterion

    original = vid2vid_criterion.Vid2VidCriterion.frame_losses

    def poisoned(self, batch):
        losses = original(self, batch)
        losses["G_Warp"] = losses["G_Warp"] * float("nan")
        return losses

    monkeypatch.setattr(vid2vid_criterion.Vid2VidCriterion, "frame_losses", poisoned)
    with pytest.raises(FloatingPointError, match=r"G_Warp.*step.*[Ll]ast good checkpoint"):
        _run(toy_root, tmp_path, "nan", "--niter", "1", "--niter_decay", "0")


def test_bad_dataset_fails_before_anything_is_written(tmp_path):
    (tmp_path / "data" / "train_A" / "seq").mkdir(parents=True)
    with pytest.raises(ValueError, match="train_B"):
        _run(tmp_path / "data", tmp_path / "ckpt", "bad", "--niter", "1")
    assert not (tmp_path / "ckpt" / "bad").exists()


@pytest.mark.slow
def test_cityscapes_sample_trains_with_finite_losses(cityscapes_root, tmp_path):
    _run(cityscapes_root, tmp_path, "city", "--niter", "1", "--niter_decay", "0", "--max_dataset_size", "2",
         "--loadSize", "128")
    log = (tmp_path / "city" / "loss_log.txt").read_text()
    assert "F_Flow" in log and "nan" not in log.lower() and "inf" not in log.lower()
    assert os.path.getsize(tmp_path / "city" / "latest_net_G0.pth") > 0


def _reconstruction_error(model, batch) -> float:
    """Mean L1 between generated and real frames over the clip (first frames given, as in training)."""
    with torch.no_grad():
        label, real, inst = model._unpack(batch)
        chunk = model.generate_chunk(label, real, inst, None)
        return float((chunk.fake - real[:, model.t_g - 1:]).abs().mean())


@pytest.mark.slow
def test_training_lowers_reconstruction_error(toy_root):
    from data import create_dataset
    from models import create_model

    opt = make_opt(["--dataroot", str(toy_root), *TINY, "--ngf", "16", "--no_flip", "--max_dataset_size", "1",
                    "--n_frames_total", "4", "--max_frames_per_gpu", "4", "--lr", "0.001"])
    torch.manual_seed(0)
    model = create_model(opt)
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in create_dataset(opt)[0].items()}
    before = _reconstruction_error(model, batch)
    for _ in range(60):
        model.train_sequence(batch)
    after = _reconstruction_error(model, batch)
    assert after < 0.7 * before, (before, after)


def test_flow_cache_is_filled_then_reused(toy_root, tmp_path):
    cache = tmp_path / "flow_cache"
    _run(toy_root, tmp_path, "cached", "--niter", "1", "--niter_decay", "0", "--flow_cache", str(cache),
         "--no_flip", "--max_t_step", "1")
    files = sorted(p for p in cache.rglob("*") if p.is_file())
    assert files
    stamps = {p: p.stat().st_mtime_ns for p in files}
    _run(toy_root, tmp_path, "cached", "--niter", "2", "--niter_decay", "0", "--flow_cache", str(cache),
         "--no_flip", "--max_t_step", "1", "--continue_train")
    assert all(p.stat().st_mtime_ns == stamps[p] for p in files)


def test_batch_is_split_over_generator_devices_as_dataparallel(toy_root):
    """--batchSize 2 on two generator devices: each device generates one sequence, with its own BatchNorm
    statistics, exactly as generating each sequence alone; one device normalises over both."""
    import argparse

    from data import create_dataset
    from models import create_model

    flags = ["--dataroot", str(toy_root), *TINY, "--batchSize", "2", "--no_flip"]
    opt_one = make_opt(flags + ["--n_gpus_gen", "1"])
    # as parsed on a machine with three GPUs: two for the generator (the devices are CPU stand-ins here)
    opt_split = argparse.Namespace(**{**vars(opt_one), "n_gpus_gen": 2})
    items = [create_dataset(opt_split)[i] for i in range(2)]
    batch = {k: torch.stack([it[k] for it in items]) for k in ("A", "B", "inst")}
    cpu = torch.device("cpu")
    torch.manual_seed(0)
    split = create_model(opt_split, devices=[cpu, cpu, cpu])
    assert len(split.gen_devices) == 2
    torch.manual_seed(0)
    single = create_model(opt_one, devices=[cpu])
    label, real, inst = split._unpack(batch)
    together = split.generate_chunk(label, real, inst, None).fake
    alone = torch.cat([single.generate_chunk(label[i:i + 1], real[i:i + 1], inst[i:i + 1], None).fake
                       for i in range(2)])
    assert_close(together, alone, rtol=1e-5, atol=1e-6)
    joint = single.generate_chunk(label, real, inst, None).fake
    assert (joint - alone).abs().max() > 1e-4  # batch statistics over both sequences differ


def test_continue_train_before_any_checkpoint_starts_fresh(toy_root, tmp_path, caplog):
    with caplog.at_level("WARNING"):
        _run(toy_root, tmp_path, "fresh", "--niter", "1", "--niter_decay", "0", "--continue_train")
    assert "no checkpoint" in caplog.text and "starting a new run" in caplog.text
    assert (tmp_path / "fresh" / "iter.txt").read_text().split() == ["2", "0"]


def test_continue_train_from_a_reference_run_resumes_at_iter_txt(toy_root, tmp_path, caplog):
    """A run of the reference code has networks and iter.txt but no train state: resume at its epoch."""
    _run(toy_root, tmp_path, "ref", "--niter", "2", "--niter_decay", "0", "--save_epoch_freq", "1")
    run = tmp_path / "ref"
    (run / "latest_train_state.pth").unlink()
    (run / "iter.txt").write_text("2\n0\n")
    with caplog.at_level("WARNING"):
        _run(toy_root, tmp_path, "ref", "--niter", "3", "--niter_decay", "0", "--continue_train")
    assert "resuming at epoch 2, iteration 0 from" in caplog.text
    log = (run / "loss_log.txt").read_text()
    assert "(epoch: 2," in log.split("Training Loss")[-1] and "(epoch: 1," not in log.split("Training Loss")[-1]
    assert (run / "iter.txt").read_text().split() == ["4", "0"]


def test_truncated_train_state_names_the_file(toy_root, tmp_path):
    from util.checkpoint import CheckpointError

    _run(toy_root, tmp_path, "cut", "--niter", "1", "--niter_decay", "0")
    state = tmp_path / "cut" / "latest_train_state.pth"
    state.write_bytes(state.read_bytes()[:200])
    with pytest.raises(CheckpointError, match=f"training state: cannot read {state}"):
        _run(toy_root, tmp_path, "cut", "--niter", "2", "--niter_decay", "0", "--continue_train")


def test_continue_train_with_a_missing_epoch_names_it_and_the_saved_epochs(toy_root, tmp_path, monkeypatch):
    from training.trainer import Trainer
    from util.checkpoint import CheckpointError

    _run(toy_root, tmp_path, "e", "--niter", "2", "--niter_decay", "0", "--save_epoch_freq", "1")
    run = tmp_path / "e"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "opt.txt"}
    built = []
    monkeypatch.setattr(Trainer, "_initial_counters", lambda self: built.append(1))
    with pytest.raises(CheckpointError) as caught:
        _run(toy_root, tmp_path, "e", "--niter", "3", "--niter_decay", "0", "--continue_train",
             "--which_epoch", "7")
    message = str(caught.value)
    assert str(run / "7_net_*.pth") in message and "the saved epochs are: latest, 1, 2" in message
    assert "--which_epoch" in message and not built  # stopped before the model was built
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file() and p.name != "opt.txt"} == before


def test_last_epoch_is_saved_whatever_the_epoch_frequency(toy_root, tmp_path):
    _run(toy_root, tmp_path, "last", "--niter", "1", "--niter_decay", "0", "--save_epoch_freq", "100")
    run = tmp_path / "last"
    for name in ["latest_net_G0.pth", "latest_train_state.pth", "1_net_G0.pth"]:  # numbered epochs: networks only
        assert (run / name).is_file(), name
    assert (run / "iter.txt").read_text().split() == ["2", "0"]


class _FillingStream:
    """A file that takes ``room`` bytes, then fails as a full disk does."""

    def __init__(self, stream, room: int) -> None:
        self._stream, self._room = stream, room

    def write(self, data) -> int:
        self._room -= len(data)
        if self._room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self._stream.write(data)

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def __enter__(self) -> "_FillingStream":
        return self

    def __exit__(self, *exc_info) -> None:
        self._stream.close()


def test_checkpoint_folder_filling_during_a_save_gives_the_disk_full_error(toy_root, tmp_path, monkeypatch, capsys):
    from util.checkpoint import TMP_PREFIX
    from util.cli import run

    _run(toy_root, tmp_path, "full", "--niter", "1", "--niter_decay", "0")
    folder = tmp_path / "full"
    before = {p.name: p.read_bytes() for p in folder.glob("*.pth")}
    real_fdopen = os.fdopen

    def filling_fdopen(fd, *args, **kwargs):
        stream = real_fdopen(fd, *args, **kwargs)
        name = os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))
        return _FillingStream(stream, room=3000) if name.startswith(TMP_PREFIX) and name.endswith(".pth") else stream

    monkeypatch.setattr(os, "fdopen", filling_fdopen)
    code = run(train.main, ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), "--name", "full",
                            *TINY, "--niter", "2", "--niter_decay", "0", "--continue_train"])
    monkeypatch.undo()
    err = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if "error" in line]
    assert code == 2 and err == [f"error: disk full while saving in {folder}; the previous checkpoint is kept. "
                                 "Free some space or pass another --checkpoints_dir"]
    assert {p.name: p.read_bytes() for p in folder.glob("*.pth")} == before
    assert not [p.name for p in folder.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_disk_full_from_the_start_names_the_folder_and_leaves_nothing(toy_root, tmp_path, monkeypatch, capsys):
    from options import TrainOptions
    from util.cli import run

    def full_disk(self, opt):
        raise OSError(errno.ENOSPC, "No space left on device")  # an unnamed write, as a buffered flush raises

    monkeypatch.setattr(TrainOptions, "save_options", full_disk)
    code = run(train.main, ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path), "--name", "nospace",
                            *TINY, "--niter", "1", "--niter_decay", "0"])
    err = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if "error" in line]
    assert code == 2 and len(err) == 1 and err[0].startswith(f"error: disk full in {tmp_path / 'nospace'} ")
    assert not (tmp_path / "nospace").exists()  # no loss_log.txt, no web/
