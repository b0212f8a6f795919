"""``test.py --dataset_mode face --input_video talk.mp4``: a raw video, its 68 face landmarks detected on the fly.

Each frame is decoded (:class:`data.video_dataset.VideoDataset`), its landmarks detected by the back-end of
``--detector`` (dlib, or MediaPipe FaceMesh mapped to the 68 points) and drawn as the ``face`` mode draws landmark
files (:func:`data.face_dataset.draw_face_input`), in the face crop of the video's first frame with a face. ``A`` is
the edge and distance maps, ``inst`` the part labels, ``B`` the cropped frame (so ``--use_real_img`` works).
"""

from __future__ import annotations

import argparse
import random
from typing import Sequence

import numpy as np
from PIL import Image

from data.base_dataset import stack_frames
from data.detect.stream import HeldDetections
from data.face_dataset import Box, draw_face_input, face_crop_box
from data.pose_video_dataset import detector_problems
from data.transforms import TransformParams, get_params, transform_image
from data.video_dataset import VideoDataset

#: Frames searched from the start for the first face, which fixes the crop.
FIRST_FACE_SEARCH = 30


def face_detector_loader(opt: argparse.Namespace):
    """The ``--detector`` loader for faces (``auto``: dlib, the reference's)."""
    from data.prepare.face import FACE_BACKENDS

    return FACE_BACKENDS[next(iter(FACE_BACKENDS)) if opt.detector == "auto" else opt.detector].load


class FaceVideoDataset(VideoDataset):
    """One raw video -> face edge maps detected on the fly (``A`` (1, 15, H, W)), part labels and cropped frames."""

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.landmarks = HeldDetections(face_detector_loader(opt), "face")
        self._box: Box | None = None

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """The video's problems and a missing back-end."""
        from data.prepare.face import FACE_BACKENDS

        return VideoDataset.check_dataset(opt) + detector_problems(opt, FACE_BACKENDS, "face")

    def crop_box(self) -> Box:
        """The face crop of the first frame with a face (searched over :data:`FIRST_FACE_SEARCH` frames).

        Raises:
            DatasetError: no face in those frames (the video is named; test.py prints one ``error:`` line).
        """
        if self._box is None:
            for index in range(min(FIRST_FACE_SEARCH, self.count)):
                pixels = self._read(index)
                points = self.landmarks(index, pixels)
                if points is not None:
                    self._box = face_crop_box(np.asarray(points), (pixels.shape[1], pixels.shape[0]))
                    break
            else:
                from data.check import DatasetError

                raise DatasetError(f"--input_video {self.opt.input_video}: no face in its first {FIRST_FACE_SEARCH} "
                                 "frames; cut the video to start on a visible face, or try another --detector")
        return self._box

    def make_params(self, seq: int, rng: random.Random) -> TransformParams:
        """Transform parameters for the size of the face crop (a square)."""
        left, top, right, bottom = self.crop_box()
        return get_params(self.opt, (right - left, bottom - top), rng=rng)

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames -> ``A`` (T, 15, H, W) in [0, 1], ``inst`` (T, 1, H, W) part labels, ``B`` (T, 3, H, W)."""
        box = self.crop_box()
        inputs, labels, images = [], [], []
        for index in frames:
            photo = Image.fromarray(self._read(index))
            points = self.landmarks(index, np.asarray(photo))
            edge_input, label = draw_face_input(self.opt, np.asarray(points, dtype=np.float64), photo, box, params)
            inputs.append(edge_input)
            labels.append(label)
            images.append(transform_image(photo.crop(box), params))
        paths = [self.sequences[seq][i] for i in frames]
        return {"A": stack_frames(inputs), "inst": stack_frames(labels), "B": stack_frames(images),
                "A_paths": paths, "B_paths": paths}
