"""Template of a dataset mode: copy this file to ``data/<mode>_dataset.py`` and rename the class.

``--dataset_mode template`` finds this file and its class ``TemplateDataset`` (the class name, lowercased
without underscores, must be ``<mode>dataset``). This skeleton is complete and runs: it reads image-to-image
videos from two parallel folders, ``<dataroot>/<phase>_A/<seq>/*`` (inputs) and ``<dataroot>/<phase>_B/<seq>/*``
(targets), as RGB in [-1, 1].

What a mode must do (the rest is in :class:`data.base_dataset.BaseDataset`):

1. In ``__init__``, fill ``self.sequences`` with one list of frame paths per video (the "primary" modality;
   its frame count defines the sequence), and optionally ``self.sequence_names``.
2. Implement ``load_frames(seq, frames, params)``: read frames ``frames`` of sequence ``seq``, transform each
   with the *same* ``params`` (one scale / crop / flip per clip) and return tensors ``(T, C, H, W)`` under
   ``"A"`` (input) and ``"B"`` (target), plus ``"A_paths"`` / ``"B_paths"``.
3. Optionally add flags or change defaults in ``modify_commandline_options``.

The base class turns this into training clips (``--n_frames_total`` frames at a random time step) and
test-time frame streaming (``change_seq`` on each sequence's first frame).
"""

from __future__ import annotations

import argparse
import os
from typing import Sequence

from PIL import Image

from data.base_dataset import BaseDataset, stack_frames
from data.transforms import TransformParams, transform_image
from data.video_folder import IMG_EXTENSIONS, find_sequences, pair_sequences


class TemplateDataset(BaseDataset):
    """Image-to-image videos: ``"A"`` (T, 3, H, W) and ``"B"`` (T, 3, H, W), both in [-1, 1].

    Args:
        opt: Options (``dataroot``, ``phase`` and the clip / transform flags).
    """

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Inputs are RGB images here, not label maps: say so through the defaults."""
        parser.set_defaults(label_nc=0, input_nc=3)
        return parser

    def __init__(self, opt: argparse.Namespace) -> None:
        super().__init__(opt)
        # Discover the videos of each modality; pair_sequences raises a clear error when they differ.
        folders = {key: os.path.join(opt.dataroot, f"{opt.phase}_{key}") for key in ("A", "B")}
        groups = {key: find_sequences(folder, IMG_EXTENSIONS) for key, folder in folders.items()}
        pair_sequences(groups, folders)
        self.targets = [s.frames for s in groups["B"]]
        self.sequences = [s.frames for s in groups["A"]]
        self.sequence_names = [s.name for s in groups["A"]]

    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Frames ``frames`` of sequence ``seq``, every one transformed with the same ``params``."""
        a_paths = [self.sequences[seq][t] for t in frames]
        b_paths = [self.targets[seq][t] for t in frames]
        return {
            "A": stack_frames([self._read_rgb(path, params) for path in a_paths]),
            "B": stack_frames([self._read_rgb(path, params) for path in b_paths]),
            "A_paths": a_paths,
            "B_paths": b_paths,
        }

    @staticmethod
    def _read_rgb(path: str, params: TransformParams):
        # Close the file right away: DataLoader workers may otherwise run out of file handles.
        with Image.open(path) as img:
            return transform_image(img.convert("RGB"), params)
