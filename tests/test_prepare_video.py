"""scripts/prepare_video.py and data/prepare, data/detect: MediaPipe mappings, the pipeline (resume, atomic writes,
gap filling, dropping), errors, and real runs on the shared samples turned into mp4 files (MediaPipe and dlib)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from conftest import DATASETS, REPO, require
from PIL import Image

from data import keypoints as kp
from data.detect import mapping
from data.prepare.errors import PrepareError
from data.prepare.face import FaceWriter
from data.prepare.frames import open_source
from data.prepare.pipeline import missing_runs, prepare_sequence

TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_blocks", "1", "--n_downsample_G", "2",
        "--nThreads", "0", "--loadSize", "64", "--fineSize", "64"]
TINY_TRAIN = ["--num_D", "1", "--n_frames_D", "2", "--no_vgg", "--flow_backend", "dis", "--niter", "1",
              "--niter_decay", "0", "--n_frames_total", "3", "--max_frames_per_gpu", "2"]


def _script():
    spec = importlib.util.spec_from_file_location("prepare_video_script", REPO / "scripts" / "prepare_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _needs(module: str, extra: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed (make test installs it: pip install -e '.[{extra}]')")


def write_video(frames: list[np.ndarray], path: Path) -> Path:
    """RGB frames -> an H.264 mp4 written with imageio-ffmpeg's binary."""
    from util.video import VideoWriter

    with VideoWriter(path, fps=5, backend="ffmpeg") as writer:
        for frame in frames:
            writer.write(frame)
    return path


def sample_video(domain: str, path: Path) -> Path:
    root = require(DATASETS / domain / "train_img", f"{domain} sample data")
    files = sorted(next(root.iterdir()).iterdir())
    return write_video([np.asarray(Image.open(f).convert("RGB")) for f in files], path)


# ---------------------------------------------------------------- mappings
def test_body25_neck_and_mid_hip_are_midpoints_and_low_visibility_is_missing():
    rng = np.random.default_rng(0)
    pose = np.hstack([rng.uniform(10, 90, (33, 2)), np.ones((33, 1))])
    pose[27, 2] = 0.2  # left ankle barely visible
    body = mapping.body25_from_mediapipe(pose, (100, 100))
    np.testing.assert_allclose(body[1, :2], (pose[11, :2] + pose[12, :2]) / 2)
    np.testing.assert_allclose(body[8, :2], (pose[23, :2] + pose[24, :2]) / 2)
    np.testing.assert_allclose(body[4], pose[16])  # right wrist
    np.testing.assert_allclose(body[19], pose[31])  # left big toe = left foot index
    assert (body[14] == 0).all()  # the left ankle is written as OpenPose's missing point
    heel, toe = pose[30, :2], pose[32, :2]
    np.testing.assert_allclose(body[23, :2], toe + mapping.SMALL_TOE_BACK * (heel - toe))
    pose[16, 0] = 150  # outside the 100-pixel frame
    assert (mapping.body25_from_mediapipe(pose, (100, 100))[4] == 0).all()


def test_resampled_jaw_keeps_its_ends_and_spaces_points_evenly():
    line = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 30.0]])
    points = mapping.resample_polyline(line, 5)
    np.testing.assert_allclose(points[[0, -1]], line[[0, -1]])
    np.testing.assert_allclose(np.linalg.norm(np.diff(points, axis=0), axis=1), 10.0)


def test_face_mesh_maps_to_68_and_70_points_in_dlib_order():
    mesh = np.random.default_rng(1).uniform(0, 100, (478, 2))
    face68 = mapping.dlib68_from_mesh(mesh)
    assert face68.shape == (68, 2)
    np.testing.assert_allclose(face68[0], mesh[127])  # jaw starts at the right ear
    np.testing.assert_allclose(face68[36], mesh[33])  # right eye outer corner
    np.testing.assert_allclose(face68[48], mesh[61])  # left mouth corner
    face70 = mapping.face70_from_mesh(mesh, 0.8)
    np.testing.assert_allclose(face70[68:, :2], mesh[[468, 473]])  # pupils = iris centres
    assert (face70[:, 2] == 0.8).all()
    np.testing.assert_allclose(mapping.pupils_from_mesh(mesh[:468])[0], (mesh[33] + mesh[133]) / 2)


