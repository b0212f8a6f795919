"""data/pose_dataset.py: channel layouts, part ids, limbs, augmentations, sampling and errors.

Most checks run on a tiny synthetic pose folder (256x128 frames); the shared sample checks real data.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import DATASETS, require
from PIL import Image

from data import keypoints as kp
from data.pose_dataset import PoseDataset
from models.vid2vid.face_box import face_box
from options import options_at_defaults

POSE = DATASETS / "pose"
W, H = 256, 128
# Synthetic DensePose parts: (part id, rows, columns) of filled rectangles.
PARTS = ((1, slice(40, 80), slice(110, 146)), (15, slice(40, 60), slice(90, 110)),
         (23, slice(10, 30), slice(118, 138)), (24, slice(30, 40), slice(118, 138)))


def pose_opt(root, isTrain: bool = False, **overrides) -> argparse.Namespace:
    """test.py's (or train.py's) options at their defaults for the pose mode, one frame, the sample's size."""
    values = dict(dataroot=str(root), phase="train", dataset_mode="pose", n_frames_G=1, resize_or_crop="none",
                  loadSize=W, fineSize=W, random_drop_prob=0.0, **(dict(n_frames_total=1) if isTrain else {}))
    values.update(overrides)
    return options_at_defaults(isTrain, **values)


def _person() -> dict:
    pose = np.zeros((25, 3))
    pose[1], pose[8], pose[0] = (128, 30, 0.9), (128, 100, 0.9), (128, 15, 0.9)
    hand = np.zeros((21, 3))
    hand[:5] = [(150 + 8 * i, 110, 0.9) for i in range(5)]  # the thumb only: other fingers are not detected
    return {"pose_keypoints_2d": pose.ravel().tolist(), "face_keypoints_2d": [0.0] * 210,
            "hand_left_keypoints_2d": hand.ravel().tolist(), "hand_right_keypoints_2d": [0.0] * 63}


def make_pose_root(root: Path, lengths=(2,), people: bool = True) -> Path:
    """Write ``<root>/train_{img,densepose,openpose}/seq<i>/`` with ``lengths[i]`` frames each."""
    for s, length in enumerate(lengths):
        for key in ("img", "densepose", "openpose"):
            (root / f"train_{key}" / f"seq{s}").mkdir(parents=True)
        for t in range(length):
            photo = np.random.default_rng(t).integers(0, 255, (H, W, 3), dtype=np.uint8)
            Image.fromarray(photo).save(root / "train_img" / f"seq{s}" / f"{t:03d}.png")
            iuv = np.zeros((H, W, 3), np.uint8)
            for part, rows, cols in PARTS:
                iuv[rows, cols] = (100, 150, part)
            Image.fromarray(iuv).save(root / "train_densepose" / f"seq{s}" / f"{t:03d}.png")
            data = {"version": 1.3, "people": [_person()] if people else []}
            (root / "train_openpose" / f"seq{s}" / f"{t:03d}.json").write_text(json.dumps(data))
    return root


def part_ids(densepose: torch.Tensor) -> set[int]:
    """Part ids of a (3, H, W) encoded DensePose map, checking every value is exactly 2 * I / 24 - 1."""
    ids = torch.round((densepose[2] + 1) * 12)
    torch.testing.assert_close(densepose[2], ids * (2.0 / 24) - 1)
    return set(ids.unique().int().tolist())


def test_channel_counts_of_the_three_inputs(tmp_path):
    root = make_pose_root(tmp_path)
    for flags, channels in (({}, 6), ({"openpose_only": True}, 3), ({"densepose_only": True}, 3)):
        sample = PoseDataset(pose_opt(root, **flags))[0]
        assert sample["A"].shape == (1, channels, H, 128), flags  # central band: 2 * (64 // 32 * 32) columns
        assert sample["B"].shape == (1, 3, H, 128)
        assert -1 <= sample["A"].min() and sample["A"].max() <= 1


