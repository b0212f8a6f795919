"""Sequence discovery: every folder holding frame files is one video.

Frames are sorted *naturally* (``frame2`` before ``frame10``), so names need no zero padding; sequences are
sorted by their folder path relative to the root. Modalities (labels, instances, photos) live in parallel
roots (``train_A/seq0``, ``train_B/seq0``...) and are paired by sequence name with :func:`pair_sequences`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

# Extensions the reference accepts (vid2vid.md section 2.1); matching is case-sensitive, as there.
IMG_EXTENSIONS = (".jpg", ".JPG", ".jpeg", ".JPEG", ".pgm", ".PGM", ".png", ".PNG", ".ppm", ".PPM",
                  ".bmp", ".BMP", ".tiff")
ALL_EXTENSIONS = IMG_EXTENSIONS + (".txt", ".json")


@dataclass(frozen=True)
class FrameSequence:
    """One video: its name (folder path relative to the root, ``/``-separated) and its sorted frame paths."""

    name: str
    frames: list[str]

    def __len__(self) -> int:
        return len(self.frames)


def natural_key(text: str) -> list:
    """Sort key that orders digit runs by value: ``frame2`` < ``frame10``."""
    return [(0, int(part), part) if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", text)]


def is_frame_file(name: str, extensions: tuple[str, ...] = ALL_EXTENSIONS) -> bool:
    """Whether ``name`` ends with one of ``extensions`` (case-sensitive)."""
    return name.endswith(extensions)


def find_sequences(root: str | os.PathLike, extensions: tuple[str, ...] = ALL_EXTENSIONS) -> list[FrameSequence]:
    """Every folder under ``root`` (``root`` included) that holds frame files, as one sequence each.

    Args:
        root: Folder to walk.
        extensions: File endings that count as frames.

    Returns:
        Sequences sorted by name, frames naturally sorted.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    sequences = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort(key=natural_key)
        frames = sorted((f for f in files if is_frame_file(f, extensions)), key=natural_key)
        if frames:
            name = os.path.relpath(folder, root).replace(os.sep, "/")
            sequences.append(FrameSequence(name, [os.path.join(folder, f) for f in frames]))
    return sorted(sequences, key=lambda s: natural_key(s.name))


def pair_sequences(groups: dict[str, list[FrameSequence]], roots: dict[str, str] | None = None) -> None:
    """Check that parallel modalities hold the same sequences with the same frame counts.

    Args:
        groups: Sequences per modality key (e.g. ``{"A": [...], "B": [...], "inst": [...]}``); the first
            key is the reference the others are compared with.
        roots: Folder of each modality, for the error message.

    Raises:
        ValueError: sequence names or frame counts differ; the message names every mismatch and folder.
    """
    roots = roots or {}
    keys = list(groups)
    ref_key = keys[0]
    ref = {s.name: len(s) for s in groups[ref_key]}
    errors = []
    for key in keys[1:]:
        other = {s.name: len(s) for s in groups[key]}
        where = f"{roots.get(ref_key, ref_key)} vs {roots.get(key, key)}"
        missing, extra = sorted(set(ref) - set(other)), sorted(set(other) - set(ref))
        if missing or extra:
            errors.append(f"{where}: sequences only in {ref_key}: {missing}, only in {key}: {extra}")
        for name in sorted(set(ref) & set(other), key=natural_key):
            if ref[name] != other[name]:
                errors.append(f"{where}: sequence {name!r} has {ref[name]} frames in {ref_key} "
                              f"but {other[name]} in {key}")
    if errors:
        raise ValueError("modalities do not match:\n  - " + "\n  - ".join(errors))
