"""--retarget and pose from BODY_25 JSON alone: limb scaling keeps the root and reaches the trained person's median
lengths; test.py draws a folder of keypoints (no photos, no DensePose) into an mp4; unknown formats are one error."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DATASETS, require

from data import retarget
from data.detect.mapping import empty_person


def _person(scale: float, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """A person whose every limb points in a fixed random direction with length ``scale`` x (1 + joint / 10)."""
    person = empty_person()
    body = person["pose"]
    body[retarget.ROOT] = (500, 500, 1)
    directions = np.random.default_rng(7).normal(size=(25, 2))
    for joint, parent in retarget.PARENTS.items():
        direction = directions[joint] / np.linalg.norm(directions[joint])
        body[joint, :2] = body[parent, :2] + direction * scale * (1 + joint / 10)
        body[joint, 2] = 1
    person["face"][:, :2] = body[0, :2] + rng.normal(size=(70, 2)) * 5
    person["face"][:, 2] = 1
    return person


def test_retargeted_limbs_take_the_target_lengths_and_the_root_stays():
    rng = np.random.default_rng(0)
    source = [_person(20, rng) for _ in range(3)]
    target = retarget.limb_medians([_person(35, rng)])
    ratios = retarget.limb_ratios(retarget.limb_medians(source), target)
    moved = retarget.retarget_person(source[0], ratios)
    np.testing.assert_allclose(moved["pose"][retarget.ROOT], source[0]["pose"][retarget.ROOT])
    lengths = retarget.limb_medians([moved])
    for joint, length in target.items():
        assert lengths[joint] == pytest.approx(length)
    face_offset = source[0]["face"][:, :2] - source[0]["pose"][0, :2]
    np.testing.assert_allclose(moved["face"][:, :2] - moved["pose"][0, :2], face_offset * ratios[0])


def test_a_missing_joint_passes_its_parents_displacement_on():
    rng = np.random.default_rng(1)
    person = _person(20, rng)
    person["pose"][3] = 0  # right elbow missing
    ratios = {joint: 2.0 for joint in retarget.PARENTS}
    moved = retarget.retarget_person(person, ratios)
    assert (moved["pose"][3] == 0).all()
    shoulder_shift = moved["pose"][2, :2] - person["pose"][2, :2]
    np.testing.assert_allclose(moved["pose"][4, :2] - person["pose"][4, :2], shoulder_shift)  # wrist follows


def _entry(name: str):
    from tests.test_face_pose_runs import _load

    return _load(name)


TINY = ["--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_blocks", "1", "--n_downsample_G", "2", "--nThreads", "0",
        "--loadSize", "64", "--fineSize", "64", "--n_frames_G", "2", "--dataset_mode", "pose", "--openpose_only",
        "--input_nc", "3", "--resize_or_crop", "scaleHeight", "--no_first_img"]


@pytest.mark.slow
def test_pose_from_keypoints_alone_with_retarget_writes_an_mp4(tmp_path):
    root = require(DATASETS / "pose" / "train_openpose", "pose sample data").parent
    keypoints = tmp_path / "generated_motion"
    keypoints.mkdir()
    for i, path in enumerate(sorted((root / "train_openpose" / "001_001").glob("*.json"))):
        (keypoints / f"{i:04d}.json").write_text(path.read_text())  # no photo, no DensePose beside them
    common = TINY + ["--name", "p", "--checkpoints_dir", str(tmp_path / "ckpt")]
    _entry("train").main(common + ["--dataroot", str(root), "--num_D", "1", "--n_frames_D", "2", "--no_vgg",
                                   "--flow_backend", "dis", "--niter", "1", "--niter_decay", "0",
                                   "--n_frames_total", "3", "--max_frames_per_gpu", "2"])
    summary = _entry("test").main(common + ["--input_video", str(keypoints), "--canvas_size", "1920x1080",
                                            "--retarget", str(root / "train_openpose" / "001_001"),
                                            "--results_dir", str(tmp_path / "results")])
    assert summary["frames"] == 5 - 1
    assert summary["videos"]["generated_motion"].endswith("generated_motion.mp4")


def test_an_unknown_keypoint_format_is_one_problem_naming_the_file(tmp_path):
    from data.check import DatasetError

    keypoints = tmp_path / "coco"
    keypoints.mkdir()
    (keypoints / "0001.json").write_text(json.dumps([{"keypoints": [0.0] * 51, "score": 0.9}]))
    with pytest.raises(DatasetError, match=r"0001\.json: unknown keypoint format.*convert_keypoints"):
        _entry("test").main(TINY + ["--name", "x", "--checkpoints_dir", str(tmp_path), "--input_video", str(keypoints)])
