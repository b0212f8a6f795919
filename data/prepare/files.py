"""Atomic file writes: a half-written file never carries its final name (Ctrl-C, a full disk)."""

from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

TEMP_PREFIX = "."
TEMP_SUFFIX = ".part"
JPEG_QUALITY = 95


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a hidden temporary file beside ``path``, then rename it onto ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f"{TEMP_PREFIX}{path.name}{TEMP_SUFFIX}")
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def encode_image(frame: np.ndarray, extension: str) -> bytes:
    """(H, W, 3) uint8 RGB or (H, W) uint8 -> the bytes of a ``.jpg`` / ``.png`` file."""
    image = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR) if frame.ndim == 3 else frame
    params = [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY] if extension in (".jpg", ".jpeg") else []
    ok, buffer = cv2.imencode(extension, image, params)
    if not ok:
        raise ValueError(f"OpenCV cannot encode a {extension} image of shape {frame.shape}")
    return buffer.tobytes()
