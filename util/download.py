"""Downloads for datasets and released checkpoints: safely resumed, verified, retried, safely extracted.

- ``download(url, dest)`` streams to ``dest + ".part"`` with a tqdm bar. An interrupted ``.part`` is resumed only
  with ``If-Range`` (the strong ETag or the Last-Modified date of its first response, kept beside it in
  ``.part.validator``), so a changed file is never spliced onto stale bytes: a server that answers 200 instead of
  206, a range that does not start where the ``.part`` ends, or a ``.part`` longer than the file, all restart from
  zero. The result is verified (size from the headers or the file table, pinned SHA-256, a full read of archives
  and checkpoints: :mod:`util.archives`); a failed verification deletes it and downloads again, up to
  ``retries`` attempts, then fails with the manual-download hint.
- ``fetch(...)`` verifies an existing file (a damaged one is deleted and downloaded again), downloads otherwise,
  and extracts archives (``extract_archive`` refuses members that would land outside the target).
- ``script_main(...)`` is the command line of the ``scripts/download_*.py`` helpers, each with a table of
  :class:`RemoteFile` (Google Drive id, destination, pinned ``sha256`` / ``size`` where known).
Every failure raises ``DownloadError`` naming the URL and where a manually downloaded file must go.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import requests
from tqdm import tqdm

from util import archives
from util.archives import sha256sum, verification_problem

logger = logging.getLogger(__name__)

CHUNK_SIZE = 1 << 16
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

__all__ = ["DownloadError", "RemoteFile", "download", "extract_archive", "fetch", "google_drive_url",
           "script_main", "sha256sum"]


class DownloadError(RuntimeError):
    """A download, checksum or extraction failed; the message says how to finish by hand."""


class _PermanentError(DownloadError):
    """A failure that retrying cannot fix (HTTP 4xx, a web page instead of the file)."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a download script's table.

    Attributes:
        file_id: Google Drive id of the file.
        dest: Where it goes, relative to ``--root``.
        extract_to: Folder to unpack it into, relative to ``--root``, or None (no extraction).
        sha256: Pinned hex digest, or None where unknown (then size and a full read are verified).
        size: Pinned size in bytes, or None where unknown.
    """

    file_id: str
    dest: str
    extract_to: Optional[str] = None
    sha256: Optional[str] = None
    size: Optional[int] = None


def google_drive_url(file_id: str) -> str:
    """Direct-download URL of a public Google Drive file (skips the large-file virus-scan page)."""
    return f"https://drive.usercontent.google.com/download?id={file_id}&export=download&confirm=t"


def google_drive_page(file_id: str) -> str:
    """The Google Drive page of a file, for downloading it in a browser."""
    return f"https://drive.google.com/file/d/{file_id}/view"


def _manual_hint(url: str, dest: str, page: Optional[str]) -> str:
    """The 'finish by hand' part of every error message."""
    return (f"Download it manually from {page or url} and save it as {os.path.abspath(dest)}, "
            "then run this script again (an existing file is verified and used, not downloaded again).")


# ---------------------------------------------------------------- resumable transfer
def _validator_path(part: str) -> str:
    return part + ".validator"


def _discard(part: str) -> None:
    """Delete a ``.part`` and its validator."""
    for path in (part, _validator_path(part)):
        if os.path.exists(path):
            os.remove(path)


def _resume_state(part: str) -> tuple[int, Optional[str]]:
    """(offset, validator) of a ``.part`` that may be resumed; one without a validator is discarded."""
    validator = None
    if os.path.isfile(_validator_path(part)):
        with open(_validator_path(part)) as stream:
            validator = stream.read().strip() or None
    if os.path.isfile(part) and validator is not None:
        return os.path.getsize(part), validator
    if os.path.isfile(part):
        logger.info("%s has no ETag / Last-Modified to resume against; downloading from zero", part)
    _discard(part)
    return 0, None


def _response_validator(response: requests.Response) -> Optional[str]:
    """The strong ETag of a response, else its Last-Modified date, else None (weak ETags cannot be used)."""
    etag = response.headers.get("ETag")
    if etag and not etag.startswith("W/"):
        return etag
    return response.headers.get("Last-Modified")


def _content_range(response: requests.Response) -> tuple[Optional[int], Optional[int]]:
    """(first byte, total size) of a ``Content-Range`` header (``bytes 10-99/100``, ``bytes */100``)."""
    match = re.match(r"bytes (?:(\d+)-\d+|\*)/(\d+|\*)", response.headers.get("Content-Range", ""))
    if not match:
        return None, None
    start, total = match.groups()
    return (int(start) if start else None), (int(total) if total != "*" else None)


def _open_stream(url: str, offset: int, validator: Optional[str], timeout: float,
                 session: requests.Session) -> requests.Response:
    """GET ``url``, from byte ``offset`` with ``Range`` + ``If-Range`` when resuming."""
    headers = {"Accept-Encoding": "identity"}  # Content-Length and Range then count the file's own bytes
    if offset > 0:
        headers.update({"Range": f"bytes={offset}-", "If-Range": validator})
    response = session.get(url, headers=headers, stream=True, timeout=timeout, allow_redirects=True)
    # Keep the bytes of a connection that ends early (urllib3 would drop the last read); the size check
    # in _write_body reports the truncation and the .part is resumed next time.
    response.raw.enforce_content_length = False
    return response


def _write_body(response: requests.Response, part: str, start: int, total: Optional[int]) -> None:
    """Append (``start`` > 0) or write the response body to ``part`` with a progress bar."""
    desc = os.path.basename(part)[: -len(".part")]
    with open(part, "ab" if start else "wb") as stream, tqdm(
            total=total, initial=start, unit="B", unit_scale=True, desc=desc, leave=False) as bar:
        for block in response.iter_content(chunk_size=CHUNK_SIZE):
            stream.write(block)
            bar.update(len(block))
    if total is not None and os.path.getsize(part) != total:
        raise DownloadError(f"connection closed after {os.path.getsize(part)} of {total} bytes")


def _body_start(response: requests.Response, offset: int, url: str) -> tuple[Optional[int], Optional[int]]:
    """(where the body starts in the file, total size) of a 200/206 response; (None, None) when a resumed
    range does not continue the ``.part`` (then it must restart)."""
    if response.status_code == 206:
        start, total = _content_range(response)
        return (start, total) if start == offset and offset > 0 else (None, None)
    if offset > 0:
        logger.info("the server sent the whole file (status %d, not 206): the file changed or ranges are not "
                    "supported; restarting %s from zero", response.status_code, url)
    length = response.headers.get("Content-Length")
    return 0, int(length) if length is not None else None


def _fetch_to_part(url: str, part: str, timeout: float, session: requests.Session) -> Optional[int]:
    """Fill ``part`` with the body of ``url``, resuming it where that is safe; returns the file's size if known."""
    offset, validator = _resume_state(part)
    with _open_stream(url, offset, validator, timeout, session) as response:
        if response.status_code == 416 and offset > 0:
            total = _content_range(response)[1]
            if total == offset:  # the .part holds the whole file (a previous run died before renaming)
                return total
            logger.info("%s holds %d bytes but the file has %s; restarting from zero", part, offset, total)
            _discard(part)
            return _fetch_to_part(url, part, timeout, session)
        try:
            response.raise_for_status()
        except requests.HTTPError as err:
            if 400 <= response.status_code < 500:
                raise _PermanentError(str(err)) from err
            raise
        if "text/html" in response.headers.get("Content-Type", ""):
            raise _PermanentError("the server returned a web page instead of the file (for Google Drive: "
                                  "the daily quota may be exceeded or the file needs a sign-in)")
        start, total = _body_start(response, offset, url)
        if start is None:
            logger.info("the server's range does not continue %s; restarting from zero", part)
            _discard(part)
            return _fetch_to_part(url, part, timeout, session)
        if start == 0:
            _remember_validator(part, _response_validator(response))
        _write_body(response, part, start, total)
    return total


