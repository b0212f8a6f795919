"""A code-running pickle planted in every file the project loads is refused, and its payload never runs.

Each file is planted where the entry point looks for it: the generator checkpoints test.py loads, the
discriminators and the training state ``--continue_train`` loads, ``--load_pretrain``, the street and face
first-frame generators (and the face features), the FlowNet2 checkpoint, ``--vgg_weights`` and the flow cache.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import test as test_script
import train
from models.networks.flow.cache import FlowCache
from scripts.make_toy_dataset import make_toy_dataset
from tests.test_recipes_start import _save_face_single
from tests.test_safe_pickle import _Planted, plant_pickle
from tests.test_test_script import save_random_checkpoints
from util.checkpoint import CheckpointError

STREET = ["--label_nc", "35", "--use_instance", "--fg", "--ngf", "8", "--ndf", "8", "--n_downsample_G", "2",
          "--n_blocks", "1", "--gpu_ids", "-1", "--nThreads", "0", "--loadSize", "512", "--resize_or_crop", "none"]
TRAIN = ["--num_D", "1", "--n_frames_D", "2", "--no_vgg", "--flow_backend", "dis", "--n_frames_total", "2",
         "--max_frames_per_gpu", "1", "--niter", "1", "--niter_decay", "0", "--max_dataset_size", "1"]


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=4, width=64, height=32, seed=0, n_test_seqs=1)
    return root


def _refused(run, marker: Path) -> None:
    with pytest.raises(CheckpointError, match="cannot read|refused"):
        run()
    assert not marker.exists(), "the planted payload ran"


def _trained_run(toy: Path, ckpt: Path) -> list[str]:
    argv = ["--dataroot", str(toy), "--checkpoints_dir", str(ckpt), "--name", "run", *STREET, *TRAIN]
    train.main(argv)
    return argv


@pytest.mark.parametrize("file", ["latest_net_G0.pth", "latest_net_D.pth", "latest_net_D_T0.pth",
                                  "latest_train_state.pth"])
def test_continue_train_refuses_planted_files(toy, tmp_path, file):
    argv = _trained_run(toy, tmp_path / "ckpt")
    marker = tmp_path / "ran"
    plant_pickle(tmp_path / "ckpt" / "run" / file, marker)
    _refused(lambda: train.main(argv + ["--continue_train", "--niter", "2"]), marker)


def test_load_pretrain_refuses_a_planted_generator(toy, tmp_path):
    argv = _trained_run(toy, tmp_path / "ckpt")
    marker = tmp_path / "ran"
    plant_pickle(tmp_path / "ckpt" / "run" / "latest_net_G0.pth", marker)
    fresh = [a if a != "run" else "fresh" for a in argv]
    _refused(lambda: train.main(fresh + ["--load_pretrain", str(tmp_path / "ckpt" / "run")]), marker)


@pytest.mark.parametrize("planted", ["generator", "single"])
def test_test_py_refuses_planted_generators(toy, tmp_path, planted):
    ckpt = tmp_path / "ckpt"
    save_random_checkpoints(ckpt, "tiny", STREET)
    marker = tmp_path / "ran"
    target = ckpt / "tiny" / "latest_net_G0.pth" if planted == "generator" else \
        ckpt / "label2city_single" / "latest_net_G_512.pth"
    plant_pickle(target, marker)
    argv = ["--dataroot", str(toy), "--name", "tiny", "--checkpoints_dir", str(ckpt), "--results_dir",
            str(tmp_path / "results"), *STREET, "--use_single_G"]
    _refused(lambda: test_script.main(argv), marker)


@pytest.mark.parametrize("file", ["latest_net_G.pth", "latest_net_E.pth", "features.npy"])
def test_face_first_frame_refuses_planted_files(tmp_path, file):
    import numpy as np

    from models.networks import define_single_E, define_single_G
    from models.single.face_first_frame import load_face_first_frame
    from tests.conftest import make_opt

    opt = make_opt(["--dataset_mode", "face", "--input_nc", "15", "--gpu_ids", "-1"], train=False)
    folder = tmp_path / "edge2face_single"
    _save_face_single(opt, folder)
    marker = tmp_path / "ran"
    if file == "features.npy":
        np.save(folder / file, np.array({1: _Planted(marker)}, dtype=object))
    else:
        plant_pickle(folder / file, marker)
    _refused(lambda: load_face_first_frame(str(folder), define_single_G(opt), define_single_E(opt),
                                           torch.device("cpu")), marker)


def test_flownet2_and_vgg_weights_refuse_planted_files(tmp_path):
    from models.losses import VGGLoss
    from models.networks.flow.estimator import create_flow_estimator

    marker = tmp_path / "ran"
    plant_pickle(tmp_path / "FlowNet2_checkpoint.pth.tar", marker)
    _refused(lambda: create_flow_estimator("flownet2", str(tmp_path / "FlowNet2_checkpoint.pth.tar"),
                                           torch.device("cpu"), None), marker)
    plant_pickle(tmp_path / "vgg19.pth", marker)
    _refused(lambda: VGGLoss(weights_path=str(tmp_path / "vgg19.pth")), marker)


def test_flow_cache_ignores_a_planted_entry(tmp_path):
    cache = FlowCache(str(tmp_path / "cache"), identity="dis")
    marker = tmp_path / "ran"
    key = "pair-key"
    path = cache.path(key, (32, 64))
    path.parent.mkdir(parents=True, exist_ok=True)
    plant_pickle(path, marker)
    assert cache.load(key, (32, 64), torch.device("cpu")) is None  # a bad entry is recomputed, never run
    assert not marker.exists()
