"""What ``scripts/evaluate.py`` scores: the generated frame folders of a results folder, each paired with
the real frames of the same sequence.

Generated frames: every folder under the results folder that holds images. In test.py's layout
(``<sequence>/fake_B_<stem>.jpg`` beside ``real_A_<stem>.png``) only the ``fake_B_`` files count; folders
holding only ``real_*`` files are skipped; any other folder counts with all its images (stem = file stem).

Real frames: ``<dataroot>/<phase>_B/<sequence>`` (street) or ``<dataroot>/<phase>_img/<sequence>`` (face,
pose), or ``--real DIR``. A generated sequence ``a/b/c`` matches the real sequence ``a/b/c``, else ``b/c``,
else ``c``. Frames pair by stem: ``fake_B_<stem>.*`` with ``<stem>.*``.
"""

from __future__ import annotations

import os
from typing import Optional

from data.video_folder import IMG_EXTENSIONS, FrameSequence, find_sequences
from util.evaluation import FramePair, SequencePairs
from util.metrics_page import FILES_FOLDER
from util.results_page import THUMB_FOLDER

FAKE_PREFIX = "fake_B_"
REAL_PREFIX = "real_"
REAL_FOLDERS = ("{phase}_B", "{phase}_img")


def _stem(path: str) -> str:
    return os.path.splitext(os.path.basename(path))[0]


def generated_frames(sequence: FrameSequence) -> dict[str, str]:
    """Stem -> path of the generated frames of one results folder (empty if it holds none)."""
    names = [os.path.basename(path) for path in sequence.frames]
    if any(name.startswith(FAKE_PREFIX) for name in names):
        return {_stem(path)[len(FAKE_PREFIX):]: path for path, name in zip(sequence.frames, names)
                if name.startswith(FAKE_PREFIX)}
    if all(name.startswith(REAL_PREFIX) for name in names):
        return {}
    return {_stem(path): path for path in sequence.frames}


def _hidden(name: str) -> bool:
    """Whether a sequence lies in a hidden folder: test.py's unfinished or retired runs (``.test_latest.writing_*``,
    see :mod:`util.folder_swap`) are never scored."""
    return any(part.startswith(".") and part != "." for part in name.split("/"))


def generated_sequences(results: str) -> list[tuple[str, dict[str, str]]]:
    """(sequence name, stem -> generated frame) of every frame folder under ``results``, in natural order.

    Raises:
        FileNotFoundError: ``results`` is not a folder, or holds no generated frames.
    """
    if not os.path.isdir(results):
        raise FileNotFoundError(f"--results {results}: no such folder")
    found = []
    for sequence in find_sequences(results, IMG_EXTENSIONS):
        frames = generated_frames(sequence)
        if (frames and sequence.name.split("/")[0] != FILES_FOLDER and sequence.name.split("/")[-1] != THUMB_FOLDER
                and not _hidden(sequence.name)):
            found.append((sequence.name, frames))
    if not found:
        raise FileNotFoundError(f"--results {results}: no generated frames found (expected test.py's "
                                f"<sequence>/{FAKE_PREFIX}<stem>.jpg files, or folders of images)")
    return found


def real_root(*, real: str = "", dataroot: str = "", phase: str = "test") -> str:
    """The folder holding the real sequences (see the module docstring).

    Raises:
        FileNotFoundError: the folder does not exist.
        ValueError: neither ``real`` nor ``dataroot`` is given.
    """
    if real:
        if not os.path.isdir(real):
            raise FileNotFoundError(f"--real {real}: no such folder")
        return real
    if not dataroot:
        raise ValueError("say where the real frames are: --dataroot DIR (with --phase, default test) or --real DIR")
    candidates = [os.path.join(dataroot, pattern.format(phase=phase)) for pattern in REAL_FOLDERS]
    for candidate in candidates:
        if os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(f"--dataroot {dataroot}: found neither {' nor '.join(candidates)} (street: "
                            f"{phase}_B, face/pose: {phase}_img; change --phase, or pass --real DIR)")


def match_sequence(name: str, real: dict[str, FrameSequence]) -> Optional[FrameSequence]:
    """The real sequence of generated sequence ``name``: same name, else its trailing parts (see module doc)."""
    parts = name.split("/")
    for start in range(len(parts)):
        candidate = real.get("/".join(parts[start:]))
        if candidate is not None:
            return candidate
    return real.get(".") if len(real) == 1 else None


def pair_sequence(name: str, fakes: dict[str, str], real: FrameSequence) -> tuple[SequencePairs, list[str]]:
    """Pair generated and real frames by stem.

    Returns:
        The pairs (in generated order) and the stems of generated frames without a real frame.
    """
    real_by_stem: dict[str, str] = {}
    for path in real.frames:
        real_by_stem.setdefault(_stem(path), path)
    pairs = [FramePair(stem, fake, real_by_stem[stem]) for stem, fake in fakes.items() if stem in real_by_stem]
    unmatched = [stem for stem in fakes if stem not in real_by_stem]
    return SequencePairs(name, os.path.dirname(real.frames[0]), pairs), unmatched


def find_pairs(results: str, real_folder: str) -> tuple[list[SequencePairs], list[str]]:
    """Every generated sequence of ``results`` paired with its real frames under ``real_folder``.

    Returns:
        The paired sequences and notes (generated frames left out for want of a real frame).

    Raises:
        FileNotFoundError: no generated frames.
        ValueError: a sequence has no real counterpart or no frame in common with it (all are listed).
    """
    real = {seq.name: seq for seq in find_sequences(real_folder, IMG_EXTENSIONS)}
    paired, notes, errors = [], [], []
    for name, fakes in generated_sequences(results):
        match = match_sequence(name, real)
        if match is None:
            errors.append(f"sequence {name}: no real frame folder {os.path.join(real_folder, name)}")
            continue
        sequence, unmatched = pair_sequence(name, fakes, match)
        if not sequence.pairs:
            errors.append(f"sequence {name}: no generated frame has a real frame of the same stem in "
                          f"{sequence.real_name} (e.g. {next(iter(fakes))!r} vs {_stem(match.frames[0])!r})")
        elif unmatched:
            notes.append(f"{name}: {len(unmatched)} generated frames have no real frame and are left out "
                         f"(e.g. {unmatched[0]})")
        paired.append(sequence)
    if errors:
        raise ValueError("cannot pair the generated frames with real ones:\n  - " + "\n  - ".join(errors)
                         + "\n(pass the real frame folders with --real DIR, or --dataroot and --phase)")
    return paired, notes
