"""The contract of a ``prepare_video`` mode: what it detects per frame, which files it writes, how gaps are filled.

A mode writes, for each kept frame ``<name>`` of sequence ``<seq>``, the photo ``<root>/<phase>_<photo_folder>/<seq>/
<name><photo_extension>`` and one file per annotation folder ``<root>/<phase>_<folder>/<seq>/<name><extension>``.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, Optional

import numpy as np

from data.detect.backends import Backend


class ModeWriter(ABC):
    """One dataset mode's detector and file formats (see :mod:`data.prepare` for the registry).

    Attributes:
        mode: The ``--dataset_mode`` the written dataset is for.
        photo_folder: Folder suffix of the photos (``img`` -> ``<phase>_img``).
        photo_extension: ``.jpg`` or ``.png``.
        annotations: Annotation folder suffix -> file extension (``{"openpose": ".json"}``).
        nothing_found: What "nothing detected" means, for messages (``"no person"``).
        backends: ``--backend`` name -> :class:`data.detect.backends.Backend`; the first is the default.

    Args:
        backend: The ``--backend`` whose detector is loaded.
        options: The script's flags, passed to the loader (back-ends with local weights read theirs).

    Raises:
        ImportError, FileNotFoundError: the back-end's package or model file is missing (the install is named).
    """

    mode: str
    photo_folder: str = "img"
    photo_extension: str = ".jpg"
    annotations: dict[str, str]
    nothing_found: str = "nothing detected"
    backends: dict[str, Backend]

    def __init__(self, backend: str, options: Optional[argparse.Namespace] = None) -> None:
        self.detector = self.backends[backend].load(options)

    def detect(self, frame: np.ndarray) -> Any | None:
        """Annotation of one (H, W, 3) uint8 RGB frame, or None when nothing is detected."""
        return self.detector(frame)

    @abstractmethod
    def encode(self, folder: str, annotation: Any) -> bytes:
        """The file of ``annotation`` in annotation folder ``folder``."""

    @abstractmethod
    def read(self, paths: dict[str, Path]) -> Any:
        """Read back a frame's annotation from its files (annotation folder -> path), as :meth:`encode` wrote them
        (the neighbours of a gap, also after a resume)."""

    @abstractmethod
    def blend(self, before: Any, after: Any, weight: float) -> Any:
        """An annotation between two detected ones: ``weight`` 0 gives ``before``, 1 gives ``after``."""

    def check_flags(self) -> list[str]:
        """Flags of ``python -m data.check`` that describe the written dataset (besides root, phase, mode)."""
        return []

    def close(self) -> None:
        """Release the detector."""
        getattr(self.detector, "close", lambda: None)()
