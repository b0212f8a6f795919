"""``--dataset_mode face``: edge-to-face, from dlib 68-point landmarks (reference ``data/face_dataset.py``).

Layout: ``<dataroot>/<phase>_keypoints/<seq>/*.txt`` (68 lines ``x,y``, written by
``data/face_landmark_detection.py``) and ``<dataroot>/<phase>_img/<seq>/*.jpg``, same sequences and counts.

Per frame the input ``A`` is ``[edges (1), distance maps (14)]`` in [0, 1] (``--input_nc 15``):
the 14 face polylines drawn as fitted curves (the upper face outline mirrored from the jaw), one
distance-transform map per polyline (``--no_dist_map`` drops them) and Canny edges of the background
(``--no_canny_edge`` drops them). Everything is cropped to a square around the face, computed from the
landmarks of the first frame of the clip (training) or of the sequence (test). ``inst`` is the part label map
(0 background .. 6 inner mouth), ``B`` the photo in [-1, 1].

Differences from the reference, on purpose:

- the test crop is computed per sequence; the reference kept the first test sequence's crop for the
  whole run (a ``hasattr`` guard);
- Canny edges come from OpenCV (``cv2.Canny`` after a sigma-1 Gaussian, thresholds 0.1 / 0.2 of the range,
  L2 gradient), not ``skimage.feature.canny``: a few background edge pixels differ;
- background edges are merged with a saturating maximum instead of a wrapping uint8 sum.

The reference applies no training-time change to the landmark shapes (its random ratio tables are commented
out); ``--random_scale_points`` moves parts at test only, with fixed ratios, as it does.
"""

from __future__ import annotations

import argparse
import os
import random
from typing import Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from data import keypoints as kp
from data.base_dataset import BaseDataset, stack_frames
from data.transforms import BILINEAR, TransformParams, get_params, transform_image, transform_label
from data.video_folder import IMG_EXTENSIONS, FrameSequence, find_sequences, pair_sequences

Box = tuple[int, int, int, int]


