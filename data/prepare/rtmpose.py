"""RTMPose / DWPose whole-body keypoints from local ONNX files through onnxruntime -> OpenPose people.

``--pose_model PATH``: a top-down whole-body model with SimCC outputs, e.g. DWPose's ``dw-ll_ucoco_384.onnx``
(input ``input`` (1, 3, 384, 288), outputs ``simcc_x`` (1, 133, 576) and ``simcc_y`` (1, 133, 768)) or an
RTMPose / RTMW whole-body model exported by MMDeploy (``rtmw-*-cocktail14_*-384x288`` or ``rtmpose-*_
coco-wholebody-256x192``). The input size and the SimCC split ratio are read from the model's shapes.

Person boxes: ``--det_model PATH``, a YOLOX ONNX detector as DWPose ships it (``yolox_l.onnx``: input ``images``
(1, 3, 640, 640), raw output (1, 8400, 85) decoded here: grids, objectness x class score, NMS); without it, the
**whole frame is one person box** (right for a single dancer filling the frame, wrong for several people).

Per box (MMPose's top-down pipeline, written from its description): the box is padded by 1.25, widened to the
model's aspect ratio, cut out by an affine warp (bilinear) to the input size, normalised with ImageNet mean / std
in RGB (MMPose trains with ``bgr_to_rgb``); the SimCC vectors are decoded by their argmax (score: the smaller of
the two maxima), divided by the split ratio and mapped back through the box. The 133 COCO-WholeBody points become
BODY_25 + 70 face + 2 x 21 hand points (:mod:`data.prepare.wholebody`); points scoring below ``threshold`` are
written as missing (confidence 0), the others with their score clipped to 1.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional

import cv2
import numpy as np

from data.prepare.wholebody import Person, from_wholebody133
from util.checkpoint import CheckpointError

POSE_HINT = ("download a whole-body RTMPose / DWPose ONNX model, e.g. dw-ll_ucoco_384.onnx (the DWPose release on "
             "the Hugging Face hub, yzd-v/DWPose) or an RTMW ONNX export from MMPose's RTMPose page, and pass it with "
             "--pose_model")
DET_HINT = ("download DWPose's person detector yolox_l.onnx (Hugging Face hub, yzd-v/DWPose) and pass it with "
            "--det_model, or leave --det_model out to use the whole frame as the person box")
PAD = 1.25
MEAN = np.array([123.675, 116.28, 103.53], dtype=np.float32)
STD = np.array([58.395, 57.12, 57.375], dtype=np.float32)
N_WHOLEBODY = 133
YOLOX_STRIDES = (8, 16, 32)
YOLOX_PAD_VALUE = 114.0


def probe_onnxruntime() -> None:
    """Raise ImportError, naming the install, when onnxruntime is missing."""
    try:
        import onnxruntime  # noqa: F401
    except ImportError as err:
        raise ImportError(f"the rtmpose back-end needs onnxruntime ({err}): pip install -e '.[pose]'") from err


def onnx_session(path: str, flag: str, hint: str):
    """An onnxruntime CPU session for ``path``; one ``error:`` naming the file and where to get it otherwise."""
    if not os.path.isfile(path):
        raise CheckpointError(f"{flag}: file not found: {path}. {hint}")
    try:
        import onnxruntime
    except ImportError as err:
        raise CheckpointError(f"{flag} {path} needs onnxruntime: pip install -e .[pose]") from err
    try:
        return onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    except Exception as err:  # noqa: BLE001 - any load failure means an unusable file
        raise CheckpointError(f"{flag} {path}: onnxruntime cannot load it ({type(err).__name__}: {err}). "
                              + hint) from err


# ---------------------------------------------------------------- boxes, crops, SimCC
@dataclass(frozen=True)
class Crop:
    """Where a model input came from: box centre (x, y) and size (w, h) in frame pixels, after padding and
    widening to the model's aspect ratio."""

    center: np.ndarray
    scale: np.ndarray


