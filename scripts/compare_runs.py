"""Put several test runs on one page: their videos side by side, started and paused together, the same frames
in one row per run, and their ``metrics.json`` (``scripts/evaluate.py``) as a table.

Example::

    python scripts/compare_runs.py results/label2city/test_latest results/label2city_student/test_latest \\
        --out results/compare

Sequences and frames are matched by name; what one run has and another lacks is said on the page. The page
links the runs' files by relative paths: keep the folders where they are, or move them together.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from util.compare_page import write_compare_page  # noqa: E402


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="test results folders (results/<name>/test_<epoch>), two or more")
    parser.add_argument("--out", required=True, help="folder of the comparison page (index.html)")
    parser.add_argument("--names", default="",
                        help="comma-separated run names, one per folder (default: the folders' last path parts)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return parser.parse_args(argv)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Write the page; bad input gives one ``error:`` line and exit code 2 (a traceback with --debug)."""
    args = parse_args(argv)
    names = [name.strip() for name in args.names.split(",")] if args.names else None
    try:
        if len(args.results) < 2:
            raise ValueError("give at least two results folders to compare")
        if names is not None and len(names) != len(args.results):
            raise ValueError(f"--names has {len(names)} names for {len(args.results)} results folders")
        page = write_compare_page(args.results, args.out, names)
    except (FileNotFoundError, ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"comparison page: {os.path.abspath(page)}")
    return 0


if __name__ == "__main__":
    from util.cli import run as run_cli

    sys.exit(run_cli(main, returns_code=True))
