"""Keypoints detected on the fly while a video is read (``test.py --input_video`` in the face and pose modes).

The detector is loaded on first use, in the process that reads (each data-loader worker loads its own), and a frame
without a detection reuses the latest earlier detection of that process: the map does not flicker to black for a
missed frame. Only that one detection is held, so memory stays flat over the video's length.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

import numpy as np

logger = logging.getLogger(__name__)


class HeldDetections:
    """Call with ``(index, frame)`` -> the frame's detection, the latest earlier one, or None before any.

    Args:
        load: Builds the detector: a callable (H, W, 3) uint8 RGB -> detection or None.
        what: What is detected, for the log (``"person"``, ``"face"``).
    """

    def __init__(self, load: Callable[[], Callable[[np.ndarray], Any]], what: str) -> None:
        self._load, self._what = load, what
        self._detector: Callable[[np.ndarray], Any] | None = None
        self._held: Any = None
        self._warned = False

    def __call__(self, index: int, frame: np.ndarray) -> Any:
        if self._detector is None:
            self._detector = self._load()
        found = self._detector(frame)
        if found is not None:
            self._held = found
        elif not self._warned:
            logger.warning("no %s detected in frame %d; the latest earlier detection is used for such frames "
                           "(further frames are not reported)", self._what, index)
            self._warned = True
        return self._held

    def __getstate__(self) -> dict:
        """Data-loader workers get no detector (it is not picklable); each loads its own."""
        return {**self.__dict__, "_detector": None}
