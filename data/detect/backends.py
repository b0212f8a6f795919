"""A keypoint back-end as the registries hold it: how to load its detector, and how to check it is installed.

The check never builds a detector: a MediaPipe graph built in test.py's main process breaks the data-loader workers
forked after it (each worker builds its own), so ``probe`` only imports packages and finds model files.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

Detector = Callable[[np.ndarray], Any]


class Backend(NamedTuple):
    """``load(options=None)`` -> a detector (RGB (H, W, 3) uint8 frame -> annotation or None; ``options``: the
    flags of ``prepare_video``, read by back-ends with local weights); ``probe()`` raises ImportError or
    FileNotFoundError, naming the install, when the back-end is missing."""

    load: Callable[..., Detector]
    probe: Callable[[], None]


def probe_mediapipe() -> None:
    """Raise ImportError (naming the install) when MediaPipe or its light dependencies are missing."""
    from data.detect.mediapipe_backend import import_mediapipe

    import_mediapipe()


def probe_dlib() -> None:
    """Raise ImportError / FileNotFoundError (naming the install) when dlib or its 68-point model is missing."""
    from data.detect.dlib_backend import INSTALL
    from data.face_landmark_detection import predictor_path

    try:
        import dlib  # noqa: F401
    except ImportError as err:
        raise ImportError(f"the dlib back-end is not installed ({err}): {INSTALL}") from err
    predictor_path()
