"""Download the released edge2face checkpoints to checkpoints/models_face.zip and unpack them.

Usage (from anywhere): python scripts/face/download_models.py [--root DIR] [--url MIRROR] [--sha256 HEX] [--remove_archive]
On failure the message names the Google Drive page; a file saved by hand at the destination is used.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))  # the repository

from util.download import script_main  # noqa: E402

FILE_ID = "10LvNw-2lrh-6sPGkWbQDfHspkqz5AKxb"


def main(argv: list[str] | None = None) -> int:
    """Download (and unpack) the file; returns the exit code."""
    return script_main(__doc__.splitlines()[0], FILE_ID, dest="checkpoints/models_face.zip", extract_to="checkpoints", argv=argv)


if __name__ == "__main__":
    sys.exit(main())
