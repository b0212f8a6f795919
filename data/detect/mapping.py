"""Map MediaPipe landmarks to the keypoint layouts the ``pose`` and ``face`` modes read.

Points are NumPy arrays ``(N, 3)`` of ``x, y, confidence`` in pixels (OpenPose's convention: a missing point is
``(0, 0, 0)``) or ``(N, 2)`` of ``x, y``. MediaPipe's normalised landmarks are scaled to pixels by the caller
(:func:`to_pixels`).

- Body: MediaPipe Pose's 33 landmarks -> OpenPose BODY_25. The neck is the shoulders' midpoint and the mid-hip the
  hips' midpoint (confidence: the lower of the two); big toes are MediaPipe's foot index points, heels its heels, and
  the small toes, which MediaPipe lacks, sit on the heel-to-toe line a quarter of the foot's length behind the big
  toe (an approximation: OpenPose puts them beside it).
- Hands: MediaPipe Hands' 21 points are in OpenPose's hand order already (wrist, then four points per finger from
  the thumb to the little finger).
- Face: the 468-point mesh -> dlib's 68 points (jaw resampled evenly along the mesh's face oval, brows, nose, eyes and
  lips from fixed mesh vertices), and OpenPose's 70 face points = those 68 + the two pupils (iris centres when the
  mesh has the 10 iris points, eye-corner midpoints otherwise).
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- body
N_BODY25 = 25
#: BODY_25 index -> MediaPipe Pose index, for the joints both have.
BODY25_FROM_MEDIAPIPE = {
    0: 0,                                  # nose
    2: 12, 3: 14, 4: 16,                   # right shoulder, elbow, wrist
    5: 11, 6: 13, 7: 15,                   # left shoulder, elbow, wrist
    9: 24, 10: 26, 11: 28,                 # right hip, knee, ankle
    12: 23, 13: 25, 14: 27,                # left hip, knee, ankle
    15: 5, 16: 2, 17: 8, 18: 7,            # right eye, left eye, right ear, left ear
    19: 31, 21: 29,                        # left big toe (foot index), left heel
    22: 32, 24: 30,                        # right big toe (foot index), right heel
}
#: BODY_25 index -> the two MediaPipe points whose midpoint it is.
BODY25_MIDPOINTS = {1: (11, 12), 8: (23, 24)}  # neck, mid-hip
#: BODY_25 small toe -> (MediaPipe heel, MediaPipe foot index) of the same foot.
BODY25_SMALL_TOES = {20: (29, 31), 23: (30, 32)}
SMALL_TOE_BACK = 0.25  # fraction of the heel-to-toe length the small toe sits behind the big toe
#: Below this MediaPipe visibility a body point is written as missing (0, 0, 0), as OpenPose writes undetected joints.
MIN_VISIBILITY = 0.5

# ---------------------------------------------------------------- face
#: MediaPipe face-oval vertices from the right ear (image left) under the chin to the left ear; dlib's 17 jaw
#: points are spread evenly along this polyline.
FACE_OVAL_JAW = (127, 234, 93, 132, 58, 172, 136, 150, 149, 176, 148, 152,
                 377, 400, 378, 379, 365, 397, 288, 361, 323, 454, 356)
#: dlib points 17..67 from fixed mesh vertices: brows (outer to inner, then inner to outer), nose bridge (top to
#: tip), nostrils (left to right), eyes (from the outer / inner corner clockwise), outer and inner lips.
DLIB_FROM_MESH = (
    70, 63, 105, 66, 107,                                    # 17-21 right brow
    336, 296, 334, 293, 300,                                 # 22-26 left brow
    168, 197, 5, 4,                                          # 27-30 nose bridge
    98, 97, 2, 326, 327,                                     # 31-35 under the nose
    33, 160, 158, 133, 153, 144,                             # 36-41 right eye
    362, 385, 387, 263, 373, 380,                            # 42-47 left eye
    61, 39, 37, 0, 267, 269, 291, 405, 314, 17, 84, 181,     # 48-59 outer lips
    78, 82, 13, 312, 308, 317, 14, 87,                       # 60-67 inner lips
)
N_JAW = 17
N_DLIB = 68
N_OPENPOSE_FACE = 70
MESH_IRIS_CENTRES = (468, 473)  # right, left iris centre (only in the 478-point refined mesh)
EYE_CORNERS = ((33, 133), (362, 263))  # right, left eye corners: the pupil without iris points


def to_pixels(landmarks: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Normalised landmarks ``(N, 2+)`` (x, y in [0, 1] of the frame) -> pixels, other columns kept.

    Args:
        landmarks: (N, K) with K >= 2, x and y first.
        size: (width, height) of the frame.

    Returns:
        (N, K) float64 array.
    """
    out = np.array(landmarks, dtype=np.float64)
    out[:, 0] *= size[0]
    out[:, 1] *= size[1]
    return out


