"""Street mode: a raw video -> ``<phase>_A`` (label ids), ``<phase>_inst`` (instance ids), ``<phase>_B`` (photos).

:class:`StreetLabeler` turns one frame into its two maps; :func:`prepare_street` writes a whole sequence
(resumable: frames whose three files exist are skipped; atomic: each file complete or absent). Both back-ends
load local weights only (:mod:`data.prepare.segmenters`, :mod:`data.prepare.instances`).

``python -m data.prepare.street VIDEO --dataroot D --seg_model S [--inst_model M]`` runs it alone; the street
mode of ``scripts/prepare_video.py`` calls :func:`prepare_street`.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from typing import Iterable, Optional, Sequence

import numpy as np
import torch

from data.prepare.files import save_image_atomic
from data.prepare.instances import InstanceDetector
from data.prepare.segmenters import Segmenter, load_segmenter

LABEL_NC = 35  # the --label_nc the written maps are for


@dataclass(frozen=True)
class StreetMaps:
    """A frame's street inputs: ``labels`` (H, W) uint8 label ids, ``instances`` (H, W) uint16 ids or None."""

    labels: np.ndarray
    instances: Optional[np.ndarray]


class StreetLabeler:
    """Segmenter plus optional instance detector.

    Args:
        seg_model: ``--seg_model`` path (SegFormer folder or DeepLabV3 state dict).
        inst_model: ``--inst_model`` path (torchvision Mask R-CNN COCO state dict), or None for no instances.
        device: Where both networks run.
        inst_threshold: Lowest detection score kept.
    """

    def __init__(self, seg_model: str, inst_model: Optional[str] = None, device: torch.device | str = "cpu",
                 inst_threshold: float = 0.5) -> None:
        self.segmenter: Segmenter = load_segmenter(seg_model, device)
        self.detector = InstanceDetector(inst_model, device, inst_threshold) if inst_model else None

    def __call__(self, rgb: np.ndarray) -> StreetMaps:
        """(H, W, 3) uint8 RGB frame -> its label map and instance map."""
        labels = self.segmenter(rgb)
        return StreetMaps(labels, self.detector(rgb, labels) if self.detector is not None else None)


def street_paths(dataroot: str, phase: str, seq: str, index: int, with_instances: bool) -> dict[str, str]:
    """Files of frame ``index``, keyed ``"A"``, ``"inst"`` (when written) and ``"B"``."""
    name = f"frame{index:06d}"
    paths = {"A": os.path.join(dataroot, f"{phase}_A", seq, f"{name}.png"),
             "B": os.path.join(dataroot, f"{phase}_B", seq, f"{name}.jpg")}
    if with_instances:
        paths["inst"] = os.path.join(dataroot, f"{phase}_inst", seq, f"{name}.png")
    return paths


def write_street_frame(paths: dict[str, str], rgb: np.ndarray, maps: StreetMaps) -> None:
    """Write one frame's photo, label map and instance map (each atomically; the photo last)."""
    save_image_atomic(maps.labels, paths["A"])
    if "inst" in paths and maps.instances is not None:
        save_image_atomic(maps.instances, paths["inst"])
    save_image_atomic(rgb, paths["B"])


def prepare_street(frames: Iterable[np.ndarray], labeler: StreetLabeler, dataroot: str, phase: str, seq: str,
                   total: Optional[int] = None) -> int:
    """Label every frame and write the street layout of one sequence; frames already written are skipped.

    Args:
        frames: (H, W, 3) uint8 RGB frames in order.
        labeler: The loaded back-ends.
        dataroot, phase, seq: Where: ``<dataroot>/<phase>_{A,inst,B}/<seq>/frameNNNNNN.*``.
        total: Frame count for the progress bar, when known.

    Returns:
        The number of frames in the sequence.
    """
    from tqdm import tqdm

    count = 0
    for index, rgb in enumerate(tqdm(frames, total=total, desc=f"street {seq}", unit="frame")):
        paths = street_paths(dataroot, phase, seq, index, labeler.detector is not None)
        if not all(os.path.isfile(p) for p in paths.values()):
            write_street_frame(paths, rgb, labeler(rgb))
        count += 1
    return count


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Write a street dataset sequence (label ids, instance ids, "
                                     "photos) from a video or a folder of frames.")
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument("--dataroot", required=True, help="dataset root to write into")
    parser.add_argument("--phase", default="train", help="train or test (folder prefix)")
    parser.add_argument("--seq", default=None, help="sequence name (default: the input's name)")
    parser.add_argument("--seg_model", required=True, help="SegFormer folder or DeepLabV3 .pth (Cityscapes)")
    parser.add_argument("--inst_model", default=None, help="torchvision Mask R-CNN COCO .pth (instance maps)")
    parser.add_argument("--inst_threshold", type=float, default=0.5, help="lowest detection score kept (0-1)")
    parser.add_argument("--device", default="cpu", help="torch device, e.g. cpu or cuda:0")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Label a video into ``<dataroot>/<phase>_{A,inst,B}/<seq>``; weights are loaded before any frame is read."""
    from util.video import count_video_frames, read_video_frames

    args = parse_args(argv)
    if not os.path.exists(args.input):
        raise FileNotFoundError(f"{args.input}: no such video file or folder")
    labeler = StreetLabeler(args.seg_model, args.inst_model, args.device, args.inst_threshold)
    seq = args.seq or os.path.splitext(os.path.basename(os.path.normpath(args.input)))[0]
    count = prepare_street(read_video_frames(args.input), labeler, args.dataroot, args.phase, seq,
                           count_video_frames(args.input))
    print(f"wrote {count} frames of {seq} under {args.dataroot} (label ids for --label_nc {LABEL_NC})")
    return 0


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