def box_to_crop(box: np.ndarray, input_size: tuple[int, int]) -> Crop:
    """(4,) box ``x0, y0, x1, y1`` -> its crop: padded by :data:`PAD`, grown to the aspect ratio of
    ``input_size`` = (width, height)."""
    x0, y0, x1, y1 = np.asarray(box, dtype=np.float64)
    width, height = (x1 - x0) * PAD, (y1 - y0) * PAD
    aspect = input_size[0] / input_size[1]
    if width > height * aspect:
        height = width / aspect
    else:
        width = height * aspect
    return Crop(np.array([(x0 + x1) / 2, (y0 + y1) / 2]), np.array([width, height]))


def crop_matrix(crop: Crop, input_size: tuple[int, int]) -> np.ndarray:
    """(2, 3) affine matrix taking frame pixels to model-input pixels (scale, then centre on the input)."""
    factor = input_size[0] / crop.scale[0]
    return np.array([[factor, 0.0, input_size[0] / 2 - factor * crop.center[0]],
                     [0.0, factor, input_size[1] / 2 - factor * crop.center[1]]])


def crop_input(rgb: np.ndarray, crop: Crop, input_size: tuple[int, int]) -> np.ndarray:
    """(H, W, 3) uint8 RGB frame -> (1, 3, h, w) float32 normalised model input of the crop."""
    patch = cv2.warpAffine(rgb, crop_matrix(crop, input_size), input_size, flags=cv2.INTER_LINEAR)
    return ((patch.astype(np.float32) - MEAN) / STD).transpose(2, 0, 1)[None]


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, split_ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """SimCC vectors -> keypoints in model-input pixels and scores.

    Args:
        simcc_x: (K, Wx) scores along x, Wx = input width * split ratio.
        simcc_y: (K, Wy) scores along y.
        split_ratio: Bins per input pixel.

    Returns:
        (K, 2) x, y (-1 where the score is <= 0) and (K,) scores (the smaller of the two maxima).
    """
    locations = np.stack([simcc_x.argmax(1), simcc_y.argmax(1)], axis=1).astype(np.float64) / split_ratio
    scores = np.minimum(simcc_x.max(1), simcc_y.max(1)).astype(np.float64)
    locations[scores <= 0] = -1
    return locations, scores


def to_frame(points: np.ndarray, crop: Crop, input_size: tuple[int, int]) -> np.ndarray:
    """(K, 2) model-input pixels -> (K, 2) frame pixels (inverse of :func:`crop_matrix`)."""
    return points / np.asarray(input_size, dtype=np.float64) * crop.scale + crop.center - crop.scale / 2


