"""Test input from one video file or one folder of frames (``--input_video PATH``).

test.py switches to this mode when ``--input_video`` is given. Frames are decoded as they are asked for, in
order, so a long video is never held in memory. With ``--label_nc > 0`` each frame is turned back into label
ids: grey frames hold the ids themselves; colour frames are mapped to the nearest colour of the label palette
(the colours ``util.image`` uses for ``--label_nc``), which also absorbs video compression noise.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from data.base_dataset import BaseDataset, stack_frames
from data.transforms import TransformParams, transform_image, transform_label
from util.image import label_colormap
from util.video import list_image_files

logger = logging.getLogger(__name__)


def colors_to_ids(frame: np.ndarray, n_labels: int) -> np.ndarray:
    """(H, W, 3) uint8 frame -> (H, W) uint8 label ids (grey values, or the nearest palette colour)."""
    if np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 1], frame[..., 2]):
        return np.minimum(frame[..., 0], n_labels - 1).astype(np.uint8)
    return palette_ids(frame, n_labels)


def palette_ids(frame: np.ndarray, n_labels: int) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) uint8 id of the nearest colour of the label palette (the lowest id
    where several ids share a colour)."""
    palette = label_colormap(n_labels).astype(np.int32)
    distances = ((frame.reshape(-1, 1, 3).astype(np.int32) - palette[None]) ** 2).sum(-1)
    return distances.argmin(1).reshape(frame.shape[:2]).astype(np.uint8)


#: Share of a grey frame's pixels above the largest label id that marks a photo video, not a label video (a
#: compressed label video overshoots the ids only at a few edge pixels).
NOT_LABELS_SHARE = 0.02


def grey_above_ids(frame: np.ndarray, label_nc: int) -> tuple[float, int]:
    """(share of pixels >= ``label_nc``, highest value) of an (H, W, 3) grey frame; (0, 0) for a colour frame
    or without labels: :func:`colors_to_ids` reads grey values as ids and clamps the others."""
    if label_nc <= 0 or not (np.array_equal(frame[..., 0], frame[..., 1])
                             and np.array_equal(frame[..., 1], frame[..., 2])):
        return 0.0, 0
    return float((frame[..., 0] >= label_nc).mean()), int(frame[..., 0].max())


def decode_all(path: str, label_nc: int) -> tuple[int, float, int]:
    """Decode every frame of a video once (a truncated file fails here, before any work).

    Returns:
        (frames decoded, the largest share of a grey frame's pixels with values >= ``label_nc``, the highest
        value of those frames; see :func:`grey_above_ids`).
    """
    capture, decoded, share, high = cv2.VideoCapture(path), 0, 0.0, 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return decoded, share, high
            decoded += 1
            frame_share, frame_high = grey_above_ids(frame, label_nc)
            share, high = max(share, frame_share), max(high, frame_high)
    finally:
        capture.release()


def not_labels_problem(source: str, share: float, high: int, label_nc: int) -> list:
    """A problem when grey frames hold values far above the label ids (a photo video given as labels)."""
    from data.frame_checks import Problem

    if share <= NOT_LABELS_SHARE:
        return []
    return [Problem(source, f"grey frames with values up to {high} ({share:.0%} of a frame's pixels >= {label_nc}), "
                    f"but --label_nc {label_nc} takes ids 0..{label_nc - 1}: this is not a label video (a photo "
                    f"video?); every id above {label_nc - 1} would become {label_nc - 1}", "give a video of label ids "
                    "(grey values) or label colours; for an image-input model pass --label_nc 0 --input_nc 3")]


