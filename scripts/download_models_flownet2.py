"""Download the official FlowNet2 checkpoint to checkpoints/flownet2/FlowNet2_checkpoint.pth.tar.

Usage (from anywhere): python scripts/download_models_flownet2.py [--root DIR] [--url MIRROR] [--sha256 HEX] [--remove_archive]
On failure the message names the Google Drive page; a file saved by hand at the destination is used.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))  # the repository

from util.download import script_main  # noqa: E402

FILE_ID = "1E8re-b6csNuo-abg1vJKCDjCzlIam50F"


def main(argv: list[str] | None = None) -> int:
    """Download (and unpack) the file; returns the exit code."""
    return script_main(__doc__.splitlines()[0], FILE_ID, dest="checkpoints/flownet2/FlowNet2_checkpoint.pth.tar", extract_to=None, argv=argv)


if __name__ == "__main__":
    sys.exit(main())
