"""``python -m doctor [--quick] [--only ROW ...] [--json PATH] [--dataroot DIR]``: the self-check table.

Exit code 0 when no row fails, 1 when one does, 2 for bad flags.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional, Sequence


def make_parser() -> argparse.ArgumentParser:
    """The doctor's flags."""
    parser = argparse.ArgumentParser(prog="python -m doctor", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer sizes and frames (the CI run, about a minute)")
    parser.add_argument("--only", action="append", default=[], metavar="ROW",
                        help="run only this row, or a group (ops, train, autocast, dist, onnx, test.py); repeatable")
    parser.add_argument("--json", type=str, default="", metavar="PATH", help="also write the table as JSON here")
    parser.add_argument("--dataroot", type=str, default="",
                        help="Cityscapes-format data for the training and test rows (default: the project's "
                             "shared Cityscapes sample when present, else synthetic frames)")
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument("--debug", action="store_true", help="tracebacks instead of one error line")
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the selected rows; returns the exit code."""
    parser = make_parser()
    args = parser.parse_args(argv)
    # before any row: entry points called by rows (test.py) then keep this configuration (warnings only)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    from doctor import rows  # noqa: F401 - registers every row
    from doctor.environment import environment
    from doctor.table import FAIL, ROWS, make_context, run_all, select, summary, write_json

    if args.list:
        print("\n".join(f"{r.name}{' (GPU)' if r.gpu else ''}" for r in ROWS.values()))
        return 0
    try:
        chosen = select(args.only) if args.only else list(ROWS.values())
    except ValueError as err:
        parser.error(str(err))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="vid2vid_doctor_") as folder:
        ctx = make_context(quick=args.quick, workdir=Path(folder), dataroot=args.dataroot)
        print(f"vid2vid doctor: {len(chosen)} checks on {ctx.device}, data {ctx.dataroot}"
              f"{' (quick)' if args.quick else ''}", flush=True)
        outcomes = run_all(chosen, ctx, sys.stdout)
    print(f"{summary(outcomes)} in {time.perf_counter() - started:.0f} s")
    if args.json:
        write_json(Path(args.json), outcomes, environment())
    return 1 if any(o.status == FAIL for o in outcomes) else 0


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main, returns_code=True))