def test_densepose_ids_and_openpose_limbs_survive(tmp_path):
    sample = PoseDataset(pose_opt(make_pose_root(tmp_path)))[0]
    densepose, openpose = sample["A"][0, :3], sample["A"][0, 3:]
    assert part_ids(densepose) == {0, 1, 15, 23, 24}
    assert part_ids(densepose[:, 45:75, 50:78]) == {1}  # part 1 at columns 110..145, band starts at 64
    neck_to_hip = torch.tensor([153, 0, 0]) / 127.5 - 1
    for y in range(40, 92):  # limb 1-8 at x = 128 (column 64 of the band), away from the end discs
        torch.testing.assert_close(openpose[:, y, 64], neck_to_hip)
    # Head rows 10..39, band columns 54..73: centre (24, 63); the 64-pixel square is clamped to y >= 0.
    assert face_box(sample["A"][0][None], 256, openpose_only=False) == (0, 64, 31, 95)


def test_random_drop_and_face_label_removal(tmp_path):
    root = make_pose_root(tmp_path)
    random.seed(0)
    dropped = PoseDataset(pose_opt(root, isTrain=True, random_drop_prob=1.0))[0]["A"][0]
    assert (dropped == -1).all()
    random.seed(0)
    kept = PoseDataset(pose_opt(root, isTrain=True, random_drop_prob=0.0, remove_face_labels=True))[0]["A"][0]
    assert part_ids(kept[:3]) == {0, 1, 15}
    at_test = PoseDataset(pose_opt(root, isTrain=False, random_drop_prob=1.0, remove_face_labels=True))[0]["A"][0]
    assert part_ids(at_test[:3]) == {0, 1, 15, 23, 24}  # both are training-time only, as in the reference
    assert (at_test[3:] > -1).any()


def test_basic_point_only_leaves_out_hands_and_head(tmp_path):
    root = make_pose_root(tmp_path)
    full = PoseDataset(pose_opt(root, openpose_only=True, resize_or_crop="none"))
    basic = PoseDataset(pose_opt(root, openpose_only=True, basic_point_only=True))
    full_map, basic_map = full[0]["A"][0], basic[0]["A"][0]
    thumb = torch.tensor(kp.HAND_COLORS[0]) / 127.5 - 1
    band_offset = W // 2 - 64
    hand_y, hand_x = 110, 162 - band_offset  # on the thumb, between points 1 and 2
    torch.testing.assert_close(full_map[:, hand_y, hand_x], thumb)
    assert (basic_map[:, hand_y, hand_x] == -1).all()
    assert ((basic_map > -1).any(0)).sum() < ((full_map > -1).any(0)).sum()


def test_json_without_person_renders_blank_and_logs_once(tmp_path, caplog):
    root = make_pose_root(tmp_path, lengths=(3,), people=False)
    dataset = PoseDataset(pose_opt(root, openpose_only=True))
    with caplog.at_level(logging.WARNING, logger="data.pose_dataset"):
        maps = [dataset[i]["A"] for i in range(3)]
    assert all((m == -1).all() for m in maps)
    messages = [r.getMessage() for r in caplog.records if "no person" in r.getMessage()]
    assert len(messages) == 1 and "000.json" in messages[0]


