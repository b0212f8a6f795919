"""data/keypoints.py: curve fitting, edge drawing, OpenPose rendering, face parts and distance maps."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import DATASETS, require

from data import keypoints as kp

FACE_KEYPOINTS = DATASETS / "face" / "train_keypoints" / "ZzTpJYDc62E_4"
POSE_JSON = DATASETS / "pose" / "train_openpose" / "001_001" / "frame000100.json"


def _person(pose_points: dict[int, tuple[float, float]]) -> dict[str, np.ndarray]:
    """A person with the given confident body points and nothing else."""
    pose = np.zeros((25, 3))
    for index, (x, y) in pose_points.items():
        pose[index] = (x, y, 0.9)
    return {"pose": pose, "face": np.zeros((70, 3)), "hand_left": np.zeros((21, 3)),
            "hand_right": np.zeros((21, 3))}


def _segment_distance(points: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance of (N, 2) points to the segment a-b."""
    ab = b - a
    t = np.clip(((points - a) @ ab) / max(float(ab @ ab), 1e-9), 0, 1)
    return np.linalg.norm(points - (a + t[:, None] * ab), axis=1)


# ---------------------------------------------------------------- curves and pens
def test_interp_points_follows_a_parabola_and_a_line():
    x = np.array([0.0, 10.0, 20.0])
    curve = kp.interp_points(x, 0.02 * x**2)
    assert curve is not None
    cx, cy = curve
    assert cx[0] == 0 and cx[-1] == 20 and len(cx) == 20
    np.testing.assert_array_equal(cy, (0.02 * np.linspace(0, 20, 20) ** 2 + 1e-9).astype(int))
    lx, ly = kp.interp_points(np.array([30.0, 0.0]), np.array([10.0, 0.0]))  # reversed input is re-ordered
    assert lx[0] == 0 and lx[-1] == 30
    np.testing.assert_array_equal(ly, (np.linspace(0, 30, 30) / 3 + 1e-9).astype(int))


def test_interp_points_swaps_axes_for_steep_curves_and_rejects_sharp_bends():
    cx, cy = kp.interp_points(np.array([5.0, 5.0]), np.array([0.0, 40.0]))
    assert (cx == 5).all() and cy[0] == 0 and cy[-1] == 40
    assert kp.interp_points(np.array([-0.4, 0.0, 0.4]), np.array([0.32, 0.0, 0.32])) is None  # a = 2 > 1


def test_draw_edge_grayscale_pen_and_end_points():
    image = np.zeros((20, 20), np.uint8)
    kp.draw_edge(image, np.array([10]), np.array([10]), width=1)
    assert set(zip(*np.nonzero(image))) == {(9, 9), (9, 10), (10, 9), (10, 10)}
    disc = np.zeros((20, 20), np.uint8)
    kp.draw_edge(disc, np.array([10]), np.array([10]), width=1, draw_end_points=True)
    assert set(zip(*np.nonzero(disc))) == {(y, x) for y in (9, 10, 11) for x in (9, 10, 11)}
    wide = np.zeros((40, 40), np.uint8)
    kp.draw_edge(wide, np.array([20]), np.array([20]), width=3, draw_end_points=True)
    assert wide[15, 20] == 255 and wide[14, 20] == 0 and wide[15, 15] == 0 and wide[25, 20] == 255


def test_draw_edge_colour_averages_where_already_painted():
    image = np.zeros((10, 10, 3), np.uint8)
    kp.draw_edge(image, np.array([5]), np.array([5]), width=1, color=(200, 0, 0))
    kp.draw_edge(image, np.array([6]), np.array([5]), width=1, color=(0, 100, 0))
    assert tuple(image[5, 4]) == (200, 0, 0)      # only the first pen
    assert tuple(image[5, 5]) == (100, 50, 0)     # both: averaged
    assert tuple(image[5, 6]) == (0, 100, 0)      # only the second pen, was black


