"""Malformed datasets of every mode: train.py and test.py stop before any work with one ``error:`` naming the
file and the fix, exit code 2, and nothing written (no checkpoint or results folder).

Cases that only test.py refuses (names of results, ``--input_video``) are checked to be accepted by the
training check where a training run is right (``test_test_only_cases_are_accepted_in_training``)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from PIL import Image
from test_pose_dataset import make_pose_root

import test as test_script
import train
from scripts.make_toy_dataset import make_toy_dataset
from util.cli import run

REPO = Path(__file__).resolve().parent.parent
COMMON = ["--gpu_ids", "-1", "--nThreads", "0", "--n_frames_G", "2", "--loadSize", "64", "--ngf", "8",
          "--n_downsample_G", "2"]
FLAGS = {
    "street": ["--label_nc", "35", "--use_instance"],
    "video": ["--label_nc", "35"],
    "face": ["--dataset_mode", "face", "--input_nc", "15"],
    "pose": ["--dataset_mode", "pose", "--input_nc", "6", "--resize_or_crop", "scaleHeight"],
}
# test.py reads the training folders (--phase train), photos included (--use_real_img): one dataset serves both.
ENTRY = {"train": (train.main, ["--niter", "1", "--niter_decay", "0", "--no_vgg", "--flow_backend", "dis"]),
         "test": (test_script.main, ["--phase", "train", "--use_real_img"])}


# ---------------------------------------------------------------- clean datasets
def street_root(root: Path) -> Path:
    """Two training sequences of four 64x32 frames (label ids, instances, photos)."""
    make_toy_dataset(root, n_seqs=2, n_frames=4, width=64, height=32, seed=0, n_test_seqs=1)
    return root


def face_points(shift: float = 0.0) -> np.ndarray:
    """A plausible 68-point dlib face on a 128x128 frame: jaw, brows, nose, eyes, mouth."""
    jaw = [(30 + 68 * i / 16, 60 + 35 * np.sin(np.pi * i / 16)) for i in range(17)]
    brows = [(38 + 5 * i, 48) for i in range(5)] + [(70 + 5 * i, 48) for i in range(5)]
    nose = [(64, 55 + 5 * i) for i in range(4)] + [(56 + 4 * i, 76) for i in range(5)]
    eyes = [(cx + 6 * np.cos(a), 58 + 3 * np.sin(a)) for cx in (48, 80)
            for a in np.linspace(np.pi, 3 * np.pi, 6, endpoint=False)]
    mouth = [(64 + 14 * np.cos(a), 92 + 6 * np.sin(a)) for a in np.linspace(np.pi, 3 * np.pi, 12, endpoint=False)]
    inner = [(64 + 8 * np.cos(a), 92 + 3 * np.sin(a)) for a in np.linspace(np.pi, 3 * np.pi, 8, endpoint=False)]
    return np.array(jaw + brows + nose + eyes + mouth + inner) + shift


def write_points(path: Path, points: np.ndarray) -> None:
    path.write_text("".join(f"{x:.3f},{y:.3f}\n" for x, y in points))


def face_root(root: Path, n_seqs: int = 2, n_frames: int = 4) -> Path:
    """``train_keypoints/seq<i>/<t>.txt`` and ``train_img/seq<i>/<t>.jpg`` (128x128 frames)."""
    for s in range(n_seqs):
        for key in ("keypoints", "img"):
            (root / f"train_{key}" / f"seq{s}").mkdir(parents=True)
        for t in range(n_frames):
            write_points(root / "train_keypoints" / f"seq{s}" / f"{t:05d}.txt", face_points(t))
            photo = np.random.default_rng([s, t]).integers(0, 255, (128, 128, 3), dtype=np.uint8)
            Image.fromarray(photo).save(root / "train_img" / f"seq{s}" / f"{t:05d}.jpg")
    return root


def pose_root(root: Path) -> Path:
    """The synthetic pose folders of tests/test_pose_dataset.py: two sequences of three 256x128 frames."""
    return make_pose_root(root, lengths=(3, 3))


def write_video(path: Path, frames: list[np.ndarray]) -> Path:
    """An H.264 mp4 with its index first (``+faststart``, as web videos are), so a cut file still opens."""
    import imageio_ffmpeg

    writer = imageio_ffmpeg.write_frames(str(path), (frames[0].shape[1], frames[0].shape[0]), fps=10,
                                         codec="libx264", pix_fmt_out="yuv420p", macro_block_size=1,
                                         output_params=["-movflags", "+faststart"])
    writer.send(None)
    for frame in frames:
        writer.send(np.ascontiguousarray(frame))
    writer.close()
    return path


def label_frames(n_frames: int = 12) -> list[np.ndarray]:
    """Grey 64x32 frames holding label ids (< 35): what ``--input_video --label_nc 35`` reads."""
    return [np.repeat((np.arange(64)[None, :, None] // 4 + t) % 35, 32, axis=0).repeat(3, axis=2).astype(np.uint8)
            for t in range(n_frames)]


def video_root(root: Path) -> Path:
    """A folder holding ``labels.mp4``: twelve grey 64x32 frames of label ids."""
    root.mkdir(parents=True)
    write_video(root / "labels.mp4", label_frames())
    return root


BUILDERS = {"street": street_root, "face": face_root, "pose": pose_root, "video": video_root}


# ---------------------------------------------------------------- breaking them
def truncate(path: Path, keep: float = 0.5) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


def resave(path: Path, mode: str | None = None, size: tuple[int, int] | None = None, fmt: str | None = None) -> None:
    image = Image.open(path)
    image = image.convert(mode) if mode else image
    image = image.resize(size) if size else image
    image.save(path, format=fmt)


def shift_names(folder: Path) -> None:
    """Rename frame_0000..0003 to frame_0001..0004 (same count, numbers shifted by one)."""
    for path in sorted(folder.iterdir(), reverse=True):
        number = int(path.stem.split("_")[1])
        path.rename(path.with_name(f"frame_{number + 1:04d}{path.suffix}"))


def keep_frames(root: Path, folders: tuple[str, ...], seq: str, count: int) -> None:
    for folder in folders:
        for extra in sorted((root / folder / seq).iterdir())[count:]:
            extra.unlink()


def set_label(path: Path, value: int) -> None:
    ids = np.asarray(Image.open(path)).copy()
    ids[0, 0] = value
    Image.fromarray(ids).save(path)


A, INST, B = "train_A", "train_inst", "train_B"
IMG, KEYS, DP, OP = "train_img", "train_keypoints", "train_densepose", "train_openpose"
F0, F1, F2 = "frame_0000.png", "frame_0001.png", "frame_0002.png"
Breaker = Callable[[Path], tuple]
#: case name -> (dataset mode, breaker, extra flags); a breaker damages a clean root and returns
#: (the path or flag the error must name, text of the fix[, flags naming what it made]).
CASES: dict[str, tuple[str, Breaker, list]] = {}
#: case name -> the entries that must refuse it (default: both); the others must accept it.
ENTRIES: dict[str, tuple[str, ...]] = {}


def case(mode: str, *extra: str, entries: tuple[str, ...] = ("test", "train")) -> Callable[[Breaker], Breaker]:
    def register(breaker: Breaker) -> Breaker:
        CASES[breaker.__name__] = (mode, breaker, list(extra))
        ENTRIES[breaker.__name__] = entries
        return breaker
    return register


@case("street")
def label_id_too_high(r):
    set_label(r / A / "seq0001" / F1, 40)
    return r / A / "seq0001" / F1, "--label_nc 41"


@case("street")
def label_map_rgb(r):  # used to suggest --label_nc 0 --input_nc 3, a dead end for a label model
    resave(r / A / "seq0000" / F1, "RGB")
    return r / A / "seq0000" / F1, "scripts/colors_to_ids.py"


@case("street")
def label_png_truncated(r):  # test.py today: an error after two generated frames
    truncate(r / A / "seq0001" / F2)
    return r / A / "seq0001" / F2, "re-export"


@case("street")
def label_zero_bytes(r):
    (r / A / "seq0000" / F1).write_bytes(b"")
    return r / A / "seq0000" / F1, "re-export"


@case("street")
def instance_map_rgb(r):
    resave(r / INST / "seq0000" / F0, "RGB")
    return r / INST / "seq0000" / F0, "--use_instance"


@case("street")
def instance_truncated(r):
    truncate(r / INST / "seq0001" / F1, 0.3)
    return r / INST / "seq0001" / F1, "re-export"


@case("street")
def photo_truncated(r):
    truncate(r / B / "seq0001" / "frame_0003.png")
    return r / B / "seq0001" / "frame_0003.png", "re-export"


@case("street")
def photo_bad_jpeg_bytes(r):
    resave(r / B / "seq0001" / F1, fmt="JPEG")
    truncate(r / B / "seq0001" / F1, 0.6)
    return r / B / "seq0001" / F1, "re-export"


@case("street")
def photo_greyscale(r):
    resave(r / B / "seq0000" / F1, "L")
    return r / B / "seq0000" / F1, "RGB"


@case("street")
def photos_folder_missing(r):
    shutil.rmtree(r / B)
    return r / B, "--dataroot"


@case("street")
def sequence_without_photos(r):
    shutil.rmtree(r / B / "seq0001")
    return r / A / "seq0001", str(r / B)


@case("street")
def frame_counts_differ(r):
    (r / B / "seq0000" / F1).unlink()
    return r / B / "seq0000", "same frames"


@case("street")
def frame_of_another_size(r):  # trained silently: resized to the sequence's size
    for folder in (A, INST, B):
        resave(r / folder / "seq0001" / F2, size=(64, 48))
    return r / A / "seq0001" / F2, "64x32"


@case("street")
def photos_larger_than_labels(r):  # trained silently
    for path in (r / B).rglob("*.png"):
        resave(path, size=(128, 64))
    return r / B / "seq0000" / F0, "64x32"


@case("street")
def names_shifted_by_one(r):  # labels frame_0000..0003 beside photos frame_0001..0004: trained silently
    shift_names(r / B / "seq0000")
    return r / B / "seq0000" / F1, "frame numbers"


@case("street")
def sequence_too_short(r):  # the fix must not be --n_frames_G 1, which the vid2vid model rejects
    keep_frames(r, (A, INST, B), "seq0001", 1)
    return r / A / "seq0001", "remove the sequence or give it at least"


@case("street", "--n_scales_spatial", "5", "--ngf", "16")
def too_many_scales_for_the_height(r):  # 64x32 frames: 5 scales and 2 downsamplings halve the height 6 times
    return r / A / "seq0000" / F0, "--n_scales_spatial"


@case("street", "--loadSize", "100000")
def frame_larger_than_memory(r):  # ran the machine out of memory
    return r / A / "seq0000" / F0, "smaller --loadSize"


@case("face")
def face_zero_byte_jpeg(r):
    (r / IMG / "seq0" / "00001.jpg").write_bytes(b"")
    return r / IMG / "seq0" / "00001.jpg", "re-export"


@case("face")
def face_bad_jpeg_second_sequence(r):  # failed after a training step
    truncate(r / IMG / "seq1" / "00002.jpg", 0.4)
    return r / IMG / "seq1" / "00002.jpg", "re-export"


@case("face")
def face_identical_points(r):  # ZeroDivisionError
    write_points(r / KEYS / "seq0" / "00000.txt", np.full((68, 2), 50.0))
    return r / KEYS / "seq0" / "00000.txt", "face_landmark_detection"


@case("face")
def face_nan_points(r):
    (r / KEYS / "seq1" / "00001.txt").write_text("nan,nan\n" * 68)
    return r / KEYS / "seq1" / "00001.txt", "face_landmark_detection"


@case("face")
def face_wrong_line_count(r):
    write_points(r / KEYS / "seq0" / "00002.txt", face_points()[:60])
    return r / KEYS / "seq0" / "00002.txt", "face_landmark_detection"


@case("face")
def face_images_missing(r):
    shutil.rmtree(r / IMG)
    return r / IMG, "--dataroot"


@case("face")
def face_counts_differ(r):
    (r / IMG / "seq1" / "00003.jpg").unlink()
    return r / IMG / "seq1", "same frames"


@case("face", "--input_nc", "3")
def face_wrong_input_nc(r):
    return "--input_nc", "--input_nc 15"


@case("pose")
def pose_densepose_wrong_size_later(r):
    resave(r / DP / "seq1" / "002.png", size=(128, 64))
    return r / DP / "seq1" / "002.png", "render DensePose"


@case("pose")
def pose_densepose_truncated(r):
    truncate(r / DP / "seq0" / "001.png", 0.3)
    return r / DP / "seq0" / "001.png", "re-export"


@case("pose")
def pose_photo_truncated(r):
    truncate(r / IMG / "seq1" / "001.png", 0.5)
    return r / IMG / "seq1" / "001.png", "re-export"


@case("pose")
def pose_densepose_greyscale(r):  # trained silently
    resave(r / DP / "seq0" / "002.png", "L")
    return r / DP / "seq0" / "002.png", "IUV"


@case("pose")
def pose_openpose_broken_json(r):
    (r / OP / "seq1" / "000.json").write_text('{"people": [{')
    return r / OP / "seq1" / "000.json", "OpenPose"


@case("pose")
def pose_openpose_short_array(r):
    (r / OP / "seq0" / "001.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": [1.0] * 10}]}))
    return r / OP / "seq0" / "001.json", "OpenPose"


@case("pose")
def pose_sequence_too_short(r):
    keep_frames(r, (IMG, DP, OP), "seq0", 1)
    return r / IMG / "seq0", "remove the sequence"


# ---------------------------------------------------------------- round 2 (issue 26): inputs that crashed or hung
def replace_frame(path: Path, new_name: str, image: Image.Image, **save: object) -> Path:
    """Replace a frame file by ``image`` saved as ``new_name`` (its format from the ending)."""
    path.unlink()
    image.save(path.with_name(new_name), **save)
    return path.with_name(new_name)


@case("street")
def label_map_jpeg(r):  # clean check while 13% of the pixels carried wrong ids
    ids = Image.open(r / A / "seq0000" / F1)
    return replace_frame(r / A / "seq0000" / F1, "frame_0001.jpg", ids, quality=75), "lossless"


@case("street")
def instance_map_jpeg(r):
    ids = Image.open(r / INST / "seq0001" / F2).convert("L")
    return replace_frame(r / INST / "seq0001" / F2, "frame_0002.jpg", ids, quality=95), "lossless"


@case("street")
def photo_exif_rotated(r):  # trained upside down with "no problems found"
    exif = Image.Exif()
    exif[0x0112] = 3
    photo = Image.open(r / B / "seq0000" / F1).convert("RGB")
    return replace_frame(r / B / "seq0000" / F1, "frame_0001.jpg", photo, exif=exif), "upright"


@case("street")
def label_tiff_negative_id(r):  # index -1 is out of bounds
    ids = np.asarray(Image.open(r / A / "seq0001" / F1)).astype(np.int32)
    ids[3, 5] = -1
    return replace_frame(r / A / "seq0001" / F1, "frame_0001.tiff", Image.fromarray(ids, mode="I")), "non-negative"


@case("street")
def symlink_loop_in_sequence(r):  # the checker was clean and training ran on 42 copies of the sequence
    (r / A / "seq0000" / "again").symlink_to(r / A, target_is_directory=True)
    return r / A / "seq0000" / "again", "remove the link"


@case("street")
def fifo_instead_of_photo(r):  # the checker, train.py and test.py hung
    (r / B / "seq0001" / F2).unlink()
    os.mkfifo(r / B / "seq0001" / F2)
    return r / B / "seq0001" / F2, "FIFO"


@case("street")
def frame_name_not_utf8(r):  # frames written, then UnicodeEncodeError in the page writer
    folder = os.fsencode(r / A / "seq0000")
    os.rename(os.path.join(folder, F1.encode()), os.path.join(folder, b"frame_0001\xff.png"))
    return str(r / A / "seq0000" / "frame_0001") + "\\xff.png", "rename it"


@case("street", entries=("test",))
def nested_sequences_same_name(r):  # test.py: "frame 2 emitted after frame 3 was written"
    for folder in (A, INST, B):
        for seq, city in (("seq0000", "cityA"), ("seq0001", "cityB")):
            (r / folder / city).mkdir()
            (r / folder / seq).rename(r / folder / city / "clip")
    return r / A / "cityB" / "clip", "rename one of the two folders"


@case("street", entries=("test",))
def frame_names_250_characters(r):  # test.py stopped halfway: "File name too long"
    for folder in (A, INST, B):
        for index, path in enumerate(sorted((r / folder / "seq0001").iterdir())):
            path.rename(path.with_name(f"{'f' * 241}_{index:04d}.png"))
    return r / A / "seq0001" / f"{'f' * 241}_0000.png", "shorten the names"


@case("face")
def face_points_2000_px_outside(r):  # accepted
    write_points(r / KEYS / "seq1" / "00002.txt", face_points(2000))
    return r / KEYS / "seq1" / "00002.txt", "line 1 "


@case("face")
def face_one_point_at_x_4000(r):  # accepted, test 6x slower
    points = face_points()
    points[30] = (4000, 70)
    write_points(r / KEYS / "seq0" / "00001.txt", points)
    return r / KEYS / "seq0" / "00001.txt", "line 31 "


@case("face")
def face_one_point_at_x_100000(r):  # DecompressionBombError
    points = face_points()
    points[8] = (100000, 70)
    write_points(r / KEYS / "seq0" / "00000.txt", points)
    return r / KEYS / "seq0" / "00000.txt", "line 9 "


def set_openpose_x(path: Path, value: float) -> None:
    data = json.loads(path.read_text())
    data["people"][0]["pose_keypoints_2d"][3] = value  # x of point 1 (the neck)
    path.write_text(json.dumps(data))


@case("pose")
def pose_openpose_nan(r):  # LinAlgError: SVD did not converge
    set_openpose_x(r / OP / "seq0" / "002.json", float("nan"))
    return r / OP / "seq0" / "002.json", "OpenPose"


@case("pose")
def pose_openpose_1e12(r):  # tried to allocate 7.28 TiB
    set_openpose_x(r / OP / "seq1" / "001.json", 1e12)
    return r / OP / "seq1" / "001.json", "OpenPose"


@case("video", entries=("test",))
def video_cut_in_half(r):  # checker clean, frames written, then "cannot decode frame 6"
    truncate(r / "labels.mp4")
    return r / "labels.mp4", "re-encode", ["--input_video", str(r / "labels.mp4")]


@case("video", entries=("test",))
def video_of_grey_photos_as_labels(r):  # every id clamped to 34, no word
    photos = [np.repeat(np.linspace(0, 255, 64)[None, :, None], 32, 0).repeat(3, 2).astype(np.uint8)] * 12
    write_video(r / "photos.mp4", photos)
    return r / "photos.mp4", "--label_nc 0", ["--input_video", str(r / "photos.mp4")]


@case("video", entries=("test",))
def frame_folder_of_grey_photos_as_labels(r):
    (r / "photos").mkdir()
    for t in range(3):
        Image.fromarray(np.linspace(0, 255, 64 * 32).reshape(32, 64).astype(np.uint8)).save(r / "photos" / f"{t}.png")
    return r / "photos", "--label_nc 0", ["--input_video", str(r / "photos")]


def _build(tmp_path: Path, name: str) -> tuple[Path, str, str, list]:
    """A clean dataset of the case's mode, broken as the case says: (root, what the error names, fix, flags)."""
    mode, breaker, extra = CASES[name]
    root = BUILDERS[mode](tmp_path / "data")
    named, fix, *made = breaker(root)
    return root, str(named), fix, FLAGS[mode] + extra + (made[0] if made else [])