class VideoDataset(BaseDataset):
    """One sequence: the frames of ``--input_video`` (a video file or a folder of images).

    Items are single frames (test only), with ``"A"`` (1, C, H, W) as :class:`data.test_dataset.TestDataset`.
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        source = opt.input_video
        if opt.isTrain or not source:
            raise ValueError("--dataset_mode video is for test.py with --input_video PATH")
        if opt.use_instance:
            raise ValueError(f"--input_video {source}: a video holds no instance maps, but --use_instance asks "
                             "for them; use the folder layout (test_A, test_inst) for this model")
        if os.path.isdir(source):
            self.frames = list_image_files(source)
            self.count = len(self.frames)
        elif os.path.isfile(source):
            self.frames, self.count = [], self._video_length(source)
        else:
            raise FileNotFoundError(f"--input_video {source}: no such video file or folder")
        if self.count == 0:
            raise ValueError(f"--input_video {source}: no frames found")
        stem = os.path.splitext(os.path.basename(os.path.normpath(source)))[0]
        self.sequences = [[os.path.join(stem, f"frame{i:06d}.png") for i in range(self.count)]]
        self._capture, self._next = None, 0

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """Problems of ``--input_video`` found before the model is built (``data/check.py`` hook): a missing
        source, ``--use_instance``, an unreadable or cut video (every frame is decoded once), a grey video whose values
        exceed the label ids, and for a frame folder every frame decoded (and the first one's grey values)."""
        from data.frame_checks import FolderSpec, Problem, check_folders

        source = opt.input_video
        problems = [] if not opt.use_instance else [
            Problem(source, "a video holds no instance maps, but --use_instance asks for them",
                    "drop --use_instance, or use the folder layout (test_A, test_inst) for this model")]
        if os.path.isdir(source):
            found_problems, found, _ = check_folders(opt, [FolderSpec("A", source, "image", "--input_video <folder>")])
            if found_problems or not found.get("A"):
                return problems + found_problems
            with Image.open(found["A"][0].frames[0]) as first:  # the first frame tells a photo folder
                share, high = grey_above_ids(np.asarray(first.convert("RGB")), opt.label_nc)
            return problems + not_labels_problem(source, share, high, opt.label_nc)
        if not os.path.isfile(source):
            return problems + [Problem(source, "no such video file or folder", "--input_video <video or folder>")]
        try:
            count = VideoDataset._video_length(source)
        except ValueError as err:
            return problems + [Problem(source, str(err), "re-encode the video (e.g. H.264 mp4)")]
        if count > 300:
            logger.info("--input_video %s: decoding its %d frames once to check them", source, count)
        decoded, share, grey_high = decode_all(source, opt.label_nc)
        if decoded < count:
            problems.append(Problem(source, f"{decoded} of its {count} frames decode (the file is cut short or "
                                    "damaged)", "re-encode or re-download the video"))
        problems += not_labels_problem(source, share, grey_high, opt.label_nc)
        if count < opt.n_frames_G:
            problems.append(Problem(source, f"{count} frames; --n_frames_G {opt.n_frames_G} needs at least "
                                    f"{opt.n_frames_G}", "use a longer video"))
        return problems

    @staticmethod
    def _video_length(path: str) -> int:
        capture = cv2.VideoCapture(path)
        if not capture.isOpened():
            raise ValueError(f"--input_video {path}: OpenCV cannot open this video")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
        capture.release()
        return count

    def frame_size(self, seq: int) -> tuple[int, int]:
        """(width, height) of the first frame."""
        return Image.fromarray(self._read(0)).size

    def sequence_name(self, seq: int) -> str:
        return os.path.dirname(self.sequences[0][0])

    def _read(self, index: int) -> np.ndarray:
        """Frame ``index`` as (H, W, 3) uint8 RGB; sequential reads never seek."""
        if self.frames:
            with Image.open(self.frames[index]) as image:
                return np.asarray(image.convert("RGB"))
        if self._capture is None or index != self._next:
            if self._capture is not None:
                self._capture.release()
            self._capture = cv2.VideoCapture(self.opt.input_video)
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = self._capture.read()
        if not ok:
            raise ValueError(f"--input_video {self.opt.input_video}: cannot decode frame {index}")
        self._next = index + 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames as ``"A"``: label ids (1, H, W) or images (input_nc, H, W) in [-1, 1]."""
        tensors: list[torch.Tensor] = []
        for index in frames:
            pixels = self._read(index)
            if self.opt.label_nc > 0:
                tensors.append(transform_label(Image.fromarray(colors_to_ids(pixels, self.opt.label_nc)), params))
            else:
                image = Image.fromarray(pixels).convert("L" if self.opt.input_nc == 1 else "RGB")
                tensors.append(transform_image(image, params))
        return {"A": stack_frames(tensors), "A_paths": [self.sequences[seq][i] for i in frames]}
