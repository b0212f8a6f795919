"""Keypoint layouts -> the OpenPose JSON the ``pose`` mode reads (BODY_25 + 70 face points + 2 x 21 hand points).

Every converter takes ``(N, 3)`` arrays of ``x, y, confidence`` in pixels (confidence 0 = missing) and returns a
:data:`Person`: ``"pose"`` (25, 3), ``"face"`` (70, 3), ``"hand_left"`` / ``"hand_right"`` (21, 3), the arrays
:func:`data.keypoints.read_openpose_json` gives back. Points a layout does not have stay ``(0, 0, 0)``.

Layouts:

- COCO-17 (AlphaPose, MMPose, most detectors): nose, eyes, ears, shoulders, elbows, wrists, hips, knees, ankles.
- COCO-WholeBody-133 (RTMPose / DWPose whole-body, MMPose, AlphaPose): COCO-17, then 6 foot points (left big toe,
  left small toe, left heel, right big toe, right small toe, right heel), 68 face points in the iBUG-300W order
  (OpenPose's face order), 21 left-hand and 21 right-hand points (OpenPose's hand order).
- OpenPose COCO-18 (the body of ControlNet's OpenPose / DWPose annotators): OpenPose's BODY_18 order.

Derived points: the neck is the shoulders' midpoint and the mid-hip the hips' midpoint (confidence: the smaller
of the two); OpenPose's two pupils (face points 68, 69) are the centres of the eye contours.
"""

from __future__ import annotations

import numpy as np

Person = dict[str, np.ndarray]

N_BODY25, N_FACE, N_HAND = 25, 70, 21
NECK, MID_HIP = 1, 8
#: BODY_25 index <- COCO-17 index (neck and mid-hip are derived).
BODY25_FROM_COCO17 = {0: 0, 2: 6, 3: 8, 4: 10, 5: 5, 6: 7, 7: 9, 9: 12, 10: 14, 11: 16, 12: 11, 13: 13, 14: 15,
                      15: 2, 16: 1, 17: 4, 18: 3}
#: BODY_25 feet 19..24 (LBigToe, LSmallToe, LHeel, RBigToe, RSmallToe, RHeel) <- COCO-WholeBody 17..22.
BODY25_FROM_WHOLEBODY_FEET = {19: 17, 20: 18, 21: 19, 22: 20, 23: 21, 24: 22}
#: BODY_25 index <- OpenPose COCO-18 index (the same order up to the eyes and ears; no mid-hip, no feet).
BODY25_FROM_COCO18 = {0: 0, 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 9: 8, 10: 9, 11: 10, 12: 11, 13: 12, 14: 13,
                      15: 14, 16: 15, 17: 16, 18: 17}
COCO17_SHOULDERS, COCO17_HIPS = (5, 6), (11, 12)
COCO18_HIPS = (8, 11)
WHOLEBODY_FACE = slice(23, 91)
WHOLEBODY_LEFT_HAND, WHOLEBODY_RIGHT_HAND = slice(91, 112), slice(112, 133)
RIGHT_EYE_CONTOUR, LEFT_EYE_CONTOUR = range(36, 42), range(42, 48)  # iBUG order; OpenPose pupils 68, 69


def empty_person() -> Person:
    """A person with every point missing."""
    return {"pose": np.zeros((N_BODY25, 3)), "face": np.zeros((N_FACE, 3)),
            "hand_left": np.zeros((N_HAND, 3)), "hand_right": np.zeros((N_HAND, 3))}


def midpoint(points: np.ndarray, a: int, b: int) -> np.ndarray:
    """(3,) midpoint of points ``a`` and ``b`` of an (N, 3) array, confidence the smaller one (0 if one is missing)."""
    conf = min(points[a, 2], points[b, 2])
    if conf <= 0:
        return np.zeros(3)
    return np.array([*(points[a, :2] + points[b, :2]) / 2, conf])


def copy_points(target: np.ndarray, source: np.ndarray, mapping: dict[int, int]) -> None:
    """target[t] = source[s] for every ``t: s`` of ``mapping`` (in place)."""
    for t, s in mapping.items():
        target[t] = source[s]


def face68_to_openpose70(face: np.ndarray) -> np.ndarray:
    """(68, 3) iBUG-order face -> (70, 3) OpenPose face: the same 68 points plus the two pupils."""
    out = np.zeros((N_FACE, 3))
    out[:68] = face
    for index, contour in ((68, RIGHT_EYE_CONTOUR), (69, LEFT_EYE_CONTOUR)):
        eye = face[list(contour)]
        if (eye[:, 2] > 0).all():
            out[index] = [*eye[:, :2].mean(0), eye[:, 2].min()]
    return out


def from_coco17(points: np.ndarray) -> Person:
    """(17, 3) COCO-17 body -> Person (BODY_25 without feet)."""
    person = empty_person()
    copy_points(person["pose"], points, BODY25_FROM_COCO17)
    person["pose"][NECK] = midpoint(points, *COCO17_SHOULDERS)
    person["pose"][MID_HIP] = midpoint(points, *COCO17_HIPS)
    return person


def from_wholebody133(points: np.ndarray) -> Person:
    """(133, 3) COCO-WholeBody -> Person (BODY_25 with feet, 70 face points, both hands)."""
    person = from_coco17(points[:17])
    copy_points(person["pose"], points, BODY25_FROM_WHOLEBODY_FEET)
    person["face"] = face68_to_openpose70(points[WHOLEBODY_FACE])
    person["hand_left"] = points[WHOLEBODY_LEFT_HAND].astype(np.float64)
    person["hand_right"] = points[WHOLEBODY_RIGHT_HAND].astype(np.float64)
    return person


def from_openpose18(points: np.ndarray) -> Person:
    """(18, 3) OpenPose COCO-18 body -> Person (BODY_25 without feet; mid-hip derived)."""
    person = empty_person()
    copy_points(person["pose"], points, BODY25_FROM_COCO18)
    person["pose"][MID_HIP] = midpoint(points, *COCO18_HIPS)
    return person


#: Converter for each number of points of a flat body layout.
LAYOUTS = {17: from_coco17, 18: from_openpose18, 133: from_wholebody133}


def to_person(points: np.ndarray) -> Person:
    """(N, 3) keypoints of a layout in :data:`LAYOUTS` (told by N) -> Person.

    Raises:
        ValueError: N is not a known layout.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) not in LAYOUTS:
        raise ValueError(f"{points.shape[0] if points.ndim else 0} keypoints: not COCO-17, OpenPose COCO-18 or "
                         "COCO-WholeBody-133")
    return LAYOUTS[len(points)](points)
