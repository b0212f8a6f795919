"""scripts/convert_keypoints.py: COCO-17, COCO-WholeBody, Halpe, MMPose, ControlNet/DWPose OpenPose-18 and MediaPipe
keypoints -> OpenPose BODY_25 JSON, checked against the real OpenPose output of the pose sample."""

from __future__ import annotations

import json

import numpy as np
import pytest

from data.detect.mapping import BODY25_FROM_MEDIAPIPE
from data.keypoints import read_openpose_json
from data.prepare.keypoint_formats import WHOLEBODY_FROM_HALPE
from data.prepare.wholebody import BODY25_FROM_COCO17, BODY25_FROM_COCO18, BODY25_FROM_WHOLEBODY_FEET
from scripts.convert_keypoints import main
from tests.conftest import DATASETS, require
from util.cli import run


@pytest.fixture
def openpose_people():
    """The pose sample's OpenPose people (BODY_25 + face + hands) per frame."""
    folder = require(DATASETS / "pose" / "train_openpose", "pose sample data")
    files = sorted(folder.glob("*/*.json"))
    return {f.stem: read_openpose_json(f)[0] for f in files}


def to_layout(person: dict, mapping: dict[int, int], size: int) -> np.ndarray:
    """(size, 3) points of another layout filled from a BODY_25 person (the inverse of ``mapping``)."""
    out = np.zeros((size, 3))
    for body25, other in mapping.items():
        out[other] = person["pose"][body25]
    return out


def wholebody(person: dict) -> np.ndarray:
    out = to_layout(person, {**BODY25_FROM_COCO17, **BODY25_FROM_WHOLEBODY_FEET}, 133)
    out[23:91], out[91:112], out[112:133] = person["face"][:68], person["hand_left"], person["hand_right"]
    return out


def convert(tmp_path, name: str, doc, *flags: str) -> dict:
    tmp_path.mkdir(parents=True, exist_ok=True)
    source = tmp_path / f"{name}.json"
    source.write_text(json.dumps(doc))
    assert run(main, [str(source), "--output", str(tmp_path / "out"), *flags]) == 0
    return {f.name.replace("_keypoints.json", ""): read_openpose_json(f) for f in (tmp_path / "out").iterdir()}


def assert_mapped(got: dict, want: dict, joints) -> None:
    for j in joints:
        assert np.allclose(got["pose"][j], want["pose"][j], atol=1e-3), j


def test_alphapose_coco17_results(tmp_path, openpose_people):
    doc = [{"image_id": f"{name}.jpg", "category_id": 1, "score": 2.9,
            "keypoints": to_layout(p, BODY25_FROM_COCO17, 17).reshape(-1).tolist()}
           for name, p in openpose_people.items()]
    out = convert(tmp_path, "alphapose-results", doc)
    assert sorted(out) == sorted(openpose_people)
    for name, want in openpose_people.items():
        got = out[name][0]
        assert_mapped(got, want, BODY25_FROM_COCO17)
        assert (got["pose"][19:] == 0).all() and (got["face"] == 0).all()  # COCO-17 has no feet or face
        shoulders = want["pose"][[2, 5], :2].mean(0)
        assert np.allclose(got["pose"][1, :2], shoulders)
        # OpenPose's own neck is close to the shoulder midpoint (within 3% of the frame height here)
        assert np.linalg.norm(got["pose"][1, :2] - want["pose"][1, :2]) < 0.03 * 1080


def test_mmpose_wholebody_predictions(tmp_path, openpose_people):
    name, want = next(iter(openpose_people.items()))
    points = wholebody(want)
    doc = [{"keypoints": points[:, :2].tolist(), "keypoint_scores": points[:, 2].tolist(), "bbox": [[0, 0, 1, 1]]}]
    got = convert(tmp_path, name, doc)[name][0]
    assert_mapped(got, want, list(BODY25_FROM_COCO17) + list(BODY25_FROM_WHOLEBODY_FEET))
    assert np.allclose(got["face"][:68], want["face"][:68], atol=1e-3)
    assert np.allclose(got["hand_left"], want["hand_left"], atol=1e-3)
    assert np.allclose(got["hand_right"], want["hand_right"], atol=1e-3)
    # OpenPose's pupils vs the eye-contour centres this converter derives: a few pixels apart
    assert np.linalg.norm(got["face"][68:, :2] - want["face"][68:, :2], axis=1).max() < 10


