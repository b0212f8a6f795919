"""Restricted unpickling: released pickles (face features, whole-module checkpoints) load; code-running ones never run."""

from __future__ import annotations

import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import models.networks
from util.safe_pickle import UnsafePickleError, load_numpy_pickle, load_pickled_module


class _Planted:
    """Unpickling this would create the marker file (a stand-in for any payload)."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def plant_pickle(path: Path, marker: Path) -> None:
    """Write a torch.save file (zip format) whose unpickling would run a command."""
    torch.save({"weights": torch.ones(2), "payload": _Planted(marker)}, str(path))


def test_numpy_pickle_of_a_feature_dict_round_trips(tmp_path):
    features = {7: np.arange(12, dtype=np.float32).reshape(3, 4), 3: np.ones((2, 4), np.float64)}
    np.save(tmp_path / "features.npy", np.array(features, dtype=object))
    loaded = load_numpy_pickle(str(tmp_path / "features.npy"))
    assert set(loaded) == {7, 3}
    np.testing.assert_array_equal(loaded[7], features[7])
    assert loaded[3].dtype == np.float64


def test_plain_npy_is_read_without_pickle(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(5))
    np.testing.assert_array_equal(load_numpy_pickle(str(tmp_path / "a.npy")), np.arange(5))


def test_numpy_pickle_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    np.save(tmp_path / "features.npy", np.array({1: _Planted(marker)}, dtype=object))
    with pytest.raises(UnsafePickleError, match=r"posix\.system|os\.system"):
        load_numpy_pickle(str(tmp_path / "features.npy"))
    assert not marker.exists()


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.norm = nn.BatchNorm2d(4)


class SRMobileCompositeGenerator(nn.Module):
    """Named as the published class; pickled as models.networks.SRMobileCompositeGenerator."""

    def __init__(self) -> None:
        super().__init__()
        self.model_down_seg = nn.Sequential(nn.ReflectionPad2d(3), _Block(), nn.ReLU6())
        self.register_buffer("scratch", torch.zeros(1), persistent=False)


def test_pickled_whole_module_gives_its_state_dict(tmp_path, monkeypatch):
    monkeypatch.setattr(SRMobileCompositeGenerator, "__module__", "models.networks")
    monkeypatch.setattr(_Block, "__module__", "models.networks")
    monkeypatch.setattr(models.networks, "SRMobileCompositeGenerator", SRMobileCompositeGenerator, raising=False)
    monkeypatch.setattr(models.networks, "_Block", _Block, raising=False)
    net = SRMobileCompositeGenerator()
    torch.save(net, str(tmp_path / "latest_net_G0.pth"))
    loaded = load_pickled_module(str(tmp_path / "latest_net_G0.pth"))
    assert loaded.class_name == "models.networks.SRMobileCompositeGenerator"
    assert loaded.children["model_down_seg.1"] == "models.networks._Block"
    expected = net.state_dict()
    assert set(loaded.state_dict) == set(expected)  # the non-persistent buffer is left out
    for key, value in expected.items():
        torch.testing.assert_close(loaded.state_dict[key], value, rtol=0, atol=0)


def test_pickled_checkpoint_that_runs_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    plant_pickle(tmp_path / "evil.pth", marker)
    with pytest.raises(UnsafePickleError, match="refused to load"):
        load_pickled_module(str(tmp_path / "evil.pth"))
    assert not marker.exists()


def test_non_zip_file_is_a_clear_error(tmp_path):
    from util.checkpoint import CheckpointError

    (tmp_path / "old.pth").write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(CheckpointError, match="zip format"):
        load_pickled_module(str(tmp_path / "old.pth"))
    assert zipfile.is_zipfile(tmp_path / "old.pth") is False
