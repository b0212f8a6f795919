"""Keypoints to images: curve fitting, edge drawing, OpenPose rendering and face-part edge maps.

Pure NumPy / OpenCV helpers shared by the ``face`` and ``pose`` dataset modes (reference
``data/keypoint2img.py`` and the drawing half of ``data/face_dataset.py``). Images are NumPy arrays
``(H, W)`` or ``(H, W, 3)`` of ``uint8``; points are ``(N, 2)`` arrays of ``x, y`` pixel coordinates.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
from typing import Sequence

import cv2
import numpy as np

logger = logging.getLogger(__name__)

Color = Sequence[int]

# ---------------------------------------------------------------- OpenPose skeleton (BODY_25, hands, face)
POSE_HEAD_EDGES = ((17, 15), (15, 0), (0, 16), (16, 18))
POSE_HEAD_COLORS = ((153, 0, 153), (153, 0, 102), (102, 0, 153), (51, 0, 153))
POSE_BODY_EDGES = (
    (0, 1), (1, 8),                                               # body
    (1, 2), (2, 3), (3, 4),                                       # right arm
    (1, 5), (5, 6), (6, 7),                                       # left arm
    (8, 9), (9, 10), (10, 11), (11, 24), (11, 22), (22, 23),      # right leg
    (8, 12), (12, 13), (13, 14), (14, 21), (14, 19), (19, 20),    # left leg
)
POSE_BODY_COLORS = (
    (153, 0, 51), (153, 0, 0),
    (153, 51, 0), (153, 102, 0), (153, 153, 0),
    (102, 153, 0), (51, 153, 0), (0, 153, 0),
    (0, 153, 51), (0, 153, 102), (0, 153, 153), (0, 153, 153), (0, 153, 153), (0, 153, 153),
    (0, 102, 153), (0, 51, 153), (0, 0, 153), (0, 0, 153), (0, 0, 153), (0, 0, 153),
)
HAND_FINGERS = tuple(tuple([0] + list(range(1 + 4 * f, 5 + 4 * f))) for f in range(5))
HAND_COLORS = ((204, 0, 0), (163, 204, 0), (0, 204, 82), (0, 82, 204), (163, 0, 204))
OPENPOSE_FACE_POLYLINES = (
    tuple(range(17, 22)), tuple(range(22, 27)),                   # brows
    tuple(range(27, 31)), tuple(range(31, 36)),                   # nose
    (36, 37, 38, 39), (39, 40, 41, 36), (42, 43, 44, 45), (45, 46, 47, 42),  # eyes
    tuple(range(48, 55)), (54, 55, 56, 57, 58, 59, 48),           # mouth
)
OPENPOSE_ARRAYS = {"pose": ("pose_keypoints_2d", 25), "face": ("face_keypoints_2d", 70),
                   "hand_left": ("hand_left_keypoints_2d", 21), "hand_right": ("hand_right_keypoints_2d", 21)}
FACE_CONFIDENCE, BODY_CONFIDENCE = 0.1, 0.01
#: Pose points jittered by ``5 * N(0, 1)`` when drop and face-label removal are both on (head points).
POSE_HEAD_POINTS = (0, 15, 16, 17, 18)


# ---------------------------------------------------------------- curves and edges
def interp_points(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """Fit a parabola (3+ points) or a line (2 points) through points and sample it per pixel.

    The curve is parameterised along the axis of larger extent, as the reference does.

    Args:
        x: (N,) x coordinates, N >= 2 (pixels).
        y: (N,) y coordinates (pixels).

    Returns:
        (curve_x, curve_y) integer arrays (M,), or None when the fitted parabola is too bent (|a| > 1).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if len(x) < 2:
        return None
    if np.abs(np.diff(x)).max() < np.abs(np.diff(y)).max():
        swapped = interp_points(y, x)
        return None if swapped is None else (swapped[1], swapped[0])
    degree = 2 if len(x) >= 3 else 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        coeffs = np.polyfit(x, y, degree)
    if degree == 2 and abs(coeffs[0]) > 1:
        return None
    if x[0] > x[-1]:
        x, y = x[::-1], y[::-1]
    curve_x = np.linspace(x[0], x[-1], int(x[-1] - x[0]))
    curve_y = np.polyval(coeffs, curve_x)
    # Truncate as the reference does; the epsilon keeps exact integers (5 - 1e-12) from dropping a pixel.
    return (curve_x + 1e-6).astype(int), (curve_y + 1e-6).astype(int)