# ---------------------------------------------------------------- pipeline with a scripted detector
class ScriptedFaceWriter(FaceWriter):
    """The face writer with a detector that returns fixed landmarks, or None for the frames in ``blind``."""

    def __init__(self, blind: set[int]) -> None:
        self.blind, self.calls = blind, 0
        base = np.stack(np.meshgrid(np.linspace(10, 50, 17), np.linspace(10, 40, 4)), -1).reshape(-1, 2)[:68]
        self.base = base

    def detect(self, frame: np.ndarray) -> np.ndarray | None:
        index = int(frame[0, 0, 0]) // 20
        self.calls += 1
        return None if index in self.blind else self.base + index


def _frame_folder(path: Path, count: int) -> Path:
    path.mkdir(parents=True)
    for i in range(count):
        Image.fromarray(np.full((48, 64, 3), 20 * i, np.uint8)).save(path / f"f{i}.png")
    return path


def _written(root: Path, folder: str) -> list[str]:
    return sorted(p.stem for p in (root / f"train_{folder}" / "clip").iterdir())


def test_short_gaps_are_interpolated_long_ones_dropped_from_every_folder(tmp_path):
    source = open_source(_frame_folder(tmp_path / "frames", 9))
    writer = ScriptedFaceWriter(blind={2, 5, 6, 7})
    report = prepare_sequence(source, writer, root=tmp_path / "ds", phase="train", seq="clip", max_gap=2,
                              progress=False)
    assert report.filled == ["00002"] and report.dropped == ["00005", "00006", "00007"]
    kept = ["00000", "00001", "00002", "00003", "00004", "00008"]
    assert _written(tmp_path / "ds", "img") == kept == _written(tmp_path / "ds", "keypoints")
    filled = kp.read_face_landmarks(tmp_path / "ds" / "train_keypoints" / "clip" / "00002.txt")
    np.testing.assert_allclose(filled, np.round(writer.base + 2), atol=1)  # halfway between frames 1 and 3
    assert not (tmp_path / "ds" / ".prepare").exists()
    assert not list((tmp_path / "ds").rglob("*.part"))
    assert json.loads((tmp_path / "ds" / "train_clip.prepare.json").read_text())["dropped"] == report.dropped


def test_a_second_run_resumes_and_skips_finished_frames(tmp_path):
    source = open_source(_frame_folder(tmp_path / "frames", 5))
    first = ScriptedFaceWriter(blind=set())
    prepare_sequence(source, first, root=tmp_path / "ds", phase="train", seq="clip", progress=False)
    (tmp_path / "ds" / "train_img" / "clip" / "00003.jpg").unlink()  # as if stopped while writing frame 3
    again = ScriptedFaceWriter(blind=set())
    report = prepare_sequence(source, again, root=tmp_path / "ds", phase="train", seq="clip", progress=False)
    assert again.calls == 1 and report.resumed == 4
    assert len(_written(tmp_path / "ds", "img")) == 5


def test_ctrl_c_leaves_only_whole_frames_and_the_next_run_finishes(tmp_path):
    class Interrupted(ScriptedFaceWriter):
        def encode(self, folder, annotation):
            if annotation[0, 0] == self.base[0, 0] + 3:  # while writing frame 3
                raise KeyboardInterrupt
            return super().encode(folder, annotation)

    source = open_source(_frame_folder(tmp_path / "frames", 6))
    with pytest.raises(KeyboardInterrupt):
        prepare_sequence(source, Interrupted(blind={1}), root=tmp_path / "ds", phase="train", seq="clip",
                         progress=False)
    assert _written(tmp_path / "ds", "img") == ["00000", "00002"] == _written(tmp_path / "ds", "keypoints")
    assert not list((tmp_path / "ds").rglob("*.part"))
    report = prepare_sequence(source, ScriptedFaceWriter(blind={1}), root=tmp_path / "ds", phase="train",
                              seq="clip", progress=False)
    assert report.resumed == 3 and report.filled == ["00001"]  # frame 1 waited in staging across the interruption
    assert len(_written(tmp_path / "ds", "img")) == 6 == len(_written(tmp_path / "ds", "keypoints"))


def test_missing_runs():
    assert missing_runs([True, False, False, True, False]) == [(1, 3), (4, 5)]
    assert missing_runs([True, True]) == []


# ---------------------------------------------------------------- errors: one error line, exit 2, nothing written
def _run_cli(argv: list[str], capsys) -> tuple[int, str]:
    from util.cli import run

    code = run(_script().main, argv, returns_code=True)
    return code, capsys.readouterr().err


