"""Tiny CPU training and test runs of edge-to-face and pose-to-body on the shared samples (slow)."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from conftest import DATASETS, REPO, require

TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_blocks", "1", "--n_downsample_G", "2",
        "--nThreads", "0", "--loadSize", "64", "--fineSize", "64"]
TINY_TRAIN = ["--num_D", "1", "--n_frames_D", "2", "--no_vgg", "--flow_backend", "dis", "--niter", "1",
              "--niter_decay", "0", "--n_frames_total", "3", "--max_frames_per_gpu", "2"]
FACE = ["--dataset_mode", "face", "--input_nc", "15"]
# 1920x1080 frames scaled to height 64 (128 wide), then the central band keeps 64 columns.
POSE = ["--dataset_mode", "pose", "--resize_or_crop", "scaleHeight"]
POSE_INPUTS = {"both": ["--input_nc", "6"], "openpose_only": ["--input_nc", "3", "--openpose_only"],
               "densepose_only": ["--input_nc", "3", "--densepose_only"]}


def _load(name: str):
    """The repository's ``<name>.py`` entry point, loaded by path (``test`` is also a standard-library package)."""
    path = REPO / f"{name}.py"
    if not path.is_file():
        pytest.skip(f"{name}.py ({name}.main) is not written yet")
    spec = importlib.util.spec_from_file_location(f"vid2vid_entry_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _entry_points():
    return _load("train"), _load("test")


def _train_then_test(tmp_path, name: str, flags: list[str], root) -> dict:
    train, test = _entry_points()
    common = TINY + flags + ["--name", name, "--dataroot", str(root), "--checkpoints_dir", str(tmp_path / "ckpt")]
    train.main(common + TINY_TRAIN)
    weights = tmp_path / "ckpt" / name / "latest_net_G0.pth"
    assert weights.is_file()
    state = torch.load(weights, map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    summary = test.main(common + ["--phase", "train", "--use_real_img", "--how_many", "2",
                                  "--results_dir", str(tmp_path / "results")])
    assert summary["frames"] == 2
    return summary


@pytest.mark.slow
def test_edge_to_face_tiny_run(tmp_path):
    root = require(DATASETS / "face" / "train_keypoints", "face sample data").parent
    summary = _train_then_test(tmp_path, "face_tiny", FACE, root)
    assert any(p.name.startswith("fake_B") for p in (tmp_path / "results").rglob("*.jpg")), summary


@pytest.mark.slow
@pytest.mark.parametrize("inputs", sorted(POSE_INPUTS))
def test_pose_to_body_tiny_run(tmp_path, inputs):
    root = require(DATASETS / "pose" / "train_img", "pose sample data").parent
    summary = _train_then_test(tmp_path, f"pose_{inputs}", POSE + POSE_INPUTS[inputs], root)
    assert any(p.name.startswith("fake_B") for p in (tmp_path / "results").rglob("*.jpg")), summary
