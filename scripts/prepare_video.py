"""Turn your own video into one sequence of a dataset, in one command, and check the result.

Usage::

    python scripts/prepare_video.py --mode pose --input dance.mp4 --dataroot datasets/mydance
    python scripts/prepare_video.py --mode face --input talk.mp4 --dataroot datasets/myface --backend mediapipe
    python scripts/prepare_video.py --mode street --input drive.mp4 --dataroot datasets/mycity \
        --seg_model segformer-b0-finetuned-cityscapes-1024-1024 --inst_model maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth
    python scripts/prepare_video.py --mode pose --backend rtmpose --pose_model dw-ll_ucoco_384.onnx --input ...

Writes ``<dataroot>/<phase>_<folder>/<seq>/<00000...>`` for the photos and every input the mode reads (pose:
``_img`` + ``_openpose``; face: ``_img`` + ``_keypoints``; street: ``_B`` + ``_A`` label ids + ``_inst``), resumes where a previous run stopped, fills runs of at
most ``--max_gap`` frames without a detection from their neighbours and drops longer ones from every folder alike
(listed, and in ``<dataroot>/<phase>_<seq>.prepare.json``), then runs the dataset checker on ``<dataroot>``.
See docs/own-video.md for the back-ends, their cost and accuracy.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Sequence

if __package__ in (None, ""):  # run as a script: make the repository root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.prepare import MODES  # noqa: E402
from data.prepare.base import ModeWriter  # noqa: E402
from data.prepare.errors import PrepareError  # noqa: E402
from data.prepare.frames import open_source  # noqa: E402
from data.prepare.pipeline import Report, prepare_sequence  # noqa: E402

logger = logging.getLogger("prepare_video")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", required=True, choices=sorted(MODES), help="dataset mode to write")
    parser.add_argument("--input", required=True, help="video file or folder of frames")
    parser.add_argument("--dataroot", required=True, help="dataset root (created)")
    parser.add_argument("--phase", default="train", help="folder prefix: train or test")
    parser.add_argument("--seq", default="", help="sequence (sub-folder) name; default: the input's file name")
    parser.add_argument("--backend", default="", help="detector; pose: mediapipe (default) or rtmpose; face: dlib "
                        "(default) or mediapipe; street: segmenter")
    g = parser.add_argument_group("back-ends from local weights (docs/own-video.md)")
    g.add_argument("--seg_model", default="", help="street: SegFormer Cityscapes folder or DeepLabV3 .pth")
    g.add_argument("--inst_model", default="", help="street: torchvision Mask R-CNN COCO .pth (instance maps; "
                   "without it no <phase>_inst is written)")
    g.add_argument("--inst_threshold", type=float, default=0.5, help="street: lowest detection score kept (0-1)")
    g.add_argument("--pose_model", default="", help="pose --backend rtmpose: whole-body SimCC ONNX model")
    g.add_argument("--det_model", default="", help="pose --backend rtmpose: YOLOX person detector ONNX "
                   "(default: the whole frame is the person box)")
    g.add_argument("--pose_threshold", type=float, default=0.3, help="pose --backend rtmpose: lowest keypoint "
                   "score kept (0-1)")
    g.add_argument("--device", default="cpu", help="street: torch device of the segmenter (cpu, cuda:0)")
    parser.add_argument("--max_gap", type=int, default=2,
                        help="fill runs of at most this many frames without a detection from their neighbours; "
                             "longer runs are dropped")
    parser.add_argument("--no_progress", action="store_true", help="no progress bar")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    if args.max_gap < 0:
        parser.error(f"--max_gap must be >= 0 (got {args.max_gap})")
    return args


def load_writer(mode: str, backend: str, options: argparse.Namespace | None = None) -> ModeWriter:
    """The mode's writer with its back-end loaded (``options``: the flags of back-ends with local weights).

    Raises:
        PrepareError: an unknown back-end, or one whose package or weights are missing (with the install).
    """
    writer_class = MODES[mode]
    backends = writer_class.backends
    name = backend or next(iter(backends))
    if name not in backends:
        raise PrepareError(f"--backend {name}: not a {mode} back-end; choose one of {', '.join(backends)}")
    try:
        return writer_class(name, options)
    except (ImportError, FileNotFoundError) as err:
        raise PrepareError(f"--backend {name}: {err}") from err


def run_checker(writer: ModeWriter, dataroot: str, phase: str) -> list:
    """Problems the dataset checker finds in what was written (empty when fine)."""
    from data.check import check_dataset
    from data.check import parse_args as check_args

    argv = ["--dataroot", dataroot, "--phase", phase, "--dataset_mode", writer.mode] + writer.check_flags()
    return check_dataset(check_args(argv + ([] if phase == "train" else ["--test"])))


def summarize(report: Report) -> None:
    """Log what was written, filled and dropped."""
    logger.info("%s: %d frames, %d detected, %d filled, %d dropped%s", report.sequence, report.frames,
                report.detected, len(report.filled), len(report.dropped),
                f" ({report.resumed} already done)" if report.resumed else "")
    if report.dropped:
        logger.warning("dropped (nothing detected, gap longer than --max_gap): %s", " ".join(report.dropped))


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns 0, or 1 when the checker finds problems in the written dataset."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    source = open_source(args.input)
    seq = args.seq or Path(args.input.rstrip("/")).stem
    writer = load_writer(args.mode, args.backend, args)
    try:
        report = prepare_sequence(source, writer, root=args.dataroot, phase=args.phase, seq=seq,
                                  max_gap=args.max_gap, progress=not args.no_progress)
    finally:
        writer.close()
    summarize(report)
    from data.check import format_problems

    problems = run_checker(writer, args.dataroot, args.phase)
    if problems:
        print(format_problems(problems))
        return 1
    print(f"dataset {args.dataroot} ({args.phase}, sequence {seq}): written and checked, no problems found")
    return 0


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main, returns_code=True))
