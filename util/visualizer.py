"""Training visuals and loss logging (HTML page, loss_log.txt, TensorBoard) and the test-results page.

``Visualizer`` writes, under ``<checkpoints_dir>/<name>/``:
- ``web/images/epoch%03d_<label>.jpg`` and ``web/index.html`` (newest epoch first), unless ``--no_html``;
- ``loss_log.txt``: a timestamped header, then ``(epoch: E, iters: I, time: T) key: v ...`` lines;
- ``logs/``: TensorBoard scalars and images with ``--tf_log`` (``torch.utils.tensorboard``, no TensorFlow).
Only the process created with ``enabled=True`` (rank 0) writes anything.

``save_test_images`` (and :class:`util.results_page.ResultsPage`) write test.py's outputs under ``<results_dir>/<name>/<phase>_<epoch>/``.
"""

from __future__ import annotations

import logging
import os
import time
from collections import OrderedDict
from typing import Any, Mapping, Optional

import numpy as np

from util.html import HTML
from util.image import save_image
from util.results_page import ResultsPage  # noqa: F401 - the test-results page, imported from here by callers

logger = logging.getLogger(__name__)


class Visualizer:
    """Displays and logs training progress.

    Args:
        opt: Options; reads ``checkpoints_dir``, ``name``, ``display_winsize``, ``tf_log``, ``no_html``
            (missing fields take the defaults of the reference flags).
        enabled: False makes every method a no-op (non-zero ranks in distributed training).
    """

    def __init__(self, opt: Any, enabled: bool = True) -> None:
        self.enabled = enabled
        self.name = str(getattr(opt, "name", "experiment_name"))
        self.win_size = int(getattr(opt, "display_winsize", 512))
        self.use_html = bool(getattr(opt, "isTrain", True)) and not getattr(opt, "no_html", False)
        self.use_tensorboard = bool(getattr(opt, "tf_log", False))
        self.run_dir = os.path.join(getattr(opt, "checkpoints_dir", "./checkpoints"), self.name)
        self.web_dir = os.path.join(self.run_dir, "web")
        self.img_dir = os.path.join(self.web_dir, "images")
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.log_name = os.path.join(self.run_dir, "loss_log.txt")
        self._writer = None
        if not enabled:
            return
        os.makedirs(self.run_dir, exist_ok=True)
        if self.use_html:
            os.makedirs(self.img_dir, exist_ok=True)
        with open(self.log_name, "a") as log_file:
            log_file.write(f"================ Training Loss ({time.strftime('%c')}) ================\n")

    @property
    def writer(self):
        """The TensorBoard ``SummaryWriter`` (created on first use), or None without ``--tf_log``."""
        if self._writer is None and self.enabled and self.use_tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._writer = SummaryWriter(log_dir=self.log_dir)
        return self._writer

    def display_current_results(self, visuals: Mapping[str, np.ndarray], epoch: int, step: int) -> None:
        """Save this epoch's visuals, rebuild ``web/index.html`` and log the images to TensorBoard.

        Args:
            visuals: Label -> (H, W, 3) or (H, W) uint8 image, in display order.
            epoch: Current epoch (1-based); an epoch's images are overwritten by later displays.
            step: Global step for TensorBoard.
        """
        if not self.enabled:
            return
        if self.writer is not None:
            for label, image in visuals.items():
                self.writer.add_image(label, image, step, dataformats="HWC" if image.ndim == 3 else "HW")
        if self.use_html:
            for label, image in visuals.items():
                save_image(image, os.path.join(self.img_dir, f"epoch{epoch:03d}_{label}.jpg"))
            self._write_index(list(visuals), epoch)

    def _write_index(self, labels: list[str], last_epoch: int) -> str:
        """Rebuild the training page: for each epoch, newest first, one table of its saved images."""
        page = HTML(self.web_dir, f"Experiment name = {self.name}", refresh=30)
        for epoch in range(last_epoch, 0, -1):
            names = [f"epoch{epoch:03d}_{label}.jpg" for label in labels]
            present = [(n, label) for n, label in zip(names, labels) if os.path.isfile(os.path.join(self.img_dir, n))]
            if not present:
                continue
            page.add_header(f"epoch [{epoch}]")
            paths = [f"images/{n}" for n, _ in present]
            captions = [label for _, label in present]
            # Many visuals do not fit one row: split them into two rows of about half each.
            split = (len(paths) + 1) // 2 if len(paths) >= 6 else len(paths)
            page.add_images(paths[:split], captions[:split], width=self.win_size)
            if split < len(paths):
                page.add_images(paths[split:], captions[split:], width=self.win_size)
        return page.save()

    def plot_current_errors(self, errors: Mapping[str, Any], step: int) -> None:
        """Write each loss as a TensorBoard scalar (only with ``--tf_log``)."""
        if self.writer is None:
            return
        for key, value in errors.items():
            self.writer.add_scalar(key, _as_float(value), step)

    def print_current_errors(self, epoch: int, i: int, errors: Mapping[str, Any], t: float) -> str:
        """Log one loss line and append it to ``loss_log.txt``; return the line.

        Keys are sorted and zero-valued losses are left out, as in the reference.

        Args:
            epoch: Current epoch.
            i: Samples seen in this epoch.
            errors: Loss name -> value (float or 0-d tensor).
            t: Seconds per step.
        """
        message = format_errors(epoch, i, errors, t)
        self.vis_print(message)
        return message

    def vis_print(self, message: str) -> None:
        """Log ``message`` and append it to ``loss_log.txt``."""
        if not self.enabled:
            return
        logger.info(message)
        with open(self.log_name, "a") as log_file:
            log_file.write(message + "\n")

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None


