"""data/face_dataset.py on the shared face sample: shapes, edges on the face, crops, errors."""

from __future__ import annotations

import argparse
import random
import shutil

import numpy as np
import pytest
import torch
from conftest import DATASETS, require
from PIL import Image

from data import keypoints as kp
from data.face_dataset import FaceDataset, face_crop_box
from options import options_at_defaults

FACE = DATASETS / "face"
SEQ = "ZzTpJYDc62E_4"


def face_opt(root, isTrain: bool = True, **overrides) -> argparse.Namespace:
    """train.py's (or test.py's) options at their defaults for the face mode, 128 px, no flips."""
    values = dict(dataroot=str(root), phase="train", dataset_mode="face", n_frames_G=1, resize_or_crop="scaleWidth",
                  loadSize=128, fineSize=128, no_flip=True,
                  **(dict(n_frames_total=2, max_frames_per_gpu=2) if isTrain else {}))
    values.update(overrides)
    return options_at_defaults(isTrain, **values)


@pytest.fixture
def face_root():
    return require(FACE / "train_keypoints", "face sample data").parent


def to_output(points: np.ndarray, box, size: int) -> np.ndarray:
    """Landmarks (N, 2) in frame pixels -> pixels of the cropped, resized (size x size) input."""
    left, top, right, _ = box
    return (points - [left, top]) * size / (right - left)


def test_sample_shapes_and_ranges(face_root):
    random.seed(0)
    dataset = FaceDataset(face_opt(face_root))
    assert len(dataset) == 1
    sample = dataset[0]
    assert sample["A"].shape == (2, 15, 128, 128)  # --input_nc 15
    assert sample["B"].shape == (2, 3, 128, 128) and sample["inst"].shape == (2, 1, 128, 128)
    assert 0 <= sample["A"].min() and sample["A"].max() <= 1
    assert -1 <= sample["B"].min() and sample["B"].max() <= 1 and sample["B"].std() > 0.1
    assert set(sample["inst"].unique().tolist()) == {0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0}
    assert len(sample["A_paths"]) == 2 and sample["A_paths"][0].endswith(".txt")
    assert FaceDataset(face_opt(face_root, no_dist_map=True))[0]["A"].shape == (2, 1, 128, 128)


def test_crop_contains_every_landmark_of_every_frame(face_root):
    for path in sorted((face_root / "train_keypoints" / SEQ).glob("*.txt")):
        points = kp.read_face_landmarks(path)
        left, top, right, bottom = face_crop_box(points, (640, 480))
        assert right - left == bottom - top > 2 * np.ptp(points[:, 0])
        assert (points[:, 0] >= left).all() and (points[:, 0] < right).all()
        assert (points[:, 1] >= top).all() and (points[:, 1] < bottom).all()


def test_drawn_edges_land_on_the_face(face_root):
    dataset = FaceDataset(face_opt(face_root, isTrain=False, phase="train", no_canny_edge=True))
    sample = dataset[0]
    edges, dists = sample["A"][0, 0].numpy(), sample["A"][0, 1:].numpy()
    points = kp.add_upper_face(kp.read_face_landmarks(sample["A_paths"][0]))
    out = to_output(points, dataset.crop_box(0, 0), 128)
    segments = [(out[a], out[b]) for _, lines in kp.FACE_PARTS for line in lines for a, b in zip(line[:-1], line[1:])]
    ys, xs = np.nonzero(edges > 0.5)
    assert len(ys) > 200
    pixels = np.stack([xs, ys], axis=1).astype(float)
    gaps = []
    for a, b in segments:
        ab = b - a
        t = np.clip(((pixels - a) @ ab) / max(float(ab @ ab), 1e-9), 0, 1)
        gaps.append(np.linalg.norm(pixels - (a + t[:, None] * ab), axis=1))
    assert np.min(gaps, axis=0).max() < 3.0
    # Each landmark on a polyline is on (distance ~0 in) the distance map of some polyline.
    used = sorted({i for _, lines in kp.FACE_PARTS for line in lines for i in line})
    cols, rows = np.clip(out[used].round().astype(int), 0, 127).T
    assert dists[:, rows, cols].min(axis=0).max() <= 2 / 255 + 1e-6