def test_halpe136_and_coco_wholebody_annotations(tmp_path, openpose_people):
    name, want = next(iter(openpose_people.items()))
    whole = wholebody(want)
    halpe = np.zeros((136, 3))
    for w, h in WHOLEBODY_FROM_HALPE.items():
        halpe[h] = whole[w]
    got = convert(tmp_path / "halpe", "results", [{"image_id": 7, "keypoints": halpe.reshape(-1).tolist()}])
    assert list(got) == ["frame000007"]
    assert np.allclose(got["frame000007"][0]["pose"][19:], want["pose"][19:], atol=1e-3)  # feet reordered right
    flat = whole.reshape(-1).tolist()
    doc = {"images": [{"id": 3, "file_name": f"{name}.jpg"}],
           "annotations": [{"image_id": 3, "keypoints": flat[:51], "foot_kpts": flat[51:69],
                            "face_kpts": flat[69:273], "lefthand_kpts": flat[273:336],
                            "righthand_kpts": flat[336:]}]}
    got = convert(tmp_path / "coco", "person_keypoints", doc)[name][0]
    assert np.allclose(got["hand_right"], want["hand_right"], atol=1e-3)


def test_controlnet_dwpose_openpose18_normalised(tmp_path, openpose_people):
    name, want = next(iter(openpose_people.items()))
    body = to_layout(want, BODY25_FROM_COCO18, 18)
    body[:, :2] /= [1920, 1080]
    face = want["face"][:68].copy()
    face[:, :2] /= [1920, 1080]
    doc = {"people": [{"pose_keypoints_2d": body.reshape(-1).tolist(), "face_keypoints_2d": face.reshape(-1).tolist(),
                       "hand_left_keypoints_2d": None, "hand_right_keypoints_2d": None}],
           "canvas_width": 1920, "canvas_height": 1080}
    got = convert(tmp_path, name, doc)[name][0]
    assert_mapped(got, want, BODY25_FROM_COCO18)
    assert np.allclose(got["face"][:68], want["face"][:68], atol=1e-3)
    mid_hip = want["pose"][[9, 12]].mean(0)
    assert np.allclose(got["pose"][8, :2], mid_hip[:2], atol=1e-3)


def test_mediapipe_landmarks_need_the_frame_size(tmp_path, openpose_people, capsys):
    name, want = next(iter(openpose_people.items()))
    landmarks = [{"x": 0.0, "y": 0.0, "z": 0.0, "visibility": 0.0} for _ in range(33)]
    for body25, mp in BODY25_FROM_MEDIAPIPE.items():
        x, y, _ = want["pose"][body25]
        landmarks[mp] = {"x": x / 1920, "y": y / 1080, "z": 0.0, "visibility": 0.9}
    got = convert(tmp_path, name, {"pose_landmarks": landmarks}, "--width", "1920", "--height", "1080")[name][0]
    seen = [j for j in BODY25_FROM_MEDIAPIPE if want["pose"][j, 2] > 0]
    assert np.allclose(got["pose"][seen, :2], want["pose"][seen, :2], atol=1e-3)
    assert np.allclose(got["pose"][seen, 2], 0.9)
    source = tmp_path / "again.json"
    source.write_text(json.dumps([landmarks, landmarks]))
    capsys.readouterr()
    assert run(main, [str(source), "--output", str(tmp_path / "nosize")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--width" in err[0] and "again.json" in err[0]
    assert not (tmp_path / "nosize").exists()


def test_unknown_format_is_one_error_and_writes_nothing(tmp_path, capsys):
    folder = tmp_path / "frames"
    folder.mkdir()
    (folder / "a.json").write_text(json.dumps([{"image_id": 1, "keypoints": [0.0] * 51}]))
    (folder / "b.json").write_text(json.dumps({"bodies": [[1, 2, 3]]}))
    assert run(main, [str(folder), "--output", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "b.json" in err[0] and "unknown keypoint format" in err[0]
    assert not (tmp_path / "out").exists()  # a.json was fine, but nothing is written before every file converts
    (folder / "b.json").write_text("{not json")
    assert run(main, [str(folder), "--output", str(tmp_path / "out")]) == 2
    assert "not a JSON file" in capsys.readouterr().err
