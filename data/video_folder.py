"""Sequence discovery: every folder holding frame files is one video.

Frames are sorted *naturally* (``frame2`` before ``frame10``), so names need no zero padding; sequences are
sorted by their folder path relative to the root. Modalities (labels, instances, photos) live in parallel
roots (``train_A/seq0``, ``train_B/seq0``...) and are paired by sequence name with :func:`pair_sequences`.
"""

from __future__ import annotations

import os
import re
import stat
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


def printable(path: str) -> str:
    """``path`` safe to print: bytes that are not UTF-8 (kept by the file system as surrogates) shown as ``\\xff``."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def is_utf8(name: str) -> bool:
    """Whether a file name decoded from the file system is valid UTF-8 (no undecodable bytes)."""
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def loops_back(link: str, folder: str, root: str) -> bool:
    """Whether the folder link ``link`` (inside ``folder``, walked from ``root``) leads back to a folder the walk
    is inside: ``folder`` itself, a folder above it on disk, or any folder on the walked path down from ``root``
    (``a/x -> b`` and ``b/y -> a`` loop through each other)."""
    target, here = os.path.realpath(link), os.path.realpath(folder)
    if here == target or here.startswith(target.rstrip(os.sep) + os.sep):
        return True
    while len(folder) > len(root):
        folder = os.path.dirname(folder)
        if os.path.realpath(folder) == target:
            return True
    return False


#: Fixes of the entries :func:`scan_sequences` leaves out.
RENAME, REPLACE = "rename it with UTF-8 characters only", "remove it, or put the frame file in its place"


def frame_entry_problem(path: str) -> tuple[str, str] | None:
    """(what is wrong, fix) when a frame entry is unusable, found without opening it (a FIFO, device, socket,
    folder, broken link, a name that is not UTF-8); None for a regular file."""
    if not is_utf8(os.path.basename(path)):
        return "file name is not valid UTF-8", RENAME
    try:
        info = os.stat(path)
    except OSError as err:
        return f"cannot be read ({err.strerror}; a broken symbolic link?)", REPLACE
    if not stat.S_ISREG(info.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(info.st_mode) else "a folder" if stat.S_ISDIR(info.st_mode) else \
            "not a regular file"
        return f"{kind}, not an image file (never opened: reading it could block)", REPLACE
    return None


def scan_sequences(root: str | os.PathLike, extensions: tuple[str, ...] = ALL_EXTENSIONS
                   ) -> tuple[list[FrameSequence], list[tuple[str, str, str]]]:
    """Every folder under ``root`` (``root`` included) that holds frame files, as one sequence each, and the
    entries left out: folder links that loop back (not followed) and frame entries that are not regular files
    or whose name is not UTF-8 (never opened).

    Args:
        root: Folder to walk (folder links are followed, except those leading back to a folder above them).
        extensions: File endings that count as frames.

    Returns:
        (sequences sorted by name with naturally sorted frames, [(path, what is wrong, fix)] of the entries left
        out).

    Raises:
        FileNotFoundError: ``root`` is not a folder.
    """
    root = os.fspath(root)
    if not os.path.isdir(root):
        raise FileNotFoundError(f"dataset folder {root} does not exist")
    sequences, refused = [], []
    for folder, dirs, files in os.walk(root, followlinks=True):
        loops = [d for d in dirs if os.path.islink(os.path.join(folder, d))
                 and loops_back(os.path.join(folder, d), folder, root)]
        refused += [(os.path.join(folder, d), f"symbolic link back to {os.path.realpath(os.path.join(folder, d))}, "
                     "a folder above it: a loop (never followed)", "remove the link") for d in loops]
        dirs[:] = sorted((d for d in dirs if d not in loops), key=natural_key)
        frames = []
        for name in sorted((f for f in files if is_frame_file(f, extensions)), key=natural_key):
            problem = frame_entry_problem(os.path.join(folder, name))
            if problem:
                refused.append((os.path.join(folder, name), *problem))
            else:
                frames.append(os.path.join(folder, name))
        name = os.path.relpath(folder, root).replace(os.sep, "/")
        if frames and not is_utf8(name):
            refused.append((folder, "folder name is not valid UTF-8", RENAME))
        elif frames:
            sequences.append(FrameSequence(name, frames))
    return sorted(sequences, key=lambda s: natural_key(s.name)), refused


def find_sequences(root: str | os.PathLike, extensions: tuple[str, ...] = ALL_EXTENSIONS) -> list[FrameSequence]:
    """Every folder under ``root`` (``root`` included) that holds frame files, as one sequence each.

    Args:
        root: Folder to walk.
        extensions: File endings that count as frames.

    Returns:
        Sequences sorted by name, frames naturally sorted.

    Raises:
        FileNotFoundError: ``root`` is not a folder.
        ValueError: a folder link loops back, or a frame entry is not a regular file or has a non-UTF-8 name
            (see :func:`scan_sequences`; ``python -m data.check`` lists them all).
    """
    sequences, refused = scan_sequences(root, extensions)
    if refused:
        raise ValueError("unusable entries in the dataset:\n  - " +
                         "\n  - ".join(f"{printable(path)}: {what} (fix: {fix})" for path, what, fix in refused))
    return sequences


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
