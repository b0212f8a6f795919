"""Street datasets: sequence discovery, training clips, test streaming, on the toy data and the Cityscapes sample."""

from __future__ import annotations

import argparse
import importlib.util
import random
import sys
from pathlib import Path

import pytest
import torch

from data.base_dataset import BaseDataset
from data.template_dataset import TemplateDataset
from data.temporal_dataset import TemporalDataset
from data.test_dataset import TestDataset
from data.transforms import TransformParams
from data.video_folder import find_sequences, natural_key, pair_sequences

REPO = Path(__file__).resolve().parent.parent
INF = float("inf")


def street_opt(dataroot, train: bool = True, **overrides) -> argparse.Namespace:
    """The options a street dataset reads, with the reference defaults (tiny clip settings)."""
    values = dict(dataroot=str(dataroot), phase="train" if train else "test", isTrain=train,
                  dataset_mode="temporal" if train else "test", label_nc=35, input_nc=3, use_instance=True,
                  resize_or_crop="scaleWidth", loadSize=64, fineSize=64, no_flip=False, n_frames_G=3,
                  n_frames_total=4, max_frames_per_gpu=1, max_t_step=1, batchSize=1, n_gpus_gen=1,
                  max_dataset_size=INF, start_frame=0, ntest=INF, use_real_img=False, debug=False)
    values.update(overrides)
    return argparse.Namespace(**values)