def face_crop_box(points: np.ndarray, size: tuple[int, int]) -> Box:
    """Square crop around the landmarks, 2.5 face widths wide, centred a little above the face centre.

    The box is shifted (not shrunk) to stay inside the frame; a box larger than the frame reaches past
    its far side, and cropping pads with black there.

    Args:
        points: (68, 2) landmarks, x then y (pixels).
        size: (width, height) of the frame.

    Returns:
        (left, top, right, bottom) in pixels, as for ``PIL.Image.crop``.
    """
    min_x, max_x = points[:, 0].min(), points[:, 0].max()
    min_y, max_y = points[:, 1].min(), points[:, 1].max()
    xc, yc = (min_x + max_x) // 2, (3 * min_y + max_y) // 4
    side = (max_x - min_x) * 2.5
    xc = min(max(0, xc - side // 2) + side, size[0]) - side // 2
    yc = min(max(0, yc - side // 2) + side, size[1]) - side // 2
    return int(xc - side // 2), int(yc - side // 2), int(xc + side // 2), int(yc + side // 2)


def canny_edges(gray: np.ndarray) -> np.ndarray:
    """Canny edges with the settings of ``skimage.feature.canny`` defaults, computed with OpenCV.

    Gaussian sigma 1, L2 Sobel magnitude, hysteresis at 0.1 / 0.2 of the intensity range, border
    pixels cleared. OpenCV smooths in 8 bits, so a few edge pixels differ from scikit-image.

    Args:
        gray: (H, W) uint8 grayscale image.

    Returns:
        (H, W) bool edge mask.
    """
    smooth = cv2.GaussianBlur(gray, (0, 0), sigmaX=1.0, sigmaY=1.0)
    edges = cv2.Canny(smooth, 0.1 * 255, 0.2 * 255, L2gradient=True) > 0
    edges[[0, -1], :] = False
    edges[:, [0, -1]] = False
    return edges


def crop_array(array: np.ndarray, box: Box) -> Image.Image:
    """Crop an (H, W) uint8 array to ``box`` as a PIL image (black outside the frame, like PIL)."""
    return Image.fromarray(array).crop(box)


LANDMARK_FIX = "re-run data/face_landmark_detection.py on its frame, or delete the frame and its keypoint file"
#: Smallest extent (pixels) of the 68 landmarks on each axis: the crop is 2.5 face widths wide.
MIN_FACE_EXTENT = 8


def read_checked_landmarks(path: str) -> np.ndarray:
    """Read a landmark file and check it can be drawn: 68 finite points spanning a face, not a dot.

    Raises:
        ValueError: a wrong line count, non-numbers, NaN / infinite values, or points (almost) on top of each
            other (the face crop would be empty); the path is named.
    """
    points = kp.read_face_landmarks(path)
    if not np.isfinite(points).all():
        raise ValueError(f"{path}: {int((~np.isfinite(points)).any(axis=1).sum())} landmark(s) are NaN or infinite")
    extent = np.ptp(points, axis=0)
    if extent.min() < MIN_FACE_EXTENT:
        raise ValueError(f"{path}: the 68 landmarks span only {extent[0]:g}x{extent[1]:g} pixels (at least "
                         f"{MIN_FACE_EXTENT} on each axis needed for a face crop)")
    return points


def discover(opt: argparse.Namespace) -> tuple[list[FrameSequence], list[FrameSequence]]:
    """(keypoint sequences, image sequences) of ``<phase>_keypoints`` / ``<phase>_img``, checked to match.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: the folders hold different sequences or frame counts.
    """
    roots = {"keypoints": os.path.join(opt.dataroot, f"{opt.phase}_keypoints"),
             "img": os.path.join(opt.dataroot, f"{opt.phase}_img")}
    groups = {"keypoints": find_sequences(roots["keypoints"], (".txt",)),
              "img": find_sequences(roots["img"], IMG_EXTENSIONS)}
    pair_sequences(groups, roots)
    images = {s.name: s for s in groups["img"]}
    return groups["keypoints"], [images[s.name] for s in groups["keypoints"]]


class FaceDataset(BaseDataset):
    """Edge maps of face landmarks -> face photos.

    Args:
        opt: Options (``dataroot``, ``phase``, ``isTrain``, ``no_dist_map``, ``no_canny_edge``,
            ``random_scale_points`` and the transform flags).

    Raises:
        ValueError: keypoint and image folders do not hold the same sequences and frame counts.
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        keypoints, images = discover(opt)
        self.sequences = [s.frames for s in keypoints]
        self.images = [s.frames for s in images]
        self._boxes: dict[int, Box] = {}

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """Every problem found before training or testing (``data/check.py`` hook): channel count, pairing,
        lengths, every photo decoded, every landmark file read and checked, the crop's size."""
        from data.check import root_problems
        from data.frame_checks import FolderSpec, Problem, check_folders, check_geometry

        expected = 1 if opt.no_dist_map else 1 + kp.N_FACE_POLYLINES
        problems = [] if opt.input_nc == expected else [
            Problem("--input_nc", f"the face mode draws {expected} input channels, not {opt.input_nc}",
                    f"--input_nc {expected}")]
        missing = root_problems(opt)
        if missing:
            return problems + missing
        specs = [FolderSpec("keypoints", os.path.join(opt.dataroot, f"{opt.phase}_keypoints"), "file",
                            "check --dataroot and --phase", extensions=(".txt",), reader=read_checked_landmarks,
                            fix=LANDMARK_FIX),
                 FolderSpec("img", os.path.join(opt.dataroot, f"{opt.phase}_img"), "photo",
                            "check --dataroot and --phase")]
        found_problems, found, infos = check_folders(opt, specs)
        if found_problems:
            return problems + found_problems
        sizes = {}
        for points, photos in zip(found["keypoints"], found["img"]):
            left, top, right, bottom = face_crop_box(kp.read_face_landmarks(points.frames[0]),
                                                     infos[photos.frames[0]].size)
            sizes[points.frames[0]] = get_params(opt, (right - left, bottom - top), rng=random.Random(0)).out_size
        return problems + check_geometry(opt, sizes)

    def frame_size(self, seq: int) -> tuple[int, int]:
        """(width, height) of the photos of sequence ``seq``."""
        with Image.open(self.images[seq][0]) as image:
            return image.size

    def crop_box(self, seq: int, frame: int) -> Box:
        """Face crop of frame ``frame`` of sequence ``seq`` (cached for each sequence's first frame)."""
        if frame == 0 and seq in self._boxes:
            return self._boxes[seq]
        box = face_crop_box(kp.read_face_landmarks(self.sequences[seq][frame]), self.frame_size(seq))
        if frame == 0:
            self._boxes[seq] = box
        return box

    def make_params(self, seq: int, rng: random.Random) -> TransformParams:
        """Transform parameters for the size of the sequence's first face crop (always a square)."""
        left, top, right, bottom = self.crop_box(seq, 0)
        return get_params(self.opt, (right - left, bottom - top), rng=rng)

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames of sequence ``seq`` -> ``A`` (T, 15, H, W) in [0, 1], ``B`` (T, 3, H, W) in [-1, 1],
        ``inst`` (T, 1, H, W) part labels 0..6, plus ``A_paths`` / ``B_paths``."""
        box = self.crop_box(seq, frames[0] if self.opt.isTrain else 0)
        inputs, images, labels = [], [], []
        for t in frames:
            photo = Image.open(self.images[seq][t]).convert("RGB")
            edge_input, label = self.face_input(self.sequences[seq][t], photo, box, params)
            inputs.append(edge_input)
            labels.append(label)
            images.append(transform_image(photo.crop(box), params))
        return {"A": stack_frames(inputs), "B": stack_frames(images), "inst": stack_frames(labels),
                "A_paths": [self.sequences[seq][t] for t in frames],
                "B_paths": [self.images[seq][t] for t in frames]}

    def face_input(self, keypoint_path: str, photo: Image.Image, box: Box, params: TransformParams
                   ) -> tuple[torch.Tensor, torch.Tensor]:
        """One frame's drawn input (15 or 1, H, W) and part labels (1, H, W) from its landmark file
        ``keypoint_path`` (see :func:`draw_face_input` for the other arguments)."""
        return draw_face_input(self.opt, kp.read_face_landmarks(keypoint_path), photo, box, params)


def draw_face_input(opt: argparse.Namespace, landmarks: np.ndarray, photo: Image.Image, box: Box,
                    params: TransformParams) -> tuple[torch.Tensor, torch.Tensor]:
    """One frame's drawn input and part labels from its 68 landmarks (also used for raw video input).

    Args:
        opt: Options (``isTrain``, ``random_scale_points``, ``no_dist_map``, ``no_canny_edge``).
        landmarks: (68, 2) x, y (pixels).
        photo: The frame's full RGB photo (for its size and the background edges).
        box: Face crop (left, top, right, bottom).
        params: The clip's transform parameters.

    Returns:
        input: (1 + 14, H, W) in [0, 1] (1 channel with ``--no_dist_map``).
        labels: (1, H, W) part labels 0..6.
    """
    points = kp.add_upper_face(landmarks)
    part_labels = kp.face_part_labels(points, photo.size)
    if not opt.isTrain and opt.random_scale_points:
        points = kp.scale_face_parts(points)
    edges, dist_maps = kp.draw_face_edges(points, photo.size, with_dist_maps=not opt.no_dist_map)
    if not opt.no_canny_edge:
        background = canny_edges(np.asarray(photo.convert("L"))) & (part_labels == 0)
        edges = np.maximum(edges, background.astype(np.uint8) * 255)
    channels = [transform_image(crop_array(m, box), params, BILINEAR, normalize=False)
                for m in [edges] + dist_maps]
    return torch.cat(channels, dim=0), transform_label(crop_array(part_labels, box), params)
