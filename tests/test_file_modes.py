"""Files the project writes atomically (checkpoints, iter.txt, pages, metrics, SVGs) follow the umask like any
other file, instead of the temporary-file default 0600 (a web server serving the results would answer 403)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from options import options_at_defaults
from util.checkpoint import CheckpointSet, atomic_save, atomic_write_text, current_umask
from util.visualizer import ResultsPage, Visualizer, save_test_images


@pytest.fixture(params=[0o022, 0o077, 0o002])
def umask(request):
    previous = os.umask(request.param)
    yield request.param
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_files_follow_the_umask(tmp_path, umask) -> None:
    expected = 0o666 & ~umask
    assert current_umask() == umask
    atomic_save({"w": torch.zeros(2)}, str(tmp_path / "latest_net_G0.pth"))
    atomic_write_text("{}", str(tmp_path / "metrics.json"))
    unit = CheckpointSet(str(tmp_path / "ckpt"))
    unit.add_tensors("latest_train_state.pth", {"step": 1})
    unit.add_text("iter.txt", "2\n0\n")
    unit.commit()
    for path in (tmp_path / "latest_net_G0.pth", tmp_path / "metrics.json", tmp_path / "ckpt" / "iter.txt",
                 tmp_path / "ckpt" / "latest_train_state.pth"):
        assert _mode(path) == expected, (path, oct(_mode(path)))


def test_pages_follow_the_umask(tmp_path, umask) -> None:
    expected = 0o666 & ~umask
    page = ResultsPage(tmp_path / "results", "r")
    written = save_test_images(str(tmp_path / "results"), {"real_A": np.zeros((8, 16, 3), np.uint8),
                                                             "fake_B": np.zeros((8, 16, 3), np.uint8)},
                               sequence="seq", stem="f0")
    page.add_frame("seq", written["real_A"], written["fake_B"])
    opt = options_at_defaults(True, checkpoints_dir=str(tmp_path / "ckpt"), name="run", display_winsize=16)
    vis = Visualizer(opt)
    vis.display_current_results({"a": np.zeros((8, 16, 3), np.uint8)}, epoch=1, step=1)
    vis.close()
    for path in (page.save(), tmp_path / "ckpt" / "run" / "web" / "index.html"):
        assert _mode(path) == expected, (path, oct(_mode(path)))