# ---------------------------------------------------------------- OpenPose
def test_render_openpose_draws_a_limb_in_its_colour():
    canvas = kp.render_openpose([_person({1: (20.0, 10.0), 8: (20.0, 50.0)})], (64, 64))
    for y in range(14, 47):
        assert tuple(canvas[y, 20]) == (153, 0, 0), y  # limb 1-8 colour
    assert canvas[:, :10].max() == 0 and canvas[:, 30:].max() == 0


def test_render_openpose_skips_missing_points_and_honours_drop():
    person = _person({1: (20.0, 10.0), 8: (20.0, 50.0)})
    person["pose"][8, 2] = 0.001  # below the body threshold: limb 1-8 cannot be drawn
    assert kp.render_openpose([person], (64, 64)).max() == 0
    full = _person({1: (20.0, 10.0), 8: (20.0, 50.0), 2: (40.0, 10.0)})
    dropped = kp.render_openpose([full], (64, 64), drop_prob=1.0, rng=np.random.default_rng(0))
    assert dropped.max() == 0
    assert kp.render_openpose([], (64, 32)).shape == (32, 64, 3)


def test_render_openpose_on_sample_limbs_lie_where_the_json_says():
    require(POSE_JSON, "pose sample data")
    people = kp.read_openpose_json(POSE_JSON)
    assert len(people) == 1 and people[0]["pose"].shape == (25, 3)
    canvas = kp.render_openpose(people, (1920, 1080))
    pose = people[0]["pose"]
    checked = exact = 0
    for (a, b), color in zip(kp.POSE_BODY_EDGES, kp.POSE_BODY_COLORS):
        if min(pose[a, 2], pose[b, 2]) <= kp.BODY_CONFIDENCE or np.hypot(*(pose[a, :2] - pose[b, :2])) < 20:
            continue
        for t in (0.4, 0.5, 0.6):  # the middle of the limb, away from the joints
            x, y = (pose[a, :2] * (1 - t) + pose[b, :2] * t).astype(int)
            patch = canvas[y - 3:y + 4, x - 3:x + 4].reshape(-1, 3)
            assert patch.any(), ((a, b), t)
            checked += 1
            exact += int((patch == color).all(1).any())
    assert checked >= 30 and exact >= 0.8 * checked
    basic = kp.render_openpose(people, (1920, 1080), basic_point_only=True)
    assert 0 < (basic.any(2)).sum() < (canvas.any(2)).sum()
    hand_colors = np.array(kp.HAND_COLORS)
    assert not (basic.reshape(-1, 1, 3) == hand_colors[None]).all(2).any()


def test_read_openpose_json_errors_name_the_file(tmp_path):
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps({"people": [{"pose_keypoints_2d": [1, 2, 3]}]}))
    with pytest.raises(ValueError, match="broken.json"):
        kp.read_openpose_json(bad)
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"version": 1.3, "people": []}))
    assert kp.read_openpose_json(empty) == []


# ---------------------------------------------------------------- face landmarks
def test_read_face_landmarks_rejects_67_lines(tmp_path):
    lines = "\n".join(f"{i},{i}" for i in range(67)) + "\n"
    path = tmp_path / "00000.txt"
    path.write_text(lines)
    with pytest.raises(ValueError, match="00000.txt.*68"):
        kp.read_face_landmarks(path)
    path.write_text("1;2\n" * 68)
    with pytest.raises(ValueError, match="00000.txt"):
        kp.read_face_landmarks(path)


def test_upper_face_mirrors_the_jaw_above_its_ends():
    points = kp.read_face_landmarks(require(FACE_KEYPOINTS / "00000.txt", "face sample data"))
    full = kp.add_upper_face(points)
    assert full.shape == (83, 2)
    base_y = (points[0, 1] + points[16, 1]) / 2
    assert (full[68:, 1] < base_y).all()
    np.testing.assert_array_equal(full[68:, 0], points[15:0:-1, 0])