def _remember_validator(part: str, validator: Optional[str]) -> None:
    """Keep the validator a later run resumes ``part`` against (none: the ``.part`` cannot be resumed)."""
    if validator is None:
        if os.path.exists(_validator_path(part)):
            os.remove(_validator_path(part))
        return
    with open(_validator_path(part), "w") as stream:
        stream.write(validator)


# ---------------------------------------------------------------- download, verify, retry
def download(url: str, dest: str | os.PathLike, *, sha256: Optional[str] = None, size: Optional[int] = None,
             timeout: float = 60.0, page: Optional[str] = None, session: Optional[requests.Session] = None,
             retries: int = 3, retry_wait: float = 1.0) -> str:
    """Download ``url`` to ``dest`` (resumable through ``dest + ".part"``), verify it, retry on failure.

    Args:
        url: What to fetch.
        dest: Final file path; its folder is created.
        sha256: Pinned hex digest, or None (the computed one is logged).
        size: Pinned size in bytes, or None (the size the server announced is checked).
        timeout: Seconds to wait for the connection and for each read.
        page: A human-facing page for the manual-download hint (defaults to ``url``).
        session: Optional ``requests.Session`` (tests, retries).
        retries: Attempts in all; a network failure resumes, a failed verification starts over.
        retry_wait: Seconds before the second attempt (doubled for each further one).

    Returns:
        ``dest`` as a string.

    Raises:
        DownloadError: when every attempt failed, or at once for HTTP 4xx and web pages. A resumable ``.part``
            is kept for the next run; a file failing verification is deleted.
    """
    dest, session = os.fspath(dest), session or requests.Session()
    part = dest + ".part"
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    last: Exception = DownloadError("no attempt made")
    for attempt in range(1, max(1, retries) + 1):
        if attempt > 1:
            logger.warning("download attempt %d/%d of %s failed (%s); trying again", attempt - 1, retries, url, last)
            time.sleep(retry_wait * 2 ** (attempt - 2))
        try:
            total = _fetch_to_part(url, part, timeout, session)
        except _PermanentError as err:
            raise DownloadError(f"downloading {url} failed: {err}. {_manual_hint(url, dest, page)}") from err
        except (requests.RequestException, OSError, DownloadError) as err:
            last = err
            continue
        problem = verification_problem(part, name=dest, size=size if size is not None else total, sha256=sha256)
        if problem is None:
            os.replace(part, dest)
            _discard(part)
            return dest
        _discard(part)
        last = DownloadError(f"{dest} failed verification ({problem}); the file was deleted")
    kept = os.path.getsize(part) if os.path.isfile(part) else 0
    resume = f" {kept} bytes are kept in {part} and resumed on the next run." if kept else ""
    raise DownloadError(f"downloading {url} failed after {retries} attempt(s): {last}.{resume} "
                        f"{_manual_hint(url, dest, page)}") from last


