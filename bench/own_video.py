"""Accuracy and cost of the own-video back-ends on the shared samples (the tables of docs/own-video.md).

- pose: MediaPipe Holistic mapped to OpenPose BODY_25 + face + hands against the real OpenPose JSON of the 5 frames
  of ``../shared/datasets/pose`` (1920x1080): PCK at 0.05 and 0.1 of the person's height (vertical extent of
  OpenPose's confident body joints), for the body, face and hand points OpenPose reports;
- face: MediaPipe FaceMesh mapped to dlib's 68 points against the dlib landmarks of ``../shared/datasets/face``
  (640x480): mean distance / inter-ocular distance, per region;
- cost: wall seconds per frame of each back-end (the first frame, which loads the graph, excluded).

Usage: ``python bench/own_video.py [--shared ../shared]``; prints Markdown tables.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data import keypoints as kp  # noqa: E402
from data.detect.accuracy import face_errors, mean_error, pck, person_height  # noqa: E402


def frames(folder: Path) -> list[tuple[Path, np.ndarray]]:
    """(path, RGB frame) of every .jpg of the folder's one sequence, in order."""
    seq = next(p for p in sorted(folder.iterdir()) if p.is_dir())
    return [(p, np.asarray(Image.open(p).convert("RGB"))) for p in sorted(seq.glob("*.jpg"))]


def timed(detector, images: list[np.ndarray]) -> tuple[list, float]:
    """Detections of every image and the mean seconds per frame after the first."""
    results, seconds = [], []
    for image in images:
        start = time.perf_counter()
        results.append(detector(image))
        seconds.append(time.perf_counter() - start)
    return results, float(np.mean(seconds[1:]))


def pose_pairs(shared: Path) -> tuple[list[tuple[dict, dict]], float]:
    """(MediaPipe person, OpenPose person) per frame of the pose sample, and seconds per frame."""
    from data.detect.mediapipe_backend import MediaPipePose

    sample = frames(shared / "datasets" / "pose" / "train_img")
    people, seconds = timed(MediaPipePose(), [image for _, image in sample])
    references = [kp.read_openpose_json(Path(str(p).replace("train_img", "train_openpose")).with_suffix(".json"))[0]
                  for p, _ in sample]
    return list(zip(people, references)), seconds


def face_pairs(shared: Path, backend: str) -> tuple[list[tuple[np.ndarray, np.ndarray]], float]:
    """(back-end landmarks, dlib reference) per frame of the face sample, and seconds per frame."""
    from data.prepare.face import FACE_BACKENDS

    sample = frames(shared / "datasets" / "face" / "train_img")
    points, seconds = timed(FACE_BACKENDS[backend].load(), [image for _, image in sample])
    references = [kp.read_face_landmarks(Path(str(p).replace("train_img", "train_keypoints")).with_suffix(".txt"))
                  for p, _ in sample]
    return list(zip(points, references)), seconds


def pose_table(pairs: list[tuple[dict, dict]]) -> str:
    height = np.mean([person_height(reference["pose"]) for _, reference in pairs])
    rows = [f"Person height (OpenPose joints' extent): {height:.0f} px\n",
            "| points | OpenPose points counted | PCK@0.02 (new) | PCK@0.05 | PCK@0.1 | mean error where both (px) |",
            "| --- | --- | --- | --- | --- | --- |"]
    for part in ("body", "face", "hands"):
        (p02, n), (p05, _), (p10, _) = (pck(pairs, part, a) for a in (0.02, 0.05, 0.1))
        rows.append(f"| {part} | {n} | {p02:.3f} | {p05:.3f} | {p10:.3f} | {mean_error(pairs, part):.1f} |")
    return "\n".join(rows)


def face_table(errors: dict[str, dict[str, float]]) -> str:
    regions = list(next(iter(errors.values())))
    rows = ["| back-end | " + " | ".join(regions) + " |", "| --- |" + " --- |" * len(regions)]
    for name, values in errors.items():
        rows.append(f"| {name} | " + " | ".join(f"{values[r]:.3f}" for r in regions) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", default=str(Path(__file__).resolve().parent.parent.parent / "shared"))
    args = parser.parse_args(argv)
    shared = Path(args.shared)
    pairs, pose_seconds = pose_pairs(shared)
    print("MediaPipe Holistic -> OpenPose, against OpenPose on the 5 pose frames (1920x1080)\n")
    print(pose_table(pairs))
    errors, costs = {}, {"MediaPipe Holistic (pose, 1920x1080)": pose_seconds}
    for backend in ("mediapipe", "dlib"):
        face, seconds = face_pairs(shared, backend)
        costs[f"{backend} (face, 640x480)"] = seconds
        if backend == "mediapipe":
            errors["MediaPipe FaceMesh -> 68"] = face_errors(face)
        else:
            errors["dlib (this project's back-end)"] = face_errors(face)
    print("\nMean distance / inter-ocular distance against the sample's dlib landmarks (5 frames, 640x480)\n")
    print(face_table(errors))
    print("\n| back-end | seconds per frame |\n| --- | --- |")
    for name, seconds in costs.items():
        print(f"| {name} | {seconds:.3f} |")


if __name__ == "__main__":
    main()
