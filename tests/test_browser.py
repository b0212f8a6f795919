"""The generated HTML pages display in a real (headless Chromium) browser: every <img> decodes."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from browser_check import assert_page_images_load, browser_available

from util.visualizer import ResultsPage, Visualizer, save_test_images

_REASON = browser_available()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=f"no headless browser: {_REASON}")


def _image(seed: int, shape=(32, 64, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _results_page(folder) -> str:
    page = ResultsPage(folder, "test results")
    for sequence in ("seq a", "seq_b"):  # a space exercises URL escaping of relative paths
        for t in range(2):
            written = save_test_images(str(folder), {"real_A": _image(t), "fake_B": _image(10 + t)},
                                       sequence=sequence, stem=f"frame_{t:04d}", png_labels=("real_A",))
            page.add_frame(sequence, written["real_A"], written["fake_B"])
    return page.save()


def test_results_page_images_load(tmp_path) -> None:
    assert assert_page_images_load(_results_page(tmp_path / "test_latest")) == 8


def test_training_page_images_load(tmp_path) -> None:
    opt = SimpleNamespace(checkpoints_dir=str(tmp_path), name="run", display_winsize=64, tf_log=False,
                          no_html=False, isTrain=True)
    vis = Visualizer(opt)
    for epoch in (1, 2):
        vis.display_current_results({"input_image": _image(epoch), "weight": _image(5, (32, 64))}, epoch, epoch)
    assert assert_page_images_load(tmp_path / "run" / "web" / "index.html", min_images=4) == 4


def test_missing_image_is_reported(tmp_path) -> None:
    html_path = _results_page(tmp_path)
    (tmp_path / "seq_b" / "thumbs" / "fake_B_frame_0001.jpg").unlink()
    with pytest.raises(AssertionError, match="fake_B_frame_0001.jpg"):
        assert_page_images_load(html_path)
