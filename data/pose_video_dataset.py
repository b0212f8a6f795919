"""``test.py --dataset_mode pose --input_video dance.mp4``: a raw video, its body keypoints detected on the fly.

Each frame is decoded (:class:`data.video_dataset.VideoDataset`), its person detected by the back-end of
``--detector`` (MediaPipe Holistic -> OpenPose BODY_25 + face + hands, :mod:`data.detect.mapping`) and rendered as
the ``pose`` mode renders OpenPose files; ``A`` is that map (3 channels: the model must be an ``--openpose_only``
one), ``B`` the frame itself (so ``--use_real_img`` works), both cut to the pose mode's central band. Nothing is
written besides the results.
"""

from __future__ import annotations

import argparse
from typing import Sequence

from PIL import Image

from data import keypoints as kp
from data.base_dataset import stack_frames
from data.detect.stream import HeldDetections
from data.pose_dataset import central_band
from data.transforms import NEAREST, TransformParams, transform_image
from data.video_dataset import VideoDataset


def pose_detector_loader(opt: argparse.Namespace):
    """The ``--detector`` loader for people (``auto``: MediaPipe)."""
    from data.prepare.pose import POSE_BACKENDS

    return POSE_BACKENDS[next(iter(POSE_BACKENDS)) if opt.detector == "auto" else opt.detector]


def detector_problems(opt: argparse.Namespace, backends: dict, mode: str) -> list:
    """A ``--detector`` this mode lacks, or whose package is missing, as checker problems."""
    from data.frame_checks import Problem

    name = next(iter(backends)) if opt.detector == "auto" else opt.detector
    if name not in backends:
        return [Problem("--detector", f"{name} is not a {mode} back-end", f"--detector {' or '.join(backends)}")]
    try:
        getattr(backends[name](), "close", lambda: None)()
    except (ImportError, FileNotFoundError) as err:
        return [Problem("--detector", str(err), "install it, or pick another --detector")]
    return []


class PoseVideoDataset(VideoDataset):
    """One raw video -> OpenPose maps detected on the fly (``A`` (1, 3, H, W)) and its frames (``B``)."""

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.people = HeldDetections(pose_detector_loader(opt), "person")

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """The video's problems, a model input that is not OpenPose alone, and a missing back-end."""
        from data.frame_checks import Problem
        from data.prepare.pose import POSE_BACKENDS

        problems = VideoDataset.check_dataset(opt)
        if not opt.openpose_only or opt.input_nc != 3:
            problems.append(Problem(opt.input_video, "a raw video gives OpenPose maps only (no DensePose)",
                                    "use a model trained with --openpose_only --input_nc 3, and pass both flags"))
        return problems + detector_problems(opt, POSE_BACKENDS, "pose")

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames -> ``A`` (T, 3, H, W) rendered keypoints and ``B`` (T, 3, H, W) photos, in [-1, 1]."""
        inputs, images = [], []
        for index in frames:
            pixels = self._read(index)
            person = self.people(index, pixels)
            canvas = kp.render_openpose([] if person is None else [person], (pixels.shape[1], pixels.shape[0]),
                                        basic_point_only=self.opt.basic_point_only)
            inputs.append(central_band(transform_image(Image.fromarray(canvas), params, NEAREST)))
            images.append(central_band(transform_image(Image.fromarray(pixels), params)))
        paths = [self.sequences[seq][i] for i in frames]
        return {"A": stack_frames(inputs), "B": stack_frames(images), "A_paths": paths, "B_paths": paths}


