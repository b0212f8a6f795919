"""Test-time output: the frames a model emits, saved in frame order with the reference's names, one mp4 per
sequence and the results page, written off the generator's thread.

A model's frame generator returns :class:`OutputFrame` objects whenever they are ready: late, several at a
time, or out of input order. :class:`ResultsWriter` puts each sequence back in frame order: a frame is written
once every frame before it has been written; frames that arrive ahead of a gap wait (only those). The first
batch a sequence emits must contain its lowest frame index (a frame emitted below an already written one is a
bug in the model and raises).

The results folder always holds one complete run: the new run is written in a hidden sibling folder and swapped
in when complete (:mod:`util.folder_swap`); a failure or a kill leaves the previous run as it was.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import heapq
import os
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterable, Optional

import numpy as np
from torch import Tensor

from util.checkpoint import CheckpointError
from util.folder_swap import StagedFolder
from util.image import tensor2im
from util.video import VideoWriter, side_by_side
from util.visualizer import ResultsPage, results_folder, save_test_images


class ResultsError(RuntimeError):
    """The results folder cannot be written (disk full, permissions); the previous results are kept."""


def results_write_error(err: BaseException, folder: str) -> ResultsError:
    """A message naming the results folder for a failed write (``err``: an OSError or one wrapped by
    :mod:`util.checkpoint`)."""
    cause = err if isinstance(err, OSError) else err.__cause__
    if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
        problem = "disk full while writing the results"
    else:
        problem = f"cannot write the results ({getattr(cause, 'strerror', None) or err})"
    return ResultsError(f"{problem} in {folder}; the previous results there are kept and the new run is "
                        "discarded. Free some space or pass another --results_dir")


@dataclass(frozen=True)
class OutputFrame:
    """One finished output frame.

    Attributes:
        sequence: Sequence name: the results sub-folder (the input frame's folder name, as the reference).
        index: Frame index within the sequence (the input frame it belongs to).
        stem: File stem of the input frame: files are ``real_A_<stem>.png`` / ``fake_B_<stem>.jpg``.
        image: (3, H, W) or (1, 3, H, W) generated frame in [-1, 1].
        input_visual: (H, W, 3) uint8 picture of the input shown beside it.
        kind: Shown on the page: ``""`` (every frame generated), ``"key"`` or ``"interpolated"``.
        real_visual: (H, W, 3) uint8 real frame, when the dataset gave one: shown third in the video.
    """

    sequence: str
    index: int
    stem: str
    image: Tensor
    input_visual: np.ndarray
    kind: str = ""
    real_visual: Optional[np.ndarray] = None


@dataclass
class _SequenceOrder:
    """Frames of one sequence waiting for their turn."""

    next_index: Optional[int] = None
    waiting: list = field(default_factory=list)  # heap of (index, tie, OutputFrame)
    counter: int = 0


class ResultsWriter:
    """Saves frames (input visual + output), appends them to their sequence's mp4, builds ``index.html``.

    Everything is written in a staging folder beside ``folder``; leaving the ``with`` block normally swaps it in
    place of the previous run, leaving it with an error discards it (the previous run stays). ``folder``,
    ``page_path`` and ``videos`` name the final places.

    Args:
        opt: Test options (``results_dir``, ``name``, ``phase``, ``which_epoch``, ``label_nc``, ``no_video``,
            ``aspect_ratio``, ``display_winsize``: the image width on the results page).
        fps: Frame rate of the mp4 files.
    """

    def __init__(self, opt: argparse.Namespace, fps: int = 15) -> None:
        self.opt, self.fps = opt, fps
        self.folder = results_folder(opt.results_dir, opt.name, opt.phase, opt.which_epoch)
        try:
            self._staged = StagedFolder(self.folder)
        except OSError as err:
            raise results_write_error(err, self.folder) from err
        self.page = ResultsPage(self._staged.path, f"{opt.name}: {opt.phase} results, epoch {opt.which_epoch}",
                                width=int(opt.display_winsize), opt=opt)
        self.page_path = os.path.join(self.folder, "index.html")
        self.videos: dict[str, str] = {}
        self.written = 0
        self._order: dict[str, _SequenceOrder] = {}
        self._active: Optional[str] = None
        self._video: Optional[VideoWriter] = None
        self._video_sequence: Optional[str] = None
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Optional[Future] = None

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        self.close(complete=exc is None)

    def add_all(self, frames: Iterable[OutputFrame]) -> int:
        """Queue frames (any order within the call); returns how many were written now."""
        before = self.written
        by_sequence: dict[str, list[OutputFrame]] = {}
        for frame in frames:
            by_sequence.setdefault(frame.sequence, []).append(frame)
        for sequence, batch in by_sequence.items():
            if sequence != self._active:
                self._finish_others(sequence)
            order = self._order.setdefault(sequence, _SequenceOrder())
            for frame in batch:
                if order.next_index is not None and frame.index < order.next_index:
                    raise RuntimeError(f"sequence {sequence}: frame {frame.index} emitted after frame "
                                       f"{order.next_index - 1} was written (frames must not go backwards)")
                heapq.heappush(order.waiting, (frame.index, order.counter, frame))
                order.counter += 1
            if order.next_index is None:
                order.next_index = order.waiting[0][0]
            self._release(order)
        return self.written - before

    def _release(self, order: _SequenceOrder) -> None:
        """Write the waiting frames that are next in line."""
        while order.waiting and order.waiting[0][0] <= order.next_index:
            _, _, frame = heapq.heappop(order.waiting)
            self._submit(frame)
            order.next_index = frame.index + 1

    def _finish_others(self, sequence: str) -> None:
        """A new sequence starts emitting: the others are done, so their waiting frames go out first."""
        for name, order in self._order.items():
            if name != sequence:
                self._finish_sequence(order)
        self._active = sequence

    def _finish_sequence(self, order: _SequenceOrder) -> None:
        """At the end: write what still waits (after a gap the model left), in order."""
        while order.waiting:
            _, _, frame = heapq.heappop(order.waiting)
            self._submit(frame)
            order.next_index = frame.index + 1

    def _submit(self, frame: OutputFrame) -> None:
        visuals = {"real_A": frame.input_visual, "fake_B": tensor2im(frame.image)}
        self._wait()
        self._pending = self._pool.submit(self._write, frame, visuals)
        self.written += 1

    def _write(self, frame: OutputFrame, visuals: dict) -> None:
        png = ("real_A",) if self.opt.label_nc > 0 else ()
        written = save_test_images(self._staged.path, visuals, sequence=frame.sequence, stem=frame.stem,
                                   png_labels=png, aspect_ratio=self.opt.aspect_ratio)
        self.page.add_frame(frame.sequence, written["real_A"], written["fake_B"], kind=frame.kind)
        if self.opt.no_video:
            return
        if frame.sequence != self._video_sequence:
            self._close_video()
            relative = os.path.join(frame.sequence, f"{frame.sequence}.mp4")
            self._video = VideoWriter(os.path.join(self._staged.path, relative), fps=self.fps)
            self._video_sequence = frame.sequence
            self.videos[frame.sequence] = os.path.join(self.folder, relative)
            self.page.add_video(frame.sequence, relative, with_real=frame.real_visual is not None)
        picture = side_by_side(visuals["real_A"], visuals["fake_B"])
        self._video.write(picture if frame.real_visual is None else side_by_side(picture, frame.real_visual))

    def _wait(self) -> None:
        """Wait for the frame being written; a failed write (full disk...) becomes a :class:`ResultsError`."""
        if self._pending is not None:
            pending, self._pending = self._pending, None
            try:
                pending.result()
            except (OSError, CheckpointError) as err:
                raise results_write_error(err, self.folder) from err

    def _close_video(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def close(self, complete: bool = True) -> None:
        """Finish writing and swap the new run in place (``complete``), or discard it (after an error)."""
        try:
            if complete:
                for order in self._order.values():
                    self._finish_sequence(order)
                self._wait()
                self._finish_files()
        finally:
            self._pool.shutdown(wait=True)
            with contextlib.suppress(Exception):  # only after a failure: the run is being discarded anyway
                self._close_video()
            self._staged.discard()

    def _finish_files(self) -> None:
        """Close the last video, save the page and swap the run into place (errors name the results folder)."""
        try:
            self._close_video()
            self.page.save()
            self._staged.commit()
        except (OSError, CheckpointError) as err:
            raise results_write_error(err, self.folder) from err
