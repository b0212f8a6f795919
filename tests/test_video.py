"""util/video.py: streaming mp4 writing (both back-ends), reading back, folders, side-by-side."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from util.video import (
    VideoWriter,
    count_video_frames,
    natural_key,
    pad_to_even,
    read_video_frames,
    side_by_side,
)


def _frames(n: int, height: int = 32, width: int = 64) -> list[np.ndarray]:
    """Frames whose mean brightness grows with the index, easy to recognise after lossy coding."""
    return [np.full((height, width, 3), 30 + 40 * i, dtype=np.uint8) for i in range(n)]


@pytest.mark.parametrize("backend", ["ffmpeg", "opencv"])
def test_write_and_read_back(tmp_path, backend: str) -> None:
    path = tmp_path / "out" / "video.mp4"
    with VideoWriter(path, fps=10, backend=backend) as writer:
        for frame in _frames(5):
            writer.write(frame)
    assert writer.frames_written == 5
    assert count_video_frames(path) == 5
    decoded = list(read_video_frames(path))
    assert [f.shape for f in decoded] == [(32, 64, 3)] * 5
    np.testing.assert_allclose([f.mean() for f in decoded], [30 + 40 * i for i in range(5)], atol=6)


def test_odd_sizes_are_padded_and_size_changes_rejected(tmp_path) -> None:
    path = tmp_path / "odd.mp4"
    with VideoWriter(path, fps=5) as writer:
        writer.write(np.zeros((33, 65), dtype=np.uint8))
        with pytest.raises(ValueError, match="differs"):
            writer.write(np.zeros((20, 20, 3), dtype=np.uint8))
    assert next(read_video_frames(path)).shape == (34, 66, 3)
    padded = pad_to_even(np.arange(3 * 3 * 3, dtype=np.uint8).reshape(3, 3, 3))
    np.testing.assert_array_equal(padded[3], padded[2])


def test_side_by_side_resizes_right_to_left_height() -> None:
    left = np.zeros((32, 64, 3), dtype=np.uint8)
    right = np.full((16, 16), 200, dtype=np.uint8)
    out = side_by_side(left, right)
    assert out.shape == (32, 96, 3)
    assert (out[:, 64:] == 200).all() and (out[:, :64] == 0).all()


def test_read_folder_in_natural_order(tmp_path) -> None:
    for index in (10, 2, 1):
        Image.fromarray(np.full((4, 6, 3), index, dtype=np.uint8)).save(tmp_path / f"frame_{index}.png")
    (tmp_path / "notes.txt").write_text("not an image")
    assert [int(f[0, 0, 0]) for f in read_video_frames(tmp_path)] == [1, 2, 10]
    assert count_video_frames(tmp_path) == 3
    assert sorted(["f10", "f9", "F1"], key=natural_key) == ["F1", "f9", "f10"]


def test_missing_source_raises(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        next(read_video_frames(tmp_path / "nope.mp4"))
    with pytest.raises(FileNotFoundError):
        count_video_frames(tmp_path / "nope.mp4")