def _argv(root: Path, tmp_path: Path, entry: str, flags: list) -> list[str]:
    outputs = ["--checkpoints_dir", str(tmp_path / "ckpt")]
    if entry == "test":
        outputs += ["--results_dir", str(tmp_path / "results")]
    return ["--dataroot", str(root), "--name", "bad", *outputs, *COMMON, *ENTRY[entry][1], *flags]


def test_at_least_45_malformed_datasets():
    assert len(CASES) >= 45 and {mode for mode, _, _ in CASES.values()} == set(BUILDERS)


REFUSED = [(case, entry) for case in sorted(CASES) for entry in sorted(ENTRY) if entry in ENTRIES[case]]


@pytest.mark.parametrize("case, entry", REFUSED)
def test_malformed_dataset_is_one_error_before_anything_is_written(tmp_path, capsys, case, entry):
    root, named, fix, flags = _build(tmp_path, case)
    code = run(ENTRY[entry][0], _argv(root, tmp_path, entry, flags))
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and "Traceback" not in err, err
    assert named in err and fix in err, err
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "results").exists()


@pytest.mark.parametrize("case", sorted(CASES))
def test_checker_names_the_file_and_the_fix(tmp_path, capsys, case):
    """``python -m data.check`` with the flags of the entry that refuses the case: exit 1, the file and the fix."""
    from data.check import main as check_main

    root, named, fix, flags = _build(tmp_path, case)
    entry = "train" if "train" in ENTRIES[case] else "test"
    argv = _argv(root, tmp_path, entry, flags) + (["--test"] if entry == "test" else [])
    code = run(check_main, argv, returns_code=True)
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err, out + err
    assert named in out and fix in out, out


