"""Street-style training data: label (or image) videos paired with photo videos.

Layout under ``--dataroot`` (``<phase>`` is ``--phase``)::

    <phase>_A/<seq>/<frames>      label maps (one channel of ids, --label_nc > 0) or images (--label_nc 0)
    <phase>_inst/<seq>/<frames>   instance maps (one channel of ids), with --use_instance
    <phase>_B/<seq>/<frames>      photos (RGB)

Label and instance maps stay integer ids, one channel; the model one-hot encodes the labels and turns the
instances into an edge map (vid2vid.md section 2.7).
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

import torch
from PIL import Image

from data.base_dataset import BaseDataset, stack_frames
from data.transforms import BICUBIC, TransformParams, transform_image, transform_label
from data.video_folder import IMG_EXTENSIONS, find_sequences, pair_sequences

_INPUT_MODES = {1: "L", 3: "RGB"}


def modality_folder(opt: argparse.Namespace, suffix: str) -> str:
    """``<dataroot>/<phase>_<suffix>``."""
    return os.path.join(opt.dataroot, f"{opt.phase}_{suffix}")


class TemporalDataset(BaseDataset):
    """Training clips of ``A`` (labels or images), optional ``inst`` and ``B`` (photos).

    Items (see :class:`BaseDataset`): ``"A"`` (T, 1, H, W) float ids or (T, input_nc, H, W) in [-1, 1],
    ``"B"`` (T, 3, H, W) in [-1, 1], ``"inst"`` (T, 1, H, W) float ids with --use_instance, ``"A_paths"``,
    ``"B_paths"``, ``"seq_name"``.

    Args:
        opt: Options (``dataroot``, ``phase``, ``label_nc``, ``input_nc``, ``use_instance`` and the clip flags).

    Raises:
        FileNotFoundError: a folder is missing (the message names it and the flags that choose it).
        ValueError: the folders hold no sequences, or their sequences or frame counts differ.
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        self.folders = self.modality_folders()
        groups = {key: self._discover(key, folder) for key, folder in self.folders.items()}
        pair_sequences(groups, self.folders)
        self.paths = {key: [s.frames for s in seqs] for key, seqs in groups.items()}
        self.sequences = self.paths["A"]
        self.sequence_names = [s.name for s in groups["A"]]

    def modality_folders(self) -> dict[str, str]:
        """Folder of each modality read, keyed ``"A"``, ``"inst"``, ``"B"`` (``"A"`` first)."""
        folders = {"A": modality_folder(self.opt, "A")}
        if self.opt.use_instance:
            folders["inst"] = modality_folder(self.opt, "inst")
        if self.loads_real_images():
            folders["B"] = modality_folder(self.opt, "B")
        return folders

    def loads_real_images(self) -> bool:
        """Whether ``<phase>_B`` is read (always in training)."""
        return True

    def _discover(self, key: str, folder: str) -> list:
        if not os.path.isdir(folder):
            hint = " (or drop --use_instance)" if key == "inst" else ""
            raise FileNotFoundError(f"missing folder {folder}: check --dataroot {self.opt.dataroot!r} and "
                                    f"--phase {self.opt.phase!r}{hint}")
        sequences = find_sequences(folder, IMG_EXTENSIONS)
        if not sequences:
            raise ValueError(f"no image frames found under {folder} (expected <seq>/<frame>.png|jpg folders)")
        return sequences

    # ------------------------------------------------------------------ per-frame readers
    def load_input(self, path: str, params: TransformParams) -> torch.Tensor:
        """One ``A`` frame: (1, H, W) ids with --label_nc > 0, else (input_nc, H, W) in [-1, 1]."""
        with Image.open(path) as img:
            if self.opt.label_nc > 0:
                return transform_label(img, params)
            mode = _INPUT_MODES.get(self.opt.input_nc)
            return transform_image(img.convert(mode) if mode else img, params, BICUBIC)

    def load_instance(self, path: str, params: TransformParams) -> torch.Tensor:
        """One instance map: (1, H, W) float ids."""
        with Image.open(path) as img:
            return transform_label(img, params)

    def load_real(self, path: str, params: TransformParams) -> torch.Tensor:
        """One photo: (3, H, W) in [-1, 1]."""
        with Image.open(path) as img:
            return transform_image(img.convert("RGB"), params, BICUBIC)

    # ------------------------------------------------------------------ BaseDataset API
    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames ``frames`` of sequence ``seq``: ``"A"``, ``"B"`` / ``"inst"`` when read, and their paths."""
        readers = {"A": self.load_input, "inst": self.load_instance, "B": self.load_real}
        sample: dict = {}
        for key in self.folders:
            paths = [self.paths[key][seq][t] for t in frames]
            sample[key] = stack_frames([readers[key](path, params) for path in paths])
            if key in ("A", "B"):
                sample[f"{key}_paths"] = paths
        return sample
