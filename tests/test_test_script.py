"""test.py end to end with randomly initialised checkpoints: the three first-frame modes, toy and Cityscapes data,
frames, sizes, the mp4 and the results page."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
from options import TestOptions
from scripts.make_toy_dataset import make_toy_dataset
from util.checkpoint import atomic_save, cpu_state_dict
from util.video import count_video_frames

# toy: --resize_or_crop none keeps the 64x32 frames while --loadSize 512 selects the 512 single-frame generator;
# Cityscapes: --single_G_size picks it directly
MODEL = ["--label_nc", "35", "--use_instance", "--fg", "--ngf", "8", "--n_downsample_G", "2", "--n_blocks", "1",
         "--gpu_ids", "-1", "--nThreads", "0"]
TOY = MODEL + ["--loadSize", "512", "--resize_or_crop", "none"]
CITY = MODEL + ["--loadSize", "64", "--single_G_size", "512"]
MODES = {"real": ["--use_real_img"], "single": ["--use_single_G"], "none": ["--no_first_img"]}


def save_random_checkpoints(ckpt: Path, name: str, flags: list[str]) -> None:
    """Random generator weights (and the single-frame generator) in the official file layout."""
    from models.networks import define_G, define_single_G

    opt = TestOptions().parse(flags + ["--name", name, "--checkpoints_dir", str(ckpt)], save=False)
    torch.manual_seed(0)
    for s, net in enumerate(define_G(opt).scales):
        atomic_save(cpu_state_dict(net), str(ckpt / name / f"latest_net_G{s}.pth"))
    single = TestOptions().parse(flags + ["--loadSize", "512"], save=False)
    atomic_save(cpu_state_dict(define_single_G(single)), str(ckpt / "label2city_single" / "latest_net_G_512.pth"))


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=6, width=64, height=32, seed=0, n_test_seqs=2)
    return root


def _run(root: Path, tmp: Path, flags: list[str], mode: str, *extra: str) -> dict:
    save_random_checkpoints(tmp / "ckpt", "tiny", flags)
    return test_script.main(["--dataroot", str(root), "--name", "tiny", "--checkpoints_dir", str(tmp / "ckpt"),
                             "--results_dir", str(tmp / "results"), *flags, *MODES[mode], *extra])


def _check_results(summary: dict, expected: dict[str, int], size: tuple[int, int]) -> None:
    folder = Path(summary["folder"])
    page = Path(summary["page"]).read_text()
    sources = set(re.findall(r'<a[^>]*href="([^"]+)"', page))  # each thumbnail opens its full frame
    for sequence, count in expected.items():
        fakes = sorted((folder / sequence).glob("fake_B_*.jpg"))
        inputs = sorted((folder / sequence).glob("real_A_*.png"))
        assert len(fakes) == len(inputs) == count, sequence
        assert all(Image.open(f).size == size for f in fakes)
        assert count_video_frames(summary["videos"][sequence]) == count
        for file in fakes + inputs:
            assert file.relative_to(folder).as_posix() in sources, file
    assert summary["frames"] == sum(expected.values())


@pytest.mark.parametrize("mode", list(MODES))
def test_toy_every_first_frame_mode(toy, tmp_path, mode):
    summary = _run(toy, tmp_path, TOY, mode)
    sequences = sorted(p.name for p in (toy / "test_A").iterdir())
    _check_results(summary, {s: 6 - 2 for s in sequences}, (64, 32))
    # the video shows input | synthesized, and the real frames third where they were read (--use_real_img)
    import cv2

    capture = cv2.VideoCapture(summary["videos"][sequences[0]])
    width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
    capture.release()
    assert width == 64 * (3 if mode == "real" else 2)
    page = Path(summary["page"]).read_text()
    assert ("input | synthesized | real" in page) == (mode == "real") and "input | synthesized" in page


def test_how_many_counts_frames_over_sequences(toy, tmp_path):
    summary = _run(toy, tmp_path, TOY, "real", "--how_many", "5")
    assert summary["frames"] == 5


@pytest.mark.parametrize("mode", ["single", "none"])
def test_cityscapes_stuttgart(cityscapes_root, tmp_path, mode):
    summary = _run(cityscapes_root, tmp_path, CITY, mode, "--how_many", "4")
    _check_results(summary, {"stuttgart_00": 4}, (64, 32))


def test_label_stem_paths_give_the_same_frames(cityscapes_root, tmp_path):
    frames = {}
    for stem in ("sparse", "conv"):
        summary = _run(cityscapes_root, tmp_path / stem, CITY, "none", "--how_many", "3", "--label_stem", stem)
        files = sorted((Path(summary["folder"]) / "stuttgart_00").glob("fake_B_*.jpg"))
        frames[stem] = torch.stack([torch.from_numpy(np.array(Image.open(f))).float() for f in files])
    assert frames["sparse"].shape[0] == 3
    assert (frames["sparse"] - frames["conv"]).abs().max() <= 2  # JPEG levels; the tensors agree within 1e-5


def test_cityscapes_real_first_frames_need_test_b(cityscapes_root, tmp_path):
    with pytest.raises((ValueError, FileNotFoundError), match="test_B|_B"):
        _run(cityscapes_root, tmp_path, CITY, "real", "--how_many", "2")


def test_missing_checkpoint_names_the_file(toy, tmp_path):
    with pytest.raises(Exception, match=r"latest_net_G0\.pth"):
        test_script.main(["--dataroot", str(toy), "--name", "absent", "--checkpoints_dir", str(tmp_path), *TOY,
                          "--use_real_img"])


def test_results_page_images_load_in_a_browser(toy, tmp_path):
    from tests.browser_check import assert_page_images_load, browser_available

    reason = browser_available()
    if reason:
        pytest.skip(reason)
    summary = _run(toy, tmp_path, TOY, "real")
    assert assert_page_images_load(summary["page"]) >= 8


@pytest.mark.parametrize("as_video", [True, False])
def test_input_from_a_label_video_or_frame_folder(toy, tmp_path, as_video):
    import numpy as np

    from util.image import colorize_labels
    from util.video import VideoWriter, list_image_files

    frames_dir = tmp_path / "labels"
    frames_dir.mkdir()
    sequence = sorted((toy / "test_A").iterdir())[0]
    for i, path in enumerate(list_image_files(sequence)):
        Image.fromarray(colorize_labels(np.asarray(Image.open(path)), 35)).save(frames_dir / f"{i}.png")
    source = frames_dir
    if as_video:
        source = tmp_path / "labels.mp4"
        with VideoWriter(source, fps=10) as writer:
            for path in list_image_files(frames_dir):
                writer.write(np.asarray(Image.open(path)))
    flags = [f for f in TOY if f != "--use_instance"]
    summary = _run(toy, tmp_path, flags, "none", "--input_video", str(source))
    name = source.stem
    _check_results(summary, {name: 6 - 2}, (64, 32))


def test_label_colors_map_back_to_ids():
    import numpy as np

    from data.video_dataset import colors_to_ids
    from util.image import colorize_labels

    ids = np.random.default_rng(0).integers(0, 35, (8, 9)).astype(np.uint8)
    ids[ids == 34] = 26  # 34 and 26 share a colour in the Cityscapes palette
    ids[ids == 18] = 17  # so do 17 and 18
    ids[ids <= 4] = 0  # so do 0..4
    assert np.array_equal(colors_to_ids(colorize_labels(ids, 35), 35), ids)


def test_keyframes_on_stuttgart_write_every_frame_in_order(cityscapes_root, tmp_path, capsys):
    """--keyframes published: the keys are generated, the rest interpolated; the same files as every-frame
    inference, in order, marked on the page; the mp4 holds every output frame."""
    from models.fast_vid2vid.keyframe_selection import KeyframePolicy, label_picture, select_keyframes
    from util.video import list_image_files

    inputs = list_image_files(cityscapes_root / "test_A" / "stuttgart_00")
    every = _run(cityscapes_root, tmp_path / "every", CITY, "none")
    keyed = _run(cityscapes_root, tmp_path / "keyed", CITY, "none", "--keyframes", "published")
    written = len(inputs) - 2  # the first n_frames_G - 1 = 2 frames condition the generator (zeros)
    _check_results(keyed, {"stuttgart_00": written}, (64, 32))
    folder = Path(keyed["folder"]) / "stuttgart_00"
    names = sorted(p.name for p in folder.iterdir() if p.suffix in (".jpg", ".png"))
    assert names == sorted(p.name for p in (Path(every["folder"]) / "stuttgart_00").iterdir()
                           if p.suffix in (".jpg", ".png"))
    page = Path(keyed["page"]).read_text()
    captions = [(kind, stem) for stem, kind in re.findall(r"<figcaption>(\w+) (key|interpolated)</figcaption>", page)]
    stems = [Path(p).stem for p in inputs]
    assert [stem for _, stem in captions] == stems[2:]  # every frame, in order
    strip = re.findall(r'title="(\w+): (key|interpolated)"', page)
    assert [(kind, stem) for stem, kind in strip] == captions  # the strip marks every frame too
    n_keys = sum(kind == "key" for kind, _ in captions)
    assert f"<td>{n_keys} generated, {written - n_keys} interpolated</td>" in page
    # the progress bar's last count, the printed summary and the page agree, and the summary counts the keys
    captured = capsys.readouterr()
    assert re.findall(r"written=(\d+)", captured.err)[-1] == str(written)
    assert f"generated {written} frames ({n_keys} key frames, {written - n_keys} interpolated)" in captured.out
    opt = TestOptions().parse(CITY + ["--dataroot", str(cityscapes_root)], save=False)
    from data import create_test_loader

    pictures = [label_picture(item["A"][0, 0, 0].long().numpy(), 35) for item in create_test_loader(opt)]
    keys = select_keyframes(pictures[:len(inputs)], KeyframePolicy(mode="published", n_frames_G=3))
    assert [kind for kind, _ in captions] == ["key" if i in keys else "interpolated" for i in range(2, len(inputs))]
    assert 0 < sum(kind == "interpolated" for kind, _ in captions) < written


def test_start_frame_past_the_first_sequence_names_it_and_goes_on(toy, tmp_path, caplog):
    with caplog.at_level("WARNING"):
        summary = _run(toy, tmp_path, TOY, "real", "--start_frame", "100")
    sequences = sorted(p.name for p in (toy / "test_A").iterdir())
    assert f"--start_frame 100 skips the whole first sequence {sequences[0]} (6 frames)" in caplog.text
    assert list(summary["videos"]) == [sequences[1]] and summary["frames"] == 4
