"""Checkpoints written before issue 21's follow-ups (commit cff9b6a, ``tests/fixtures/pre_arch``) still load.

Each run (vid2vid, single, template) trained one epoch with the old code; resuming it for a second epoch with
today's code must log the losses the old code logged for that epoch (networks, optimizer states, schedule and
RNG state all read back), and test.py must generate from its generator.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

import test as test_script
import train
from scripts.make_toy_dataset import make_toy_dataset

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "pre_arch"
sys.path.insert(0, str(FIXTURES))
from make import COMMON, RUNS, logged_losses  # noqa: E402

TEST_FLAGS = {"vid2vid": ["--use_real_img"], "single": [], "template": []}


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    return Path(make_toy_dataset(tmp_path_factory.mktemp("toy"), n_seqs=2, n_frames=4, width=64, height=32,
                                 seed=0))


def _old_run(tmp_path: Path, name: str) -> Path:
    """A writable copy of the old run folder ``name`` under ``tmp_path``."""
    shutil.copytree(FIXTURES / name, tmp_path / name)
    return tmp_path / name


@pytest.mark.parametrize("name", sorted(RUNS))
def test_old_run_resumes_with_the_old_losses(toy, tmp_path, name):
    _old_run(tmp_path, name)
    train.main(["--dataroot", str(toy), "--checkpoints_dir", str(tmp_path), "--name", name, *COMMON, *RUNS[name],
                "--niter", "2", "--continue_train"])
    resumed = logged_losses(tmp_path / name / "loss_log.txt", 2)
    expected = json.loads((FIXTURES / name / "resumed_losses.json").read_text())
    assert len(resumed) == len(expected) == 2
    for got, want in zip(resumed, expected):
        assert set(want) <= set(got)
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=5e-3, abs=2e-3), key


@pytest.mark.parametrize("name", sorted(RUNS))
def test_old_run_generates_at_test_time(toy, tmp_path, name):
    _old_run(tmp_path, name)
    train_only = {"--niter_decay", "--max_dataset_size", "--print_freq", "--num_D", "--n_frames_D", "--no_vgg",
                  "--ndf", "--n_layers_D", "--n_scales_temporal", "--flow_backend", "--max_frames_per_gpu",
                  "--n_frames_total"}
    flags = [*COMMON, *RUNS[name]]
    kept = [f for i, f in enumerate(flags)
            if f not in train_only and not (i and flags[i - 1] in train_only and not f.startswith("--"))]
    summary = test_script.main(["--dataroot", str(toy), "--checkpoints_dir", str(tmp_path), "--name", name,
                                "--results_dir", str(tmp_path / "results"), *kept, *TEST_FLAGS[name]])
    assert summary["frames"] > 0
