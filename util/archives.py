"""Downloaded files: is one complete (size, SHA-256, a full read), and safe extraction of zip and tar archives.

- :func:`verification_problem`: where no checksum is pinned, a file cut short is still caught by reading it in
  full: every member of a zip (CRC-checked) or tar archive is decompressed, and a ``.pth`` / ``.pth.tar`` /
  ``.pt`` checkpoint is opened with ``torch.load(weights_only=True)``.
- :func:`extract_archive` refuses any member that would land outside the target folder (absolute paths,
  ``..``, links pointing out, device files) before writing anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tarfile
import zipfile
from typing import Optional

logger = logging.getLogger(__name__)


class ArchiveError(ValueError):
    """An archive is not zip/tar, or one of its members would be written outside the target folder."""

CHECKPOINT_SUFFIXES = (".pth", ".pth.tar", ".pt", ".ckpt")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")


def sha256sum(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_kind(name: str) -> str:
    """``"checkpoint"``, ``"zip"``, ``"tar"`` or ``"other"`` from a file name (``.pth.tar`` is a checkpoint)."""
    lower = name.lower()
    if lower.endswith(CHECKPOINT_SUFFIXES):
        return "checkpoint"
    if lower.endswith(".zip"):
        return "zip"
    if lower.endswith(TAR_SUFFIXES):
        return "tar"
    return "other"


def _zip_problem(path: str) -> Optional[str]:
    try:
        with zipfile.ZipFile(path) as bundle:
            bad = bundle.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        return f"not a complete zip archive ({type(err).__name__}: {err})"
    return None if bad is None else f"zip member {bad!r} is damaged (CRC mismatch)"


def _tar_problem(path: str) -> Optional[str]:
    try:
        with tarfile.open(path) as bundle:
            for member in bundle:
                if member.isfile():
                    stream = bundle.extractfile(member)
                    while stream is not None and stream.read(1 << 20):
                        pass
    except Exception as err:  # noqa: BLE001 - tarfile, EOF, zlib / bz2 / lzma errors all mean a damaged file
        return f"not a complete tar archive ({type(err).__name__}: {err})"
    return None


def _checkpoint_problem(path: str) -> Optional[str]:
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling error means an unusable file
        return f"PyTorch cannot open it weights-only ({type(err).__name__}: {err})"
    return None


def integrity_problem(path: str, name: Optional[str] = None) -> Optional[str]:
    """Why the file at ``path`` is not a complete file of its kind, or None (files of other kinds pass).

    Args:
        path: The file to read.
        name: The name that decides the kind (default: ``path``; a ``.part`` file passes its final name).
    """
    kind = file_kind(name or path)
    reader = {"zip": _zip_problem, "tar": _tar_problem, "checkpoint": _checkpoint_problem}.get(kind)
    return reader(path) if reader else None


def verification_problem(path: str, *, name: Optional[str] = None, size: Optional[int] = None,
                         sha256: Optional[str] = None) -> Optional[str]:
    """Why ``path`` fails verification, or None: the expected ``size``, the pinned ``sha256``, then a full read.

    Without a pinned checksum the computed one is logged, so it can be recorded in the script's file table.
    """
    actual_size = os.path.getsize(path)
    if size is not None and actual_size != size:
        return f"size mismatch: {actual_size} bytes, expected {size}"
    actual = sha256sum(path)
    if sha256 is not None and actual.lower() != sha256.lower():
        return f"checksum mismatch: expected sha256 {sha256}, got {actual}"
    if sha256 is None:
        logger.info("sha256 of %s: %s (no reference checksum known; record it to pin the file)", name or path, actual)
    return integrity_problem(path, name)


def _inside(target: str, member_path: str) -> bool:
    """Whether ``member_path`` (relative to ``target``) resolves to ``target`` or below it."""
    root = os.path.realpath(target)
    resolved = os.path.realpath(os.path.join(root, member_path))
    return resolved == root or resolved.startswith(root + os.sep)


def _check_tar_member(target: str, member: tarfile.TarInfo) -> None:
    """Refuse tar members that escape ``target``: paths, symlink/hardlink targets, device files."""
    if not _inside(target, member.name):
        raise ArchiveError(f"refusing archive member {member.name!r}: it would be written outside {target}")
    if member.issym():
        link_target = os.path.join(os.path.dirname(member.name), member.linkname)
        if os.path.isabs(member.linkname) or not _inside(target, link_target):
            raise ArchiveError(f"refusing symlink {member.name!r} -> {member.linkname!r}: it points outside {target}")
    if member.islnk() and not _inside(target, member.linkname):
        raise ArchiveError(f"refusing hard link {member.name!r} -> {member.linkname!r}: it points outside {target}")
    if member.isdev():
        raise ArchiveError(f"refusing device file {member.name!r} in the archive")


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``target`` after checking every member.

    Returns:
        The member names, in archive order.

    Raises:
        ArchiveError: if the archive is not zip/tar, or a member would land outside ``target`` (then
            nothing is extracted).
    """
    archive, target = os.fspath(archive), os.fspath(target)
    os.makedirs(target, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            for name in names:
                if os.path.isabs(name) or not _inside(target, name):
                    raise ArchiveError(f"refusing archive member {name!r}: it would be written outside {target}")
            bundle.extractall(target)
        return names
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            for member in members:
                _check_tar_member(target, member)
            bundle.extractall(target, members=members, filter="data")
        return [member.name for member in members]
    raise ArchiveError(f"{archive} is neither a zip nor a tar archive (a failed download saves an HTML "
                        "error page); delete it and download again")
