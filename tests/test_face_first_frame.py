"""The face first frame of --use_single_G: nearest training features painted into the part regions."""

from __future__ import annotations

import argparse

import numpy as np
import torch

from models.networks import define_single_E, define_single_G
from models.single.face_first_frame import load_face_first_frame, nearest_training_image
from util.checkpoint import atomic_save, cpu_state_dict


def test_nearest_training_image_sums_over_parts():
    features = {1: np.array([[0.0, 0.0, 9], [1.0, 1.0, 9]]), 2: np.array([[5.0, 5.0, 9], [0.0, 0.0, 9]])}
    assert nearest_training_image({1: np.array([0.0, 0.0]), 2: np.array([0.0, 0.0])}, features) == 1
    assert nearest_training_image({1: np.array([0.0, 0.0]), 2: np.array([5.0, 5.0])}, features) == 0


def test_released_layout_loads_and_generates(tmp_path):
    opt = argparse.Namespace(dataset_mode="face", n_blocks=1, loadSize=64)
    torch.manual_seed(0)
    atomic_save(cpu_state_dict(define_single_G(opt)), str(tmp_path / "latest_net_G.pth"))
    atomic_save(cpu_state_dict(define_single_E(opt)), str(tmp_path / "latest_net_E.pth"))
    rng = np.random.default_rng(0)
    np.save(tmp_path / "features.npy", {k: rng.normal(size=(3, 17)) for k in range(7)}, allow_pickle=True)
    model = load_face_first_frame(str(tmp_path), define_single_G(opt), define_single_E(opt), torch.device("cpu"))
    parts = torch.zeros(1, 1, 64, 64)
    parts[..., 16:48, 16:48] = 1
    parts[..., 30:40, 20:44] = 5
    frame = model(torch.rand(1, 15, 64, 64), torch.rand(1, 3, 64, 64) * 2 - 1, parts)
    assert frame.shape == (1, 3, 64, 64) and frame.abs().max() <= 1
