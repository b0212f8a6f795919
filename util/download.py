"""Downloads for datasets and released checkpoints: resumable, checksummed, safely extracted.

- ``download(url, dest)`` streams to ``dest + ".part"`` with a tqdm bar, resumes an interrupted ``.part``
  with an HTTP ``Range`` request, verifies a known SHA-256 (or logs the computed one), then renames.
- ``extract_archive(archive, target)`` unpacks zip and tar files and refuses any member that would land
  outside ``target`` (absolute paths, ``..``, links pointing out, device files).
- ``fetch(...)`` ties both together for the ``scripts/download_*.py`` helpers, with Google Drive ids.
Every failure raises ``DownloadError`` naming the URL and where a manually downloaded file must go.
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import tarfile
import zipfile
from typing import Callable, Optional, Sequence

import requests
from tqdm import tqdm

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 16
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class DownloadError(RuntimeError):
    """A download, checksum or extraction failed; the message says how to finish by hand."""


def google_drive_url(file_id: str) -> str:
    """Direct-download URL of a public Google Drive file (skips the large-file virus-scan page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


def google_drive_page(file_id: str) -> str:
    """The Google Drive page of a file, for downloading it in a browser."""
    return f"https://drive.google.com/file/d/{file_id}/view"


def sha256sum(path: str | os.PathLike) -> str:
    """Hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _manual_hint(url: str, dest: str, page: Optional[str]) -> str:
    """The 'finish by hand' part of every error message."""
    where = page or url
    return (f"Download it manually from {where} and save it as {os.path.abspath(dest)}, "
            "then run this script again (an existing file is verified and used, not downloaded again).")


def _open_stream(url: str, offset: int, timeout: float, session: requests.Session) -> requests.Response:
    """GET ``url`` from byte ``offset`` (a Range request when offset > 0)."""
    # identity encoding: Content-Length and Range then count the file's own bytes.
    headers = {"Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    response = session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=True)
    # Keep the bytes of a connection that ends early (urllib3 would drop the last read); the size check
    # in _write_body reports the truncation and the .part is resumed next time.
    response.raw.enforce_content_length = False
    return response


def _write_body(response: requests.Response, part: str, offset: int, desc: str) -> None:
    """Append (offset > 0) or write the response body to ``part`` with a progress bar."""
    length = response.headers.get("Content-Length")
    total = offset + int(length) if length is not None else None
    with open(part, "ab" if offset else "wb") as stream, tqdm(
            total=total, initial=offset, unit="B", unit_scale=True, desc=desc, leave=False) as bar:
        for block in response.iter_content(chunk_size=CHUNK_SIZE):
            stream.write(block)
            bar.update(len(block))
    if total is not None and os.path.getsize(part) != total:
        raise DownloadError(f"connection closed after {os.path.getsize(part)} of {total} bytes")


def _fetch_to_part(url: str, part: str, timeout: float, session: requests.Session) -> None:
    """Fill ``part`` with the body of ``url``, resuming from its current size when the server allows it."""
    offset = os.path.getsize(part) if os.path.isfile(part) else 0
    response = _open_stream(url, offset, timeout, session)
    with response:
        if response.status_code == 416 and offset > 0:
            # The .part already holds every byte the server has (a previous run died before renaming).
            return
        if offset > 0 and response.status_code == 200:
            logger.info("server ignored the Range request; restarting %s from zero", url)
            offset = 0
        response.raise_for_status()
        if "text/html" in response.headers.get("Content-Type", ""):
            raise DownloadError("the server returned a web page instead of the file (for Google Drive: "
                                "the daily quota may be exceeded or the file needs a sign-in)")
        _write_body(response, part, offset, os.path.basename(part)[: -len(".part")])


def _verify(path: str, sha256: Optional[str]) -> None:
    """Compare the file's SHA-256 with ``sha256``, or log the computed value when it is unknown."""
    actual = sha256sum(path)
    if sha256 is None:
        logger.info("sha256 of %s: %s (no reference checksum known; record it to pin the file)", path, actual)
    elif actual.lower() != sha256.lower():
        raise DownloadError(f"checksum mismatch for {path}: expected sha256 {sha256}, got {actual}")


def download(url: str, dest: str | os.PathLike, *, sha256: Optional[str] = None, timeout: float = 60.0,
             page: Optional[str] = None, session: Optional[requests.Session] = None) -> str:
    """Download ``url`` to ``dest`` (resumable through ``dest + ".part"``) and verify it.

    Args:
        url: What to fetch.
        dest: Final file path; its folder is created.
        sha256: Expected hex digest, or None to only log the computed one.
        timeout: Seconds to wait for the connection and for each read.
        page: A human-facing page for the manual-download hint (defaults to ``url``).
        session: Optional ``requests.Session`` (tests, retries).

    Returns:
        ``dest`` as a string.

    Raises:
        DownloadError: on any network, HTTP or checksum failure. A partial download stays in ``.part`` and
            is resumed by the next call; a file failing its checksum is deleted.
    """
    dest = os.fspath(dest)
    part = dest + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    try:
        _fetch_to_part(url, part, timeout, session or requests.Session())
    except (requests.RequestException, OSError, DownloadError) as err:
        kept = os.path.getsize(part) if os.path.isfile(part) else 0
        resume = f" {kept} bytes are kept in {part} and resumed on the next run." if kept else ""
        raise DownloadError(f"downloading {url} failed: {err}.{resume} {_manual_hint(url, dest, page)}") from err
    try:
        _verify(part, sha256)
    except DownloadError as err:
        os.remove(part)
        raise DownloadError(f"{err}; the file was deleted. {_manual_hint(url, dest, page)}") from err
    os.replace(part, dest)
    return dest


def _inside(target: str, member_path: str) -> bool:
    """Whether ``member_path`` (relative to ``target``) resolves to ``target`` or below it."""
    root = os.path.realpath(target)
    resolved = os.path.realpath(os.path.join(root, member_path))
    return resolved == root or resolved.startswith(root + os.sep)


def _check_tar_member(target: str, member: tarfile.TarInfo) -> None:
    """Refuse tar members that escape ``target``: paths, symlink/hardlink targets, device files."""
    if not _inside(target, member.name):
        raise DownloadError(f"refusing archive member {member.name!r}: it would be written outside {target}")
    if member.issym():
        link_target = os.path.join(os.path.dirname(member.name), member.linkname)
        if os.path.isabs(member.linkname) or not _inside(target, link_target):
            raise DownloadError(f"refusing symlink {member.name!r} -> {member.linkname!r}: it points outside {target}")
    if member.islnk() and not _inside(target, member.linkname):
        raise DownloadError(f"refusing hard link {member.name!r} -> {member.linkname!r}: it points outside {target}")
    if member.isdev():
        raise DownloadError(f"refusing device file {member.name!r} in the archive")


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into ``target`` after checking every member.

    Returns:
        The member names, in archive order.

    Raises:
        DownloadError: if the archive is not zip/tar, or a member would land outside ``target`` (then
            nothing is extracted).
    """
    archive, target = os.fspath(archive), os.fspath(target)
    os.makedirs(target, exist_ok=True)
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            for name in names:
                if os.path.isabs(name) or not _inside(target, name):
                    raise DownloadError(f"refusing archive member {name!r}: it would be written outside {target}")
            bundle.extractall(target)
        return names
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as bundle:
            members = bundle.getmembers()
            for member in members:
                _check_tar_member(target, member)
            bundle.extractall(target, members=members, filter="data")
        return [member.name for member in members]
    raise DownloadError(f"{archive} is neither a zip nor a tar archive (a failed download saves an HTML "
                        "error page); delete it and download again")


def fetch(url: str, dest: str, *, sha256: Optional[str] = None, extract_to: Optional[str] = None,
          keep_archive: bool = True, page: Optional[str] = None) -> str:
    """Download ``url`` to ``dest`` unless it already exists (then only verify), and optionally extract it.

    Args:
        url: What to fetch.
        dest: File to create (a manually downloaded file placed here is used as is).
        sha256: Expected checksum, if known.
        extract_to: Folder to unpack ``dest`` into (zip or tar), or None.
        keep_archive: False deletes ``dest`` after a successful extraction.
        page: Human-facing download page for error messages.

    Returns:
        ``dest``.
    """
    if os.path.isfile(dest):
        logger.info("%s exists; verifying it instead of downloading", dest)
        _verify(dest, sha256)
    else:
        download(url, dest, sha256=sha256, page=page)
    if extract_to is not None:
        names = extract_archive(dest, extract_to)
        logger.info("extracted %d entries from %s into %s", len(names), dest, extract_to)
        if not keep_archive:
            os.remove(dest)
    return dest


def fetch_google_drive(file_id: str, dest: str, *, sha256: Optional[str] = None,
                       extract_to: Optional[str] = None, keep_archive: bool = True) -> str:
    """``fetch`` for a public Google Drive file id (see ``google_drive_url``)."""
    return fetch(google_drive_url(file_id), dest, sha256=sha256, extract_to=extract_to,
                 keep_archive=keep_archive, page=google_drive_page(file_id))


def script_main(description: str, file_id: str, *, dest: str, extract_to: Optional[str] = None,
                sha256: Optional[str] = None, argv: Optional[Sequence[str]] = None,
                after: Optional[Callable[[str, str], int]] = None) -> int:
    """Command line of the ``scripts/download_*.py`` helpers; returns the process exit code.

    Flags: ``--root`` (folder the relative ``dest`` / ``extract_to`` paths are taken from, default the
    repository), ``--url`` (a mirror instead of Google Drive), ``--sha256`` (expected checksum) and
    ``--remove_archive`` (delete the archive after extraction).

    Args:
        description: Help text.
        file_id: Google Drive id of the file.
        dest: Where the file goes, relative to ``--root``.
        extract_to: Folder to unpack into, relative to ``--root``, or None (no extraction).
        sha256: Known checksum, or None.
        argv: Arguments (default ``sys.argv[1:]``).
        after: Run on success with (``--root``, the extracted folder or the file); its result is the exit code.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--root", default=REPO_ROOT, help="folder the output paths are relative to")
    parser.add_argument("--url", default=None, help="download from this URL instead of Google Drive")
    parser.add_argument("--sha256", default=sha256, help="expected SHA-256 of the file")
    parser.add_argument("--remove_archive", action="store_true", help="delete the archive after extraction")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    dest_path = os.path.join(args.root, dest)
    extract_path = None if extract_to is None else os.path.join(args.root, extract_to)
    url = args.url or google_drive_url(file_id)
    page = None if args.url else google_drive_page(file_id)
    try:
        fetch(url, dest_path, sha256=args.sha256, extract_to=extract_path,
              keep_archive=not args.remove_archive, page=page)
    except DownloadError as err:
        logger.error("%s", err)
        return 1
    logger.info("done: %s", extract_path or dest_path)
    return after(args.root, extract_path or dest_path) if after is not None else 0
