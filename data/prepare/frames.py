"""Frames of a video file or a frame folder, decoded one at a time (memory flat over the video's length)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from data.prepare.errors import PrepareError
from data.video_folder import IMG_EXTENSIONS, natural_key


@dataclass(frozen=True)
class FrameSource:
    """A video file or a folder of frames; ``names`` are the output stems (``00000``...) in order."""

    path: str
    frame_files: tuple[str, ...]  # empty for a video file
    count: int  # frames (a video's container count, which may be approximate)

    @property
    def is_video(self) -> bool:
        return not self.frame_files

    def __iter__(self) -> Iterator[tuple[int, np.ndarray]]:
        """Yield ``(index, (H, W, 3) uint8 RGB frame)`` in order."""
        if not self.is_video:
            for index, path in enumerate(self.frame_files):
                yield index, read_image(path)
            return
        capture = cv2.VideoCapture(self.path)
        try:
            index = 0
            while True:
                ok, frame = capture.read()
                if not ok:
                    return
                yield index, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()


def read_image(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB image.

    Raises:
        PrepareError: not a readable image (the path is named).
    """
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise PrepareError(f"{path}: not a readable image; delete or re-export this frame")
    return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def open_source(path: str | os.PathLike) -> FrameSource:
    """Open a video file or frame folder and decode its first frame, before any long work.

    Raises:
        PrepareError: missing, empty, or a video that cannot be decoded.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted((str(p) for p in Path(path).iterdir() if p.name.endswith(IMG_EXTENSIONS)), key=natural_key)
        if not files:
            raise PrepareError(f"{path}: no frames ({', '.join(IMG_EXTENSIONS[:4])}...) in this folder; "
                               "pass a video file or a folder of frames")
        read_image(files[0])
        return FrameSource(path, tuple(files), len(files))
    if not os.path.isfile(path):
        raise PrepareError(f"{path}: no such video file or frame folder")
    capture = cv2.VideoCapture(path)
    ok = capture.isOpened() and capture.read()[0]
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) if ok else 0
    capture.release()
    if not ok:
        raise PrepareError(f"{path}: this video cannot be decoded (OpenCV/FFmpeg read no frame); re-encode it, e.g. "
                           "ffmpeg -i INPUT -c:v libx264 -pix_fmt yuv420p out.mp4, or pass a folder of frames")
    return FrameSource(path, (), count)
