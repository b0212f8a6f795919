"""The error ``scripts/prepare_video.py`` raises for bad input (``util.cli`` prints it as one ``error:`` line)."""

from __future__ import annotations


class PrepareError(ValueError):
    """A source, back-end or flag that cannot give a dataset; the message names the file or flag and the fix."""
