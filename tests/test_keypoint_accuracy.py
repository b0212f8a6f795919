"""The accuracy figures of docs/own-video.md, held on the shared samples: MediaPipe against OpenPose (PCK) on the
pose clip, MediaPipe FaceMesh-68 and the dlib back-end against the sample's dlib landmarks on the face clip."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from conftest import DATASETS, REPO, SHARED, require

from data.detect.accuracy import face_errors, keypoint_hits, pck


def _bench():
    spec = importlib.util.spec_from_file_location("bench_own_video", REPO / "bench" / "own_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _needs(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (make test installs it)")


def test_keypoint_hits_count_only_confident_reference_points():
    reference = np.array([[0, 0, 1.0], [10, 0, 1.0], [50, 50, 0.0]])
    predicted = np.array([[1, 0, 1.0], [10, 9, 0.0], [0, 0, 1.0]])  # 2nd: missing; 3rd: reference missing
    assert keypoint_hits(predicted, reference, 2.0) == (1, 2)


def test_pck_scales_with_the_person_height():
    body = np.zeros((25, 3))
    body[:, 1], body[:, 2] = np.linspace(0, 100, 25), 1.0
    person = {"pose": body, "face": np.zeros((70, 3)), "hand_left": np.zeros((21, 3)), "hand_right": np.zeros((21, 3))}
    moved = {**person, "pose": body + [3.0, 0.0, 0.0]}
    assert pck([(moved, person)], "body", 0.05) == (1.0, 25)  # 3 px < 5 px
    assert pck([(moved, person)], "body", 0.02)[0] == 0.0  # 3 px > 2 px


@pytest.mark.slow
def test_mediapipe_matches_openpose_on_the_pose_sample():
    _needs("mediapipe")
    require(DATASETS / "pose" / "train_openpose", "pose sample data")
    pairs, _ = _bench().pose_pairs(SHARED)
    assert pck(pairs, "body", 0.05)[0] >= 0.95  # measured 1.000 (124 joints)
    assert pck(pairs, "body", 0.02)[0] >= 0.6  # measured 0.726
    assert pck(pairs, "face", 0.05)[0] >= 0.95  # measured 1.000 (350 points)


@pytest.mark.slow
@pytest.mark.parametrize("backend,limit", [("mediapipe", 0.07), ("dlib", 0.02)])  # measured 0.044 and 0.008
def test_face_landmarks_match_dlib_on_the_face_sample(backend, limit):
    _needs(backend)
    require(DATASETS / "face" / "train_keypoints", "face sample data")
    pairs, _ = _bench().face_pairs(SHARED, backend)
    errors = face_errors(pairs)
    assert errors["all 68"] <= limit, errors
    assert errors["eyes"] <= limit, errors
