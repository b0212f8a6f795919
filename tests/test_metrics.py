"""util/metrics.py, the SVG plot, the JSON report and data/evaluation_pairs.py on synthetic inputs."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.evaluation_pairs import find_pairs, generated_sequences, real_root
from models.networks.warp import warp
from util import metrics
from util.evaluation import Evaluation, FrameScores, SequenceScores
from util.metrics_report import evaluation_json, format_table
from util.svg_plot import Series, line_plot


def test_psnr_and_ssim_on_known_images():
    image = torch.rand(2, 3, 32, 32)
    assert torch.isinf(metrics.psnr(image, image)).all()
    torch.testing.assert_close(metrics.ssim(image, image), torch.ones(2))
    shifted = (image + 0.1).clamp(0, 1)
    mse = (shifted - image).pow(2).mean(dim=(1, 2, 3))
    torch.testing.assert_close(metrics.psnr(shifted, image), -10 * torch.log10(mse))
    assert (metrics.ssim(shifted, image) < 1).all()


def test_visibility_mask_and_warping_error_with_a_known_shift():
    frame = torch.rand(1, 3, 24, 32)
    prev = torch.roll(frame, shifts=2, dims=3)  # prev(p + (2, 0)) = frame(p)
    back = torch.zeros(1, 2, 24, 32)
    back[:, 0] = 2.0
    mask = metrics.visibility_mask(back, -back, warp)
    assert mask[..., :30].eq(1).all() and mask[..., 30:].eq(0).all()  # the last 2 columns land outside
    error = metrics.warping_error(frame, prev, back, mask, warp)
    torch.testing.assert_close(error, torch.zeros(1), atol=1e-6, rtol=0)
    inconsistent = metrics.visibility_mask(back, back, warp)  # forward flow pointing the same way
    assert inconsistent.sum() == 0
    assert math.isnan(float(metrics.warping_error(frame, prev, back, inconsistent, warp)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # pytorch-fid passes scipy's deprecated `disp`
def test_frechet_distance_matches_pytorch_fid_and_is_exact_with_few_samples():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(50, 6)), rng.normal(0.5, 2.0, size=(40, 6))
    expected = fid_score.calculate_frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0),
                                                    np.cov(b, rowvar=False))
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    few_a, few_b = a[:4], b[:5]  # fewer samples than dimensions: the nuclear-norm route
    sigma_a, sigma_b = np.cov(few_a, rowvar=False), np.cov(few_b, rowvar=False)
    direct = (np.sum((few_a.mean(0) - few_b.mean(0)) ** 2) + np.trace(sigma_a) + np.trace(sigma_b)
              - 2 * metrics._sqrtm_trace(sigma_a, sigma_b))
    assert metrics.frechet_distance(few_a, few_b) == pytest.approx(direct, rel=1e-5)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match="at least 2 samples"):
        metrics.frechet_distance(a[:1], b)


def test_line_plot_is_valid_svg_with_gaps():
    svg = line_plot([Series("a", [1.0, None, 2.0, 3.0]), Series("b", [float("inf"), 0.5], dashed=True)],
                    title="t", y_label="y")
    root = ET.fromstring(svg)
    tags = [element.tag.split("}")[1] for element in root.iter()]
    assert tags.count("polyline") == 1 and tags.count("circle") == 2  # a: one dot + one line; b: one dot
    assert "no finite values" in line_plot([Series("a", [math.inf])], title="t", y_label="y")


def test_line_plot_round_ticks_frame_numbers_and_legend_samples():
    """Ticks are round numbers, the x axis shows the frame numbers given, the legend shows each line's dash."""
    from util.svg_plot import nice_ticks, tick_label

    svg = line_plot([Series("seq generated", [18.53, 19.1, 20.7], x=[14, 15, 16]),
                     Series("seq real", [18.9, 19.3, 19.9], dashed=True, x=[14, 15, 16])],
                    title="t", y_label="PSNR", x_label="frame number", x_min_step=1)
    root = ET.fromstring(svg)
    texts = [element.text for element in root.iter() if element.tag.endswith("text")]
    assert {"18", "19", "20", "21"} <= set(texts) and {"14", "15", "16"} <= set(texts)
    assert not [t for t in texts if t and re.fullmatch(r"\d+\.\d{3,}", t)]  # no 18.53-style ticks
    samples = [e for e in root.iter() if e.get("class") == "legend-sample"]
    assert len(samples) == 2 and samples[0].get("stroke-dasharray") is None and samples[1].get("stroke-dasharray")
    assert "seq generated" in texts and "seq real" in texts and "frame number" in texts
    assert [tick_label(v, 0.001) for v in nice_ticks(0.005342, 0.0089, 5)] == ["0.005", "0.006", "0.007", "0.008",
                                                                              "0.009"]


