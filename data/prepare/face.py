"""``prepare_video --mode face``: photos and dlib-layout 68-point landmarks (``<phase>_img``, ``<phase>_keypoints``).

Back-ends: ``dlib`` (the reference's detector and predictor; ``pip install -e .[face]``, dlib compiles from source
where no wheel exists) and ``mediapipe`` (FaceMesh mapped to the 68 points; no compiler needed).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from data import keypoints as kp
from data.detect.backends import Backend, Detector, probe_dlib, probe_mediapipe
from data.prepare.base import ModeWriter


def load_dlib(options: object = None) -> Detector:
    from data.detect.dlib_backend import DlibFace68

    return DlibFace68()


def load_mediapipe(options: object = None) -> Detector:
    from data.detect.mediapipe_backend import MediaPipeFace68

    return MediaPipeFace68()


#: ``--backend`` / ``--detector`` -> a back-end whose detector returns (68, 2) landmarks (or None).
FACE_BACKENDS: dict[str, Backend] = {"dlib": Backend(load_dlib, probe_dlib),
                                     "mediapipe": Backend(load_mediapipe, probe_mediapipe)}


def landmark_text(points: np.ndarray) -> str:
    """(68, 2) landmarks -> 68 lines ``x,y`` of integers (the format dlib's script writes)."""
    return "".join(f"{x},{y}\n" for x, y in np.asarray(points).round().astype(np.int64))


class FaceWriter(ModeWriter):
    """Face mode: one 68-line landmark file per frame (``--backend dlib`` or ``mediapipe``)."""

    mode = "face"
    annotations = {"keypoints": ".txt"}
    nothing_found = "no face"
    backends = FACE_BACKENDS

    def encode(self, folder: str, annotation: Any) -> bytes:
        return landmark_text(annotation).encode()

    def read(self, paths: dict[str, Path]) -> np.ndarray:
        return kp.read_face_landmarks(paths["keypoints"])

    def blend(self, before: Any, after: Any, weight: float) -> Any:
        return (1 - weight) * before + weight * after

    def check_flags(self) -> list[str]:
        return ["--input_nc", str(1 + kp.N_FACE_POLYLINES)]