@pytest.mark.parametrize("case", sorted(name for name, entries in ENTRIES.items() if "train" not in entries
                                         and CASES[name][0] != "video"))
def test_test_only_cases_are_accepted_in_training(tmp_path, case):
    """Nested folders sharing a name, and long names, only break test.py's results: training reads them."""
    from data.check import check_dataset
    from options import TrainOptions

    root, _, _, flags = _build(tmp_path, case)
    assert check_dataset(TrainOptions().parse(["--dataroot", str(root), *COMMON, *flags], save=False)) == []


def test_clean_datasets_pass_the_check(tmp_path):
    from data.check import check_dataset
    from options import TestOptions, TrainOptions

    for mode, build in BUILDERS.items():
        if mode == "video":
            continue  # test_clean_label_video_passes_the_check
        root = build(tmp_path / mode)
        for options, extra in ((TrainOptions, []), (TestOptions, ENTRY["test"][1])):
            opt = options().parse(["--dataroot", str(root), *COMMON, *FLAGS[mode], *extra], save=False)
            assert check_dataset(opt) == [], (mode, options.__name__)


@pytest.mark.parametrize("command", [["train.py"], ["test.py"], ["-m", "data.check"]])
def test_command_line_prints_one_error_and_exits_2(tmp_path, command):
    root, named, _, flags = _build(tmp_path, "names_shifted_by_one")
    argv = _argv(root, tmp_path, "test" if command == ["test.py"] else "train", flags)
    if command == ["-m", "data.check"]:
        argv += ["--n_frames_G", "0"]  # the checker reports dataset problems with exit 1; a bad flag is exit 2
    result = subprocess.run([sys.executable, *command, *argv], cwd=REPO, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=300)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    expected = "--n_frames_G" if command == ["-m", "data.check"] else named
    assert expected in result.stderr
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "results").exists()


