"""Convert keypoint files you already have into the OpenPose BODY_25 + face + hands JSON the ``pose`` mode reads.

Usage::

    python scripts/convert_keypoints.py alphapose-results.json --output datasets/dance/train_openpose/clip
    python scripts/convert_keypoints.py dwpose_json/ --output datasets/dance/train_openpose/clip
    python scripts/convert_keypoints.py mediapipe/ --output out/ --width 1920 --height 1080

The input is one JSON file (many frames: AlphaPose / MMPose results, COCO annotations, an MMPose video file) or a
folder of per-frame JSON files (names kept). Layouts (told from the content, or forced with ``--format``):
COCO-17, COCO-WholeBody-133 and Halpe-136 results (AlphaPose, MMPose), COCO(-WholeBody) annotations, MMPose
predictions, OpenPose-style JSON with an 18-point body (ControlNet's OpenPose / DWPose annotators) and MediaPipe
Pose landmarks (normalised: give ``--width`` / ``--height``). See :mod:`data.prepare.keypoint_formats`.

Neck and mid-hip are the midpoints of the shoulders and hips; layouts without feet, face or hands leave those
points missing (confidence 0). Every input is read and converted before anything is written; an unknown layout is
one ``error:`` line naming the file, exit 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Optional, Sequence

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.prepare.keypoint_formats import READERS, Frames, KeypointFormatError, convert_document  # noqa: E402


def input_files(source: str) -> list[str]:
    """The JSON files of ``source`` (a file, or a folder's ``*.json`` in natural order)."""
    from util.video import natural_key

    if os.path.isdir(source):
        names = sorted((n for n in os.listdir(source) if n.lower().endswith(".json")), key=natural_key)
        if not names:
            raise FileNotFoundError(f"{source}: no .json files in this folder")
        return [os.path.join(source, n) for n in names]
    if not os.path.isfile(source):
        raise FileNotFoundError(f"{source}: no such keypoint file or folder")
    return [source]


def load_json(path: str) -> object:
    """A JSON document; a file that is not JSON is a :class:`KeypointFormatError` naming it."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise KeypointFormatError(f"{path}: not a JSON file ({err})") from None


def convert_all(files: list[str], size: Optional[tuple[int, int]], fmt: Optional[str]) -> Frames:
    """Every frame of every file (frame names must not repeat across files)."""
    frames: Frames = {}
    for path in files:
        converted = convert_document(load_json(path), path, size, fmt)
        repeated = set(converted) & set(frames)
        if repeated:
            raise KeypointFormatError(f"{path}: frame {sorted(repeated)[0]} also comes from another file")
        frames.update(converted)
    return frames


def write_frames(frames: Frames, output: str) -> None:
    """One OpenPose JSON per frame, ``<output>/<frame>_keypoints.json`` (atomic writes)."""
    from data.prepare.files import write_atomic
    from data.prepare.pose import openpose_json

    for name, people in frames.items():
        write_atomic(Path(output) / f"{name}_keypoints.json", json.dumps(openpose_json(people)).encode())


def main(argv: Sequence[str] | None = None) -> int:
    """Convert and write; returns the number of frames written."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("input", help="a keypoint JSON file, or a folder of per-frame JSON files")
    parser.add_argument("--output", required=True, help="folder for the OpenPose JSON files (one per frame)")
    parser.add_argument("--format", default="auto", choices=["auto", *READERS], help="input layout (default: detect)")
    parser.add_argument("--width", type=int, default=None, help="frame width in pixels (normalised landmarks)")
    parser.add_argument("--height", type=int, default=None, help="frame height in pixels (normalised landmarks)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    if (args.width is None) != (args.height is None):
        parser.error("give both --width and --height, or neither")
    size = (args.width, args.height) if args.width is not None else None
    frames = convert_all(input_files(args.input), size, None if args.format == "auto" else args.format)
    write_frames(frames, args.output)
    people = sum(len(p) for p in frames.values())
    print(f"wrote {len(frames)} OpenPose JSON files ({people} people) to {args.output}")
    return len(frames)


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
