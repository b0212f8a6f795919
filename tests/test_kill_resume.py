"""SIGKILL training again and again, at random moments and inside every file of a checkpoint's save, resume
each time: the final weights are bit-identical to an uninterrupted run and no temporary file is left."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scripts.make_toy_dataset import make_toy_dataset
from util.checkpoint import JOURNAL, TMP_PREFIX

RUNNER = Path(__file__).with_name("kill_runner.py")
FLAGS = ["--label_nc", "35", "--use_instance", "--fg", "--loadSize", "64", "--ngf", "8", "--ndf", "8",
         "--n_downsample_G", "2", "--n_blocks", "1", "--num_D", "1", "--n_frames_D", "2", "--no_vgg",
         "--flow_backend", "dis", "--n_frames_total", "4", "--max_frames_per_gpu", "2", "--gpu_ids", "-1",
         "--nThreads", "0", "--seed", "7", "--niter", "12", "--niter_decay", "12", "--save_latest_freq", "1",
         "--print_freq", "1", "--display_freq", "1000", "--name", "run"]
# Killed inside the write of each file of the unit (the epoch file when epoch 1 ends, at the 2nd step), and
# between the renames of a commit. Each plan kills at the first or second save of its process (a random plan a
# moment after a step, at most a few steps in on an idle machine), so with 24 epochs of 2 steps the run is never
# over before the last plan's moment comes (8 epochs were: on an idle machine the run could finish first).
PLANS = ["write:latest_net_G0.pth:1", "write:latest_net_D.pth:2", "write:1_net_G0.pth:1",
         "write:latest_net_D_T0.pth:1", "write:latest_net_D_T1.pth:2", "write:latest_train_state.pth:1",
         "write:iter.txt:2", "write:.checkpoint_commit.json:1", "rename:1:2", "rename:4:1"]


def _run(root: Path, ckpt: Path, plan: str, resume: bool) -> int:
    argv = [sys.executable, str(RUNNER), plan, "--dataroot", str(root), "--checkpoints_dir", str(ckpt), *FLAGS]
    if resume:
        argv.append("--continue_train")
    process = subprocess.Popen(argv, cwd=RUNNER.parent.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, err = process.communicate(timeout=600)
    if process.returncode not in (0, -signal.SIGKILL):
        raise AssertionError(f"training failed ({process.returncode}):\n{err.decode()[-3000:]}")
    return process.returncode


def _weights(run: Path) -> dict[str, torch.Tensor]:
    out = {}
    for file in sorted(run.glob("*_net_*.pth")):
        out.update({f"{file.name}:{k}": v for k, v in torch.load(file, weights_only=True).items()})
    return out


@pytest.mark.slow
def test_killed_and_resumed_training_ends_bit_identical(tmp_path):
    root = tmp_path / "data"
    make_toy_dataset(root, n_seqs=2, n_frames=6, width=64, height=32, seed=0)
    assert _run(root, tmp_path / "full", "none", resume=False) == 0
    expected = _weights(tmp_path / "full" / "run")
    rng = random.Random(0)
    plans = PLANS + [f"random:1:{rng.uniform(0.0, 0.5):.3f}" for _ in range(4)]
    rng.shuffle(plans)
    plans.insert(0, plans.pop(plans.index("write:1_net_G0.pth:1")))  # while epoch 1 is still ahead
    started, resume = time.time(), False
    for plan in plans:
        assert _run(root, tmp_path / "killed", plan, resume) == -signal.SIGKILL, f"{plan} did not kill"
        resume = True
    assert _run(root, tmp_path / "killed", "none", resume=True) == 0
    run = tmp_path / "killed" / "run"
    leftovers = [p.name for p in run.iterdir() if p.name.startswith(TMP_PREFIX) or p.name == JOURNAL]
    assert not leftovers
    resumed = _weights(run)
    assert resumed.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(resumed[key], value), key
    assert (run / "iter.txt").read_text().split() == ["25", "0"]
    assert time.time() - started < 1800