def test_debug_shows_the_traceback(tmp_path):
    from data.check import DatasetError

    root, _, _, flags = _build(tmp_path, "label_zero_bytes")
    with pytest.raises(DatasetError):
        run(train.main, _argv(root, tmp_path, "train", flags) + ["--debug"])


def test_short_sequences_train_with_a_warning_naming_them(tmp_path, caplog):
    from data.check import check_dataset
    from options import TrainOptions

    root = street_root(tmp_path / "data")
    opt = TrainOptions().parse(["--dataroot", str(root), *COMMON, *FLAGS["street"], "--n_frames_total", "6"],
                               save=False)
    assert check_dataset(opt) == []
    assert "seq0000 (4 frames)" in caplog.text and "seq0001 (4 frames)" in caplog.text


def test_clean_label_video_passes_the_check(tmp_path, capsys):
    """A whole label video decodes and its grey ids fit --label_nc; the checker names the video, not the root."""
    from data.check import main as check_main

    root = video_root(tmp_path / "data")
    video = str(root / "labels.mp4")
    assert check_main(["--dataroot", str(root), "--input_video", video, "--test", *COMMON, *FLAGS["video"]]) == 0
    assert capsys.readouterr().out.strip() == f"--input_video {video}: no problems found"


def test_report_merges_a_fault_repeated_in_every_frame(tmp_path):
    """A fault in every frame of a sequence is one line with a count and the first file, not one per frame."""
    from data.check import check_dataset, format_problems
    from options import TrainOptions

    root = street_root(tmp_path / "data")
    for path in sorted((root / A / "seq0000").iterdir()):
        resave(path, "RGB")
    for path in sorted((root / B / "seq0001").iterdir()):
        truncate(path)
    opt = TrainOptions().parse(["--dataroot", str(root), *COMMON, *FLAGS["street"]], save=False)
    problems = check_dataset(opt)
    report = format_problems(problems).splitlines()
    assert len(problems) == 8 and len(report) == 3, report
    assert report[0] == "2 dataset problem(s) in 8 files or folders:"
    assert report[1].startswith(f"  - {root / A / 'seq0000' / F0}: label map has mode RGB")
    assert f"[4 files of {root / A / 'seq0000'} have this kind of problem" in report[1]
    assert report[2].startswith(f"  - {root / B / 'seq0001' / F0}: unreadable file") and "[4 files" in report[2]