# ---------------------------------------------------------------- YOLOX person boxes
def outside_frame_missing(keypoints: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """(K, 3) ``x, y, score`` with points outside the (H, W) frame set to OpenPose's "not found" (0, 0, 0).

    The crop around a person is padded (and, without a detector, larger than the frame), so SimCC can place a point
    where the network saw only padding; such a point was never seen and would fail the dataset check."""
    height, width = frame_size
    x, y = keypoints[:, 0], keypoints[:, 1]
    outside = (x < 0) | (y < 0) | (x > width - 1) | (y > height - 1)
    return np.where(outside[:, None], 0.0, keypoints)


def letterbox(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """(H, W, 3) RGB -> (1, 3, h, w) float32 BGR 0-255 input, resized by ``ratio`` into the top-left corner
    of a grey (114) canvas of ``size`` = (w, h), as YOLOX was trained; also ``ratio``."""
    ratio = min(size[1] / rgb.shape[0], size[0] / rgb.shape[1])
    new_w, new_h = int(rgb.shape[1] * ratio), int(rgb.shape[0] * ratio)
    canvas = np.full((size[1], size[0], 3), YOLOX_PAD_VALUE, dtype=np.float32)
    canvas[:new_h, :new_w] = cv2.resize(rgb[..., ::-1], (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    return canvas.transpose(2, 0, 1)[None], ratio


def yolox_grid(size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(A, 2) cell offsets and (A, 1) strides of YOLOX's anchors for an input ``size`` = (w, h)."""
    grids, strides = [], []
    for stride in YOLOX_STRIDES:
        xs, ys = np.meshgrid(np.arange(size[0] // stride), np.arange(size[1] // stride))
        grids.append(np.stack([xs, ys], axis=-1).reshape(-1, 2))
        strides.append(np.full((grids[-1].shape[0], 1), stride))
    return np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)


def decode_yolox(raw: np.ndarray, size: tuple[int, int], ratio: float, score_threshold: float,
                 iou_threshold: float) -> np.ndarray:
    """Raw YOLOX output (A, 5 + classes) -> (N, 4) person boxes ``x0, y0, x1, y1`` in frame pixels, best first."""
    import torch
    from torchvision.ops import nms

    grid, stride = yolox_grid(size)
    if raw.shape[0] != grid.shape[0]:
        raise CheckpointError(f"--det_model: {raw.shape[0]} anchors, but a raw YOLOX output at {size[0]}x{size[1]} "
                              f"has {grid.shape[0]} (export it without decode_in_inference). {DET_HINT}")
    centers = (raw[:, :2] + grid) * stride
    sizes = np.exp(raw[:, 2:4]) * stride
    boxes = np.concatenate([centers - sizes / 2, centers + sizes / 2], axis=1) / ratio
    scores = raw[:, 4] * raw[:, 5]  # objectness x person (COCO class 0)
    keep = scores > score_threshold
    boxes, scores = boxes[keep], scores[keep]
    order = nms(torch.from_numpy(boxes).float(), torch.from_numpy(scores).float(), iou_threshold).numpy()
    return boxes[order]


class PersonDetector:
    """YOLOX ONNX person detector (``--det_model``).

    Args:
        path: The ONNX file.
        score_threshold: Lowest objectness x person score kept.
        iou_threshold: NMS overlap above which the weaker box goes.
    """

    def __init__(self, path: str, score_threshold: float = 0.3, iou_threshold: float = 0.45) -> None:
        self.session = onnx_session(path, "--det_model", DET_HINT)
        height, width = self.session.get_inputs()[0].shape[2:]
        self.size = (int(width), int(height))
        self.score_threshold, self.iou_threshold = score_threshold, iou_threshold

    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (N, 4) person boxes, best first."""
        image, ratio = letterbox(rgb, self.size)
        raw = self.session.run(None, {self.session.get_inputs()[0].name: image})[0][0]
        return decode_yolox(raw, self.size, ratio, self.score_threshold, self.iou_threshold)


def whole_frame_box(rgb: np.ndarray) -> np.ndarray:
    """(1, 4) box covering the frame (the fallback without ``--det_model``)."""
    return np.array([[0.0, 0.0, rgb.shape[1], rgb.shape[0]]])


# ---------------------------------------------------------------- the pose model
class WholeBodyPose:
    """A top-down SimCC whole-body model (RTMPose, RTMW, DWPose) with its person boxes.

    Args:
        pose_model: ``--pose_model`` ONNX file.
        det_model: ``--det_model`` YOLOX ONNX file, or None for the whole-frame box.
        threshold: Keypoint score below which a point is written as missing.
        max_people: Most people kept per frame (best boxes first).
    """

    def __init__(self, pose_model: str, det_model: Optional[str] = None, threshold: float = 0.3,
                 max_people: int = 8) -> None:
        self.session = onnx_session(pose_model, "--pose_model", POSE_HINT)
        self.input_name = self.session.get_inputs()[0].name
        height, width = self.session.get_inputs()[0].shape[2:]
        self.input_size = (int(width), int(height))
        outputs = [o.name for o in self.session.get_outputs()]
        self.output_names = ["simcc_x", "simcc_y"] if {"simcc_x", "simcc_y"} <= set(outputs) else outputs[:2]
        shapes = {o.name: o.shape for o in self.session.get_outputs()}
        x_bins, keypoints = shapes[self.output_names[0]][2], shapes[self.output_names[0]][1]
        if keypoints != N_WHOLEBODY or not isinstance(x_bins, int):
            raise CheckpointError(f"--pose_model {pose_model}: outputs {shapes}; a whole-body SimCC model gives "
                                  f"simcc_x (1, {N_WHOLEBODY}, W*k) and simcc_y (1, {N_WHOLEBODY}, H*k). {POSE_HINT}")
        self.split_ratio = x_bins / self.input_size[0]
        self.detector = PersonDetector(det_model) if det_model else None
        self.threshold, self.max_people = threshold, max_people

    def keypoints(self, rgb: np.ndarray, box: np.ndarray) -> np.ndarray:
        """(133, 3) ``x, y, score`` in frame pixels for the person in ``box`` (raw scores)."""
        crop = box_to_crop(box, self.input_size)
        simcc_x, simcc_y = self.session.run(self.output_names, {self.input_name: crop_input(rgb, crop,
                                                                                            self.input_size)})
        points, scores = decode_simcc(simcc_x[0], simcc_y[0], self.split_ratio)
        return outside_frame_missing(np.concatenate([to_frame(points, crop, self.input_size), scores[:, None]],
                                                    axis=1), rgb.shape[:2])

    def people(self, rgb: np.ndarray) -> list[Person]:
        """Every person of an (H, W, 3) uint8 RGB frame as OpenPose arrays (empty when no box is found)."""
        boxes = self.detector(rgb) if self.detector is not None else whole_frame_box(rgb)
        found = []
        for box in boxes[: self.max_people]:
            points = self.keypoints(rgb, box)
            confident = points[:, 2] >= self.threshold
            points[:, 2] = np.where(confident, np.minimum(points[:, 2], 1.0), 0.0)
            points[~confident, :2] = 0.0
            found.append(from_wholebody133(points))
        return found


class RTMPoseDetector:
    """The ``pose --backend rtmpose`` detector of ``prepare_video``: the best-boxed person of a frame, or None
    when no body point reaches the threshold (the frame then counts as "no person": filled or dropped).

    Args:
        pose_model: ``--pose_model`` ONNX file (required).
        det_model: ``--det_model`` YOLOX ONNX file, or None for the whole-frame box.
        threshold: ``--pose_threshold``.
    """

    def __init__(self, pose_model: str, det_model: Optional[str] = None, threshold: float = 0.3) -> None:
        if not pose_model:
            raise CheckpointError(f"--backend rtmpose needs --pose_model FILE.onnx: {POSE_HINT}")
        self.model = WholeBodyPose(pose_model, det_model, threshold, max_people=1)

    def __call__(self, rgb: np.ndarray) -> Optional[Person]:
        people = [p for p in self.model.people(rgb) if (p["pose"][:, 2] > 0).any()]
        return people[0] if people else None


# ---------------------------------------------------------------- command line
def write_keypoint_folder(frames, model: WholeBodyPose, out_dir: str, total: Optional[int] = None) -> int:
    """One OpenPose JSON per frame (``frameNNNNNN.json``, atomic; existing files skipped). Returns the count."""
    import json
    from pathlib import Path

    from tqdm import tqdm

    from data.keypoints import openpose_json
    from data.prepare.files import write_atomic

    count = 0
    for index, rgb in enumerate(tqdm(frames, total=total, desc="rtmpose", unit="frame")):
        path = Path(out_dir) / f"frame{index:06d}.json"
        if not path.is_file():
            write_atomic(path, json.dumps(openpose_json(model.people(rgb))).encode())
        count += 1
    return count


def main(argv=None) -> int:
    """``python -m data.prepare.rtmpose VIDEO OUT --pose_model M [--det_model D]``: OpenPose JSON per frame."""
    import argparse

    from util.video import count_video_frames, read_video_frames

    parser = argparse.ArgumentParser(description="Whole-body keypoints (RTMPose / DWPose ONNX) of every frame of a "
                                     "video or frame folder, as OpenPose BODY_25 + face + hands JSON.")
    parser.add_argument("input", help="video file or folder of frames")
    parser.add_argument("output", help="folder for frameNNNNNN.json")
    parser.add_argument("--pose_model", required=True, help="whole-body SimCC ONNX model (e.g. dw-ll_ucoco_384.onnx)")
    parser.add_argument("--det_model", default=None, help="YOLOX person detector ONNX (default: whole-frame box)")
    parser.add_argument("--pose_threshold", type=float, default=0.3, help="lowest keypoint score kept (0-1)")
    args = parser.parse_args(argv)
    model = WholeBodyPose(args.pose_model, args.det_model, args.pose_threshold)
    if not os.path.exists(args.input):
        raise FileNotFoundError(f"{args.input}: no such video file or folder")
    count = write_keypoint_folder(read_video_frames(args.input), model, args.output, count_video_frames(args.input))
    print(f"wrote {count} OpenPose JSON files to {args.output}")
    return 0


if __name__ == "__main__":
    import sys

    from util.cli import run

    sys.exit(run(main))
