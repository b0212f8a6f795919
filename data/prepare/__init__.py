"""One command from a raw video (or frame folder) to one sequence of a mode's dataset (``scripts/prepare_video.py``).

``MODES`` maps ``--mode`` to ``(writer class, back-end registry)``: the writer (:class:`data.prepare.base.ModeWriter`)
holds the folders, file formats, gap filling and the checker's flags and is built as ``Writer(backend_name)``; the
back-end registry maps ``--backend`` names to :class:`data.detect.backends.Backend` (load, probe), the first being
the default. A mode is added with
one entry here. :mod:`data.prepare.pipeline` does the rest for every mode: progress, atomic writes, resume, gap
filling, dropping.
"""

from __future__ import annotations

from typing import Callable

from data.detect.backends import Backend
from data.prepare.base import ModeWriter
from data.prepare.face import FACE_BACKENDS, FaceWriter
from data.prepare.pose import POSE_BACKENDS, PoseWriter

MODES: dict[str, tuple[Callable[[str], ModeWriter], dict[str, Backend]]] = {
    "pose": (PoseWriter, POSE_BACKENDS),
    "face": (FaceWriter, FACE_BACKENDS),
}
