"""The README's first command: scripts/demo.py end to end, in a tiny setting."""

from __future__ import annotations

import re

import cv2

from scripts import demo


def test_demo_trains_generates_and_reports_page_and_video(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    demo.main(["--dataroot", "toy", "--name", "tiny_demo", "--epochs", "4", "--n_seqs", "1", "--n_frames", "6"])
    out = capsys.readouterr().out
    page = tmp_path / "results" / "tiny_demo" / "test_latest" / "index.html"
    video = tmp_path / "results" / "tiny_demo" / "test_latest" / "test0000" / "test0000.mp4"
    assert f"results page: {page}" in out and f"video of test0000: {video}" in out
    assert (tmp_path / "checkpoints" / "tiny_demo" / "latest_net_G0.pth").is_file()
    capture = cv2.VideoCapture(str(video))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    assert frames == 6 - 2  # the first n_frames_G - 1 frames are the real ones (--use_real_img)
    html = page.read_text()
    assert len(set(re.findall(r"fake_B_frame_\d+\.jpg", html))) == frames

    # the checkpoint folder keeps latest and a few numbered epochs (every 4 / 3 -> 2 epochs), only latest with a
    # train state: its size is one full checkpoint plus the networks of two epochs (was one full one per epoch)
    run = tmp_path / "checkpoints" / "tiny_demo"
    assert sorted(p.name for p in run.glob("*_train_state.pth")) == ["latest_train_state.pth"]
    assert sorted(p.name.split("_")[0] for p in run.glob("*_net_G0.pth")) == ["2", "4", "latest"]
    nets = sum(p.stat().st_size for p in run.glob("latest_net_*.pth"))
    state = (run / "latest_train_state.pth").stat().st_size
    folder = sum(p.stat().st_size for p in run.iterdir() if p.is_file())
    assert folder < state + 3 * nets + 200_000  # + logs, options, iter.txt
    assert demo.save_epoch_freq(60) == 20
