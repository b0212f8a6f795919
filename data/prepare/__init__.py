"""One command from a raw video (or frame folder) to one sequence of a mode's dataset (``scripts/prepare_video.py``).

``MODES`` maps ``--mode`` to its writer class (:class:`data.prepare.base.ModeWriter`): the folders and file formats,
gap filling, the checker's flags, and ``backends``, the registry of its ``--backend`` choices (the first is the
default). A writer is built as ``Writer(backend_name)``. A mode is added with one entry here;
:mod:`data.prepare.pipeline` does the rest for every mode: progress, atomic writes, resume, gap filling, dropping.
"""

from __future__ import annotations

from data.prepare.base import ModeWriter
from data.prepare.face import FaceWriter
from data.prepare.pose import PoseWriter

MODES: dict[str, type[ModeWriter]] = {"pose": PoseWriter, "face": FaceWriter}
