"""scripts/compare_runs.py: several results folders on one page, matched by sequence and frame name."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np

from scripts.compare_runs import main
from util.video import VideoWriter
from util.visualizer import ResultsPage, save_test_images


def make_run(folder: Path, sequences: dict[str, int], seed: int = 0, skip: str = "") -> Path:
    """A results folder as test.py writes it: frames, thumbnails, one mp4 per sequence, index.html."""
    rng = np.random.default_rng(seed)
    page = ResultsPage(folder, "results")
    for sequence, count in sequences.items():
        with VideoWriter(folder / sequence / f"{sequence}.mp4", fps=5) as video:
            for t in range(count):
                stem = f"frame_{t:04d}"
                if stem == skip:
                    continue
                visuals = {"real_A": rng.integers(0, 256, (32, 64, 3), dtype=np.uint8),
                           "fake_B": rng.integers(0, 256, (32, 64, 3), dtype=np.uint8)}
                written = save_test_images(str(folder), visuals, sequence=sequence, stem=stem)
                page.add_frame(sequence, written["real_A"], written["fake_B"])
                video.write(np.concatenate([visuals["real_A"], visuals["fake_B"]], axis=1))
    page.save()
    return folder


def test_compare_page_players_rows_metrics_and_mismatches(tmp_path, capsys) -> None:
    a = make_run(tmp_path / "results" / "vid2vid" / "test_latest", {"seq0": 12, "seq1": 3})
    b = make_run(tmp_path / "results" / "student" / "test_latest", {"seq0": 12}, seed=1, skip="frame_0005")
    (a / "metrics.json").write_text(json.dumps({"frames": 15, "overall": {"psnr": 18.531, "ssim": 0.41,
                                                                           "warp_error": 0.0123, "fvd": "nan"}}))
    out = tmp_path / "compare"
    assert main([str(a), str(b), "--out", str(out)]) == 0
    assert f"comparison page: {out / 'index.html'}" in capsys.readouterr().out
    page = (out / "index.html").read_text()
    assert "vid2vid/test_latest vs student/test_latest" in page
    assert "mismatch: sequence seq1 is missing from student/test_latest" in page
    assert "mismatch: seq0: vid2vid/test_latest has 1 frame(s) the others lack (frame_0005)" in page
    assert "<td>18.53</td>" in page and "<td>0.4100</td>" in page and "PSNR (dB)" in page
    section = page[page.index("<h3>seq0"):page.index("<h3>seq1")]
    assert section.count("<video") == 2 and 'class="play-all"' in section
    for src in re.findall(r'<video[^>]*src="([^"]+)"', page) + re.findall(r'href="([^"]+\.jpg)"', page):
        assert (out / src).is_file(), src  # relative to the comparison page
    rows = re.findall(r'<div class="row">(.*?)</div>', section, flags=re.S)
    stems = [re.findall(r"<figcaption>(frame_\d+)</figcaption>", row) for row in rows]
    stems = [row for row in stems if row]
    assert len(stems) == 2 and stems[0] == stems[1] and len(stems[0]) == 8 and "frame_0005" not in stems[0]
    assert all("/thumbs/" in src for src in re.findall(r'<img[^>]*src="([^"]+)"', section))


def test_compare_bad_input_is_one_error_line(tmp_path, capsys) -> None:
    a = make_run(tmp_path / "a", {"seq0": 2})
    assert main([str(a), str(tmp_path / "absent"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: results folder not found") and "Traceback" not in err
    assert main([str(a), "--out", str(tmp_path / "out")]) == 2
    assert "at least two" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "out")
