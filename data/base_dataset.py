"""The dataset contract shared by every mode: training clips and test-time frame streaming.

A mode subclasses :class:`BaseDataset`, fills ``self.sequences`` (one list of frame paths per video, the
"primary" modality whose frame count defines the sequence) and implements :meth:`BaseDataset.load_frames`.
The base class does the rest, as the reference does:

- training: item ``i`` is a clip of sequence ``i % n_seqs``: as many frames as the model's schedule asks
  (:meth:`BaseDataset.set_clip_length`; fewer when the sequence is shorter), read with a random time step up
  to ``--max_t_step`` (:meth:`BaseDataset.sample_clip`); one set of transform parameters (scale, crop, flip)
  is drawn per clip and applied identically to every frame and modality;
- test: item ``i`` is one frame; items walk every sequence frame by frame in order, and the first frame
  of each sequence carries ``change_seq = True``. The model keeps the window of previous frames, so data
  loading stays independent per item.

Every tensor of a sample has a time axis first: ``(T, C, H, W)`` (``T = 1`` at test).
"""

from __future__ import annotations

import argparse
import bisect
import logging
import math
import os
import random
from abc import ABC, abstractmethod
from typing import Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset

from data.transforms import TransformParams, get_params

logger = logging.getLogger(__name__)


class BaseDataset(Dataset, ABC):
    """Base class of every dataset mode.

    Subclasses fill ``self.sequences`` (frame paths of the primary modality per video) and optionally
    ``self.sequence_names`` (defaults to each sequence's folder name).

    Args:
        opt: Parsed options (``isTrain``, ``n_frames_G``, ``n_frames_total``, ``max_t_step``, ...).
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        self.opt = opt
        self.sequences: list[list[str]] = []
        self.sequence_names: list[str] = []
        self.clip_length = (opt.n_frames_total if opt.isTrain else 1) + opt.n_frames_G - 1  # test: one frame
        self._test_params: dict[int, TransformParams] = {}
        self._test_index: list[int] | None = None

    @staticmethod
    def modify_commandline_options(parser: argparse.ArgumentParser, is_train: bool) -> argparse.ArgumentParser:
        """Add mode-specific flags or change defaults; the base adds nothing."""
        return parser

    # ------------------------------------------------------------------ to implement
    @abstractmethod
    def load_frames(self, seq: int, frames: Sequence[int], params: TransformParams) -> dict:
        """Read and transform frames ``frames`` of sequence ``seq``.

        Returns:
            A dict of tensors ``(T, C, H, W)`` (at least ``"A"``; ``"B"`` when real images exist; ``"inst"``
            with instance maps) plus ``"A_paths"`` / ``"B_paths"`` lists of the files read.
        """

    # ------------------------------------------------------------------ overridable
    def frame_size(self, seq: int) -> tuple[int, int]:
        """(width, height) of the raw frames of sequence ``seq``, read from its first file."""
        with Image.open(self.sequences[seq][0]) as image:
            return image.size

    def make_params(self, seq: int, rng: random.Random) -> TransformParams:
        """Transform parameters for one clip (training) or one whole sequence (test)."""
        return get_params(self.opt, self.frame_size(seq), rng=rng)

    def sample_clip(self, index: int, rng: random.Random) -> tuple[int, list[int]]:
        """(sequence, frame indices) of training item ``index``: the reference's clip sampling."""
        seq = index % len(self.sequences)
        return seq, self.clip_frames(len(self.sequences[seq]), rng)

    # ------------------------------------------------------------------ training clips
    def clip_frames(self, seq_len: int, rng: random.Random, start: int | None = None) -> list[int]:
        """Frame indices of a clip of a ``seq_len``-frame sequence (reference ``get_video_params``): the clip
        length, at most ``seq_len``, with a random time step up to ``--max_t_step`` and a random start."""
        n_read = max(1, min(self.clip_length, seq_len))
        max_t_step = max(1, min(self.opt.max_t_step, (seq_len - 1) // max(1, n_read - 1)))
        t_step = rng.randint(1, max_t_step)
        offset_max = max(1, seq_len - (n_read - 1) * t_step)
        start = rng.randrange(offset_max) if start is None else start % offset_max
        return [start + i * t_step for i in range(n_read)]

    def set_clip_length(self, n_frames: int) -> None:
        """Frames a training clip holds from now on (conditioning frames included); the model decides."""
        self.clip_length = n_frames

    def longest_sequence(self) -> int:
        """Frames of the longest sequence (of all found, as the reference's curriculum cap)."""
        return max((len(s) for s in self.sequences), default=0)

    # ------------------------------------------------------------------ test streaming
    def _frame_starts(self) -> list[int]:
        """Cumulative frame counts: where each sequence starts in the flat test index."""
        if self._test_index is None:
            counts = [len(s) - (self.opt.start_frame if i == 0 else 0) for i, s in enumerate(self.sequences)]
            counts = [max(0, c) for c in counts]
            starts = [0]
            for count in counts:
                starts.append(starts[-1] + count)
            self._test_index = starts
        return self._test_index

    def locate_frame(self, index: int) -> tuple[int, int]:
        """(sequence, frame) of flat test item ``index``."""
        starts = self._frame_starts()
        seq = bisect.bisect_right(starts, index) - 1
        offset = self.opt.start_frame if seq == 0 else 0
        return seq, index - starts[seq] + offset

    def sequence_params(self, seq: int) -> TransformParams:
        """Test-time transform parameters of a sequence: drawn once, reproducibly, from its first frame."""
        if seq not in self._test_params:
            self._test_params[seq] = self.make_params(seq, random.Random(seq))
        return self._test_params[seq]

    def check_start_frame(self) -> None:
        """test.py's ``--start_frame`` (frames skipped in the first sequence): a first sequence no longer than it
        is skipped whole, said in one line; with no other sequence to generate, an error.

        Raises:
            OptionError: no frame is left to generate.
        """
        start = 0 if self.opt.isTrain else self.opt.start_frame  # a test.py flag
        if start <= 0 or not self.sequences or start < len(self.sequences[0]):
            return
        skipped = (f"--start_frame {start} skips the whole first sequence {self.sequence_name(0)} "
                   f"({len(self.sequences[0])} frames)")
        if self.n_sequences() <= 1:
            from options.validation import OptionError

            raise OptionError(f"{skipped} and no other sequence is left to generate; use --start_frame below "
                              f"{len(self.sequences[0])}")
        logger.warning("%s; generation starts with the next sequence, %s", skipped, self.sequence_name(1))

    def sequence_name(self, seq: int) -> str:
        """Name of a sequence: ``self.sequence_names[seq]`` when filled, else its folder name."""
        if seq < len(self.sequence_names):
            return self.sequence_names[seq]
        return os.path.basename(os.path.dirname(self.sequences[seq][0]))

    # ------------------------------------------------------------------ Dataset API
    def n_sequences(self) -> int:
        """Sequences used, capped by ``--max_dataset_size`` (training) or ``--ntest`` (test)."""
        cap = self.opt.max_dataset_size
        if not self.opt.isTrain and math.isfinite(self.opt.ntest):
            cap = min(cap, self.opt.ntest)
        return int(min(len(self.sequences), cap))

    def __len__(self) -> int:
        """Training: one clip per sequence; test: one item per frame of every sequence."""
        if self.opt.isTrain:
            return self.n_sequences()
        return self._frame_starts()[self.n_sequences()]

    def __getitem__(self, index: int) -> dict:
        """A training clip (``"seq_name"`` added) or a test frame (``"seq_name"``, ``"frame_index"``,
        ``"change_seq"``, ``"A_path"`` added) as the dict of :meth:`load_frames`."""
        if self.opt.isTrain:
            rng = random.Random(random.getrandbits(64))
            seq, frames = self.sample_clip(index, rng)
            sample = self.load_frames(seq, frames, self.make_params(seq, rng))
            sample["seq_name"] = self.sequence_name(seq)
            return sample
        seq, frame = self.locate_frame(index)
        sample = self.load_frames(seq, [frame], self.sequence_params(seq))
        first = frame == (self.opt.start_frame if seq == 0 else 0)
        sample.update(seq_name=self.sequence_name(seq), frame_index=frame, change_seq=first,
                      A_path=sample["A_paths"][0])
        return sample


def stack_frames(frames: list[torch.Tensor]) -> torch.Tensor:
    """Stack per-frame ``(C, H, W)`` tensors into ``(T, C, H, W)``."""
    return torch.stack(frames, dim=0)