def test_canny_adds_background_edges_only_outside_the_face(face_root):
    with_canny = FaceDataset(face_opt(face_root, isTrain=False))[0]
    without = FaceDataset(face_opt(face_root, isTrain=False, no_canny_edge=True))[0]
    extra = (with_canny["A"][0, 0] > 0.5) & ~(without["A"][0, 0] > 0.5)
    assert extra.sum() > 100
    inside = with_canny["inst"][0, 0] > 0
    assert (extra & inside).sum() < 0.05 * extra.sum()  # bilinear resizing blurs the mask border only
    torch.testing.assert_close(with_canny["A"][0, 1:], without["A"][0, 1:])


def test_random_scale_points_moves_edges_not_labels(face_root):
    plain = FaceDataset(face_opt(face_root, isTrain=False))[0]
    moved = FaceDataset(face_opt(face_root, isTrain=False, random_scale_points=True))[0]
    torch.testing.assert_close(plain["inst"], moved["inst"])
    assert not torch.equal(plain["A"], moved["A"])
    trained = FaceDataset(face_opt(face_root, isTrain=True, random_scale_points=True, n_frames_total=1))
    random.seed(0)
    sample = trained[0]
    random.seed(0)
    reference = FaceDataset(face_opt(face_root, isTrain=True, n_frames_total=1))[0]
    torch.testing.assert_close(sample["A"], reference["A"])  # a test-time option only


def _shifted_copy(src, dst, dx: int) -> None:
    """Copy the sample as sequence ``SEQ`` and add a second sequence shifted right by ``dx`` pixels."""
    for name in ("train_keypoints", "train_img"):
        shutil.copytree(src / name / SEQ, dst / name / SEQ)
    (dst / "train_keypoints" / "moved").mkdir(parents=True)
    (dst / "train_img" / "moved").mkdir(parents=True)
    for path in sorted((src / "train_keypoints" / SEQ).glob("*.txt")):
        points = kp.read_face_landmarks(path) + [dx, 0]
        np.savetxt(dst / "train_keypoints" / "moved" / path.name, points, fmt="%d", delimiter=",")
        image = np.asarray(Image.open(src / "train_img" / SEQ / f"{path.stem}.jpg"))
        Image.fromarray(np.roll(image, dx, axis=1)).save(dst / "train_img" / "moved" / f"{path.stem}.jpg")


def test_test_crop_is_computed_per_sequence(face_root, tmp_path):
    _shifted_copy(face_root, tmp_path, dx=100)
    dataset = FaceDataset(face_opt(tmp_path, isTrain=False))
    assert [dataset.sequence_name(s) for s in range(2)] == [SEQ, "moved"]
    first, moved = dataset.crop_box(0, 0), dataset.crop_box(1, 0)
    assert moved[0] != first[0]  # the reference reused the first sequence's crop here
    last = dataset[len(dataset) - 1]
    assert last["seq_name"] == "moved"
    points = kp.read_face_landmarks(last["A_paths"][0])
    assert (points[:, 0] >= moved[0]).all() and (points[:, 0] < moved[2]).all()
    torch.testing.assert_close(last["A"][0, 1:], dataset[len(dataset) // 2 - 1]["A"][0, 1:], atol=0.05, rtol=0)


def test_malformed_keypoint_file_names_the_file(face_root, tmp_path):
    for name in ("train_keypoints", "train_img"):
        shutil.copytree(face_root / name / SEQ, tmp_path / name / SEQ)
    bad = tmp_path / "train_keypoints" / SEQ / "00000.txt"
    bad.write_text("".join(bad.read_text().splitlines(keepends=True)[:67]))
    dataset = FaceDataset(face_opt(tmp_path, isTrain=False))
    with pytest.raises(ValueError, match=r"00000\.txt.*68"):
        dataset[0]


def test_dataset_check_hook_reports_bad_files_and_channels(face_root, tmp_path):
    assert FaceDataset.check_dataset(face_opt(face_root, input_nc=15)) == []
    for name in ("train_keypoints", "train_img"):
        shutil.copytree(face_root / name / SEQ, tmp_path / name / SEQ)
    bad = tmp_path / "train_keypoints" / SEQ / "00003.txt"
    bad.write_text("".join(bad.read_text().splitlines(keepends=True)[:67]))
    problems = FaceDataset.check_dataset(face_opt(tmp_path, input_nc=3))
    assert [p.path for p in problems] == ["--input_nc", str(bad)]
    assert "--input_nc 15" in problems[0].fix
    assert FaceDataset.check_dataset(face_opt(tmp_path, input_nc=1, no_dist_map=True))[0].path == str(bad)
