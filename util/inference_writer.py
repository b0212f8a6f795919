"""Test-time output: frames, one mp4 per sequence and the results page, written off the generator's thread."""

from __future__ import annotations

import argparse
import os
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Optional

from torch.utils.data import DataLoader

from data import create_dataset
from util.image import input_visual, tensor2im
from util.video import VideoWriter, side_by_side
from util.visualizer import ResultsPage, results_folder, save_test_images


def make_test_loader(opt: argparse.Namespace) -> DataLoader:
    """Frames in order, one per item; workers read ahead while the generator runs."""
    dataset = create_dataset(opt)
    workers = 0 if opt.debug else opt.nThreads
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=workers,
                      prefetch_factor=4 if workers > 0 else None)


class ResultsWriter:
    """Saves each generated frame (input visual + output), appends it to the sequence's mp4, builds the page.

    Writing runs on one background thread so disk and video encoding overlap with generation.

    Args:
        opt: Test options (``results_dir``, ``name``, ``phase``, ``which_epoch``, ``label_nc``, ``no_video``...).
    """

    def __init__(self, opt: argparse.Namespace) -> None:
        self.opt = opt
        self.folder = results_folder(opt.results_dir, opt.name, opt.phase, opt.which_epoch)
        self.page = ResultsPage(self.folder, f"{opt.name}: {opt.phase} results, epoch {opt.which_epoch}")
        self.page_path = os.path.join(self.folder, "index.html")
        self.videos: dict[str, str] = {}
        self._video: Optional[VideoWriter] = None
        self._sequence: Optional[str] = None
        self._pool = ThreadPoolExecutor(max_workers=1)
        self._pending: Optional[Future] = None

    def __enter__(self) -> "ResultsWriter":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def add(self, data: dict, result) -> None:
        """Queue one generated frame for writing (waits for the previous one to keep memory flat)."""
        opt = self.opt
        visuals = {"real_A": input_visual(result.encoded_input, label_nc=opt.label_nc, dataset_mode=opt.dataset_mode,
                                          use_instance=opt.use_instance),
                   "fake_B": tensor2im(result.image)}
        sequence, frame_path = data["seq_name"][0], data["A_path"][0]
        self._wait()
        self._pending = self._pool.submit(self._write, sequence, frame_path, visuals)

    def _write(self, sequence: str, frame_path: str, visuals: dict) -> None:
        png = ("real_A",) if self.opt.label_nc > 0 else ()
        written = save_test_images(self.folder, visuals, frame_path, png_labels=png, aspect_ratio=self.opt.aspect_ratio)
        self.page.add_frame(sequence, written["real_A"], written["fake_B"])
        if self.opt.no_video:
            return
        if sequence != self._sequence:
            self._close_video()
            relative = os.path.join(sequence, f"{sequence}.mp4")
            self._video = VideoWriter(os.path.join(self.folder, relative), fps=15)
            self._sequence = sequence
            self.videos[sequence] = os.path.join(self.folder, relative)
            self.page.add_video(sequence, relative)
        self._video.write(side_by_side(visuals["real_A"], visuals["fake_B"]))

    def _wait(self) -> None:
        if self._pending is not None:
            self._pending.result()
            self._pending = None

    def _close_video(self) -> None:
        if self._video is not None:
            self._video.close()
            self._video = None

    def close(self) -> None:
        """Finish writing, close the last video and save the page."""
        self._wait()
        self._pool.shutdown(wait=True)
        self._close_video()
        self.page.save()
