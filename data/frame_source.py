"""One stream of frames read by index from a video file or a folder of images, never held whole in memory.

:class:`IndexedFrames` decodes a video sequentially (a read of the next frame never seeks; any other index reopens
and seeks) and reads a folder's files as they are asked for, keeping each image's own mode (16-bit instance maps
stay 16-bit).
"""

from __future__ import annotations

import os

import cv2
import numpy as np
from PIL import Image

from util.video import list_image_files


def video_length(path: str, flag: str) -> int:
    """Frame count of a video file.

    Raises:
        ValueError: OpenCV cannot open it (the message names ``flag`` and the file).
    """
    capture = cv2.VideoCapture(path)
    if not capture.isOpened():
        raise ValueError(f"{flag} {path}: OpenCV cannot open this video")
    count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    return count


class IndexedFrames:
    """Frames of a video file or an image folder, by index.

    Args:
        path: The video file or folder.
        flag: The command-line flag that named it (for messages).

    Raises:
        FileNotFoundError: nothing at ``path``.
        ValueError: the video cannot be opened, or there are no frames.
    """

    def __init__(self, path: str, flag: str) -> None:
        self.path, self.flag = path, flag
        if os.path.isdir(path):
            self.files = list_image_files(path)
            self.count = len(self.files)
        elif os.path.isfile(path):
            self.files, self.count = [], video_length(path, flag)
        else:
            raise FileNotFoundError(f"{flag} {path}: no such video file or folder")
        if self.count == 0:
            raise ValueError(f"{flag} {path}: no frames found")
        self._capture, self._next = None, 0

    def __len__(self) -> int:
        return self.count

    def read(self, index: int) -> Image.Image:
        """Frame ``index``: the file's image as stored (folders) or an RGB image (videos)."""
        if self.files:
            with Image.open(self.files[index]) as image:
                image.load()
                return image.copy()
        return Image.fromarray(self.read_video(index))

    def read_video(self, index: int) -> np.ndarray:
        """Frame ``index`` of the video as (H, W, 3) uint8 RGB; sequential reads never seek."""
        if self._capture is None or index != self._next:
            if self._capture is not None:
                self._capture.release()
            self._capture = cv2.VideoCapture(self.path)
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = self._capture.read()
        if not ok:
            raise ValueError(f"{self.flag} {self.path}: cannot decode frame {index}")
        self._next = index + 1
        return cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
