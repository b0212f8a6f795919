"""``test.py --dataset_mode pose --input_video SOURCE``: pose-to-body from a raw video or from keypoints alone.

- SOURCE a video file or a folder of frames: each frame is decoded (:class:`data.video_dataset.VideoDataset`), its
  person detected on the fly by the back-end of ``--detector`` (MediaPipe Holistic -> OpenPose BODY_25 + face +
  hands, :mod:`data.detect.mapping`); ``B`` is the frame itself, so ``--use_real_img`` works.
- SOURCE a folder of OpenPose BODY_25 JSON (generated motion: music-to-dance, speech-to-gesture; no photos, no
  DensePose): the keypoints are drawn in a ``--canvas_size`` frame, optionally ``--retarget``-ed to the trained
  person's limb lengths (:mod:`data.retarget`); there is no ``B`` (use a model trained with ``--no_first_img``).

``A`` is the map the ``pose`` mode renders from OpenPose files (3 channels: an ``--openpose_only`` model), both cut
to the pose mode's central band. Nothing is written besides the results.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Sequence

from PIL import Image

from data import keypoints as kp
from data import retarget
from data.base_dataset import BaseDataset, stack_frames
from data.detect.stream import HeldDetections
from data.pose_dataset import central_band
from data.transforms import NEAREST, TransformParams, transform_image
from data.video_dataset import VideoDataset
from data.video_folder import natural_key

KEYPOINT_FIX = ("write OpenPose BODY_25 JSON ({\"people\": [{\"pose_keypoints_2d\": [x, y, c] * 25, face 70, hands "
                "21 each}]}), e.g. convert COCO / WholeBody files with scripts/convert_keypoints.py")


def keypoint_files(source: str) -> list[str]:
    """The ``.json`` files of a folder, naturally sorted (empty for a video file or a folder of images)."""
    if not os.path.isdir(source):
        return []
    return sorted((str(p) for p in Path(source).iterdir() if p.suffix == ".json"), key=natural_key)


def parse_canvas(text: str) -> tuple[int, int]:
    """``"1920x1080"`` -> (1920, 1080).

    Raises:
        ValueError: not WIDTHxHEIGHT with positive integers.
    """
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise ValueError(f"--canvas_size {text}: expected WIDTHxHEIGHT, e.g. 1920x1080") from err
    if width <= 0 or height <= 0:
        raise ValueError(f"--canvas_size {text}: width and height must be positive")
    return width, height


def pose_detector_loader(opt: argparse.Namespace):
    """The ``--detector`` loader for people (``auto``: MediaPipe)."""
    from data.prepare.pose import POSE_BACKENDS

    return POSE_BACKENDS[next(iter(POSE_BACKENDS)) if opt.detector == "auto" else opt.detector].load


def detector_problems(opt: argparse.Namespace, backends: dict, mode: str) -> list:
    """A ``--detector`` this mode lacks, or whose package is missing, as checker problems."""
    from data.frame_checks import Problem

    name = next(iter(backends)) if opt.detector == "auto" else opt.detector
    if name not in backends:
        return [Problem("--detector", f"{name} is not a {mode} back-end", f"--detector {' or '.join(backends)}")]
    try:
        backends[name].probe()  # never build a detector here: the loader's workers are forked after the check
    except (ImportError, FileNotFoundError) as err:
        return [Problem("--detector", str(err), "install it, or pick another --detector")]
    return []


def keypoint_problems(opt: argparse.Namespace, files: list[str]) -> list:
    """Unreadable or non-OpenPose keypoint files, a bad ``--canvas_size`` or ``--retarget`` folder."""
    from data.frame_checks import Problem

    problems = []
    for path in files:
        try:
            kp.read_openpose_json(path)
        except ValueError as err:
            problems.append(Problem(path, f"unknown keypoint format: {err}", KEYPOINT_FIX))
    try:
        parse_canvas(opt.canvas_size)
    except ValueError as err:
        problems.append(Problem("--canvas_size", str(err), "--canvas_size 1920x1080"))
    if opt.retarget and not retarget.first_people(keypoint_files(opt.retarget)):
        problems.append(Problem(opt.retarget, "no OpenPose JSON with a person in this folder",
                                "--retarget <a training sequence of <phase>_openpose>"))
    return problems


class PoseVideoDataset(VideoDataset):
    """One raw video (or keypoint folder) -> OpenPose maps ``A`` (1, 3, H, W) and, for videos, its frames ``B``."""

    def __init__(self, opt: argparse.Namespace) -> None:
        self.json_files = keypoint_files(opt.input_video)
        if not self.json_files:
            super().__init__(opt)
            self.people = HeldDetections(pose_detector_loader(opt), "person")
            return
        BaseDataset.__init__(self, opt)
        self.count, self.canvas = len(self.json_files), parse_canvas(opt.canvas_size)
        stem = os.path.basename(os.path.normpath(opt.input_video))
        self.sequences = [[os.path.join(stem, f"{Path(p).stem}.png") for p in self.json_files]]
        self.ratios = None
        if opt.retarget:
            source = retarget.limb_medians(retarget.first_people(self.json_files))
            target = retarget.limb_medians(retarget.first_people(keypoint_files(opt.retarget)))
            self.ratios = retarget.limb_ratios(source, target)

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """A model input that is not OpenPose alone, then the keypoint files or the video and its back-end."""
        from data.frame_checks import Problem
        from data.prepare.pose import POSE_BACKENDS

        problems = []
        if not opt.openpose_only or opt.input_nc != 3:
            problems.append(Problem(opt.input_video, "pose from a video or keypoints gives OpenPose maps only (no "
                                    "DensePose)", "use a model trained with --openpose_only --input_nc 3, and pass "
                                    "both flags"))
        files = keypoint_files(opt.input_video)
        if files:
            return problems + keypoint_problems(opt, files)
        if opt.retarget:
            problems.append(Problem("--retarget", "needs --input_video to be a folder of BODY_25 JSON",
                                    "drop --retarget, or give the keypoint folder"))
        return problems + VideoDataset.check_dataset(opt) + detector_problems(opt, POSE_BACKENDS, "pose")

    def frame_size(self, seq: int) -> tuple[int, int]:
        """(width, height): ``--canvas_size`` for keypoint input, the first frame's otherwise."""
        return self.canvas if self.json_files else super().frame_size(seq)

    def person(self, index: int) -> tuple[list[retarget.Person], Image.Image | None]:
        """The frame's people (at most one) and, for a video, its photo."""
        if self.json_files:
            people = kp.read_openpose_json(self.json_files[index])[:1]
            if self.ratios is not None:
                people = [retarget.retarget_person(p, self.ratios) for p in people]
            return people, None
        pixels = self._read(index)
        found = self.people(index, pixels)
        return ([] if found is None else [found]), Image.fromarray(pixels)

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames -> ``A`` (T, 3, H, W) rendered keypoints and, for a video, ``B`` (T, 3, H, W), in [-1, 1]."""
        inputs, images = [], []
        for index in frames:
            people, photo = self.person(index)
            size = self.canvas if photo is None else photo.size
            canvas = kp.render_openpose(people, size, basic_point_only=self.opt.basic_point_only)
            inputs.append(central_band(transform_image(Image.fromarray(canvas), params, NEAREST)))
            if photo is not None:
                images.append(central_band(transform_image(photo, params)))
        paths = [self.sequences[seq][i] for i in frames]
        item = {"A": stack_frames(inputs), "A_paths": paths}
        if images:
            item.update(B=stack_frames(images), B_paths=paths)
        return item
