"""``--dataset_mode pose``: pose-to-body from DensePose and OpenPose maps (reference ``data/pose_dataset.py``).

Layout under ``<dataroot>``: ``<phase>_img/<seq>/*`` photos, ``<phase>_densepose/<seq>/*.png`` DensePose IUV
maps (R = U, G = V, B = part index 0..24; not read with ``--openpose_only``) and ``<phase>_openpose/<seq>/*.json``
OpenPose BODY_25 + face + hands keypoints (not read with ``--densepose_only``), same sequences and counts.

Per frame ``A`` is ``[DensePose (3), OpenPose (3)]`` (``--input_nc 6``) or one of them (``--input_nc 3``), all in
[-1, 1]; the DensePose part channel holds ``2 * I / 24 - 1`` for part ``I``. Both maps are resized with NEAREST
so part ids and limb colours survive. Training drops each DensePose part, OpenPose limb, hand and the face with
probability ``--random_drop_prob``; ``--remove_face_labels`` blanks DensePose head parts 23 and 24 (training
only, as the reference) and, with drops on, jitters the OpenPose head; ``--basic_point_only`` draws body limbs
only. ``A`` and ``B`` keep the central band of the width (``2 * (int(W / 4) // 32 * 32)`` columns), the
reference's fixed "crop around the person". Frames are never flipped (``data/transforms.py``).

Training items: a sequence drawn with probability proportional to its valid frame count (``len - n_frames_G + 1``)
and a clip starting at ``index`` modulo the allowed offsets; the dataset length is the sum of valid frames.

Fallbacks and errors: an OpenPose file with no person renders a black map (logged once per dataset);
a DensePose map whose size differs from its photo raises ``ValueError`` naming the file.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
from typing import Sequence

import numpy as np
import torch
from PIL import Image

from data import keypoints as kp
from data.base_dataset import BaseDataset, stack_frames
from data.transforms import NEAREST, TransformParams, get_params, transform_image
from data.video_folder import IMG_EXTENSIONS, FrameSequence, find_sequences, pair_sequences

logger = logging.getLogger(__name__)

N_DENSEPOSE_PARTS = 24
HEAD_PARTS = (23, 24)


def band_width(width: int) -> int:
    """Columns the central band keeps of a ``width``-pixel frame: ``2 * (int(W / 4) // 32 * 32)``."""
    return 2 * (int(width * 0.25) // 32 * 32)


def central_band(frames: torch.Tensor) -> torch.Tensor:
    """Keep the middle :func:`band_width` columns: (..., H, W) -> (..., H, W')."""
    w = frames.shape[-1]
    half = band_width(w) // 2
    return frames[..., w // 2 - half: w // 2 + half]


def encode_part_channel(densepose: torch.Tensor) -> torch.Tensor:
    """Re-map the normalized part channel to ``2 * I / 24 - 1``: (3, H, W) in [-1, 1] -> (3, H, W)."""
    part = torch.round((densepose[2] + 1) * 127.5)
    out = densepose.clone()
    out[2] = part * (2.0 / N_DENSEPOSE_PARTS) - 1
    return out


def discover(opt: argparse.Namespace) -> dict[str, list[FrameSequence]]:
    """Sequences of ``img`` and of the maps the options use (``densepose``, ``openpose``), checked to match.

    Raises:
        FileNotFoundError: a folder is missing.
        ValueError: the folders hold different sequences or frame counts.
    """
    roots = {"img": os.path.join(opt.dataroot, f"{opt.phase}_img")}
    if not opt.openpose_only:
        roots["densepose"] = os.path.join(opt.dataroot, f"{opt.phase}_densepose")
    if not opt.densepose_only:
        roots["openpose"] = os.path.join(opt.dataroot, f"{opt.phase}_openpose")
    exts = {"img": IMG_EXTENSIONS, "densepose": IMG_EXTENSIONS, "openpose": (".json",)}
    groups = {key: find_sequences(root, exts[key]) for key, root in roots.items()}
    pair_sequences(groups, roots)
    return groups


class PoseDataset(BaseDataset):
    """DensePose and/or OpenPose maps -> photos of a person.

    Args:
        opt: Options (``dataroot``, ``phase``, ``isTrain``, ``openpose_only``, ``densepose_only``,
            ``random_drop_prob``, ``remove_face_labels``, ``basic_point_only`` and the transform flags).

    Raises:
        ValueError: the folders do not hold the same sequences and frame counts.
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        groups = discover(opt)
        self.sequences = [s.frames for s in groups["img"]]
        self.maps = {key: [s.frames for s in groups[key]] for key in groups if key != "img"}
        self._warned_no_person = False

    @staticmethod
    def check_dataset(opt: argparse.Namespace) -> list:
        """Every problem found before training or testing (``data/check.py`` hook): channel count, pairing,
        lengths, every photo and DensePose map decoded (RGB, the photo's size), every OpenPose file read (finite
        points inside their photo, give or take half its size), the size of the central band the generator
        receives."""
        from data.check import root_problems
        from data.frame_checks import FolderSpec, Problem, check_folders, check_geometry, check_points_in_frames

        expected = 3 if opt.openpose_only or opt.densepose_only else 6
        problems = [] if opt.input_nc == expected else [
            Problem("--input_nc", f"these pose inputs have {expected} channels, not {opt.input_nc}",
                    f"--input_nc {expected}")]
        missing = root_problems(opt)
        if missing:
            return problems + missing
        folder = {key: os.path.join(opt.dataroot, f"{opt.phase}_{key}") for key in ("img", "densepose", "openpose")}
        specs = [FolderSpec("img", folder["img"], "photo", "check --dataroot and --phase")]
        if not opt.openpose_only:
            specs.append(FolderSpec("densepose", folder["densepose"], "iuv", "check --dataroot and --phase, or "
                                    "pass --openpose_only --input_nc 3"))
        if not opt.densepose_only:
            specs.append(FolderSpec("openpose", folder["openpose"], "file", "check --dataroot and --phase, or pass "
                                    "--densepose_only --input_nc 3", extensions=(".json",),
                                    reader=kp.read_openpose_json, fix="re-run OpenPose with --write_json on this frame"))
        found_problems, found, infos = check_folders(opt, specs)
        if not found_problems and not opt.densepose_only:
            found_problems = check_points_in_frames(specs[-1], specs[0], found, infos, kp.labelled_openpose_points)
        if found_problems:
            return problems + found_problems
        sizes = {}
        for seq in found["img"]:
            width, height = get_params(opt, infos[seq.frames[0]].size, rng=random.Random(0)).out_size
            sizes[seq.frames[0]] = (band_width(width), height)
        return problems + check_geometry(opt, sizes)

    # ------------------------------------------------------------------ training sampling
    def valid_counts(self) -> list[int]:
        """Valid clip starts per used sequence: ``len - n_frames_G + 1`` (at least 1)."""
        return [max(1, len(s) - self.opt.n_frames_G + 1) for s in self.sequences[: self.n_sequences()]]

    def __len__(self) -> int:
        if self.opt.isTrain:
            return sum(self.valid_counts())
        return super().__len__()

    def sample_clip(self, index: int, rng: random.Random) -> tuple[int, list[int]]:
        """A sequence weighted by its valid frame count; the clip starts at ``index`` modulo the offsets."""
        seq = rng.choices(range(self.n_sequences()), weights=self.valid_counts())[0]
        return seq, self.clip_frames(len(self.sequences[seq]), rng, start=index)

    # ------------------------------------------------------------------ frames
    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames of sequence ``seq`` -> ``A`` (T, 6 or 3, H, W) and ``B`` (T, 3, H, W), in [-1, 1], plus
        ``A_paths`` (photos) and ``B_paths``."""
        rng = np.random.default_rng(random.getrandbits(64))
        inputs, images = [], []
        for t in frames:
            photo = Image.open(self.sequences[seq][t]).convert("RGB")
            channels = []
            if "densepose" in self.maps:
                channels.append(self.densepose(self.maps["densepose"][seq][t], photo.size, params, rng))
            if "openpose" in self.maps:
                channels.append(self.openpose(self.maps["openpose"][seq][t], photo.size, params, rng))
            inputs.append(central_band(torch.cat(channels, dim=0)))
            images.append(central_band(transform_image(photo, params)))
        paths = [self.sequences[seq][t] for t in frames]
        return {"A": stack_frames(inputs), "B": stack_frames(images), "A_paths": paths, "B_paths": paths}

    def densepose(self, path: str, size: tuple[int, int], params: TransformParams,
                  rng: np.random.Generator) -> torch.Tensor:
        """Read, augment (training) and transform one IUV map -> (3, H, W) in [-1, 1].

        Raises:
            ValueError: the map's size differs from the photo's ``size`` (the path is named).
        """
        with Image.open(path) as image:
            if image.size != size:
                raise ValueError(f"{path}: DensePose map is {image.size[0]}x{image.size[1]} but its photo is "
                                 f"{size[0]}x{size[1]}; maps must have the photo's size")
            iuv = np.array(image.convert("RGB"))
        if self.opt.isTrain:
            part = iuv[:, :, 2].copy()
            for part_id in range(1, N_DENSEPOSE_PARTS + 1):
                if rng.random() < self.opt.random_drop_prob:
                    iuv[part == part_id] = 0
            if self.opt.remove_face_labels:
                iuv[np.isin(part, HEAD_PARTS)] = 0
        return encode_part_channel(transform_image(Image.fromarray(iuv), params, NEAREST))

    def openpose(self, path: str, size: tuple[int, int], params: TransformParams,
                 rng: np.random.Generator) -> torch.Tensor:
        """Render and transform one OpenPose file -> (3, H, W) in [-1, 1] (black when nobody is found)."""
        people = kp.read_openpose_json(path)
        if not people and not self._warned_no_person:
            logger.warning("%s: no person in this OpenPose file; its map is left black "
                           "(further files without a person are not reported)", path)
            self._warned_no_person = True
        opt = self.opt
        canvas = kp.render_openpose(people, size, drop_prob=opt.random_drop_prob if opt.isTrain else 0.0,
                                    remove_face_labels=opt.remove_face_labels,
                                    basic_point_only=opt.basic_point_only, rng=rng)
        return transform_image(Image.fromarray(canvas), params, NEAREST)