def extract_archive(archive: str | os.PathLike, target: str | os.PathLike) -> list[str]:
    """:func:`util.archives.extract_archive`, raising ``DownloadError`` (see there)."""
    try:
        return archives.extract_archive(archive, target)
    except archives.ArchiveError as err:
        raise DownloadError(str(err)) from err


def fetch(url: str, dest: str, *, sha256: Optional[str] = None, size: Optional[int] = None,
          extract_to: Optional[str] = None, keep_archive: bool = True, page: Optional[str] = None,
          **download_kwargs) -> str:
    """Download ``url`` to ``dest`` unless a verified file is already there, and optionally extract it.

    An existing ``dest`` (e.g. saved by hand) that fails verification is deleted and downloaded again.

    Args:
        url: What to fetch.
        dest: File to create.
        sha256: Pinned checksum, if known.
        size: Pinned size in bytes, if known.
        extract_to: Folder to unpack ``dest`` into (zip or tar), or None.
        keep_archive: False deletes ``dest`` after a successful extraction.
        page: Human-facing download page for error messages.
        **download_kwargs: ``timeout``, ``retries``, ``retry_wait``, ``session`` for :func:`download`.

    Returns:
        ``dest``.
    """
    rejected = ""
    if os.path.isfile(dest):
        problem = verification_problem(dest, size=size, sha256=sha256)
        if problem is None:
            logger.info("%s exists and is verified; not downloading it again", dest)
        else:
            rejected = f"the existing {dest} failed verification ({problem}) and was deleted; "
            logger.warning("%sdownloading it again", rejected)
            os.remove(dest)
    if not os.path.isfile(dest):
        try:
            download(url, dest, sha256=sha256, size=size, page=page, **download_kwargs)
        except DownloadError as err:
            raise DownloadError(rejected + str(err)) from err
    if extract_to is not None:
        names = extract_archive(dest, extract_to)
        logger.info("extracted %d entries from %s into %s", len(names), dest, extract_to)
        if not keep_archive:
            os.remove(dest)
    return dest


def script_main(description: str, files: Sequence[RemoteFile], argv: Optional[Sequence[str]] = None,
                after: Optional[Callable[[str, str], int]] = None) -> int:
    """Command line of the ``scripts/download_*.py`` helpers: fetch (and unpack) every file of ``files``.

    ``after`` runs on success with (``--root``, the last file's extracted folder or path); its result is the
    exit code (e.g. converting downloaded checkpoints).

    Flags: ``--root`` (folder the relative paths are taken from, default the repository), ``--url`` (a mirror
    instead of Google Drive; one-file tables only), ``--sha256`` (expected checksum, overriding the table's),
    ``--retries``, ``--remove_archive`` (delete archives after extraction) and ``--debug`` (tracebacks).

    Returns:
        0 (failures raise ``DownloadError``, printed as one ``error:`` line by :func:`util.cli.run`).
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--root", default=REPO_ROOT, help="folder the output paths are relative to")
    parser.add_argument("--url", default=None, help="download from this URL instead of Google Drive")
    parser.add_argument("--sha256", default=None, help="expected SHA-256 of the file (default: the pinned one)")
    parser.add_argument("--retries", type=int, default=3, help="attempts per file (>= 1)")
    parser.add_argument("--remove_archive", action="store_true", help="delete the archive after extraction")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    if (args.url or args.sha256) and len(files) != 1:
        parser.error("--url and --sha256 apply to one file; this script downloads several")
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for item in files:
        dest = os.path.join(args.root, item.dest)
        extract = None if item.extract_to is None else os.path.join(args.root, item.extract_to)
        fetch(args.url or google_drive_url(item.file_id), dest, sha256=args.sha256 or item.sha256, size=item.size,
              extract_to=extract, keep_archive=not args.remove_archive,
              page=None if args.url else google_drive_page(item.file_id), retries=max(1, args.retries))
        logger.info("done: %s", extract or dest)
    return after(args.root, extract or dest) if after is not None else 0
