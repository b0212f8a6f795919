"""Test input from one video file or one folder of frames (``--input_video PATH``).

test.py switches to this mode when ``--input_video`` is given. Frames are decoded as they are asked for, in
order, so a long video is never held in memory. With ``--label_nc > 0`` each frame is turned back into label
ids: grey frames hold the ids themselves; colour frames are mapped to the nearest colour of the label palette
(the colours ``util.image`` uses for ``--label_nc``), which also absorbs video compression noise.

With ``--use_instance`` the instance maps come from ``--input_instances PATH`` (new), a second video or folder
with one frame per input frame: a folder of one-channel PNGs (8- or 16-bit, e.g. Cityscapes' ``label * 1000 + k``
ids) is read exactly; a video's colours are quantised to 8 levels per channel (:func:`colors_to_instance_ids`), so
compression noise rarely adds edges, but a lossless folder is the exact route.

With ``--seg_model PATH`` (new) the video is raw street footage instead: each frame is segmented on the fly into
Cityscapes label ids (and with ``--use_instance``, ``--inst_model PATH`` gives its instance map), by the back-ends of
``prepare_video --mode street`` (:mod:`data.prepare.street`), one frame at a time.
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Sequence

import cv2
import numpy as np
import torch
from PIL import Image

from data.base_dataset import BaseDataset, stack_frames
from data.frame_source import IndexedFrames, video_length
from data.transforms import ID_MODES, TransformParams, transform_image, transform_label
from util.image import label_colormap

logger = logging.getLogger(__name__)

INSTANCE_LEVELS = 8  # levels per colour channel when a video's colours become instance ids


def colors_to_ids(frame: np.ndarray, n_labels: int) -> np.ndarray:
    """(H, W, 3) uint8 frame -> (H, W) uint8 label ids (grey values, or the nearest palette colour)."""
    if np.array_equal(frame[..., 0], frame[..., 1]) and np.array_equal(frame[..., 1], frame[..., 2]):
        return np.minimum(frame[..., 0], n_labels - 1).astype(np.uint8)
    return palette_ids(frame, n_labels)


def palette_ids(frame: np.ndarray, n_labels: int) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) uint8 id of the nearest colour of the label palette (the lowest id
    where several ids share a colour)."""
    palette = label_colormap(n_labels).astype(np.int32)
    distances = ((frame.reshape(-1, 1, 3).astype(np.int32) - palette[None]) ** 2).sum(-1)
    return distances.argmin(1).reshape(frame.shape[:2]).astype(np.uint8)


#: Share of a grey frame's pixels above the largest label id that marks a photo video, not a label video (a
#: compressed label video overshoots the ids only at a few edge pixels).
NOT_LABELS_SHARE = 0.02


def grey_above_ids(frame: np.ndarray, label_nc: int) -> tuple[float, int]:
    """(share of pixels >= ``label_nc``, highest value) of an (H, W, 3) grey frame; (0, 0) for a colour frame
    or without labels: :func:`colors_to_ids` reads grey values as ids and clamps the others."""
    if label_nc <= 0 or not (np.array_equal(frame[..., 0], frame[..., 1])
                             and np.array_equal(frame[..., 1], frame[..., 2])):
        return 0.0, 0
    return float((frame[..., 0] >= label_nc).mean()), int(frame[..., 0].max())


def decode_all(path: str, label_nc: int) -> tuple[int, float, int]:
    """Decode every frame of a video once (a truncated file fails here, before any work).

    Returns:
        (frames decoded, the largest share of a grey frame's pixels with values >= ``label_nc``, the highest
        value of those frames; see :func:`grey_above_ids`).
    """
    capture, decoded, share, high = cv2.VideoCapture(path), 0, 0.0, 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                return decoded, share, high
            decoded += 1
            frame_share, frame_high = grey_above_ids(frame, label_nc)
            share, high = max(share, frame_share), max(high, frame_high)
    finally:
        capture.release()


def not_labels_problem(source: str, share: float, high: int, label_nc: int) -> list:
    """A problem when grey frames hold values far above the label ids (a photo video given as labels)."""
    from data.frame_checks import Problem

    if share <= NOT_LABELS_SHARE:
        return []
    return [Problem(source, f"grey frames with values up to {high} ({share:.0%} of a frame's pixels >= {label_nc}), "
                    f"but --label_nc {label_nc} takes ids 0..{label_nc - 1}: this is not a label video (a photo "
                    f"video?); every id above {label_nc - 1} would become {label_nc - 1}", "give a video of label ids "
                    "(grey values) or label colours; for an image-input model pass --label_nc 0 --input_nc 3")]


