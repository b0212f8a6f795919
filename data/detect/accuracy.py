"""Keypoint accuracy against a reference detector: PCK for OpenPose layouts, normalised error for 68-point faces.

Used by ``bench/own_video.py`` (the tables of docs/own-video.md) and the test that holds them.
"""

from __future__ import annotations

import numpy as np

#: OpenPose BODY_25 rows counted for a person's height: every body joint.
BODY_PARTS = {"body": "pose", "face": "face", "hands": ("hand_left", "hand_right")}


def person_height(reference_body: np.ndarray) -> float:
    """Vertical extent (pixels) of the confident joints of a reference BODY_25 person (25, 3)."""
    ys = reference_body[reference_body[:, 2] > 0, 1]
    return float(ys.max() - ys.min()) if len(ys) else 0.0


def keypoint_hits(predicted: np.ndarray, reference: np.ndarray, threshold: float) -> tuple[int, int]:
    """(correct, counted) points: counted where the reference is confident, correct where the prediction exists
    and lies within ``threshold`` pixels.

    Args:
        predicted: (N, 3) x, y, confidence (missing: confidence 0).
        reference: (N, 3) x, y, confidence.
        threshold: Distance in pixels.
    """
    counted = reference[:, 2] > 0
    close = np.linalg.norm(predicted[:, :2] - reference[:, :2], axis=1) <= threshold
    return int((counted & close & (predicted[:, 2] > 0)).sum()), int(counted.sum())


def pck(pairs: list[tuple[dict, dict]], part: str, alpha: float) -> tuple[float, int]:
    """PCK of one part over frames: the share of reference points within ``alpha`` x the person's height.

    Args:
        pairs: (predicted person, reference person) dicts of (N, 3) arrays per frame.
        part: ``body``, ``face`` or ``hands``.
        alpha: Fraction of the person's height (0.05, 0.1).

    Returns:
        (PCK in [0, 1], number of reference points counted).
    """
    keys = BODY_PARTS[part]
    keys = (keys,) if isinstance(keys, str) else keys
    correct = counted = 0
    for predicted, reference in pairs:
        threshold = alpha * person_height(reference["pose"])
        for key in keys:
            c, n = keypoint_hits(predicted[key], reference[key], threshold)
            correct, counted = correct + c, counted + n
    return (correct / counted if counted else 0.0), counted


def mean_error(pairs: list[tuple[dict, dict]], part: str) -> float:
    """Mean distance (pixels) over the points both the prediction and the reference hold (NaN when none)."""
    keys = BODY_PARTS[part]
    distances = []
    for predicted, reference in pairs:
        for key in (keys,) if isinstance(keys, str) else keys:
            both = (predicted[key][:, 2] > 0) & (reference[key][:, 2] > 0)
            distances += list(np.linalg.norm(predicted[key][both, :2] - reference[key][both, :2], axis=1))
    return float(np.mean(distances)) if distances else float("nan")


def interocular(reference: np.ndarray) -> float:
    """Distance between the eye centres (means of dlib points 36-41 and 42-47) of (68, 2) landmarks."""
    return float(np.linalg.norm(reference[36:42].mean(0) - reference[42:48].mean(0)))


FACE_REGIONS = {"jaw": range(0, 17), "brows": range(17, 27), "nose": range(27, 36), "eyes": range(36, 48),
                "mouth": range(48, 68), "all 68": range(0, 68)}


def face_errors(pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean point distance / inter-ocular distance per face region, over frames of (predicted, reference) (68, 2)."""
    out = {}
    for region, rows in FACE_REGIONS.items():
        rows = list(rows)
        out[region] = float(np.mean([np.linalg.norm(p[rows] - r[rows], axis=1).mean() / interocular(r)
                                     for p, r in pairs]))
    return out