def test_a_video_that_cannot_be_decoded_is_one_error_line(tmp_path, capsys):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all" * 100)
    code, err = _run_cli(["--mode", "face", "--input", str(broken), "--dataroot", str(tmp_path / "ds")], capsys)
    assert code == 2 and err.startswith("error: ") and "broken.mp4" in err and "re-encode" in err
    assert not (tmp_path / "ds").exists()


def test_an_unknown_backend_is_one_error_line(tmp_path, capsys):
    frames = _frame_folder(tmp_path / "frames", 2)
    code, err = _run_cli(["--mode", "pose", "--input", str(frames), "--dataroot", str(tmp_path / "ds"),
                          "--backend", "openpose"], capsys)
    assert code == 2 and "--backend openpose" in err and "mediapipe" in err
    assert not (tmp_path / "ds").exists()


def test_a_missing_backend_package_names_the_install(tmp_path, capsys, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mediapipe(name, *args, **kwargs):
        if name.startswith("mediapipe"):
            raise ImportError(f"No module named '{name}'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mediapipe)
    frames = _frame_folder(tmp_path / "frames", 2)
    code, err = _run_cli(["--mode", "pose", "--input", str(frames), "--dataroot", str(tmp_path / "ds")], capsys)
    assert code == 2 and "pip install --no-deps mediapipe==0.10.14" in err
    assert not (tmp_path / "ds").exists()


def test_nothing_detected_anywhere_is_an_error_and_leaves_nothing(tmp_path):
    source = open_source(_frame_folder(tmp_path / "frames", 3))
    with pytest.raises(PrepareError, match="no face in any of its 3 frames"):
        prepare_sequence(source, ScriptedFaceWriter(blind={0, 1, 2}), root=tmp_path / "ds", phase="train",
                         seq="clip", progress=False)
    assert not [p for p in (tmp_path / "ds").rglob("*") if p.is_file()]


@pytest.mark.parametrize("mode", ["pose", "face"])
def test_a_video_without_a_person_or_face_is_one_error_line(tmp_path, capsys, mode):
    _needs("mediapipe", "pose")
    video = write_video([np.full((120, 160, 3), 90, np.uint8)] * 3, tmp_path / "empty.mp4")
    code, err = _run_cli(["--mode", mode, "--input", str(video), "--dataroot", str(tmp_path / "ds"),
                          "--backend", "mediapipe", "--no_progress"], capsys)
    assert code == 2 and "empty.mp4" in err and ("no person" if mode == "pose" else "no face") in err
    assert not [p for p in (tmp_path / "ds").rglob("*") if p.is_file()]


# ---------------------------------------------------------------- real runs on the shared samples
def _train_tiny_step_then_test_the_raw_video(root: Path, tmp_path: Path, flags: list[str], video: Path,
                                             detector: str, workers: int = 0) -> None:
    """A tiny training step on the prepared dataset, then test.py straight from the raw video -> an mp4.

    With ``workers`` > 0, test.py runs in a fresh process with that many data-loader workers, each building its own
    detector (a MediaPipe graph built in a parent process breaks the workers forked after it).
    """
    import subprocess
    import sys

    import torch

    from tests.test_face_pose_runs import _load

    common = TINY + ["--n_frames_G", "2", "--name", "prepared", "--checkpoints_dir", str(tmp_path / "ckpt")] + flags
    _load("train").main(common + TINY_TRAIN + ["--dataroot", str(root)])
    state = torch.load(tmp_path / "ckpt" / "prepared" / "latest_net_G0.pth", map_location="cpu", weights_only=True)
    assert all(torch.isfinite(v).all() for v in state.values() if v.is_floating_point())
    test_argv = common + ["--input_video", str(video), "--detector", detector, "--use_real_img",
                          "--results_dir", str(tmp_path / "results"), "--nThreads", str(workers)]
    if workers:
        done = subprocess.run([sys.executable, str(REPO / "test.py"), *test_argv], cwd=REPO, capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        assert "generated 4 frames" in done.stdout
    else:
        assert _load("test").main(test_argv)["frames"] == 5 - 1  # the first n_frames_G - 1 frames are the real ones
    videos = list((tmp_path / "results").rglob("*.mp4"))
    assert [v.name for v in videos] == [f"{video.stem}.mp4"] and videos[0].stat().st_size > 0


@pytest.mark.slow
def test_pose_dataset_from_a_raw_video_checks_and_trains(tmp_path, capsys):
    _needs("mediapipe", "pose")
    video = sample_video("pose", tmp_path / "dance.mp4")
    root = tmp_path / "ds"
    assert _script().main(["--mode", "pose", "--input", str(video), "--dataroot", str(root), "--no_progress"]) == 0
    assert "no problems found" in capsys.readouterr().out
    people = kp.read_openpose_json(root / "train_openpose" / "dance" / "00000.json")
    assert len(people) == 1 and (people[0]["pose"][:, 2] > 0).sum() >= 20 and (people[0]["face"][:, 2] > 0).all()
    assert len(list((root / "train_img" / "dance").glob("*.jpg"))) == 5
    _train_tiny_step_then_test_the_raw_video(root, tmp_path, ["--dataset_mode", "pose", "--openpose_only",
                                                              "--input_nc", "3", "--resize_or_crop", "scaleHeight"],
                                             video, "mediapipe", workers=2)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["dlib", "mediapipe"])
def test_face_dataset_from_a_raw_video_checks_and_trains(tmp_path, capsys, backend):
    _needs("dlib" if backend == "dlib" else "mediapipe", "face" if backend == "dlib" else "pose")
    video = sample_video("face", tmp_path / "talk.mp4")
    root = tmp_path / "ds"
    assert _script().main(["--mode", "face", "--input", str(video), "--dataroot", str(root), "--backend", backend,
                           "--no_progress"]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert len(list((root / "train_keypoints" / "talk").glob("*.txt"))) == 5
    _train_tiny_step_then_test_the_raw_video(root, tmp_path, ["--dataset_mode", "face", "--input_nc", "15"], video,
                                             backend)


def test_a_raw_pose_video_needs_an_openpose_only_model(tmp_path):
    from data.check import DatasetError
    from tests.test_face_pose_runs import _load

    video = write_video([np.full((64, 96, 3), 90, np.uint8)] * 3, tmp_path / "clip.mp4")
    with pytest.raises(DatasetError, match="--openpose_only --input_nc 3"):
        _load("test").main(TINY + ["--dataset_mode", "pose", "--input_nc", "6", "--input_video", str(video),
                                   "--name", "x", "--checkpoints_dir", str(tmp_path), "--no_first_img"])


@pytest.mark.parametrize("mode", ["pose", "face"])
def test_raw_video_input_memory_stays_flat_over_the_videos_length(tmp_path, monkeypatch, mode):
    """Python allocations while reading every frame of a 12- and a 48-frame video (detector scripted): the longer
    video holds no more than the shorter one (nothing per frame is kept)."""
    import tracemalloc

    from conftest import make_opt

    from data import create_dataset
    from data.prepare import face, pose

    person = mapping.empty_person()
    person["pose"][[0, 1, 8], :] = [[40, 10, 1], [40, 20, 1], [40, 40, 1]]
    landmarks = ScriptedFaceWriter(blind=set()).base + 20
    from data.detect.backends import Backend

    monkeypatch.setitem(pose.POSE_BACKENDS, "mediapipe", Backend(lambda: (lambda frame: person), lambda: None))
    monkeypatch.setitem(face.FACE_BACKENDS, "mediapipe", Backend(lambda: (lambda frame: landmarks), lambda: None))
    flags = (["--openpose_only", "--input_nc", "3", "--resize_or_crop", "scaleHeight"] if mode == "pose"
             else ["--input_nc", "15"])
    peaks = {}
    for count in (12, 48):
        rng = np.random.default_rng(count)
        video = write_video([rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(count)],
                            tmp_path / f"clip{count}.mp4")
        opt = make_opt(TINY + ["--dataset_mode", mode, "--detector", "mediapipe", "--input_video", str(video)]
                       + flags, train=False)
        dataset = create_dataset(opt)
        assert len(dataset) == count
        dataset[0]
        tracemalloc.start()
        for index in range(1, count):
            assert dataset[index]["A"].shape[1] == (3 if mode == "pose" else 15)
        peaks[count] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peaks[48] < 1.25 * peaks[12] + 100_000, peaks


def test_a_raw_face_video_without_a_face_is_one_error(tmp_path):
    from conftest import make_opt

    from data import create_dataset
    from data.check import DatasetError
    from util.cli import is_user_error

    _needs("mediapipe", "pose")
    video = write_video([np.full((64, 96, 3), 90, np.uint8)] * 3, tmp_path / "wall.mp4")
    opt = make_opt(TINY + ["--dataset_mode", "face", "--input_nc", "15", "--input_video", str(video),
                           "--detector", "mediapipe"], train=False)
    with pytest.raises(DatasetError, match=r"wall\.mp4: no face in its first") as info:
        create_dataset(opt)[0]
    assert is_user_error(info.value)  # test.py prints it as one error: line, exit 2
