"""``prepare_video --mode pose``: photos and OpenPose BODY_25 + face + hands JSON (``<phase>_img``, ``<phase>_openpose``).

The written dataset has no DensePose folder: train and test it with ``--openpose_only --input_nc 3`` (DensePose has
no installable back-end; see docs/own-video.md).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Optional

import numpy as np

from data import keypoints as kp
from data.detect.backends import Backend, Detector, probe_mediapipe
from data.keypoints import openpose_json
from data.prepare.base import ModeWriter


def load_mediapipe(options: Optional[argparse.Namespace] = None) -> Detector:
    from data.detect.mediapipe_backend import MediaPipePose

    return MediaPipePose()


def load_rtmpose(options: Optional[argparse.Namespace] = None) -> Detector:
    """RTMPose / DWPose whole-body ONNX (``--pose_model``, optional ``--det_model``, ``--pose_threshold``)."""
    from data.prepare.rtmpose import RTMPoseDetector

    return RTMPoseDetector(getattr(options, "pose_model", "") or "", getattr(options, "det_model", "") or None,
                           getattr(options, "pose_threshold", 0.3))


def probe_rtmpose() -> None:
    """Raise ImportError without onnxruntime; FileNotFoundError where no ``--pose_model`` can be given (test.py)."""
    from data.prepare.rtmpose import probe_onnxruntime

    probe_onnxruntime()
    raise FileNotFoundError("the rtmpose back-end reads --pose_model, which only scripts/prepare_video.py takes: "
                            "prepare the dataset with it (--mode pose --backend rtmpose), or use --detector mediapipe")


#: ``--backend`` / ``--detector`` -> a back-end whose detector returns one OpenPose person dict (or None); loaders
#: take the script's flags (``options``) where the back-end reads local weights.
POSE_BACKENDS: dict[str, Backend] = {"mediapipe": Backend(load_mediapipe, probe_mediapipe),
                                     "rtmpose": Backend(load_rtmpose, probe_rtmpose)}



def blend_people(before: dict[str, np.ndarray], after: dict[str, np.ndarray], weight: float
                 ) -> dict[str, np.ndarray]:
    """Interpolate two people point by point; a point missing on either side stays missing.

    Args:
        before, after: Person dicts of (N, 3) ``x, y, confidence`` arrays.
        weight: 0 gives ``before``, 1 gives ``after``.
    """
    out = {}
    for key in before:
        a, b = before[key], after[key]
        both = (a[:, 2] > 0) & (b[:, 2] > 0)
        out[key] = np.where(both[:, None], (1 - weight) * a + weight * b, 0.0)
    return out


class PoseWriter(ModeWriter):
    """Pose mode: one OpenPose JSON per frame from a body back-end (``--backend mediapipe``)."""

    mode = "pose"
    annotations = {"openpose": ".json"}
    nothing_found = "no person"
    backends = POSE_BACKENDS

    def encode(self, folder: str, annotation: Any) -> bytes:
        return json.dumps(openpose_json([annotation])).encode()

    def read(self, paths: dict[str, Path]) -> dict[str, np.ndarray]:
        return kp.read_openpose_json(paths["openpose"])[0]

    def blend(self, before: Any, after: Any, weight: float) -> Any:
        return blend_people(before, after, weight)

    def check_flags(self) -> list[str]:
        return ["--openpose_only", "--input_nc", "3"]