def _as_float(value: Any) -> float:
    """A Python float from a float or a 0-d / one-element tensor."""
    return float(value.item()) if hasattr(value, "item") else float(value)


def format_errors(epoch: int, i: int, errors: Mapping[str, Any], t: float) -> str:
    """``(epoch: E, iters: I, time: T) key: v ...`` with sorted keys, zero values left out, 3 decimals."""
    parts = [f"(epoch: {epoch}, iters: {i}, time: {t:.3f})"]
    for key in sorted(errors):
        value = _as_float(errors[key])
        if value != 0:
            parts.append(f"{key}: {value:.3f}")
    return " ".join(parts)


def results_folder(results_dir: str, name: str, phase: str, which_epoch: str) -> str:
    """``<results_dir>/<name>/<phase>_<which_epoch>``, e.g. ``results/label2city_2048/test_latest``."""
    return os.path.join(results_dir, name, f"{phase}_{which_epoch}")


def frame_names(frame_path: str) -> tuple[str, str]:
    """(sequence, stem) of an input frame as the reference names results: its folder's name and file stem."""
    sequence = os.path.basename(os.path.dirname(os.path.abspath(frame_path)))
    return sequence, os.path.splitext(os.path.basename(frame_path))[0]


def save_test_images(save_dir: str, visuals: Mapping[str, np.ndarray], *, sequence: str, stem: str,
                     png_labels: tuple[str, ...] = (), aspect_ratio: float = 1.0) -> "OrderedDict[str, str]":
    """Save one test frame's visuals as ``save_dir/<sequence>/<label>_<stem>.<ext>``.

    Labels in ``png_labels`` (the colourised label map ``real_A``) are saved as PNG, the rest as JPEG, as in
    the reference.

    Args:
        save_dir: The results folder (see ``results_folder``).
        visuals: Label -> (H, W, 3) or (H, W) uint8 image.
        sequence: Sub-folder (see :func:`frame_names`).
        stem: File stem of the input frame.
        png_labels: Labels saved losslessly.
        aspect_ratio: ``--aspect_ratio`` applied when saving.

    Returns:
        Label -> path of the written file relative to ``save_dir``.
    """
    written: OrderedDict[str, str] = OrderedDict()
    for label, image in visuals.items():
        ext = "png" if label in png_labels else "jpg"
        relative = os.path.join(sequence, f"{label}_{stem}.{ext}")
        save_image(image, os.path.join(save_dir, relative), aspect_ratio=aspect_ratio)
        written[label] = relative
    return written