def test_datasets_never_open_fifos_nor_follow_loops_even_without_the_check(tmp_path):
    """``--skip_check`` still cannot hang or multiply a sequence: the folder walk refuses both, naming them."""
    from data.video_folder import find_sequences, scan_sequences

    root = street_root(tmp_path / "data")
    symlink_loop_in_sequence(root)
    fifo, _ = fifo_instead_of_photo(root)
    sequences, refused = scan_sequences(root / A)
    assert [s.name for s in sequences] == ["seq0000", "seq0001"] and [p for p, _, _ in refused] == [
        str(root / A / "seq0000" / "again")]
    with pytest.raises(ValueError, match="FIFO") as info:
        find_sequences(root / B)
    assert str(fifo) in str(info.value)
    (root / INST / "seq0000" / "to1").symlink_to(root / INST / "seq0001", target_is_directory=True)
    (root / INST / "seq0001" / "to0").symlink_to(root / INST / "seq0000", target_is_directory=True)
    sequences, refused = scan_sequences(root / INST)  # a link to a sibling is read once, its link back is not
    assert [s.name for s in sequences] == ["seq0000", "seq0000/to1", "seq0001", "seq0001/to0"]
    assert sorted(p for p, _, _ in refused) == [str(root / INST / "seq0000" / "to1" / "to0"),
                                                str(root / INST / "seq0001" / "to0" / "to1")]