def _set_color(image: np.ndarray, yy: np.ndarray, xx: np.ndarray, color: Color) -> None:
    """Paint pixels: grayscale overwrites; colour writes on black pixels and averages elsewhere."""
    if image.ndim == 2:
        image[yy, xx] = color[0]
        return
    old = image[yy, xx].astype(np.float64)
    new = np.asarray(color, dtype=np.float64)
    black = (old == 0).all(axis=1, keepdims=True)
    image[yy, xx] = np.where(black, new, (old + new) / 2).astype(np.uint8)


def _pen_offsets(width: int, disc: bool) -> np.ndarray:
    """(K, 2) (dy, dx) offsets of the pen: the square ``[-w, w)^2`` or the disc ``dy^2 + dx^2 < 4 w^2``."""
    span = np.arange(-2 * width, 2 * width) if disc else np.arange(-width, width)
    dy, dx = np.meshgrid(span, span, indexing="ij")
    keep = dy**2 + dx**2 < 4 * width**2 if disc else np.ones_like(dy, dtype=bool)
    return np.stack([dy[keep], dx[keep]], axis=1)


def draw_edge(image: np.ndarray, x: np.ndarray | None, y: np.ndarray | None, *, width: int = 1,
              color: Color = (255, 255, 255), draw_end_points: bool = False) -> None:
    """Draw a sampled curve in place: a ``2*width`` square per point, optional discs at both ends.

    Every covered pixel is painted once (see :func:`_set_color`); the reference repainted a pixel once
    per pen offset covering it, which only changes colours where two limbs overlap.

    Args:
        image: (H, W) or (H, W, 3) uint8 canvas, modified in place.
        x: (M,) integer x coordinates of the curve, or None (nothing drawn).
        y: (M,) integer y coordinates.
        width: Half side of the pen: offsets ``[-width, width)`` in each axis.
        color: RGB colour (grayscale canvases use its first value).
        draw_end_points: Also draw discs of radius ``2*width`` at the first and last points.
    """
    if x is None or len(x) == 0:
        return
    h, w = image.shape[:2]
    square = _pen_offsets(width, disc=False)
    ys, xs = [(y[:, None] + square[:, 0]).ravel()], [(x[:, None] + square[:, 1]).ravel()]
    if draw_end_points:
        disc = _pen_offsets(width, disc=True)
        ends_y, ends_x = np.array([y[0], y[-1]]), np.array([x[0], x[-1]])
        ys.append((ends_y[:, None] + disc[:, 0]).ravel())
        xs.append((ends_x[:, None] + disc[:, 1]).ravel())
    yy = np.minimum(np.maximum(np.concatenate(ys), 0), h - 1)
    xx = np.minimum(np.maximum(np.concatenate(xs), 0), w - 1)
    flat = np.unique(yy * w + xx)
    _set_color(image, flat // w, flat % w, color)


def draw_polyline(image: np.ndarray, points: np.ndarray, polyline: Sequence[int], *, window: int,
                  **draw_kwargs) -> None:
    """Draw a polyline as fitted curves over windows of ``window`` points sharing their end points.

    Args:
        image: (H, W) or (H, W, 3) uint8 canvas, modified in place.
        points: (N, 2) keypoints, x then y (pixels).
        polyline: Indices into ``points``.
        window: Points per fitted piece (3: parabolas through consecutive triples; 2: straight segments).
        **draw_kwargs: Passed to :func:`draw_edge`.
    """
    polyline = list(polyline)
    for start in range(0, max(1, len(polyline) - 1), window - 1):
        piece = polyline[start:start + window]
        curve = interp_points(points[piece, 0], points[piece, 1])
        if curve is not None:
            draw_edge(image, curve[0], curve[1], **draw_kwargs)


# ---------------------------------------------------------------- OpenPose
def read_openpose_json(path: str | os.PathLike) -> list[dict[str, np.ndarray]]:
    """Read every person of an OpenPose JSON file.

    Returns:
        One dict per person: ``"pose"`` (25, 3), ``"face"`` (70, 3), ``"hand_left"`` / ``"hand_right"``
        (21, 3), each row ``x, y, confidence``. An empty list when nobody was detected.

    Raises:
        ValueError: the file is not OpenPose JSON, an array has the wrong length or holds NaN / infinite values
            (the path is named).
    """
    try:
        with open(path, encoding="utf-8") as handle:
            people = json.load(handle)["people"]
        people = [{key: np.asarray(person[name], dtype=np.float64).reshape(n, 3)
                   for key, (name, n) in OPENPOSE_ARRAYS.items()} for person in people]
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: not an OpenPose BODY_25 + face + hands JSON file ({err})") from err
    for index, person in enumerate(people):
        for key, values in person.items():
            if not np.isfinite(values).all():
                raise ValueError(f"{path}: person {index} {OPENPOSE_ARRAYS[key][0]} holds NaN or infinite values")
    return people


def labelled_openpose_points(path: str | os.PathLike) -> list[tuple[str, float, float]]:
    """Every (x, y) of an OpenPose file labelled with where it is (``"person 0 pose_keypoints_2d point 4"``)."""
    return [(f"person {index} {OPENPOSE_ARRAYS[key][0]} point {k}", float(x), float(y))
            for index, person in enumerate(read_openpose_json(path)) for key, values in person.items()
            for k, (x, y, _) in enumerate(values)]


def valid_points(points: np.ndarray, polylines: Sequence[Sequence[int]] | None, threshold: float) -> np.ndarray:
    """Keep confident points; invalid ones become (0, 0), which marks them as missing.

    Args:
        points: (N, 3) ``x, y, confidence``.
        polylines: When given, a polyline's points are kept only if all of them are confident
            (hands and face); when None, points are judged one by one (body).
        threshold: Confidence a point must exceed.

    Returns:
        (N, 2) x, y (pixels).
    """
    out = np.zeros((len(points), 2))
    if polylines is None:
        keep = points[:, 2] > threshold
        out[keep] = points[keep, :2]
        return out
    for line in polylines:
        line = list(line)
        if (points[line, 2] > threshold).all():
            out[line] = points[line, :2]
    return out


def _render_person(person: dict[str, np.ndarray], canvas: np.ndarray, rng: np.random.Generator, *,
                   drop_prob: float, remove_face_labels: bool, basic_point_only: bool) -> None:
    """Draw one person's limbs, hands and face into ``canvas`` (H, W, 3) uint8, in place."""
    pose = valid_points(person["pose"], None, BODY_CONFIDENCE)
    face = valid_points(person["face"], OPENPOSE_FACE_POLYLINES, FACE_CONFIDENCE)
    hands = [valid_points(person[k], HAND_FINGERS, BODY_CONFIDENCE) for k in ("hand_left", "hand_right")]
    if drop_prob > 0 and remove_face_labels:
        # Jitter only detected points: moving a missing (0, 0) point would make it look detected.
        head = list(POSE_HEAD_POINTS)
        pose[head] += 5 * rng.standard_normal((len(head), 2)) * (pose[head] != 0).all(1, keepdims=True)
        face += 2 * rng.standard_normal(2) * (face != 0).all(1, keepdims=True)
    edges = (() if basic_point_only else POSE_HEAD_EDGES) + POSE_BODY_EDGES
    colors = (() if basic_point_only else POSE_HEAD_COLORS) + POSE_BODY_COLORS
    for edge, color in zip(edges, colors):
        if rng.random() > drop_prob and (pose[list(edge), 0] != 0).all():
            draw_polyline(canvas, pose, edge, window=2, width=3, color=color, draw_end_points=True)
    if basic_point_only:
        return
    for hand in hands:
        if rng.random() > drop_prob:
            for finger, color in zip(HAND_FINGERS, HAND_COLORS):
                for a, b in zip(finger[:-1], finger[1:]):
                    if hand[a, 0] != 0 and hand[b, 0] != 0:
                        draw_polyline(canvas, hand, (a, b), window=2, color=color, draw_end_points=True)
    if rng.random() > drop_prob:
        for line in OPENPOSE_FACE_POLYLINES:
            for a, b in zip(line[:-1], line[1:]):
                if face[a, 0] != 0 and face[b, 0] != 0:
                    draw_polyline(canvas, face, (a, b), window=2, draw_end_points=True)


def render_openpose(people: list[dict[str, np.ndarray]], size: tuple[int, int], *, drop_prob: float = 0.0,
                    remove_face_labels: bool = False, basic_point_only: bool = False,
                    rng: np.random.Generator | None = None) -> np.ndarray:
    """Render OpenPose keypoints as coloured limbs (reference ``read_keypoints``).

    Args:
        people: Output of :func:`read_openpose_json`; an empty list gives a black image.
        size: (width, height) of the frame (pixels).
        drop_prob: Probability of leaving out each limb, each hand and the face (training augmentation).
        remove_face_labels: With ``drop_prob > 0``, jitter the head and face points.
        basic_point_only: Body limbs only: no head limbs, hands or face.
        rng: Random generator for drops and jitter.

    Returns:
        (H, W, 3) uint8 RGB image. Several people are summed, saturating at 255.
    """
    rng = rng if rng is not None else np.random.default_rng()
    w, h = size
    total = np.zeros((h, w, 3), np.uint8)
    for person in people:
        canvas = np.zeros((h, w, 3), np.uint8)
        _render_person(person, canvas, rng, drop_prob=drop_prob, remove_face_labels=remove_face_labels,
                       basic_point_only=basic_point_only)
        np.add(total, np.minimum(canvas, 255 - total), out=total)
    return total


# ---------------------------------------------------------------- face landmarks (dlib 68 points)
N_LANDMARKS = 68
#: Face parts as (label, polylines); indices 68..82 are the mirrored upper face of :func:`add_upper_face`.
FACE_PARTS: tuple[tuple[int, tuple[tuple[int, ...], ...]], ...] = (
    (1, (tuple(range(0, 17)) + tuple(range(68, 83)) + (0,),)),         # face outline
    (2, (tuple(range(17, 22)),)),                                       # right brow
    (2, (tuple(range(22, 27)),)),                                       # left brow
    (3, ((28, 31), tuple(range(31, 36)), (35, 28))),                    # nose
    (4, ((36, 37, 38, 39), (39, 40, 41, 36))),                          # right eye
    (4, ((42, 43, 44, 45), (45, 46, 47, 42))),                          # left eye
    (5, (tuple(range(48, 55)), (54, 55, 56, 57, 58, 59, 48))),          # outer mouth
    (6, (tuple(range(60, 65)), (64, 65, 66, 67, 60))),                  # inner mouth
)
N_FACE_POLYLINES = sum(len(lines) for _, lines in FACE_PARTS)  # 14 distance-map channels
# Test-time ``--random_scale_points`` ratios (x, y) per part label - 1, and for the paired brows / eyes.
SCALE_RATIO = np.array([[0.9, 1], [1, 1], [0.9, 1], [1, 1.1], [0.9, 0.9], [0.9, 0.9]])
SCALE_RATIO_SYM = np.array([[1, 1], [0.9, 1], [1, 1], [0.9, 1], [1, 1], [1, 1]])


def read_face_landmarks(path: str | os.PathLike) -> np.ndarray:
    """Read a keypoint file: 68 lines ``x,y`` (dlib order).

    Returns:
        (68, 2) float64 x, y (pixels).

    Raises:
        ValueError: unreadable, or not exactly 68 rows of 2 numbers (the path is named).
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            points = np.loadtxt(path, delimiter=",", ndmin=2)
    except ValueError as err:
        raise ValueError(f"{path}: not a landmark file of 'x,y' lines ({err})") from err
    if points.shape != (N_LANDMARKS, 2):
        raise ValueError(f"{path}: expected {N_LANDMARKS} lines of 'x,y', got an array of shape {points.shape}")
    return points


def add_upper_face(points: np.ndarray) -> np.ndarray:
    """Append the 15 inner jaw points mirrored above the jaw-end line, at 2/3 height, in reverse order.

    Args:
        points: (68, 2) landmarks (pixels).

    Returns:
        (83, 2) landmarks; rows 68..82 close the face outline over the forehead.
    """
    jaw = points[:17].astype(np.int32)
    base_y = (jaw[0, 1] + jaw[-1, 1]) / 2
    upper = jaw[1:-1].copy()
    upper[:, 1] = base_y + (base_y - upper[:, 1]) * 2 // 3
    return np.vstack([points, upper[::-1]])


def _flat(polylines: Sequence[Sequence[int]]) -> list[int]:
    return [i for line in polylines for i in line]


def face_part_labels(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Fill each face part's polygon with its label (later parts overwrite earlier ones).

    Args:
        points: (83, 2) landmarks with the upper face (pixels).
        size: (width, height) of the frame.

    Returns:
        (H, W) uint8 labels: 0 background, 1 face, 2 brows, 3 nose, 4 eyes, 5 mouth, 6 inner mouth.
    """
    w, h = size
    labels = np.zeros((h, w), np.uint8)
    for label, polylines in FACE_PARTS:
        cv2.fillPoly(labels, pts=[points[_flat(polylines)].astype(np.int32)], color=label)
    return labels


def _scale_about_mean(points: np.ndarray, idx: list[int], ratio: np.ndarray) -> None:
    mean = points[idx].mean(axis=0)
    points[idx] = (points[idx] - mean) * ratio + mean


def scale_face_parts(points: np.ndarray) -> np.ndarray:
    """Test-time ``--random_scale_points``: shrink or stretch parts with the reference's fixed ratios.

    Brows and eyes first move their pair apart or together (about the pair's mean), then every part
    is scaled about its own mean.

    Args:
        points: (83, 2) landmarks with the upper face (pixels).

    Returns:
        (83, 2) moved landmarks (a new array).
    """
    points = points.astype(np.float64, copy=True)
    for pair, row in ((FACE_PARTS[1][1] + FACE_PARTS[2][1], 1), (FACE_PARTS[4][1] + FACE_PARTS[5][1], 3)):
        group_mean = points[_flat(pair)].mean(axis=0)
        for line in pair:
            line = list(line)
            mean = points[line].mean(axis=0)
            points[line] += (mean - group_mean) * SCALE_RATIO_SYM[row] + group_mean - mean
    for label, polylines in FACE_PARTS:
        _scale_about_mean(points, _flat(polylines), SCALE_RATIO[label - 1])
    return points


def distance_map(edges: np.ndarray) -> np.ndarray:
    """L1 distance to the nearest edge pixel, divided by 3 and saturated: (H, W) uint8 -> (H, W) uint8."""
    dist = cv2.distanceTransform(255 - edges, cv2.DIST_L1, 3)
    return np.clip(dist / 3, 0, 255).astype(np.uint8)


def draw_face_edges(points: np.ndarray, size: tuple[int, int], with_dist_maps: bool = True
                    ) -> tuple[np.ndarray, list[np.ndarray]]:
    """Draw the 14 face polylines as fitted curves and, optionally, one distance map per polyline.

    Args:
        points: (83, 2) landmarks with the upper face (pixels).
        size: (width, height) of the frame.
        with_dist_maps: Also compute the distance maps.

    Returns:
        edges: (H, W) uint8, 255 on the curves.
        dist_maps: 14 (H, W) uint8 maps (empty without ``with_dist_maps``).
    """
    w, h = size
    edges = np.zeros((h, w), np.uint8)
    dist_maps = []
    for _, polylines in FACE_PARTS:
        for line in polylines:
            draw_polyline(edges, points, line, window=3)
            if with_dist_maps:
                own = np.zeros((h, w), np.uint8)
                draw_polyline(own, points, line, window=3)
                dist_maps.append(distance_map(own))
    return edges, dist_maps

def openpose_json(people: list[dict[str, np.ndarray]]) -> dict:
    """People (``pose`` (25, 3), ``face`` (70, 3), hands (21, 3)) -> the OpenPose ``--write_json`` document."""
    return {"version": 1.3, "people": [
        {"person_id": [-1], **{name: [round(float(v), 3) for v in person[key].ravel()]
                               for key, (name, _) in OPENPOSE_ARRAYS.items()}} for person in people]}
