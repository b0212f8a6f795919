"""Video files: streaming mp4 writing, side-by-side frames, and reading frames from a video or a folder.

Frames are NumPy ``(H, W, 3)`` uint8 RGB arrays throughout. Writing uses imageio-ffmpeg's bundled ffmpeg
(libx264, yuv420p), falling back to OpenCV's ``mp4v`` encoder when ffmpeg is unavailable.
"""

from __future__ import annotations

import logging
import os
import re
from typing import Iterator, Optional

import numpy as np

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".tif", ".tiff", ".webp")


def natural_key(text: str) -> list:
    """Sort key treating digit runs as numbers: ``frame2`` < ``frame10``."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", text)]


def _to_rgb(frame: np.ndarray) -> np.ndarray:
    """(H, W) grey or (H, W, 3) RGB uint8 -> contiguous (H, W, 3) uint8."""
    if frame.ndim == 2:
        frame = np.repeat(frame[:, :, None], 3, axis=2)
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W) or (H, W, 3) frame, got shape {frame.shape}")
    return np.ascontiguousarray(frame, dtype=np.uint8)


def pad_to_even(frame: np.ndarray) -> np.ndarray:
    """Pad the bottom row / right column by edge replication so both sides are even (yuv420p needs it).

    Args:
        frame: (H, W, 3) uint8.

    Returns:
        (H + H % 2, W + W % 2, 3) uint8.
    """
    pad_h, pad_w = frame.shape[0] % 2, frame.shape[1] % 2
    if not pad_h and not pad_w:
        return frame
    return np.pad(frame, ((0, pad_h), (0, pad_w), (0, 0)), mode="edge")


class VideoWriter:
    """Write an mp4 one frame at a time; use as a context manager.

    The first frame fixes the size; later frames of another size raise ``ValueError``. Odd sizes are
    padded to even ones.

    Args:
        path: Output ``.mp4`` path (its folder is created).
        fps: Frames per second.
        backend: ``"ffmpeg"`` (libx264 through imageio-ffmpeg), ``"opencv"`` (mp4v), or ``"auto"``.
    """

    def __init__(self, path: str | os.PathLike, fps: float = 30.0, backend: str = "auto") -> None:
        if backend not in ("auto", "ffmpeg", "opencv"):
            raise ValueError(f"backend must be auto, ffmpeg or opencv, got {backend!r}")
        self.path = os.fspath(path)
        self.fps = float(fps)
        self.backend = backend
        self.size: Optional[tuple[int, int]] = None
        self.frames_written = 0
        self._ffmpeg = None
        self._cv2 = None

    def __enter__(self) -> VideoWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _open(self, width: int, height: int) -> None:
        """Start the encoder for ``width`` x ``height`` frames."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        if self.backend in ("auto", "ffmpeg"):
            try:
                import imageio_ffmpeg

                self._ffmpeg = imageio_ffmpeg.write_frames(
                    self.path, (width, height), fps=self.fps, codec="libx264", pix_fmt_in="rgb24",
                    pix_fmt_out="yuv420p", macro_block_size=1, quality=8, ffmpeg_log_level="error")
                self._ffmpeg.send(None)
                return
            except (ImportError, RuntimeError, OSError) as err:
                if self.backend == "ffmpeg":
                    raise
                logger.warning("ffmpeg unavailable (%s); writing %s with OpenCV mp4v", err, self.path)
        import cv2  # where used: test.py's start-up does not need OpenCV

        self._cv2 = cv2.VideoWriter(self.path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
        if not self._cv2.isOpened():
            raise RuntimeError(f"OpenCV could not open a video writer for {self.path}")

    def write(self, frame: np.ndarray) -> None:
        """Append one frame.

        Args:
            frame: (H, W, 3) RGB or (H, W) grey uint8.
        """
        frame = pad_to_even(_to_rgb(frame))
        height, width = frame.shape[:2]
        if self.size is None:
            self.size = (width, height)
            self._open(width, height)
        elif self.size != (width, height):
            raise ValueError(f"frame size {width}x{height} differs from the video's {self.size[0]}x{self.size[1]}")
        if self._ffmpeg is not None:
            self._ffmpeg.send(frame.tobytes())
        else:
            import cv2

            self._cv2.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
        self.frames_written += 1

    def close(self) -> None:
        """Finish the file (safe to call twice)."""
        if self._ffmpeg is not None:
            self._ffmpeg.close()
            self._ffmpeg = None
        if self._cv2 is not None:
            self._cv2.release()
            self._cv2 = None


def side_by_side(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Put two frames next to each other; ``right`` is resized to ``left``'s height (aspect kept).

    Args:
        left: (H, W1, 3) or (H, W1) uint8.
        right: (H2, W2, 3) or (H2, W2) uint8.

    Returns:
        (H, W1 + W2', 3) uint8 with ``W2' = round(W2 * H / H2)``.
    """
    left, right = _to_rgb(left), _to_rgb(right)
    height = left.shape[0]
    if right.shape[0] != height:
        width = max(1, int(round(right.shape[1] * height / right.shape[0])))
        import cv2

        right = cv2.resize(right, (width, height), interpolation=cv2.INTER_AREA)
    return np.concatenate([left, right], axis=1)


def list_image_files(folder: str | os.PathLike) -> list[str]:
    """The image files of ``folder`` (not recursive), naturally sorted."""
    names = [n for n in os.listdir(folder) if n.lower().endswith(IMAGE_EXTENSIONS)]
    return [os.path.join(folder, n) for n in sorted(names, key=natural_key)]


def _read_image_rgb(path: str) -> np.ndarray:
    """One image file as (H, W, 3) uint8 RGB."""
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def read_video_frames(source: str | os.PathLike) -> Iterator[np.ndarray]:
    """Yield (H, W, 3) uint8 RGB frames from a video file or a folder of images (natural order).

    Raises:
        FileNotFoundError: if ``source`` does not exist.
        RuntimeError: if the video cannot be opened.
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        for path in list_image_files(source):
            yield _read_image_rgb(path)
        return
    if not os.path.isfile(source):
        raise FileNotFoundError(f"no video file or image folder at {source}")
    import cv2

    capture = cv2.VideoCapture(source)
    if not capture.isOpened():
        raise RuntimeError(f"OpenCV cannot open the video {source}")
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        capture.release()


def count_video_frames(source: str | os.PathLike) -> int:
    """Number of frames in a video file (ffmpeg's exact count, else by decoding) or of images in a folder."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return len(list_image_files(source))
    if not os.path.isfile(source):
        raise FileNotFoundError(f"no video file or image folder at {source}")
    try:
        import imageio_ffmpeg

        return int(imageio_ffmpeg.count_frames_and_secs(source)[0])
    except (ImportError, RuntimeError, OSError):
        return sum(1 for _ in read_video_frames(source))
