"""bench/quality.py end to end with a budget of a few CPU seconds, 64x32 frames and 5 frames per sequence."""

from __future__ import annotations

import json
import math

import pytest
from conftest import DATASETS, require

from bench import quality

TINY = ["--budget_minutes", "0.05", "--loadSize", "64", "--max_frames", "5", "--ngf", "8", "--ndf", "8",
        "--n_blocks", "1"]


@pytest.mark.slow
def test_quality_bench_trains_both_within_budget_and_scores_them(tmp_path, capsys):
    root = require(DATASETS / "Cityscapes", "Cityscapes sample data")
    out = tmp_path / "quality"
    quality.main(TINY + ["--dataroot", str(root), "--out", str(out)])
    printed = capsys.readouterr().out
    assert "| PSNR (dB), higher is better |" in printed and "| vid2vid | per-frame (single) |" in printed

    document = json.loads((out / "quality.json").read_text())
    for model in quality.MODELS:
        trained = document["trained"][model]
        assert trained["steps"] >= 1 and trained["frames"] >= trained["steps"]
        assert trained["train_cpu_s"] >= 3.0  # stopped at the first step past the budget, not before
        assert (out / "checkpoints" / model / "latest_train_state.pth").is_file()
        scores = document["overall"][model]
        assert math.isfinite(scores["psnr"]) and 0 < scores["ssim"] < 1 and scores["warp_error"] > 0
    assert document["overall"]["vid2vid"]["warp_error_real"] == document["overall"]["single"]["warp_error_real"]
    # vid2vid's first 2 frames are the real ones; both are scored on the 3 frames after them
    assert document["frames_scored"] == 3
    assert len(list((out / "results" / "single" / "test_latest" / "seq0004").glob("fake_B_*"))) == 5
    assert sorted(p.name for p in (out / "scored" / "single" / "seq0004").iterdir()) == sorted(
        p.name for p in (out / "scored" / "vid2vid" / "seq0004").iterdir())


def test_vid2vid_flags_reach_only_the_vid2vid_training():
    args = quality.parse_args(["--vid2vid_flags", "--autocast bf16"])
    vid2vid, single = quality.train_flags("vid2vid", args), quality.train_flags("single", args)
    assert vid2vid[-2:] == ["--autocast", "bf16"]
    assert "--autocast" not in single
