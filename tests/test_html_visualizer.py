"""util/html.py and util/visualizer.py: pages, training visuals, loss log, TensorBoard, test results."""

from __future__ import annotations

import argparse
import os
import re

import numpy as np
import pytest
import torch

from options import options_at_defaults
from util.html import HTML
from util.results_page import THUMB_WIDTH
from util.visualizer import ResultsPage, Visualizer, format_errors, frame_names, results_folder, save_test_images


def _opt(tmp_path, **overrides) -> argparse.Namespace:
    """Training options at their defaults, written to ``tmp_path/ckpt/run``, 64-px images."""
    return options_at_defaults(True, checkpoints_dir=str(tmp_path / "ckpt"), name="run", display_winsize=64,
                               **overrides)


def _visuals(n: int = 3, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {f"v{i}": rng.integers(0, 256, (8, 16, 3), dtype=np.uint8) for i in range(n)}


def test_html_page_refresh_links_and_atomic_save(tmp_path) -> None:
    page = HTML(tmp_path, "My page", refresh=7)
    page.add_header("section")
    page.add_images(["images/a b.png"], ["caption A"], ["images/big.png"], width=33)
    path = page.save()
    text = open(path).read()
    assert path == os.path.join(str(tmp_path), "index.html")
    assert '<meta content="7" http-equiv="refresh">' in text
    assert 'src="images/a%20b.png"' in str(text) and 'href="images/big.png"' in text
    assert "width:33px" in text and "caption A" in text and "<h3>section</h3>" in text
    assert [n for n in os.listdir(tmp_path) if n != "index.html"] == []  # no temporary file left behind
    assert "refresh" not in HTML(tmp_path, "t").render()
    with pytest.raises(ValueError, match="captions"):
        page.add_images(["a.png", "b.png"], ["only one"])


def test_visualizer_writes_epoch_images_and_newest_first_index(tmp_path) -> None:
    vis = Visualizer(_opt(tmp_path))
    vis.display_current_results(_visuals(), epoch=1, step=10)
    vis.display_current_results(_visuals(seed=1), epoch=2, step=20)
    vis.display_current_results(_visuals(seed=2), epoch=2, step=30)  # overwrites epoch 2's images
    img_dir = tmp_path / "ckpt" / "run" / "web" / "images"
    assert sorted(os.listdir(img_dir)) == [f"epoch{e:03d}_v{i}.jpg" for e in (1, 2) for i in range(3)]
    text = (tmp_path / "ckpt" / "run" / "web" / "index.html").read_text()
    assert "Experiment name = run" in text
    assert text.index("epoch [2]") < text.index("epoch [1]")
    assert text.count('<div class="row">') == 2 and "width:64px" in text


def test_visualizer_puts_many_visuals_in_one_wrapping_row(tmp_path) -> None:
    vis = Visualizer(_opt(tmp_path))
    vis.display_current_results(_visuals(7), epoch=1, step=1)
    text = (tmp_path / "ckpt" / "run" / "web" / "index.html").read_text()
    assert text.count('<div class="row">') == 1 and text.count("<img") == 7 and "flex-wrap: wrap" in text


def test_training_page_loss_plots_summary_and_no_refresh_after_training(tmp_path) -> None:
    """While training the page reloads itself; after the last epoch (close) it does not. One SVG loss plot per
    group, over the epochs; the summary names the model and the changed flags."""
    from options import TrainOptions

    opt = TrainOptions().parse(["--name", "run", "--ngf", "8", "--niter", "1", "--niter_decay", "1", "--gpu_ids",
                                "-1", "--checkpoints_dir", str(tmp_path / "ckpt")], save=False)
    vis = Visualizer(opt)
    for epoch in (1, 2):
        for i in (10, 20):
            vis.print_current_errors(epoch, i, {"G_GAN": 1.0 / epoch, "G_VGG": 2.0, "D_real": 0.5, "D_fake": 0.4,
                                                "D_T_real0": 0.3, "F_Flow": 0.1 * i}, 0.1)
        vis.display_current_results(_visuals(), epoch=epoch, step=epoch * 20)
        page = (tmp_path / "ckpt" / "run" / "web" / "index.html").read_text()
        assert 'http-equiv="refresh"' in page and "running" in page
    vis.close()
    page = (tmp_path / "ckpt" / "run" / "web" / "index.html").read_text()
    assert "refresh" not in page and "ended; last images from epoch 2 of 2" in page
    assert page.index("epoch [2]") < page.index("epoch [1]")
    titles = re.findall(r">(\w[\w ]*) losses</text>", page)
    assert titles == ["generator", "discriminator", "temporal GAN", "flow and other"]
    assert page.count("<svg") == 4 and ">G_VGG</text>" in page and ">epoch</text>" in page
    assert "--ngf 8" in page and "--niter 1" in page


def test_loss_log_format(tmp_path) -> None:
    vis = Visualizer(_opt(tmp_path))
    errors = {"G_VGG": torch.tensor(0.0), "G_GAN": torch.tensor(1.23456), "D_real": 0.5}
    line = vis.print_current_errors(3, 40, errors, 0.25)
    assert line == "(epoch: 3, iters: 40, time: 0.250) D_real: 0.500 G_GAN: 1.235"
    log = (tmp_path / "ckpt" / "run" / "loss_log.txt").read_text().splitlines()
    assert re.match(r"=+ Training Loss \(.+\) =+", log[0])
    assert log[-1] == line
    assert format_errors(1, 2, {"b": 2.0, "a": 1.0}, 1.0).endswith("a: 1.000 b: 2.000")


def test_disabled_and_no_html_write_nothing(tmp_path) -> None:
    quiet = Visualizer(_opt(tmp_path), enabled=False)
    quiet.display_current_results(_visuals(), epoch=1, step=1)
    quiet.print_current_errors(1, 1, {"G_GAN": 1.0}, 0.1)
    assert not (tmp_path / "ckpt").exists()
    vis = Visualizer(_opt(tmp_path, no_html=True))
    vis.display_current_results(_visuals(), epoch=1, step=1)
    assert not (tmp_path / "ckpt" / "run" / "web").exists()
    assert (tmp_path / "ckpt" / "run" / "loss_log.txt").exists()


def test_tensorboard_scalars_and_images(tmp_path) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    vis = Visualizer(_opt(tmp_path, tf_log=True, no_html=True))
    vis.plot_current_errors({"G_GAN": torch.tensor(0.5), "D_fake": 0.25}, step=7)
    vis.display_current_results({"fake_image": _visuals(1)["v0"], "weight": np.zeros((8, 16), np.uint8)},
                                epoch=1, step=7)
    vis.close()
    events = EventAccumulator(str(tmp_path / "ckpt" / "run" / "logs"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["D_fake", "G_GAN"]
    assert events.Scalars("G_GAN")[0].step == 7 and events.Scalars("G_GAN")[0].value == pytest.approx(0.5)
    assert sorted(events.Tags()["images"]) == ["fake_image", "weight"]


def test_save_test_images_layout(tmp_path) -> None:
    save_dir = results_folder(str(tmp_path / "results"), "label2city", "test", "latest")
    assert save_dir.endswith(os.path.join("results", "label2city", "test_latest"))
    visuals = {"real_A": _visuals(1)["v0"], "fake_B": _visuals(1, seed=3)["v0"]}
    sequence, stem = frame_names("/data/test_A/seq_01/frame_0005.png")
    written = save_test_images(save_dir, visuals, sequence=sequence, stem=stem, png_labels=("real_A",))
    assert written == {"real_A": os.path.join("seq_01", "real_A_frame_0005.png"),
                       "fake_B": os.path.join("seq_01", "fake_B_frame_0005.jpg")}
    for relative in written.values():
        assert os.path.isfile(os.path.join(save_dir, relative))


def test_results_page_sections_and_video_link(tmp_path) -> None:
    page = ResultsPage(tmp_path, "results")
    for name in ("seqA", "seqB"):
        for t in range(2):
            page.add_frame(name, f"{name}/real_A_{t}.png", f"{name}/fake_B_{t}.jpg")
    (tmp_path / "seqA.mp4").write_bytes(b"\x00")
    text = open(page.save()).read()
    assert text.index("seqA (2 frames)") < text.index("seqB (2 frames)")
    assert 'href="seqA.mp4"' in text and "seqB.mp4" not in text
    assert text.count("<img") == 8 and 'src="seqB/fake_B_1.jpg"' in text


def test_results_page_player_thumbnails_strip_and_summary(tmp_path) -> None:
    """Per sequence a player, then small lazy thumbnails opening the full frames; a strip marks key frames; the
    summary names the model, the changed flags, the frames and the key / interpolated counts."""
    from options import TestOptions

    opt = TestOptions().parse(["--name", "tiny", "--ngf", "8", "--gpu_ids", "-1", "--keyframes", "published",
                               "--checkpoints_dir", str(tmp_path / "ckpt")], save=False)
    (tmp_path / "ckpt" / "tiny").mkdir(parents=True)
    (tmp_path / "ckpt" / "tiny" / "iter.txt").write_text("61\n0\n")
    page = ResultsPage(tmp_path / "res", "results", opt=opt)
    rng = np.random.default_rng(0)
    kinds = ["key", "interpolated", "interpolated", "key"]
    for t, kind in enumerate(kinds):
        visuals = {"real_A": rng.integers(0, 256, (256, 512, 3), dtype=np.uint8),
                   "fake_B": rng.integers(0, 256, (256, 512, 3), dtype=np.uint8)}
        written = save_test_images(str(tmp_path / "res"), visuals, sequence="seq", stem=f"frame_{t:04d}")
        page.add_frame("seq", written["real_A"], written["fake_B"], kind=kind)
    (tmp_path / "res" / "seq" / "seq.mp4").write_bytes(b"\x00")
    text = open(page.save(seconds=2.0)).read()
    assert text.index("<video") < text.index('class="strip"') < text.index('class="grid"')
    assert 'src="seq/seq.mp4"' in text and "preload=\"metadata\"" in text
    thumbs = re.findall(r'<img[^>]*src="([^"]+)"', text)
    assert len(thumbs) == 8 and all(t.startswith("seq/thumbs/") for t in thumbs)
    assert text.count('loading="lazy"') == 8
    from PIL import Image

    for thumb in thumbs:  # small files, not the full frames scaled by the browser
        full = tmp_path / "res" / "seq" / os.path.basename(thumb)[len("thumb_"):]
        assert (tmp_path / "res" / thumb).stat().st_size * 4 < full.stat().st_size
        assert Image.open(tmp_path / "res" / thumb).size == (THUMB_WIDTH, THUMB_WIDTH // 2)
    assert not list((tmp_path / "res").rglob("fake_B_*.jpg"))[4:]  # thumbnails escape globs for the frames
    assert 'href="seq/fake_B_frame_0003.jpg"' in text and 'href="seq/real_A_frame_0003.jpg"' in text
    assert re.findall(r'title="frame_\d+: (\w+)"', text) == kinds
    assert "<td>2 generated, 2 interpolated</td>" in text and "<td>4 in 1 sequence(s)</td>" in text
    assert "2.0 s (2.00 frames/s" in text and "latest (after epoch 60)" in text
    assert "--ngf 8" in text and "--keyframes published" in text and "--gpu_ids" not in text
    assert "--dataroot" not in text and "--dataset_mode" not in text  # at their defaults (dataset mode derived)
    assert "--name" not in text  # shown as the run