def colors_to_instance_ids(frame: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 video frame -> (H, W) uint16 ids: each channel rounded to :data:`INSTANCE_LEVELS` levels,
    packed (only where neighbouring ids differ matters: the instance edge map)."""
    step = 256 // INSTANCE_LEVELS
    levels = np.minimum((frame.astype(np.int32) + step // 2) // step, INSTANCE_LEVELS - 1)
    return (levels[..., 0] * INSTANCE_LEVELS ** 2 + levels[..., 1] * INSTANCE_LEVELS + levels[..., 2]).astype(np.uint16)


def instance_image(image: Image.Image) -> Image.Image:
    """An instance frame as a one-channel image of ids: one-channel images as they are, colour ones packed."""
    if image.mode in ID_MODES:
        return image
    return Image.fromarray(colors_to_instance_ids(np.asarray(image.convert("RGB"))))


class VideoDataset(BaseDataset):
    """One sequence: the frames of ``--input_video`` (a video file or a folder of images), and with
    ``--use_instance`` the instance maps of ``--input_instances``.

    Items are single frames (test only), with ``"A"`` (1, C, H, W) as :class:`data.test_dataset.TestDataset`
    and ``"inst"`` (1, 1, H, W) ids with ``--use_instance``.
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        source = opt.input_video
        if opt.isTrain or not source:
            raise ValueError("--dataset_mode video is for test.py with --input_video PATH")
        self.segmented = bool(getattr(opt, "seg_model", ""))
        instances_from_model = self.segmented and bool(getattr(opt, "inst_model", ""))
        if opt.use_instance and not getattr(opt, "input_instances", "") and not instances_from_model:
            raise ValueError(f"--input_video {source}: a video holds no instance maps, but --use_instance asks "
                             "for them; give them with --input_instances <video or folder>")
        self.source = IndexedFrames(source, "--input_video")
        self.instances = (IndexedFrames(opt.input_instances, "--input_instances")
                          if opt.use_instance and not instances_from_model else None)
        self._labeler = None  # built on first use, in the process (or data-loader worker) that reads
        if self.instances is not None and len(self.instances) != len(self.source):
            raise ValueError(f"--input_instances {opt.input_instances}: {len(self.instances)} frames but "
                             f"--input_video {source} has {len(self.source)}; give one instance map per frame")
        self.count = len(self.source)
        stem = os.path.splitext(os.path.basename(os.path.normpath(source)))[0]
        self.sequences = [[os.path.join(stem, f"frame{i:06d}.png") for i in range(self.count)]]

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """``--input_instances``: the instance maps that go with ``--input_video``; ``--seg_model`` /
        ``--inst_model``: segment a raw street video on the fly instead."""
        parser.add_argument("--input_instances", type=str, default="",
                            help="(new) with --input_video and --use_instance: a video file or folder of instance "
                                 "maps, one per input frame (a folder of 1-channel PNGs is read exactly)")
        parser.add_argument("--seg_model", type=str, default="",
                            help="(new) with --input_video: the video is raw street footage, segmented per frame "
                                 "into Cityscapes label ids by this SegFormer folder or DeepLabV3 .pth")
        parser.add_argument("--inst_model", type=str, default="",
                            help="(new) with --seg_model and --use_instance: torchvision Mask R-CNN COCO .pth for "
                                 "the instance maps")
        return parser

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """Problems of ``--input_video`` (and ``--input_instances``) found before the model is built
        (``data/check.py`` hook): a missing source or instance maps, an unreadable video, different frame
        counts, and for a frame folder every frame decoded."""
        from data.frame_checks import Problem

        segmenting = bool(getattr(opt, "seg_model", ""))
        instances_from_model = segmenting and bool(getattr(opt, "inst_model", ""))
        instances = getattr(opt, "input_instances", "") if opt.use_instance and not instances_from_model else ""
        if opt.use_instance and not instances and not instances_from_model:
            return [Problem(opt.input_video, "a video holds no instance maps, but --use_instance asks for them",
                            "give them with --input_instances <video or folder> (or --inst_model with "
                            "--seg_model), or drop --use_instance")]
        problems, count = VideoDataset.source_problems(opt, opt.input_video, "--input_video", "image")
        problems += VideoDataset.segmenter_problems(opt) if segmenting else []
        if count is not None and count < opt.n_frames_G:
            problems.append(Problem(opt.input_video, f"{count} frames; --n_frames_G {opt.n_frames_G} needs at "
                                    f"least {opt.n_frames_G}", "use a longer video"))
        if instances:
            inst_problems, inst_count = VideoDataset.source_problems(opt, instances, "--input_instances", "inst")
            problems += inst_problems
            if count is not None and inst_count is not None and inst_count != count:
                problems.append(Problem(instances, f"{inst_count} instance maps but {count} input frames",
                                        "give one instance map per frame of --input_video"))
        return problems

    @staticmethod
    def segmenter_problems(opt: argparse.Namespace) -> list:
        """A ``--seg_model`` / ``--inst_model`` that is missing, or a ``--label_nc`` too small for label ids."""
        from data.cityscapes_ids import N_LABEL_IDS
        from data.frame_checks import Problem
        from data.prepare.instances import MASKRCNN_HINT
        from data.prepare.segmenters import segmenter_kind
        from util.checkpoint import CheckpointError

        problems = []
        try:
            segmenter_kind(opt.seg_model)
        except CheckpointError as err:
            problems.append(Problem(opt.seg_model, str(err), "see docs/own-video.md (Street)"))
        inst_model = getattr(opt, "inst_model", "")
        if opt.use_instance and inst_model and not os.path.isfile(inst_model):
            problems.append(Problem(inst_model, "--inst_model: file not found", MASKRCNN_HINT))
        if opt.label_nc < N_LABEL_IDS:
            problems.append(Problem("--label_nc", f"--seg_model writes Cityscapes label ids 0-33, but --label_nc is "
                                    f"{opt.label_nc}", "--label_nc 35 (a street model trained on Cityscapes ids)"))
        return problems

    @staticmethod
    def source_problems(opt: argparse.Namespace, source: str, flag: str, kind: str) -> tuple[list, int | None]:
        """Problems of one video or frame folder, and its frame count (None when unknown). A video is decoded once
        in full (a cut file fails here, before any work); label input (``kind == "image"`` without
        ``--seg_model``) whose grey frames exceed the label ids is refused as a photo video."""
        from data.frame_checks import FolderSpec, Problem, check_folders

        labels = kind == "image" and not getattr(opt, "seg_model", "")
        if os.path.isdir(source):
            inside = "inst" if kind == "inst" and VideoDataset.folder_holds_ids(source) else "image"
            problems = check_folders(opt, [FolderSpec("A", source, inside, f"{flag} <folder>")])[0]
            if problems:
                return problems, None
            frames = IndexedFrames(source, flag)
            if labels and len(frames):
                share, high = grey_above_ids(np.asarray(frames.read(0).convert("RGB")), opt.label_nc)
                problems = not_labels_problem(source, share, high, opt.label_nc)
            return problems, len(frames)
        if not os.path.isfile(source):
            return [Problem(source, "no such video file or folder", f"{flag} <video or folder>")], None
        try:
            count = video_length(source, flag)
        except ValueError as err:
            return [Problem(source, str(err), "re-encode the video (e.g. H.264 mp4)")], None
        if count > 300:
            logger.info("%s %s: decoding its %d frames once to check them", flag, source, count)
        decoded, share, high = decode_all(source, opt.label_nc if labels else 0)
        problems = [] if decoded >= count else [
            Problem(source, f"{decoded} of its {count} frames decode (the file is cut short or damaged)",
                    "re-encode or re-download the video")]
        return problems + not_labels_problem(source, share, high, opt.label_nc), count

    @staticmethod
    def folder_holds_ids(folder: str) -> bool:
        """Whether the first image of ``folder`` is a one-channel id map (else it is read as colours)."""
        from util.video import list_image_files

        files = list_image_files(folder)
        if not files:
            return False
        with Image.open(files[0]) as image:
            return image.mode in ID_MODES

    def frame_size(self, seq: int) -> tuple[int, int]:
        """(width, height) of the first frame."""
        return self.source.read(0).size

    def sequence_name(self, seq: int) -> str:
        return os.path.dirname(self.sequences[0][0])

    def _read(self, index: int) -> np.ndarray:
        """Frame ``index`` of ``--input_video`` as (H, W, 3) uint8 RGB (sequential reads never seek)."""
        return np.asarray(self.source.read(index).convert("RGB"))

    def labeler(self):
        """The street back-ends of ``--seg_model`` / ``--inst_model`` (built once per process, on first use)."""
        if self._labeler is None:
            from data.prepare.street import StreetLabeler

            inst_model = getattr(self.opt, "inst_model", "") if self.opt.use_instance else ""
            self._labeler = StreetLabeler(self.opt.seg_model, inst_model or None)
        return self._labeler

    def segmented_frames(self, frames: Sequence[int], params: TransformParams) -> dict:
        """Raw frames segmented on the fly: ``"A"`` (T, 1, H, W) label ids, ``"inst"`` with an ``--inst_model``."""
        maps = [self.labeler()(self._read(index)) for index in frames]
        sample = {"A": stack_frames([transform_label(Image.fromarray(m.labels), params) for m in maps])}
        if maps[0].instances is not None:
            sample["inst"] = stack_frames([transform_label(Image.fromarray(m.instances), params) for m in maps])
        return sample

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames as ``"A"``: label ids (1, H, W) or images (input_nc, H, W) in [-1, 1]; ``"inst"`` (1, H, W)
        ids with --use_instance."""
        if self.segmented:
            sample = self.segmented_frames(frames, params)
            if self.instances is not None:
                sample["inst"] = stack_frames([transform_label(instance_image(self.instances.read(i)), params)
                                               for i in frames])
            return {**sample, "A_paths": [self.sequences[seq][i] for i in frames]}
        tensors: list[torch.Tensor] = []
        for index in frames:
            pixels = self._read(index)
            if self.opt.label_nc > 0:
                tensors.append(transform_label(Image.fromarray(colors_to_ids(pixels, self.opt.label_nc)), params))
            else:
                image = Image.fromarray(pixels).convert("L" if self.opt.input_nc == 1 else "RGB")
                tensors.append(transform_image(image, params))
        sample = {"A": stack_frames(tensors), "A_paths": [self.sequences[seq][i] for i in frames]}
        if self.instances is not None:
            sample["inst"] = stack_frames([transform_label(instance_image(self.instances.read(i)), params)
                                           for i in frames])
        return sample
