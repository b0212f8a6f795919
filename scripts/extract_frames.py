"""Split a video file into numbered frames, the layout every dataset mode reads.

Usage::

    python scripts/extract_frames.py --video clip.mp4 --output datasets/face/train_img/clip
    python scripts/extract_frames.py --video dance.mp4 --output datasets/pose/train_img/dance --ext png --every 2

Frames are written as ``<output>/<index><ext>`` with a zero-padded index (``00000.jpg``, ``00001.jpg``...),
counting written frames from 0. Then, per mode: ``face`` -> run ``data/face_landmark_detection.py`` on the
frames folder; ``pose`` -> run OpenPose (``--write_json``) and DensePose on it, one output per frame with
the same names; ``temporal`` -> label maps with the same names in ``<phase>_A``. For face and pose,
``scripts/prepare_video.py`` does all of it in one command (docs/own-video.md).
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence

import cv2

logger = logging.getLogger("extract_frames")


def extract_frames(video: str | os.PathLike, output: str | os.PathLike, *, ext: str = ".jpg", every: int = 1,
                   max_frames: int | None = None, digits: int = 5, jpeg_quality: int = 95) -> int:
    """Write every ``every``-th frame of ``video`` into ``output``.

    Args:
        video: Video file readable by OpenCV.
        output: Folder for the frames (created).
        ext: ``.jpg`` or ``.png``.
        every: Keep one frame out of ``every``.
        max_frames: Stop after this many written frames (all when None).
        digits: Zero padding of the frame index.
        jpeg_quality: JPEG quality 0..100.

    Returns:
        Number of frames written.

    Raises:
        ValueError: the video cannot be opened, or ``every`` < 1.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1 (got {every})")
    capture = cv2.VideoCapture(os.fspath(video))
    if not capture.isOpened():
        raise ValueError(f"{video}: cannot open this video with OpenCV")
    Path(output).mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if ext.lower() in (".jpg", ".jpeg") else []
    read = written = 0
    try:
        while max_frames is None or written < max_frames:
            ok, frame = capture.read()
            if not ok:
                break
            if read % every == 0:
                path = Path(output) / f"{written:0{digits}d}{ext}"
                if not cv2.imwrite(str(path), frame, params):
                    raise ValueError(f"{path}: OpenCV could not write this frame")
                written += 1
            read += 1
    finally:
        capture.release()
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the number of frames written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", required=True, help="input video file")
    parser.add_argument("--output", required=True, help="folder for the frames of this sequence")
    parser.add_argument("--ext", default=".jpg", choices=(".jpg", ".png"), help="frame file type")
    parser.add_argument("--every", type=int, default=1, help="keep one frame out of this many")
    parser.add_argument("--max_frames", type=int, default=None, help="stop after this many frames (default: all)")
    parser.add_argument("--digits", type=int, default=5, help="zero padding of frame numbers")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    count = extract_frames(args.video, args.output, ext=args.ext, every=args.every, max_frames=args.max_frames,
                           digits=args.digits)
    logger.info("wrote %d frames to %s", count, args.output)
    return count


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from util.cli import run

    sys.exit(run(main))
