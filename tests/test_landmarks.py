"""Preprocessing: scripts/extract_frames.py and data/face_landmark_detection.py (dlib parts skip without dlib)."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from conftest import DATASETS, REPO, require

from data import face_landmark_detection as fld
from data import keypoints as kp

FACE_SEQ = DATASETS / "face" / "train_img" / "ZzTpJYDc62E_4"
KEYPOINTS = DATASETS / "face" / "train_keypoints" / "ZzTpJYDc62E_4"


def _require_dlib() -> None:
    """Skip, with the reason, where the optional dlib extra or its model package is not installed."""
    pytest.importorskip("dlib", reason="dlib is an optional extra (pip install dlib face_recognition_models)")
    if importlib.util.find_spec("face_recognition_models") is None:  # its __init__ needs pkg_resources: not run
        pytest.skip("the 68-point model ships in face_recognition_models, which is not installed")


def _extract_frames_module():
    spec = importlib.util.spec_from_file_location("extract_frames", REPO / "scripts" / "extract_frames.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_video(path: Path, frames: list[np.ndarray]) -> None:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    assert writer.isOpened()
    for frame in frames:
        writer.write(frame)
    writer.release()


def _colour_frames(n: int = 5) -> list[np.ndarray]:
    return [np.full((32, 48, 3), 40 * (i + 1), np.uint8) for i in range(n)]


class _FakeShape:
    num_parts = 68

    def __init__(self, offset: int) -> None:
        self.offset = offset

    def part(self, i: int) -> SimpleNamespace:
        return SimpleNamespace(x=i + self.offset, y=2 * i)


def _fake_models(no_face_below: int = 100):
    """A detector that finds a face only on bright frames, and a predictor returning a fixed pattern."""
    def detector(image, upsample):
        assert upsample == 1
        return ["face"] if image.mean() >= no_face_below else []

    def predictor(image, face):
        return _FakeShape(offset=int(image.mean()))

    return detector, predictor


def test_extract_frames_numbers_every_frame(tmp_path):
    extract = _extract_frames_module()
    video = tmp_path / "clip.avi"
    _write_video(video, _colour_frames(5))
    assert extract.extract_frames(video, tmp_path / "all") == 5
    assert sorted(p.name for p in (tmp_path / "all").iterdir()) == [f"{i:05d}.jpg" for i in range(5)]
    assert extract.main(["--video", str(video), "--output", str(tmp_path / "half"), "--every", "2",
                         "--ext", ".png"]) == 3
    third = cv2.imread(str(tmp_path / "half" / "00002.png"))
    assert abs(int(third.mean()) - 200) <= 3  # frame 4 of the video: every second frame is kept
    with pytest.raises(ValueError, match="missing.avi"):
        extract.extract_frames(tmp_path / "missing.avi", tmp_path / "none")


def test_detection_writes_our_layout_and_reports_missing_faces(tmp_path):
    frames = tmp_path / "frames" / "seqA"
    frames.mkdir(parents=True)
    for i, frame in enumerate(_colour_frames(4)):
        cv2.imwrite(str(frames / f"{i:05d}.png"), frame)
    written, missing = fld.detect_folder(tmp_path / "frames", tmp_path / "keypoints", models=_fake_models())
    assert (written, missing) == (2, ["seqA/00000", "seqA/00001"])  # means 40 and 80: no face
    points = kp.read_face_landmarks(tmp_path / "keypoints" / "seqA" / "00002.txt")
    np.testing.assert_array_equal(points[:, 1], 2 * np.arange(68))
    assert not (tmp_path / "keypoints" / "seqA" / "00000.txt").exists()


def test_detection_reads_a_video_file(tmp_path):
    video = tmp_path / "clip.avi"
    _write_video(video, _colour_frames(3))
    written, missing = fld.detect_folder(video, tmp_path / "kp", models=_fake_models(no_face_below=0))
    assert written == 3 and missing == []
    assert sorted(p.name for p in (tmp_path / "kp").iterdir()) == ["00000.txt", "00001.txt", "00002.txt"]


def test_missing_dlib_gives_an_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(ImportError, match="pip install dlib"):
        fld.load_models()


def test_dlib_finds_the_shipped_landmarks(tmp_path):
    _require_dlib()
    require(FACE_SEQ, "face sample data")
    shutil.copytree(FACE_SEQ, tmp_path / "img" / "seq")
    written, missing = fld.detect_folder(tmp_path / "img", tmp_path / "kp")
    assert written == 5 and missing == []
    for shipped in sorted(KEYPOINTS.glob("*.txt")):
        found = kp.read_face_landmarks(tmp_path / "kp" / "seq" / shipped.name)
        error = np.linalg.norm(found - kp.read_face_landmarks(shipped), axis=1)
        assert error.mean() < 3.0 and error.max() < 8.0, (shipped.name, error.mean(), error.max())


def test_command_line_runs_as_a_script(tmp_path):
    _require_dlib()
    require(FACE_SEQ, "face sample data")
    import subprocess

    (tmp_path / "one").mkdir()
    shutil.copy(FACE_SEQ / "00000.jpg", tmp_path / "one" / "00000.jpg")
    cv2.imwrite(str(tmp_path / "one" / "00001.jpg"), np.zeros((64, 64, 3), np.uint8))
    result = subprocess.run([sys.executable, str(REPO / "data" / "face_landmark_detection.py"),
                             "--input", str(tmp_path / "one"), "--output", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "00000.txt").exists() and not (tmp_path / "out" / "00001.txt").exists()
    assert "00001" in result.stderr