def _evaluation() -> Evaluation:
    frames = [FrameScores("f0", "x/f0.jpg", "y/f0.png", math.inf, 1.0),
              FrameScores("f1", "x/f1.jpg", "y/f1.png", 30.0, 0.9, warp_error=0.01, warp_error_real=0.02)]
    return Evaluation([SequenceScores("s", "y", frames, (64, 32), (128, 64))], {"fid": 1.5}, ["a note"],
                      {"fid": "FID"})


def test_report_table_and_json_hold_infinite_psnr():
    evaluation = _evaluation()
    text = format_table(evaluation)
    assert "inf" in text and "FID: 1.500" in text and "note: a note" in text
    document = json.loads(json.dumps(evaluation_json(evaluation, {"results": "x"})))
    assert document["overall"]["psnr"] == "inf" and document["overall"]["fid"] == 1.5
    assert document["sequences"][0]["per_frame"][0]["warp_error"] is None
    assert document["sequences"][0]["mean"]["warp_error"] == pytest.approx(0.01)


def _write_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        Image.new("RGB", (16, 16), (10, 20, 30)).save(folder / name)


def test_pairing_by_stem_and_sequence_name(tmp_path):
    results, data = tmp_path / "results", tmp_path / "data"
    _write_frames(results / "test_latest" / "seq_a", ["fake_B_f1.jpg", "fake_B_f2.jpg", "fake_B_f3.jpg",
                                                      "real_A_f1.png"])
    _write_frames(results / "test_latest" / "only_inputs", ["real_A_f1.png"])
    _write_frames(results / "metrics_files", ["worst00_fake.jpg"])
    _write_frames(data / "test_B" / "seq_a", ["f1.png", "f2.png"])
    assert [name for name, _ in generated_sequences(str(results))] == ["test_latest/seq_a"]
    sequences, notes = find_pairs(str(results), real_root(dataroot=str(data)))
    assert [p.stem for p in sequences[0].pairs] == ["f1", "f2"]
    assert sequences[0].pairs[0].real.endswith("f1.png") and "1 generated frames have no real frame" in notes[0]


def test_pairing_errors_name_the_problem(tmp_path):
    _write_frames(tmp_path / "results" / "seq_a", ["fake_B_f1.jpg"])
    _write_frames(tmp_path / "real" / "seq_b", ["f1.png"])
    _write_frames(tmp_path / "real2" / "seq_a", ["g1.png"])
    with pytest.raises(ValueError, match="no real frame folder"):
        find_pairs(str(tmp_path / "results"), str(tmp_path / "real"))
    with pytest.raises(ValueError, match="same stem"):
        find_pairs(str(tmp_path / "results"), str(tmp_path / "real2"))
    with pytest.raises(FileNotFoundError, match="test_B nor"):
        real_root(dataroot=str(tmp_path))
    with pytest.raises(ValueError, match="--dataroot DIR"):
        real_root()
    _write_frames(tmp_path / "inputs_only" / "seq_a", ["real_A_f1.png"])
    with pytest.raises(FileNotFoundError, match="no generated frames"):
        generated_sequences(str(tmp_path / "inputs_only"))
    with pytest.raises(FileNotFoundError, match="no such folder"):
        generated_sequences(str(tmp_path / "absent"))


def test_metric_code_in_util_imports_no_models_or_data():
    root = Path(__file__).resolve().parent.parent / "util"
    for name in ("metrics.py", "evaluation.py", "metrics_report.py", "metrics_page.py", "svg_plot.py"):
        imports = [line.split()[1] for line in (root / name).read_text().splitlines()
                   if line.startswith(("from ", "import "))]
        assert not [m for m in imports if m.split(".")[0] in ("models", "data")], name