def test_face_edges_lie_on_the_landmark_polylines():
    points = kp.add_upper_face(kp.read_face_landmarks(require(FACE_KEYPOINTS / "00000.txt", "face sample data")))
    edges, dist_maps = kp.draw_face_edges(points, (640, 480))
    assert len(dist_maps) == kp.N_FACE_POLYLINES == 14
    segments = [(points[a], points[b]) for _, lines in kp.FACE_PARTS for line in lines
                for a, b in zip(line[:-1], line[1:])]
    ys, xs = np.nonzero(edges)
    pixels = np.stack([xs, ys], axis=1).astype(float)
    nearest = np.min([_segment_distance(pixels, a, b) for a, b in segments], axis=0)
    assert nearest.max() < 4.0
    used = sorted({i for _, lines in kp.FACE_PARTS for line in lines for i in line})  # not 27, 29, 30
    landmark_gap = np.min(np.linalg.norm(points[used, None] - pixels[None], axis=2), axis=1)
    assert landmark_gap.max() <= 2.0
    for dist in dist_maps:  # zero on its own curve, growing away from it
        assert dist.min() == 0 and dist.max() > 20


def test_part_labels_and_test_time_scaling():
    points = kp.add_upper_face(kp.read_face_landmarks(require(FACE_KEYPOINTS / "00000.txt", "face sample data")))
    labels = kp.face_part_labels(points, (640, 480))
    assert set(np.unique(labels)) == {0, 1, 2, 3, 4, 5, 6}
    moved = kp.scale_face_parts(points)
    inner = list(range(60, 68))  # inner mouth: ratio (0.9, 0.9) about its own mean
    np.testing.assert_allclose(np.ptp(moved[inner], axis=0), 0.9 * np.ptp(points[inner], axis=0))
    weighted = [60, 61, 62, 63, 64, 64, 65, 66, 67, 60]  # the two polylines share 60 and 64
    np.testing.assert_allclose(moved[weighted].mean(0), points[weighted].mean(0))
    assert not np.allclose(moved, points)


def test_canny_edges_trace_a_square():
    image = np.zeros((64, 64), np.uint8)
    image[16:48, 16:48] = 200
    from data.face_dataset import canny_edges

    edges = canny_edges(image)
    ys, xs = np.nonzero(edges)
    assert len(ys) > 100
    on_border = (np.minimum(np.abs(ys[:, None] - [15, 16, 47, 48]).min(1), np.abs(xs[:, None] - [15, 16, 47, 48]).min(1))
                 <= 1)
    assert on_border.all()
    assert not edges[24:40, 24:40].any()


def test_face_region_square_is_centred_and_clamped():
    from models.vid2vid.face_box import face_box

    encoded = -torch.ones(2, 6, 128, 96)
    assert face_box(encoded, 256, openpose_only=False) is None
    encoded[1, 2, 40:50, 30:40] = 23 / 12 - 1
    y0, y1, x0, x1 = face_box(encoded, 256, openpose_only=False)
    assert (y1 - y0, x1 - x0) == (64, 64) and (y0 + y1) // 2 == 44 and (x0 + x1) // 2 == 34
    encoded[1, 2, 0:4, 0:4] = 1.0  # a second blob in the corner: the square is clamped inside the frame
    y0, y1, x0, x1 = face_box(encoded, 256, openpose_only=False)
    assert y0 >= 0 and x0 >= 0 and y1 <= 128 and x1 <= 96
    openpose = -torch.ones(1, 3, 128, 96)
    openpose[0, :, 100:104, 60:64] = torch.tensor([0.2, -1.0, -0.6])[:, None, None]
    y0, y1, x0, x1 = face_box(openpose, 128, openpose_only=True)
    assert (y1 - y0) == 32 and y0 <= 100 and y1 >= 104 and x0 <= 60 and x1 >= 64
