"""MediaPipe back-end: Holistic (Pose + FaceMesh + Hands) for the ``pose`` mode, FaceMesh for the ``face`` mode.

Install: ``pip install -e .[pose]`` (its light dependencies) then ``pip install --no-deps mediapipe==0.10.14``
(``make mediapipe`` does both). 0.10.14 is the last release that ships its .tflite models inside the wheel and runs
with NumPy 2; installing it with its own dependency list would also pull jax and opencv-contrib-python, which it
does not need for these solutions. Nothing is downloaded at run time: only the models in the wheel are used (Pose
``model_complexity`` 1; the heavy pose model is not in the wheel).

Frames are processed one at a time in static-image mode, so the result of a frame does not depend on which frames
were read before it (test.py's loader may read frames out of order).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from data.detect import mapping

INSTALL = "pip install -e '.[pose]' && pip install --no-deps mediapipe==0.10.14 (or: make mediapipe)"
HEAD_POINTS = tuple(range(11))  # MediaPipe Pose's face points: their visibility is the face's confidence
WRISTS = {"hand_left": 15, "hand_right": 16}


def import_mediapipe() -> Any:
    """The ``mediapipe`` module.

    Raises:
        ImportError: not installed, or installed without its light dependencies (the message names the install).
    """
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ logs one line per graph start otherwise
    try:
        import mediapipe
        from mediapipe.python.solutions import face_mesh, holistic  # noqa: F401 - fails without protobuf<5
    except ImportError as err:
        raise ImportError(f"the MediaPipe back-end is not installed ({err}): {INSTALL}") from err
    return mediapipe


def _landmarks(result: Any, size: tuple[int, int], with_visibility: bool = False) -> np.ndarray | None:
    """A MediaPipe landmark list -> (N, 2) pixels, or (N, 3) with visibility; None when absent."""
    if result is None:
        return None
    rows = [(p.x, p.y, p.visibility) if with_visibility else (p.x, p.y) for p in result.landmark]
    return mapping.to_pixels(np.asarray(rows, dtype=np.float64), size)


class MediaPipePose:
    """OpenPose-style people from MediaPipe Holistic (one person per frame).

    Call it with an (H, W, 3) uint8 RGB frame; it returns a person dict (``pose`` (25, 3), ``face`` (70, 3),
    ``hand_left`` / ``hand_right`` (21, 3), x, y, confidence in pixels) or None when no body is found.
    """

    def __init__(self) -> None:
        mediapipe = import_mediapipe()
        self._graph = mediapipe.solutions.holistic.Holistic(
            static_image_mode=True, model_complexity=1, refine_face_landmarks=True)

    def __call__(self, frame: np.ndarray) -> dict[str, np.ndarray] | None:
        size = (frame.shape[1], frame.shape[0])
        result = self._graph.process(np.ascontiguousarray(frame))
        pose = _landmarks(result.pose_landmarks, size, with_visibility=True)
        if pose is None:
            return None
        person = mapping.empty_person()
        person["pose"] = mapping.body25_from_mediapipe(pose, size)
        mesh = _landmarks(result.face_landmarks, size)
        if mesh is not None:
            person["face"] = mapping.face70_from_mesh(mesh, float(pose[list(HEAD_POINTS), 2].mean()))
        hands = {"hand_left": result.left_hand_landmarks, "hand_right": result.right_hand_landmarks}
        for key, landmarks in hands.items():
            points = _landmarks(landmarks, size)
            if points is not None:
                person[key] = mapping.hand21_from_mediapipe(points, float(pose[WRISTS[key], 2]))
        return person

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._graph.close()


class MediaPipeFace68:
    """dlib-style 68 face landmarks from MediaPipe FaceMesh (the first face).

    Call it with an (H, W, 3) uint8 RGB frame; it returns (68, 2) float64 x, y (pixels) or None without a face.
    """

    def __init__(self) -> None:
        mediapipe = import_mediapipe()
        self._graph = mediapipe.solutions.face_mesh.FaceMesh(
            static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.5)

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        size = (frame.shape[1], frame.shape[0])
        result = self._graph.process(np.ascontiguousarray(frame))
        if not result.multi_face_landmarks:
            return None
        return mapping.dlib68_from_mesh(_landmarks(result.multi_face_landmarks[0], size))

    def close(self) -> None:
        """Release the MediaPipe graph."""
        self._graph.close()
