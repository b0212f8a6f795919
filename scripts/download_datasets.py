"""Download the sample datasets (Cityscapes, face, pose) to datasets/datasets.zip and unpack them.

Usage (from anywhere): python scripts/download_datasets.py [--root DIR] [--url MIRROR] [--sha256 HEX] [--retries N] [--remove_archive] [--debug]
The file is verified (size, SHA-256 where pinned in FILES, a full read of the archive or checkpoint); a damaged
download is deleted and fetched again. On failure one ``error:`` line names the Google Drive page and the exact
path where a file saved by hand is verified and used.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))  # the repository

from util.cli import run  # noqa: E402
from util.download import RemoteFile, script_main  # noqa: E402

#: What this script downloads; pin ``sha256`` / ``size`` here once known (None: size and a full read are checked).
FILES = (RemoteFile(file_id="1rPcbnanuApZeo2uc7h55OneBkbcFCnnf",
                    dest="datasets/datasets.zip", extract_to="datasets", sha256=None, size=None),)
FILE_ID = FILES[0].file_id


def main(argv: list[str] | None = None) -> int:
    """Download (and unpack) the files; returns the exit code (errors raise ``DownloadError``)."""
    return script_main(__doc__.splitlines()[0], FILES, argv=argv)


if __name__ == "__main__":
    sys.exit(run(main, returns_code=True))
