"""Progress bars that stay readable when the output is captured to a file.

On a terminal a bar redraws itself in place (carriage returns). Written to a file or a pipe, those redraws pile
up on one line and log lines get glued to them; there each update is written as a whole line instead, at most
every :data:`FILE_INTERVAL` seconds.
"""

from __future__ import annotations

import sys
from typing import Any, Iterable, Optional, TextIO

from tqdm import tqdm

FILE_INTERVAL = 30.0


class WholeLines:
    """A stream wrapper turning tqdm's in-place redraws (``\\r...``) into complete lines; blank redraws (a bar
    clearing itself) are dropped."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        for part in text.replace("\r", "\n").split("\n"):
            if part.strip():
                self.stream.write(part.rstrip() + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def is_terminal(stream: TextIO) -> bool:
    """Whether ``stream`` is an interactive terminal."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def progress(iterable: Optional[Iterable] = None, *, file: Optional[TextIO] = None, **kwargs: Any) -> tqdm:
    """``tqdm(iterable, **kwargs)`` on a terminal; elsewhere a bar printing whole lines every
    :data:`FILE_INTERVAL` seconds (and its last state when it closes)."""
    stream = file if file is not None else sys.stderr
    if is_terminal(stream):
        return tqdm(iterable, file=stream, **kwargs)
    kwargs.setdefault("mininterval", FILE_INTERVAL)
    kwargs.setdefault("ascii", True)
    return tqdm(iterable, file=WholeLines(stream), dynamic_ncols=False, ncols=100, **kwargs)
