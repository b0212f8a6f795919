"""scripts/precompute_flow.py fills the cache with the pairs training asks for, keyed as training keys them."""

from __future__ import annotations

from pathlib import Path

import pytest

import train
from models.networks.flow.opencv_flow import OpenCVFlowEstimator
from scripts import precompute_flow
from scripts.make_toy_dataset import make_toy_dataset
from util.cli import run

DATA = ["--label_nc", "35", "--use_instance", "--loadSize", "64", "--gpu_ids", "-1", "--nThreads", "0",
        "--n_frames_G", "2", "--flow_backend", "dis"]
TRAIN = ["--ngf", "8", "--ndf", "8", "--n_downsample_G", "2", "--n_blocks", "1", "--num_D", "1", "--n_frames_D",
         "2", "--no_vgg", "--n_frames_total", "3", "--max_frames_per_gpu", "2", "--niter", "2", "--niter_decay", "0",
         "--seed", "3", "--print_freq", "1", "--display_freq", "1000"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=2, n_frames=5, width=64, height=32, seed=0)
    return root


def test_training_after_precompute_never_runs_the_estimator(toy, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    calls = []
    original = OpenCVFlowEstimator.compute
    monkeypatch.setattr(OpenCVFlowEstimator, "compute", lambda self, cur, prev: calls.append(len(cur))
                        or original(self, cur, prev))
    precompute_flow.main(["--dataroot", str(toy), "--flow_cache", str(cache), "--with_flip", *DATA, *TRAIN])
    # 2 sequences x (4 pairs 1 apart + 3 pairs 2 apart, --n_frames_D 2) x (unflipped + mirrored)
    assert sum(calls) == 2 * (4 + 3) * 2 and len(list(cache.rglob("*.pt"))) == 28

    def fail(self, cur, prev):
        raise AssertionError("training computed a flow that precompute_flow.py should have cached")

    monkeypatch.setattr(OpenCVFlowEstimator, "compute", fail)
    train.main(["--dataroot", str(toy), "--name", "cached", "--checkpoints_dir", str(tmp_path / "ckpt"),
                "--flow_cache", str(cache), *DATA, *TRAIN])
    assert (tmp_path / "ckpt" / "cached" / "latest_net_G0.pth").is_file()


def test_second_run_reads_the_cache(toy, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    argv = ["--dataroot", str(toy), "--flow_cache", str(cache), "--max_sequences", "1", *DATA, *TRAIN]
    precompute_flow.main(argv)
    monkeypatch.setattr(OpenCVFlowEstimator, "compute", lambda *args: pytest.fail("recomputed a cached pair"))
    precompute_flow.main(argv)


@pytest.mark.parametrize("flags,message", [
    (["--resize_or_crop", "scaleWidth_and_crop", "--fineSize", "64"], "cannot be precomputed"),
    ([], "--flow_cache DIR is required"),
])
def test_refusals_are_one_error(toy, capsys, flags, message):
    argv = ["--dataroot", str(toy), *DATA, *flags] + (["--flow_cache", "x"] if flags else [])
    assert run(precompute_flow.main, argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
