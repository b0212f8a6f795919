"""Detect dlib's 68 face landmarks on every frame and write them in the ``face`` mode's layout.

Usage::

    python data/face_landmark_detection.py --input datasets/face/train_img --output datasets/face/train_keypoints
    python data/face_landmark_detection.py --input clip.mp4 --output datasets/face/train_keypoints/clip

``--input`` is a folder of frames, a folder of sequence folders (the structure is mirrored under ``--output``)
or a video file (frames named ``00000``, ``00001``... as ``scripts/extract_frames.py`` names them). Each frame
gets ``<output>/<seq>/<frame name>.txt``: 68 lines ``x,y`` (integers, pixels). Frames where no face is found
get no file; they are logged, listed at the end and returned, so they can be removed from ``<phase>_img``
(the dataset requires the same frames in both folders).

dlib is an optional dependency, imported only here: ``pip install dlib face_recognition_models``. The
68-point model ``shape_predictor_68_face_landmarks.dat`` is read from the ``face_recognition_models`` package
(nothing is downloaded). As in the reference, the frontal face detector runs with one upsampling and the
first detected face is kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterator, Sequence

import cv2
import numpy as np

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.video_folder import IMG_EXTENSIONS, find_sequences  # noqa: E402

logger = logging.getLogger(__name__)

PREDICTOR_FILE = "shape_predictor_68_face_landmarks.dat"
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".MP4", ".AVI", ".MOV", ".MKV")


def predictor_path() -> Path:
    """Path of the 68-point model shipped in the ``face_recognition_models`` package.

    Raises:
        ImportError: the package is not installed.
        FileNotFoundError: the package holds no such model file.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("face_recognition_models is not installed: pip install face_recognition_models")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / PREDICTOR_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from the face_recognition_models package")
    return path


def load_models() -> tuple[Any, Any]:
    """(dlib frontal face detector, dlib 68-point shape predictor).

    Raises:
        ImportError: dlib (or the model package) is not installed.
    """
    try:
        import dlib
    except ImportError as err:
        raise ImportError("face landmark detection needs dlib: pip install dlib face_recognition_models") from err
    return dlib.get_frontal_face_detector(), dlib.shape_predictor(str(predictor_path()))


def detect_landmarks(image: np.ndarray, detector: Any, predictor: Any) -> np.ndarray | None:
    """68 landmarks of the first face found (detector upsampling 1).

    Args:
        image: (H, W, 3) uint8 RGB frame.
        detector: dlib frontal face detector.
        predictor: dlib 68-point shape predictor.

    Returns:
        (68, 2) int64 x, y (pixels), or None when no face is found.
    """
    faces = detector(image, 1)
    if len(faces) == 0:
        return None
    shape = predictor(image, faces[0])
    return np.array([[shape.part(i).x, shape.part(i).y] for i in range(shape.num_parts)], dtype=np.int64)


def write_landmarks(path: str | os.PathLike, points: np.ndarray) -> None:
    """Write (68, 2) landmarks as 68 lines ``x,y``."""
    np.savetxt(path, np.asarray(points).round().astype(np.int64), fmt="%d", delimiter=",")


def iter_frames(source: str | os.PathLike) -> Iterator[tuple[str, str, np.ndarray]]:
    """Yield ``(sequence name, frame name, RGB frame (H, W, 3) uint8)`` of a video file or a frame folder tree.

    Raises:
        FileNotFoundError: ``source`` does not exist.
        ValueError: a video cannot be opened or a frame cannot be read.
    """
    source = os.fspath(source)
    if os.path.isfile(source):
        capture = cv2.VideoCapture(source)
        if not capture.isOpened():
            raise ValueError(f"{source}: cannot open this video with OpenCV")
        index = 0
        try:
            while True:
                ok, frame = capture.read()
                if not ok:
                    break
                yield ".", f"{index:05d}", cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
                index += 1
        finally:
            capture.release()
        return
    for sequence in find_sequences(source, IMG_EXTENSIONS):
        for frame_path in sequence.frames:
            frame = cv2.imread(frame_path, cv2.IMREAD_COLOR)
            if frame is None:
                raise ValueError(f"{frame_path}: not a readable image")
            yield sequence.name, Path(frame_path).stem, cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)


def detect_folder(source: str | os.PathLike, output: str | os.PathLike, models: tuple[Any, Any] | None = None
                  ) -> tuple[int, list[str]]:
    """Detect landmarks on every frame of ``source`` and write them under ``output``.

    Args:
        source: Video file, folder of frames, or folder of sequence folders.
        output: Keypoints folder; sequence sub-folders of ``source`` are mirrored.
        models: (detector, predictor), loaded with :func:`load_models` when None.

    Returns:
        (number of files written, frames without a face as ``<seq>/<frame>`` names).
    """
    detector, predictor = models if models is not None else load_models()
    written, missing = 0, []
    for seq_name, frame_name, frame in iter_frames(source):
        points = detect_landmarks(frame, detector, predictor)
        if points is None:
            missing.append(f"{seq_name}/{frame_name}" if seq_name != "." else frame_name)
            logger.warning("no face found in %s", missing[-1])
            continue
        folder = Path(output) / seq_name
        folder.mkdir(parents=True, exist_ok=True)
        write_landmarks(folder / f"{frame_name}.txt", points)
        written += 1
    return written, missing


def main(argv: Sequence[str] | None = None) -> list[str]:
    """Command-line entry point; returns the frames where no face was found."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--input", required=True, help="video file, folder of frames or of sequence folders")
    parser.add_argument("--output", required=True, help="keypoints folder (one .txt of 68 'x,y' lines per frame)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    written, missing = detect_folder(args.input, args.output)
    logger.info("wrote %d landmark files to %s", written, args.output)
    if missing:
        logger.warning("no face in %d frame(s), no keypoint file written; remove them from the image folder:\n  %s",
                       len(missing), "\n  ".join(missing))
    return missing


if __name__ == "__main__":
    main()
