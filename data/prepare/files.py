"""Atomic writes of prepared frames: a temporary file in the same folder, renamed over the final name.

A run killed at any moment leaves every frame either complete or absent, so a resumed run can trust what it
finds on disk.
"""

from __future__ import annotations

import json
import os

import numpy as np
from PIL import Image

from util.checkpoint import atomic_write_text

TMP_SUFFIX = ".partial"


FORMATS = {".png": ("PNG", {}), ".jpg": ("JPEG", {"quality": 95}), ".jpeg": ("JPEG", {"quality": 95})}


def save_image_atomic(array: np.ndarray, path: str) -> None:
    """Write ``array`` as an image at ``path`` atomically (parent folders created; format from the ending).

    Args:
        array: (H, W) uint8 or uint16 ids (uint16 becomes a 16-bit PNG) or (H, W, 3) uint8 RGB.
        path: The final file name (``.png``, or ``.jpg`` for photos).
    """
    image_format, options = FORMATS[os.path.splitext(path)[1].lower()]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + TMP_SUFFIX
    try:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format=image_format, **options)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def save_json_atomic(data: object, path: str) -> None:
    """Write ``data`` as JSON at ``path`` atomically (parent folders created)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    atomic_write_text(json.dumps(data), path)
