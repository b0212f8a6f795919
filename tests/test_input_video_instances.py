"""test.py --input_video with --use_instance: instance maps from a second video or folder (--input_instances)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.test_test_script import TOY, _check_results, _run, toy  # noqa: F401 - toy is a fixture
from util.image import colorize_labels
from util.video import VideoWriter, list_image_files


def label_video(root: Path, tmp_path: Path) -> Path:
    """The first toy test sequence's labels as a colour mp4."""
    sequence = sorted((root / "test_A").iterdir())[0]
    source = tmp_path / "labels.mp4"
    with VideoWriter(source, fps=10) as writer:
        for path in list_image_files(sequence):
            writer.write(colorize_labels(np.asarray(Image.open(path)), 35))
    return source


def instance_source(root: Path, tmp_path: Path, as_video: bool) -> Path:
    """The same sequence's instance maps: its folder as 16-bit PNGs (Cityscapes ids), or a grey mp4."""
    sequence = sorted((root / "test_inst").iterdir())[0]
    frames = [np.asarray(Image.open(p)).astype(np.uint16) for p in list_image_files(sequence)]
    if as_video:
        source = tmp_path / "instances.mp4"
        with VideoWriter(source, fps=10) as writer:
            for ids in frames:
                writer.write(np.repeat((ids * 40 % 256).astype(np.uint8)[..., None], 3, axis=2))
        return source
    source = tmp_path / "instances"
    source.mkdir()
    for i, ids in enumerate(frames):
        Image.fromarray((26000 + ids).astype(np.uint16)).save(source / f"{i:03d}.png")
    return source


@pytest.mark.parametrize("as_video", [False, True])
def test_street_video_with_instance_maps_writes_an_mp4(toy, tmp_path, as_video):  # noqa: F811
    video = label_video(toy, tmp_path)
    summary = _run(toy, tmp_path, TOY, "none", "--input_video", str(video), "--input_instances",
                   str(instance_source(toy, tmp_path, as_video)))
    _check_results(summary, {video.stem: 6 - 2}, (64, 32))


def test_instance_maps_are_read_exactly_from_a_folder(toy, tmp_path):  # noqa: F811
    from data.video_dataset import VideoDataset
    from options import TestOptions

    video, folder = label_video(toy, tmp_path), instance_source(toy, tmp_path, as_video=False)
    opt = TestOptions().parse([*TOY, "--dataroot", str(toy), "--input_video", str(video), "--input_instances",
                               str(folder), "--no_first_img"], save=False)
    dataset = VideoDataset(opt)
    sample = dataset[0]
    expected = np.asarray(Image.open(list_image_files(folder)[0])).astype(np.float32)
    assert sample["inst"].shape == (1, 1, 32, 64)
    assert np.array_equal(sample["inst"][0, 0].numpy(), expected)


def test_use_instance_without_instance_maps_names_the_flag(toy, tmp_path):  # noqa: F811
    from data.check import DatasetError

    with pytest.raises(DatasetError, match="--input_instances"):
        _run(toy, tmp_path, TOY, "none", "--input_video", str(label_video(toy, tmp_path)))


def test_instance_count_must_match_the_video(toy, tmp_path):  # noqa: F811
    from data.check import DatasetError

    folder = instance_source(toy, tmp_path, as_video=False)
    Path(list_image_files(folder)[-1]).unlink()
    with pytest.raises(DatasetError, match="instance maps but"):
        _run(toy, tmp_path, TOY, "none", "--input_video", str(label_video(toy, tmp_path)), "--input_instances",
             str(folder))


def test_raw_street_video_is_segmented_on_the_fly(toy, tmp_path, monkeypatch):  # noqa: F811
    """--seg_model / --inst_model: a raw dash-cam mp4 straight into test.py (random-weight DeepLabV3 and Mask R-CNN
    in their published layouts) -> an mp4 of every generated frame."""
    import torch
    import torchvision.models.detection as detection

    from data.prepare import instances
    from tests.conftest import DATASETS, require
    from tests.test_street_prepare import published_v1_layout, save_deeplab

    photos = require(DATASETS / "Cityscapes" / "train_B" / "seq0000", "Cityscapes sample photos")
    video = tmp_path / "drive.mp4"
    with VideoWriter(video, fps=10) as writer:
        for path in sorted(photos.iterdir())[:4]:
            writer.write(np.asarray(Image.open(path).convert("RGB").resize((64, 32))))
    monkeypatch.setattr(instances, "MIN_SIZE", 32)  # Mask R-CNN at the tiny size, not 800 px (speed only)
    monkeypatch.setattr(instances, "MAX_SIZE", 64)
    torch.manual_seed(0)
    maskrcnn = tmp_path / "maskrcnn.pth"
    net = detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    torch.save(published_v1_layout(net.state_dict()), maskrcnn)
    summary = _run(toy, tmp_path, TOY, "none", "--input_video", str(video), "--seg_model",
                   save_deeplab(tmp_path / "deeplab.pth", 19), "--inst_model", str(maskrcnn))
    _check_results(summary, {"drive": 4 - 2}, (64, 32))


def test_raw_street_video_without_weights_names_the_file(toy, tmp_path):  # noqa: F811
    from data.check import DatasetError

    with pytest.raises(DatasetError, match="absent.pth"):
        _run(toy, tmp_path, TOY, "none", "--input_video", str(label_video(toy, tmp_path)), "--seg_model",
             str(tmp_path / "absent.pth"), "--inst_model", str(tmp_path / "absent.pth"))
