"""Entry-point wrapper: errors the project raises on purpose reach the user as one ``error:`` block, exit code 2.

Every ``if __name__ == "__main__":`` block (``train.py``, ``test.py``, ``python -m data.check``, the scripts under
``scripts/``) runs its ``main`` through :func:`run`::

    if __name__ == "__main__":
        sys.exit(run(main))

A user error (bad flags, a bad dataset, a missing or broken checkpoint, a failed download, a full or read-only
disk, an unwritable results folder, a non-finite loss) prints ``error: <message>`` on stderr and exits with 2,
like an argparse usage error; ``--debug`` on the command line shows the full traceback instead. Anything else
is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import sys
from typing import Callable, Optional, Sequence

EXIT_USER_ERROR = 2
EXIT_INTERRUPTED = 130

# (module, class name) of every error the project raises on purpose; imported only when an error happens, so
# light scripts (downloads) do not import torch to start.
USER_ERRORS = (
    ("options.validation", "OptionError"),
    ("data.check", "DatasetError"),
    ("data.prepare.errors", "PrepareError"),
    ("util.checkpoint", "CheckpointError"),
    ("util.download", "DownloadError"),
    ("util.results_writer", "ResultsError"),
    ("util.registry", "UnknownPluginError"),
    ("models.vid2vid.criterion", "NonFiniteLossError"),
)
DISK_ERRNOS = {errno.ENOSPC: "the disk is full", errno.EROFS: "the file system is read-only",
               errno.EACCES: "permission denied", errno.EDQUOT: "the disk quota is exceeded"}


def is_user_error(err: BaseException) -> bool:
    """Whether ``err`` is one of the project's deliberate errors (or a disk / file-system error)."""
    if isinstance(err, OSError) and (err.errno is None or err.errno in DISK_ERRNOS or err.filename is not None):
        return True  # errno None: raised by the project with its own message (a missing folder or weights file)
    for module_name, class_name in USER_ERRORS:
        module = sys.modules.get(module_name)
        cls = getattr(module, class_name, None) if module is not None else None
        if cls is not None and isinstance(err, cls):
            return True
    return False


def format_error(err: BaseException) -> str:
    """The ``error: ...`` block for a user error (OSErrors name their file and the likely cause)."""
    if isinstance(err, OSError) and err.filename is not None:
        return f"error: {err.filename}: {DISK_ERRNOS.get(err.errno, err.strerror or type(err).__name__)}"
    if isinstance(err, OSError) and err.errno in DISK_ERRNOS:
        return f"error: {DISK_ERRNOS[err.errno]} ({err})"
    return f"error: {err}"


def debug_requested(argv: Optional[Sequence[str]] = None) -> bool:
    """Whether ``--debug`` is among the command-line arguments (default ``sys.argv[1:]``)."""
    return "--debug" in (sys.argv[1:] if argv is None else argv)


def run(main: Callable[..., object], argv: Optional[Sequence[str]] = None, *, returns_code: bool = False) -> int:
    """Run an entry point's ``main`` and turn user errors into one ``error:`` block on stderr.

    Args:
        main: The entry point; called as ``main()`` (it reads ``sys.argv``) or ``main(argv)`` when given.
        argv: Arguments for ``main``, or None for the command line.
        returns_code: ``main`` returns the process exit code (an int); otherwise success is 0.

    Returns:
        The exit code: 0 (or ``main``'s code), 2 for a user error, 130 when interrupted.

    Raises:
        Exception: anything that is not a user error, and every error with ``--debug``.
    """
    try:
        result = main() if argv is None else main(list(argv))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as err:  # noqa: BLE001 - re-raised unless it is a user error
        if debug_requested(argv) or not is_user_error(err):
            raise
        print(format_error(err), file=sys.stderr)
        return EXIT_USER_ERROR
    return int(result) if returns_code and isinstance(result, int) else 0
