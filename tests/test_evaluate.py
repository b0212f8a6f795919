"""scripts/evaluate.py and util/evaluation.py on real Cityscapes frames (small), with random-weight networks
saved in each published weights format and loaded back through the real loaders."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageFilter

from data.evaluation_pairs import find_pairs
from models.networks.flow import create_flow_estimator
from models.networks.warp import warp
from scripts.evaluate import main
from util.evaluation import Evaluation, Scorers, evaluate

SIZE = (128, 64)  # (W, H) of the frames scored
FRAMES = 5


@pytest.fixture(scope="module")
def city_frames() -> list[tuple[str, Image.Image]]:
    """(stem, 128x64 RGB frame) of the first frames of Cityscapes train_B/seq0000."""
    from tests.conftest import DATASETS, require

    folder = require(DATASETS / "Cityscapes" / "train_B" / "seq0000", "Cityscapes sample frames")
    frames = []
    for path in sorted(folder.iterdir())[:FRAMES]:
        with Image.open(path) as image:
            frames.append((path.stem, image.convert("RGB").resize(SIZE, Image.BICUBIC)))
    return frames


def write_results(root: Path, frames: list[tuple[str, Image.Image]], order: list[int] | None = None,
                  blur: float = 0.0, ext: str = "png") -> Path:
    """A results folder in test.py's layout: ``seq0000/fake_B_<stem>.<ext>`` (+ ``real_A_``), frames reordered
    by ``order`` and blurred by ``blur`` pixels."""
    folder = root / "seq0000"
    folder.mkdir(parents=True)
    order = order or list(range(len(frames)))
    for (stem, _), index in zip(frames, order):
        image = frames[index][1]
        image = image.filter(ImageFilter.GaussianBlur(blur)) if blur else image
        image.save(folder / f"fake_B_{stem}.{ext}", **({"quality": 95} if ext == "jpg" else {}))
        image.convert("L").save(folder / f"real_A_{stem}.png")
    return root


def write_real(root: Path, frames: list[tuple[str, Image.Image]], scale: int = 1) -> Path:
    """Real frames as ``<root>/seq0000/<stem>.png``, ``scale`` times the scored size."""
    folder = root / "seq0000"
    folder.mkdir(parents=True)
    for stem, image in frames:
        image.resize((SIZE[0] * scale, SIZE[1] * scale), Image.BICUBIC).save(folder / f"{stem}.png")
    return root


def dis_scorers(**kwargs) -> Scorers:
    estimator = create_flow_estimator("dis", "", torch.device("cpu"))
    return Scorers(flow=lambda current, previous: estimator(current, previous)[0], warp=warp, **kwargs)


def score(tmp_path: Path, frames, **fake) -> Evaluation:
    results = write_results(tmp_path / "results", frames, **fake)
    sequences, _ = find_pairs(str(results), str(write_real(tmp_path / "real", frames)))
    return evaluate(sequences, dis_scorers())


def test_real_frames_against_themselves(tmp_path, city_frames):
    evaluation = score(tmp_path, city_frames)
    frames = evaluation.sequences[0].frames
    assert len(frames) == FRAMES and all(f.psnr == float("inf") for f in frames)
    assert evaluation.overall("ssim") == pytest.approx(1.0, abs=1e-6)
    assert frames[0].warp_error is None
    for frame in frames[1:]:
        assert frame.warp_error == pytest.approx(frame.warp_error_real, rel=1e-6) and frame.warp_error_real > 0


def test_blurred_copy_scores_lower_ssim(tmp_path, city_frames):
    evaluation = score(tmp_path, city_frames, blur=1.5)
    assert evaluation.overall("ssim") < 0.95 and evaluation.overall("psnr") < 40


def test_frames_shuffled_in_time_score_a_higher_warping_error(tmp_path, city_frames):
    evaluation = score(tmp_path, city_frames, order=[3, 0, 4, 1, 2])
    assert evaluation.overall("warp_error") > 2 * evaluation.overall("warp_error_real")


def test_weight_free_cli_end_to_end(tmp_path, city_frames, capsys):
    results = write_results(tmp_path / "results" / "demo" / "test_latest", city_frames, blur=1.0, ext="jpg")
    write_real(tmp_path / "data" / "test_B", city_frames, scale=2)
    from util.results_page import make_thumbnail

    for fake in sorted((results / "seq0000").glob("fake_B_*.jpg")):  # the results page's thumbnails are no sequence
        make_thumbnail(str(results), f"seq0000/{fake.name}")
    assert main(["--results", str(results), "--dataroot", str(tmp_path / "data"), "--gpu_ids", "-1",
                 "--worst", "2"]) == 0
    out = capsys.readouterr().out
    assert "seq0000" in out and "PSNR (dB)" in out and "resized" in out
    document = json.loads((results / "metrics.json").read_text())
    assert [seq["name"] for seq in document["sequences"]] == ["seq0000"]
    assert document["frames"] == FRAMES and document["sequences"][0]["real_size"] == [2 * SIZE[0], 2 * SIZE[1]]
    assert isinstance(document["overall"]["warp_error_real"], float)
    page = (results / "metrics.html").read_text()
    assert "metrics_files/psnr.svg" in page and "metrics_files/worst01_real.jpg" in page
    assert "Solid: the generated video; dashed and lighter: the real video" in page  # captions say what a plot is
    for name in ("psnr.svg", "warp_error.svg"):
        ET.fromstring((results / "metrics_files" / name).read_text())
    with Image.open(results / "metrics_files" / "worst00_real.jpg") as real:
        assert real.size == SIZE
    # a second run skips its own metrics_files folder
    assert main(["--results", str(results), "--dataroot", str(tmp_path / "data"), "--gpu_ids", "-1"]) == 0


def test_cli_bad_input_is_one_error_line(tmp_path, capsys):
    assert main(["--results", str(tmp_path / "absent"), "--real", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "error: --results" in err and "Traceback" not in err
    with pytest.raises(FileNotFoundError):
        main(["--results", str(tmp_path / "absent"), "--real", str(tmp_path), "--debug"])


def test_metrics_page_images_load_in_a_browser(tmp_path, city_frames):
    from tests.browser_check import assert_page_images_load, browser_available

    reason = browser_available()
    if reason:
        pytest.skip(reason)
    results = write_results(tmp_path / "results", city_frames, blur=1.0)
    assert main(["--results", str(results), "--real", str(write_real(tmp_path / "real", city_frames)),
                 "--gpu_ids", "-1", "--worst", "2"]) == 0
    assert assert_page_images_load(results / "metrics.html") == 2 + 2 * 3  # two plots, two frame triplets


def test_model_cost_comes_from_the_shared_counter(tmp_path, city_frames, capsys):
    """--model_cost: the generator of the given test.py flags, counted by the same code as bench/fast.py."""
    from models.networks import GeneratorConfig
    from models.networks.step_cost import step_cost

    results = write_results(tmp_path / "results" / "demo" / "test_latest", city_frames, blur=1.0, ext="jpg")
    write_real(tmp_path / "data" / "test_B", city_frames)
    flags = "--label_nc 35 --use_instance --fg --ngf 8 --n_downsample_G 2 --n_blocks 1"
    assert main(["--results", str(results), "--dataroot", str(tmp_path / "data"), "--gpu_ids", "-1",
                 "--model_cost", flags, "--cost_runs", "1"]) == 0
    cost = json.loads((results / "metrics.json").read_text())["model_cost"]
    config = GeneratorConfig(input_nc=36, ngf=8, n_downsampling=2, n_blocks=1, fg_labels=(26,))
    expected = step_cost("composite", config, 35, SIZE[1], SIZE[0])
    assert cost["gmacs_per_generated_frame"] == pytest.approx(expected.macs / 1e9)
    assert cost["params"] == expected.params and cost["size"] == f"{SIZE[0]}x{SIZE[1]}" and cost["fps"] > 0
    assert "GMACs per generated frame" in capsys.readouterr().out
