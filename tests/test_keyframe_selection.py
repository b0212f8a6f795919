"""Key-frame selection: the published criterion, the gap cap, the interval rule, short sequences, streaming."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.signal import argrelextrema

from models.fast_vid2vid.keyframe_selection import (
    FrameDecision,
    KeyframePolicy,
    StreamingKeyframeSelector,
    cap_key_gaps,
    input_picture,
    keys_from_curve,
    label_picture,
    luv_difference,
    select_keyframes,
    smooth_curve,
    strict_local_maxima,
)

# Strict maxima at k = 1, 4, 7 (the plateau 2, 2 is none): keys 2, 5, 8 after the +1 offset.
CURVE = np.array([1, 5, 2, 2, 8, 3, 3, 9, 1], dtype=np.float64)


def stream_keys(curve: np.ndarray, policy: KeyframePolicy) -> list[int]:
    """Keys the streaming selector gives for ``curve``, checking every frame is decided once, in order."""
    selector = StreamingKeyframeSelector(policy)
    decisions = selector.push_difference(None)
    for value in curve:
        decisions += selector.push_difference(value)
    decisions += selector.finish()
    assert [d.index for d in decisions] == list(range(len(curve) + 1))
    return [d.index for d in decisions if d.is_key]


def test_published_rule_on_a_hand_built_curve():
    assert keys_from_curve(CURVE, KeyframePolicy(n_frames_G=3)) == [0, 1, 2, 5, 8, 9]
    assert keys_from_curve(CURVE, KeyframePolicy(n_frames_G=1)) == [0, 2, 5, 8, 9]


def test_hanning_3_is_the_identity_and_hanning_5_pads_as_published():
    np.testing.assert_array_equal(smooth_curve(CURVE, 3), CURVE)
    # weights [0.25, 0.5, 0.25]; left pad 2 d[0] - d[2] next to d[0], right pad d[-1] next to d[-1]
    curve = np.array([2, 4, 0, 0, 8, 0, 6], dtype=np.float64)
    np.testing.assert_allclose(smooth_curve(curve, 5), [3, 2.5, 1, 2, 4, 3.5, 4.5])
    np.testing.assert_array_equal(smooth_curve(curve[:4], 5), curve[:4])  # shorter than the window: unchanged


def test_strict_local_maxima_match_scipy():
    rng = np.random.default_rng(0)
    for _ in range(200):
        curve = rng.integers(0, 5, size=int(rng.integers(0, 20))).astype(np.float64)
        expected = argrelextrema(curve, np.greater)[0] if curve.size else np.zeros(0)
        np.testing.assert_array_equal(strict_local_maxima(curve), expected)


def test_cap_inserts_keys_in_long_gaps():
    static = np.zeros(19)  # 20 frames, nothing changes: no local maximum at all
    assert keys_from_curve(static, KeyframePolicy()) == [0, 1, 2, 19]
    keys = keys_from_curve(static, KeyframePolicy(max_key_gap=4))
    assert keys == [0, 1, 2, 6, 10, 14, 16, 19]
    assert max(np.diff(keys)) <= 4
    assert cap_key_gaps([2, 9], 4) == [2, 5, 9]  # a gap up to twice the cap is split in the middle
    assert cap_key_gaps([2, 9], 0) == [2, 9]


def test_interval_mode():
    assert keys_from_curve(np.zeros(9), KeyframePolicy(mode="interval", key_interval=3)) == [0, 1, 2, 5, 8, 9]
    assert keys_from_curve(np.zeros(9), KeyframePolicy(mode="interval", key_interval=4)) == [0, 1, 2, 6, 9]
    assert keys_from_curve(np.zeros(9), KeyframePolicy(mode="interval", key_interval=1)) == list(range(10))


@pytest.mark.parametrize("mode", ["published", "interval"])
@pytest.mark.parametrize("n_frames", [1, 2, 3, 4])
def test_short_sequences(mode, n_frames):
    policy = KeyframePolicy(mode=mode, key_interval=2, max_key_gap=2)
    curve = np.arange(n_frames - 1, dtype=np.float64)
    expected = list(range(n_frames))  # the first n_frames_G = 3 frames and the last one cover everything
    assert keys_from_curve(curve, policy) == expected
    assert stream_keys(curve, policy) == expected
    assert select_keyframes([], policy) == []


def test_streaming_equals_whole_sequence():
    rng = np.random.default_rng(1)
    for _ in range(500):
        curve = rng.integers(0, 6, size=int(rng.integers(0, 40))).astype(np.float64)
        policy = KeyframePolicy(mode=str(rng.choice(["published", "interval"])), n_frames_G=int(rng.integers(1, 4)),
                                key_interval=int(rng.integers(1, 6)), max_key_gap=int(rng.integers(0, 5)),
                                window=int(rng.choice([3, 5, 7])))
        assert stream_keys(curve, policy) == keys_from_curve(curve, policy), (curve, policy)


def test_streaming_lookahead_is_one_frame_with_the_published_window():
    selector = StreamingKeyframeSelector(KeyframePolicy(n_frames_G=3))
    decided = [selector.push_difference(None)] + [selector.push_difference(v) for v in CURVE]
    # after frame j arrives, frame j - 1 is decided (frames 0..2 are keys as soon as they arrive)
    assert decided[0] == [FrameDecision(0, True)]
    assert decided[2] == [FrameDecision(2, True)]
    for j in range(4, len(decided)):
        assert [d.index for d in decided[j]] == [j - 1]
    assert selector.finish() == [FrameDecision(9, True)]


def label_video(changed: np.ndarray, size: int = 16) -> list[np.ndarray]:
    """Label maps where ``changed[k]`` more pixels turn from class 0 to class 7 between frames k and k + 1."""
    frames, ids = [], np.zeros((size, size), dtype=np.int64)
    frames.append(ids.copy())
    done = 0
    for count in changed.astype(int):
        ids.reshape(-1)[done:done + count] = 7
        done += count
        frames.append(ids.copy())
    return frames


def test_select_keyframes_on_label_pictures_and_streaming_pictures():
    frames = label_video(CURVE)
    pictures = [label_picture(ids, 35) for ids in frames]
    assert select_keyframes(iter(pictures), KeyframePolicy()) == [0, 1, 2, 5, 8, 9]
    selector = StreamingKeyframeSelector(KeyframePolicy())
    decisions = [d for picture in pictures for d in selector.push(picture)] + selector.finish()
    assert [d.index for d in decisions if d.is_key] == [0, 1, 2, 5, 8, 9]


def test_label_pictures_and_luv_difference():
    ids = np.array([[0, 7], [26, 40]])
    coloured = label_picture(ids, 35)
    assert coloured.shape == (2, 2, 3) and coloured.dtype == np.uint8
    np.testing.assert_array_equal(coloured[1, 0], [0, 0, 142])  # Cityscapes "car"
    np.testing.assert_array_equal(coloured[1, 1], [0, 0, 0])  # out of range: black
    np.testing.assert_array_equal(label_picture(ids, 35, grey=True)[1, 0], [26, 26, 26])  # as cv2.imread
    assert luv_difference(coloured, coloured) == 0
    assert luv_difference(coloured, label_picture(ids.T, 35)) > 0
    with pytest.raises(ValueError):
        luv_difference(coloured, coloured[:1])


@pytest.mark.parametrize("kwargs", [dict(mode="other"), dict(mode="interval"), dict(window=4), dict(window=1),
                                    dict(n_frames_G=0), dict(max_key_gap=-1)])
def test_bad_policies_raise(kwargs):
    with pytest.raises(ValueError):
        KeyframePolicy(**kwargs)


def test_streaming_misuse_raises():
    selector = StreamingKeyframeSelector()
    with pytest.raises(ValueError):
        selector.push_difference(3.0)  # the first frame has no difference
    selector.push_difference(None)
    selector.finish()
    with pytest.raises(RuntimeError):
        selector.push_difference(1.0)


def test_input_picture_of_test_items():
    ids = torch.tensor([[0.0, 7.0], [26.0, 26.0]]).view(1, 1, 1, 2, 2)  # a loader's "A": (1, 1, C, H, W)
    np.testing.assert_array_equal(input_picture(ids, label_nc=35), label_picture(ids[0, 0, 0].long().numpy(), 35))
    np.testing.assert_array_equal(input_picture(ids, label_nc=35, grey=True)[1, 1], [26, 26, 26])
    edges = torch.zeros(1, 4, 4)
    edges[0, 1] = 1.0  # a face-style edge map in [0, 1]
    picture = input_picture(edges, label_nc=0)
    assert picture.shape == (4, 4, 3) and picture[1].min() == 255 and picture[0].max() == 0


def test_cityscapes_sequence_keys(cityscapes_root):
    import cv2

    files = sorted((cityscapes_root / "train_A" / "seq0000").glob("*.png"))
    pictures = [label_picture(cv2.imread(str(f), cv2.IMREAD_GRAYSCALE), 35) for f in files]
    keys = select_keyframes(pictures, KeyframePolicy())
    assert keys == [0, 1, 2, 6, 8, 12, 14, 16, 18, 20, 23, 26, 28, 29]
    selector = StreamingKeyframeSelector(KeyframePolicy())
    decisions = [d for picture in pictures for d in selector.push(picture)] + selector.finish()
    assert [d.index for d in decisions if d.is_key] == keys