def _inside(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N,) whether each (x, y) of ``points`` (N, 2+) lies in the frame."""
    return (points[:, 0] >= 0) & (points[:, 0] < size[0]) & (points[:, 1] >= 0) & (points[:, 1] < size[1])


def body25_from_mediapipe(pose: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """MediaPipe Pose landmarks -> OpenPose BODY_25 keypoints.

    Args:
        pose: (33, 3) x, y (pixels) and visibility in [0, 1].
        size: (width, height) of the frame: points outside it are missing.

    Returns:
        (25, 3) x, y, confidence; points below :data:`MIN_VISIBILITY` or outside the frame are (0, 0, 0).
    """
    body = np.zeros((N_BODY25, 3))
    for dst, src in BODY25_FROM_MEDIAPIPE.items():
        body[dst] = pose[src]
    for dst, (a, b) in BODY25_MIDPOINTS.items():
        body[dst, :2] = (pose[a, :2] + pose[b, :2]) / 2
        body[dst, 2] = min(pose[a, 2], pose[b, 2])
    for dst, (heel, toe) in BODY25_SMALL_TOES.items():
        body[dst, :2] = pose[toe, :2] + SMALL_TOE_BACK * (pose[heel, :2] - pose[toe, :2])
        body[dst, 2] = min(pose[heel, 2], pose[toe, 2])
    missing = (body[:, 2] < MIN_VISIBILITY) | ~_inside(body, size)
    body[missing] = 0
    return body


def resample_polyline(points: np.ndarray, count: int) -> np.ndarray:
    """``count`` points evenly spaced by arc length along a polyline, both ends included.

    Args:
        points: (N, 2) polyline vertices, N >= 2.
        count: Points wanted, >= 2.

    Returns:
        (count, 2) float64.
    """
    steps = np.linalg.norm(np.diff(points, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(steps)])
    targets = np.linspace(0.0, arc[-1], count)
    return np.stack([np.interp(targets, arc, points[:, 0]), np.interp(targets, arc, points[:, 1])], axis=1)


def dlib68_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """MediaPipe face mesh -> dlib's 68 landmarks.

    Args:
        mesh: (468 or 478, 2+) x, y (pixels) first.

    Returns:
        (68, 2) float64 x, y (pixels), in dlib's order.
    """
    jaw = resample_polyline(mesh[list(FACE_OVAL_JAW), :2], N_JAW)
    return np.vstack([jaw, mesh[list(DLIB_FROM_MESH), :2]])


def pupils_from_mesh(mesh: np.ndarray) -> np.ndarray:
    """(2, 2) right and left pupil (pixels): iris centres of a refined mesh, eye-corner midpoints otherwise."""
    if len(mesh) > max(MESH_IRIS_CENTRES):
        return mesh[list(MESH_IRIS_CENTRES), :2].astype(np.float64)
    return np.stack([(mesh[a, :2] + mesh[b, :2]) / 2 for a, b in EYE_CORNERS]).astype(np.float64)


def face70_from_mesh(mesh: np.ndarray, confidence: float) -> np.ndarray:
    """MediaPipe face mesh -> OpenPose's 70 face keypoints (dlib's 68, then the right and left pupil).

    Args:
        mesh: (468 or 478, 2+) x, y (pixels) first.
        confidence: Confidence written for every point (in [0, 1]).

    Returns:
        (70, 3) x, y, confidence.
    """
    points = np.vstack([dlib68_from_mesh(mesh), pupils_from_mesh(mesh)])
    return np.hstack([points, np.full((N_OPENPOSE_FACE, 1), float(confidence))])


def hand21_from_mediapipe(hand: np.ndarray, confidence: float) -> np.ndarray:
    """MediaPipe Hands' 21 landmarks (already in OpenPose's order) -> (21, 3) x, y, confidence.

    Args:
        hand: (21, 2+) x, y (pixels) first.
        confidence: Confidence written for every point (in [0, 1]).
    """
    return np.hstack([np.asarray(hand, dtype=np.float64)[:, :2], np.full((len(hand), 1), float(confidence))])


def empty_person() -> dict[str, np.ndarray]:
    """An OpenPose person with every point missing: ``pose`` (25, 3), ``face`` (70, 3), hands (21, 3)."""
    return {"pose": np.zeros((N_BODY25, 3)), "face": np.zeros((N_OPENPOSE_FACE, 3)),
            "hand_left": np.zeros((21, 3)), "hand_right": np.zeros((21, 3))}
