"""The generated HTML pages display in a real (headless Chromium) browser: every <img> decodes."""

from __future__ import annotations

import numpy as np
import pytest
from browser_check import assert_page_images_load, browser_available

from options import options_at_defaults
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
    opt = options_at_defaults(True, checkpoints_dir=str(tmp_path), name="run", display_winsize=64)
    vis = Visualizer(opt)
    for epoch in (1, 2):
        vis.display_current_results({"input_image": _image(epoch), "weight": _image(5, (32, 64))}, epoch, epoch)
    assert assert_page_images_load(tmp_path / "run" / "web" / "index.html", min_images=4) == 4


def test_missing_image_is_reported(tmp_path) -> None:
    html_path = _results_page(tmp_path)
    (tmp_path / "seq_b" / "thumbs" / "thumb_fake_B_frame_0001.jpg").unlink()
    with pytest.raises(AssertionError, match="fake_B_frame_0001.jpg"):
        assert_page_images_load(html_path)


def _results_with_video(folder, frames: int = 30, kinds: bool = True) -> str:
    """A test page as test.py writes it: frames, thumbnails, an H.264 mp4 per sequence, key-frame kinds."""
    from util.video import VideoWriter

    page = ResultsPage(folder, "test results")
    with VideoWriter(folder / "seq" / "seq.mp4", fps=10) as writer:
        for t in range(frames):
            real, fake = _image(t, (64, 128, 3)), _image(100 + t, (64, 128, 3))
            written = save_test_images(str(folder), {"real_A": real, "fake_B": fake}, sequence="seq",
                                       stem=f"frame_{t:04d}")
            kind = ("key" if t % 5 == 0 else "interpolated") if kinds else ""
            page.add_frame("seq", written["real_A"], written["fake_B"], kind=kind)
            writer.write(np.concatenate([real, fake], axis=1))
    return page.save()


def test_results_page_video_plays_fits_1400px_and_thumbnails_open_frames(tmp_path) -> None:
    from browser_check import OpenPage, horizontal_overflow, play_video
    from selenium.webdriver.common.by import By

    html = _results_with_video(tmp_path / "test_latest")
    with OpenPage(html, width=1400) as driver:
        assert horizontal_overflow(driver) <= 0
        ready, time_s, error, width = play_video(driver, driver.find_element(By.TAG_NAME, "video"))
        assert error == 0 and ready >= 2 and width == 256 and time_s > 0.2, (ready, time_s, error, width)
        link = driver.find_elements(By.CSS_SELECTOR, ".grid figure a")[1]  # the synthesized frame of frame 0
        assert link.find_element(By.TAG_NAME, "img").get_attribute("src").endswith("seq/thumbs/thumb_fake_B_frame_0000.jpg")
        link.click()
        driver.switch_to.window(driver.window_handles[-1])
        assert driver.current_url.endswith("seq/fake_B_frame_0000.jpg")
        assert driver.execute_script("return document.images[0].naturalWidth") == 128  # the full frame


def test_training_page_fits_1400px(tmp_path) -> None:
    from browser_check import OpenPage, horizontal_overflow

    opt = options_at_defaults(True, checkpoints_dir=str(tmp_path), name="run", display_winsize=512)
    vis = Visualizer(opt)
    visuals = {f"visual_{i}": _image(i, (256, 512, 3)) for i in range(7)}  # 7 x 512 px: far wider than 1400
    for epoch in (1, 2):
        vis.print_current_errors(epoch, 10, {"G_GAN": 1.0, "D_real": 0.5, "F_Flow": 0.2}, 0.1)
        vis.display_current_results(visuals, epoch, epoch)
    vis.close()
    for width in (1400, 700):
        with OpenPage(tmp_path / "run" / "web" / "index.html", width=width) as driver:
            assert horizontal_overflow(driver) <= 0, width


def test_compare_page_players_start_and_pause_together(tmp_path) -> None:
    from browser_check import OpenPage, horizontal_overflow
    from selenium.webdriver.common.by import By

    from scripts.compare_runs import main

    for name in ("vid2vid", "student"):
        _results_with_video(tmp_path / name / "test_latest", frames=40)
    out = tmp_path / "compare"
    assert main([str(tmp_path / "vid2vid" / "test_latest"), str(tmp_path / "student" / "test_latest"),
                 "--out", str(out)]) == 0
    with OpenPage(out / "index.html", width=1400) as driver:
        assert horizontal_overflow(driver) <= 0
        players = driver.find_elements(By.TAG_NAME, "video")
        assert len(players) == 2
        driver.find_element(By.CSS_SELECTOR, "button.play-all").click()
        import time

        time.sleep(1.5)
        times = driver.execute_script("return Array.from(document.querySelectorAll('video')).map("
                                      "v => [v.paused, v.currentTime])")
        assert all(not paused and t > 0.3 for paused, t in times), times
        assert abs(times[0][1] - times[1][1]) < 0.3, times
        driver.execute_script("document.querySelectorAll('video')[1].pause()")  # pausing one pauses the other
        time.sleep(0.3)
        assert driver.execute_script("return Array.from(document.querySelectorAll('video')).every(v => v.paused)")