def test_densepose_of_the_wrong_size_names_the_file(tmp_path):
    root = make_pose_root(tmp_path)
    bad = root / "train_densepose" / "seq0" / "001.png"
    Image.new("RGB", (W // 2, H // 2)).save(bad)
    dataset = PoseDataset(pose_opt(root))
    dataset[0]
    with pytest.raises(ValueError, match=r"001\.png.*128x64"):
        dataset[1]


def test_training_sequences_weighted_by_valid_frames(tmp_path):
    root = make_pose_root(tmp_path, lengths=(2, 6))
    dataset = PoseDataset(pose_opt(root, isTrain=True, n_frames_G=2, n_frames_total=2, max_frames_per_gpu=2))
    assert len(dataset) == 1 + 5  # valid clip starts: len - n_frames_G + 1
    rng = random.Random(0)
    picks = [dataset.sample_clip(3, rng) for _ in range(600)]
    share = sum(seq == 1 for seq, _ in picks) / len(picks)
    assert 0.75 < share < 0.92
    assert all(frames[0] == 3 % 4 for seq, frames in picks if seq == 1)  # start = index % offsets
    sample = dataset[5]
    assert sample["A"].shape[:2] == (3, 6) and sample["B"].shape[:2] == (3, 3)


@pytest.fixture
def pose_sample():
    return require(POSE / "train_img", "pose sample data").parent


def test_sample_part_ids_survive_the_resize(pose_sample):
    dataset = PoseDataset(pose_opt(pose_sample, resize_or_crop="scaleHeight", loadSize=256))
    sample = dataset[0]
    assert sample["A"].shape == (1, 6, 256, 192) and sample["B"].shape == (1, 3, 256, 192)
    raw = Image.open(pose_sample / "train_densepose" / "001_001" / "frame000100.png").convert("RGB")
    part = np.asarray(raw.resize((448, 256), Image.NEAREST))[:, 224 - 96:224 + 96, 2]
    assert part_ids(sample["A"][0, :3]) == set(np.unique(part).tolist())
    assert {23, 24} <= part_ids(sample["A"][0, :3])
    y0, y1, x0, x1 = face_box(sample["A"][:, :], 256, openpose_only=False)
    head = sample["A"][0, 2] > 0.9
    ys, xs = torch.nonzero(head, as_tuple=True)
    assert y0 <= int(ys.float().mean()) < y1 and x0 <= int(xs.float().mean()) < x1


def test_sample_openpose_limbs_where_the_json_says(pose_sample):
    dataset = PoseDataset(pose_opt(pose_sample, resize_or_crop="scaleHeight", loadSize=512, openpose_only=True))
    openpose = dataset[0]["A"][0]
    new_w, new_h = 896, 512
    band = int(new_w * 0.25) // 32 * 32
    pose = kp.read_openpose_json(pose_sample / "train_openpose" / "001_001" / "frame000100.json")[0]["pose"]
    hits = checked = 0
    for (a, b), color in zip(kp.POSE_BODY_EDGES, kp.POSE_BODY_COLORS):
        if min(pose[a, 2], pose[b, 2]) <= kp.BODY_CONFIDENCE or np.hypot(*(pose[a, :2] - pose[b, :2])) < 40:
            continue
        x, y = (pose[a, :2] + pose[b, :2]) / 2 * [new_w / 1920, new_h / 1080] - [new_w // 2 - band, 0]
        patch = openpose[:, int(y) - 2:int(y) + 3, int(x) - 2:int(x) + 3].reshape(3, -1).T
        target = torch.tensor(color, dtype=torch.float32) / 127.5 - 1
        checked += 1
        hits += int(torch.isclose(patch, target, atol=1e-4).all(1).any())
    assert checked >= 8 and hits >= checked - 1


def test_dataset_check_hook_reports_bad_maps_and_channels(tmp_path):
    root = make_pose_root(tmp_path, lengths=(2,))
    assert PoseDataset.check_dataset(pose_opt(root, input_nc=6)) == []
    assert PoseDataset.check_dataset(pose_opt(root, input_nc=3, openpose_only=True)) == []
    assert PoseDataset.check_dataset(pose_opt(root, input_nc=6, densepose_only=True))[0].fix == "--input_nc 3"
    bad = root / "train_densepose" / "seq0" / "000.png"
    Image.new("RGB", (W // 2, H // 2)).save(bad)
    (root / "train_openpose" / "seq0" / "001.json").write_text("{}")
    paths = sorted(p.path for p in PoseDataset.check_dataset(pose_opt(root, input_nc=6)))
    assert paths == [str(bad), str(root / "train_openpose" / "seq0" / "001.json")]
