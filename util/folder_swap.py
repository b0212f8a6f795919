"""A folder replaced as a whole: the new contents are written in a hidden sibling folder and swapped into place
once complete, so the folder always holds one complete set of files (the old one, or the new one), never a mix.

test.py's results folder uses it (:class:`util.results_writer.ResultsWriter`): a rerun with fewer frames leaves
only the new frames; a kill or a full disk during a rerun leaves the previous results as they were.

On disk, beside ``<parent>/<base>``:

- ``.<base>.writing_<pid>_<random>``: a new version being written (removed at the next start once its process
  is gone: a kill left it unfinished);
- ``.<base>.old_<random>``: the previous version during the swap (put back in place when a kill struck between
  the two renames, otherwise removed).
"""

from __future__ import annotations

import os
import shutil
import tempfile

WRITING = ".writing_"
RETIRED = ".old_"


def _hidden_prefix(final: str, kind: str) -> str:
    return f".{os.path.basename(final)}{kind}"


def _process_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this machine (a writer still busy with its folder)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # exists, owned by someone else
    return True


def _remove_tree(path: str) -> None:
    """Delete a folder (or a link to one) left by an earlier writer."""
    if os.path.islink(path) or not os.path.isdir(path):
        os.remove(path)
    else:
        shutil.rmtree(path)


def _leftovers(final: str, kind: str) -> list[str]:
    """Hidden siblings of ``final`` of one kind (``WRITING`` or ``RETIRED``), oldest first."""
    parent, prefix = os.path.dirname(final), _hidden_prefix(final, kind)
    paths = [os.path.join(parent, n) for n in os.listdir(parent) if n.startswith(prefix)]
    return sorted(paths, key=lambda p: os.lstat(p).st_mtime)


def _writer_pid(path: str, final: str) -> int:
    """The process id in a ``.<base>.writing_<pid>_<random>`` name (0 when unreadable)."""
    rest = os.path.basename(path)[len(_hidden_prefix(final, WRITING)):]
    head = rest.split("_", 1)[0]
    return int(head) if head.isdigit() else 0


def recover_folder(final: str) -> None:
    """Tidy what an interrupted writer of ``final`` left: finish or undo a swap, drop unfinished versions.

    A kill between the two renames of :meth:`StagedFolder.commit` leaves no ``final`` but its previous version
    under a hidden name: that version goes back in place (the new one was never visible).
    """
    final = os.path.abspath(final)
    if not os.path.isdir(os.path.dirname(final)):
        return
    retired = _leftovers(final, RETIRED)
    if retired and not os.path.lexists(final):
        os.rename(retired.pop(), final)
    for path in retired:
        _remove_tree(path)
    for path in _leftovers(final, WRITING):
        if not _process_alive(_writer_pid(path, final)):
            _remove_tree(path)


class StagedFolder:
    """A new version of the folder ``final``, written in a hidden sibling and swapped in by :meth:`commit`.

    Args:
        final: The folder the new version replaces (created on commit when absent).
    """

    def __init__(self, final: str) -> None:
        self.final = os.path.abspath(final)
        parent = os.path.dirname(self.final)
        os.makedirs(parent, exist_ok=True)
        recover_folder(self.final)
        prefix = f"{_hidden_prefix(self.final, WRITING)}{os.getpid()}_"
        self.path = tempfile.mkdtemp(prefix=prefix, dir=parent)
        self._done = False

    def commit(self) -> None:
        """Put the new version in place of the old one (which is then deleted)."""
        parent = os.path.dirname(self.final)
        retired = None
        if os.path.lexists(self.final):
            retired = os.path.join(parent, _hidden_prefix(self.final, RETIRED) + os.path.basename(self.path)[-8:])
            os.rename(self.final, retired)
        os.rename(self.path, self.final)
        self._done = True
        if retired is not None:
            _remove_tree(retired)

    def discard(self) -> None:
        """Delete the new version (the old folder stays as it was); nothing happens after :meth:`commit`."""
        if not self._done and os.path.isdir(self.path):
            shutil.rmtree(self.path, ignore_errors=True)
        self._done = True