def make_toy(root: Path, **kwargs) -> Path:
    spec = importlib.util.spec_from_file_location("make_toy_dataset", REPO / "scripts" / "make_toy_dataset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    settings = dict(n_seqs=2, n_frames=8, width=128, height=64, seed=0)
    settings.update(kwargs)
    return Path(module.make_toy_dataset(root, **settings))


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    return make_toy(tmp_path_factory.mktemp("toy") / "toy")


# ---------------------------------------------------------------------------------- discovery
def test_frames_sorted_naturally_and_nested_sequences(tmp_path):
    for name in ("frame10.png", "frame2.png", "frame1.png", "notes.md"):
        (tmp_path / "root" / "b_seq").mkdir(parents=True, exist_ok=True)
        (tmp_path / "root" / "b_seq" / name).touch()
    (tmp_path / "root" / "a" / "seq2").mkdir(parents=True)
    (tmp_path / "root" / "a" / "seq2" / "x.jpg").touch()
    sequences = find_sequences(tmp_path / "root")
    assert [s.name for s in sequences] == ["a/seq2", "b_seq"]
    assert [Path(p).name for p in sequences[1].frames] == ["frame1.png", "frame2.png", "frame10.png"]
    assert sorted(["s10", "s9", "s1"], key=natural_key) == ["s1", "s9", "s10"]


def test_pairing_errors_name_the_folders(tmp_path):
    for key, count in (("A", 3), ("B", 2)):
        for t in range(count):
            (tmp_path / key / "seq0").mkdir(parents=True, exist_ok=True)
            (tmp_path / key / "seq0" / f"{t}.png").touch()
    groups = {key: find_sequences(tmp_path / key) for key in ("A", "B")}
    with pytest.raises(ValueError, match=r"(?s)A.*vs.*B.*'seq0' has 3 frames in A but 2 in B"):
        pair_sequences(groups, {key: str(tmp_path / key) for key in groups})


def test_missing_folder_is_named(toy_root):
    with pytest.raises(FileNotFoundError, match="val_A.*--phase 'val'"):
        TemporalDataset(street_opt(toy_root, phase="val"))


# ---------------------------------------------------------------------------------- training clips
def test_training_clip_keys_shapes_and_values(toy_root):
    random.seed(0)
    dataset = TemporalDataset(street_opt(toy_root))
    assert len(dataset) == 2
    sample = dataset[1]
    assert set(sample) == {"A", "B", "inst", "A_paths", "B_paths", "seq_name"}
    assert sample["A"].shape == (6, 1, 32, 64) and sample["inst"].shape == (6, 1, 32, 64)
    assert sample["B"].shape == (6, 3, 32, 64)
    assert sample["seq_name"] == "seq0001"
    torch.testing.assert_close(sample["A"], torch.round(sample["A"]))
    assert sample["A"].max() < 35 and sample["B"].min() >= -1 and sample["B"].max() <= 1
    assert [Path(p).parent.name for p in sample["B_paths"]] == ["seq0001"] * 6
    stuff = sample["inst"] < 40  # toy convention: background instance ids equal label ids
    torch.testing.assert_close(sample["inst"][stuff], sample["A"][stuff])


def test_random_flip_and_crop_apply_identically_to_every_frame_and_modality(toy_root):
    opt = street_opt(toy_root, resize_or_crop="scaleWidth_and_crop", loadSize=128, fineSize=32)
    dataset = TemporalDataset(opt)
    drawn: list[TransformParams] = []
    make_params = dataset.make_params
    dataset.make_params = lambda seq, rng: drawn.append(make_params(seq, rng)) or drawn[-1]
    random.seed(4)
    flips = set()
    for _ in range(6):
        sample = dataset[0]
        params = drawn[-1]
        flips.add(params.flip)
        x, y = params.crop_pos
        (cw, ch) = params.out_size
        full = dataset.load_frames(0, [int(Path(p).stem[-4:]) for p in sample["A_paths"]],
                                   TransformParams(new_size=params.new_size))
        for key in ("A", "B", "inst"):
            expected = full[key][..., y:y + ch, x:x + cw]
            torch.testing.assert_close(sample[key], expected.flip(-1) if params.flip else expected)
    assert flips == {True, False}


def test_clip_sampling_time_step_and_growth(toy_root):
    dataset = TemporalDataset(street_opt(toy_root, max_t_step=3, n_frames_total=2))
    steps = set()
    for seed in range(40):
        frames = dataset.clip_frames(8, random.Random(seed))
        assert len(frames) == 2 + 3 - 1 and frames[0] >= 0 and frames[-1] < 8
        steps.add(frames[1] - frames[0])
    assert steps == {1, 2}  # (8 - 1) // (4 - 1) = 2 caps the step
    dataset.set_clip_length(5)
    assert len(dataset.clip_frames(8, random.Random(0))) == 5
    assert len(dataset.clip_frames(3, random.Random(0))) == 3  # a shorter sequence gives all it has


def test_rgb_input_when_label_nc_is_zero(toy_root):
    dataset = TemporalDataset(street_opt(toy_root, label_nc=0, use_instance=False))
    sample = dataset[0]
    assert "inst" not in sample
    assert sample["A"].shape == (6, 3, 32, 64) and sample["A"].min() >= -1 and sample["A"].max() <= 1


def test_template_dataset_runs(toy_root):
    dataset = TemplateDataset(street_opt(toy_root, use_instance=False, label_nc=0))
    assert isinstance(dataset, BaseDataset)
    sample = dataset[0]
    assert sample["A"].shape == sample["B"].shape == (6, 3, 32, 64)


# ---------------------------------------------------------------------------------- test streaming
def test_test_mode_streams_frames_with_real_images(toy_root):
    dataset = TestDataset(street_opt(toy_root, train=False, use_real_img=True, start_frame=2))
    assert len(dataset) == 6
    items = [dataset[i] for i in range(len(dataset))]
    assert [item["frame_index"] for item in items] == [2, 3, 4, 5, 6, 7]
    assert [item["change_seq"] for item in items] == [True] + [False] * 5
    assert items[0]["B"].shape == (1, 3, 32, 64)
    assert Path(items[3]["A_path"]).name == "frame_0005.png"


def test_cityscapes_training_clip(cityscapes_root):
    random.seed(1)
    opt = street_opt(cityscapes_root, loadSize=256, fineSize=256, n_frames_total=4)
    dataset = TemporalDataset(opt)
    assert len(dataset) == 5
    sample = dataset[2]
    assert sample["A"].shape == (6, 1, 128, 256) and sample["inst"].shape == (6, 1, 128, 256)
    assert sample["B"].shape == (6, 3, 128, 256)
    torch.testing.assert_close(sample["A"], torch.round(sample["A"]))
    assert 0 <= sample["A"].min() and sample["A"].max() < 35
    assert sample["B"].min() >= -1 and sample["B"].max() <= 1 and sample["B"].std() > 0.1
    names = [Path(p).name for p in sample["A_paths"]]
    assert names == sorted(names) and len(set(names)) == 6
    assert [Path(p).stem for p in sample["A_paths"]] == [Path(p).stem for p in sample["B_paths"]]


def test_cityscapes_test_mode_walks_stuttgart(cityscapes_root):
    dataset = TestDataset(street_opt(cityscapes_root, train=False, loadSize=256, fineSize=256))
    assert len(dataset) == 30
    seen = []
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["seq_name"] == "stuttgart_00" and "B" not in item
        assert item["A"].shape == (1, 1, 128, 256) and item["inst"].shape == (1, 1, 128, 256)
        seen.append((item["frame_index"], item["change_seq"], Path(item["A_path"]).name))
    assert [s[0] for s in seen] == list(range(30))
    assert [s[1] for s in seen] == [True] + [False] * 29
    assert seen[0][2].endswith("000001_leftImg8bit.png") and seen[-1][2].endswith("000030_leftImg8bit.png")


def test_parsed_options_build_the_dataset(toy_root):
    """Through the real option parser and registry (once the model file exists)."""
    if not (REPO / "models" / "vid2vid_model.py").exists():
        pytest.skip("models/vid2vid_model.py not written yet: option parsing needs the model registry")
    from conftest import make_opt

    from data import create_dataset

    opt = make_opt(["--dataroot", str(toy_root), "--label_nc", "35", "--use_instance", "--loadSize", "64",
                    "--n_frames_total", "2", "--gpu_ids", "-1"])
    dataset = create_dataset(opt)
    assert isinstance(dataset, TemporalDataset)
    assert dataset[0]["A"].shape[1:] == (1, 32, 64)
    test_opt = make_opt(["--dataroot", str(toy_root), "--label_nc", "35", "--use_instance", "--loadSize", "64",
                         "--dataset_mode", "temporal", "--gpu_ids", "-1"], train=False)
    assert isinstance(create_dataset(test_opt), TestDataset)


def _edge_contrast(label: torch.Tensor, image: torch.Tensor) -> float:
    """Mean image gradient on label boundaries over the mean elsewhere; label (1, H, W), image (3, H, W)."""
    label_edge = (label[:, :, 1:] != label[:, :, :-1]).squeeze(0)
    grad = (image[:, :, 1:] - image[:, :, :-1]).abs().mean(0)
    return float(grad[label_edge].mean() / grad[~label_edge].mean())


def test_cityscapes_crop_and_flip_keep_labels_on_photo_edges(cityscapes_root):
    dataset = TemporalDataset(street_opt(cityscapes_root, loadSize=256, fineSize=128))
    full = dataset.load_frames(0, [0, 7], TransformParams(new_size=(256, 128)))
    params = TransformParams(new_size=(256, 128), crop_pos=(40, 12), crop_size=(128, 96), flip=True)
    cropped = dataset.load_frames(0, [0, 7], params)
    for key in ("A", "B", "inst"):
        torch.testing.assert_close(cropped[key], full[key][..., 12:108, 40:168].flip(-1))
    for t in range(2):
        aligned = _edge_contrast(cropped["A"][t], cropped["B"][t])
        misaligned = _edge_contrast(cropped["A"][t], cropped["B"][t].flip(-1))
        assert aligned > 1.5 and aligned > misaligned + 0.3, (aligned, misaligned)
