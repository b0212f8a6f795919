"""Download Fast-Vid2Vid's released edge2face (FaceForensics) student, unpack it and convert it to state dicts.

Usage (from anywhere): python scripts/face/download_models_fast.py [--root DIR] [--url MIRROR] [--sha256 HEX] [--remove_archive]

The archive (the link of the Fast-Vid2Vid README, fast-vid2vid/fast-vid2vid) goes to
checkpoints/fast_vid2vid_face.zip and is unpacked into checkpoints/fast_vid2vid_face/. Its checkpoints are
pickled whole modules; each is converted without running its pickle (scripts/convert_fast_vid2vid.py) into
checkpoints/fast_edge2face_512/ under the same file name, and the flags found are printed. No checksum is
published (the computed one is logged). On failure the message names the Google Drive page; a file saved by
hand at the destination is used.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))  # the repository

from scripts.convert_fast_vid2vid import convert_folder  # noqa: E402
from util.cli import run  # noqa: E402
from util.download import RemoteFile, script_main  # noqa: E402

#: What this script downloads; pin ``sha256`` / ``size`` here once known (None: size and a full read of
#: the archive are checked).
FILES = (RemoteFile(file_id="1rqZfQ5X1zVLvObqzJZFCG5tFMPGGHu9u", dest="checkpoints/fast_vid2vid_face.zip",
                    extract_to="checkpoints/fast_vid2vid_face",
                    sha256=None, size=None),)
FILE_ID = FILES[0].file_id
OUT_NAME = "fast_edge2face_512"


def main(argv: list[str] | None = None) -> int:
    """Download, unpack and convert; returns the exit code."""
    return script_main(__doc__.splitlines()[0], FILES, argv=argv,
                       after=lambda root, folder: convert_folder(folder, os.path.join(root, "checkpoints", OUT_NAME)))


if __name__ == "__main__":
    sys.exit(run(main, returns_code=True))
