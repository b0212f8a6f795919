"""Training visuals and loss logging (HTML page, loss_log.txt, TensorBoard) and the test-results page.

``Visualizer`` writes, under ``<checkpoints_dir>/<name>/``:
- ``web/images/epoch%03d_<label>.jpg`` and ``web/index.html`` (newest epoch first), unless ``--no_html``;
- ``loss_log.txt``: a timestamped header, then ``(epoch: E, iters: I, time: T) key: v ...`` lines;
- ``logs/``: TensorBoard scalars and images with ``--tf_log`` (``torch.utils.tensorboard``, no TensorFlow).
Only the process created with ``enabled=True`` (rank 0) writes anything.

``save_test_images`` (and :class:`util.results_page.ResultsPage`) write test.py's outputs under
``<results_dir>/<name>/<phase>_<epoch>/``.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import numpy as np

from util.html import HTML
from util.image import save_image
from util.results_page import ResultsPage  # noqa: F401 - the test-results page, imported from here by callers
from util.run_summary import model_rows
from util.svg_plot import PALETTE, Series, line_plot

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
        self.name = str(opt.name)
        self.win_size = int(opt.display_winsize)
        self.use_html = bool(opt.isTrain) and not opt.no_html
        self.use_tensorboard = bool(opt.tf_log)
        self.run_dir = os.path.join(opt.checkpoints_dir, self.name)
        self.web_dir = os.path.join(self.run_dir, "web")
        self.img_dir = os.path.join(self.web_dir, "images")
        self.log_dir = os.path.join(self.run_dir, "logs")
        self.log_name = os.path.join(self.run_dir, "loss_log.txt")
        self.opt = opt
        self._writer = None
        self._page_state: Optional[tuple[list[str], int]] = None
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

    def _write_index(self, labels: list[str], last_epoch: int, finished: bool = False) -> str:
        """Rebuild the training page: the run summary, a loss plot per loss group, then each epoch's images,
        newest first. While training runs the page reloads itself every 30 s; once it has ended it does not."""
        page = HTML(self.web_dir, f"Experiment name = {self.name}", refresh=0 if finished else 30)
        page.add_header(f"Experiment name = {self.name}")
        page.add_summary(self._summary_rows(last_epoch, finished))
        records = read_loss_log(self.log_name)
        if records:
            page.add_header("losses")
            for group, names in loss_groups(records).items():
                page.add_svg(loss_plot(records, group, names))
        for epoch in range(last_epoch, 0, -1):
            present = [label for label in labels
                       if os.path.isfile(os.path.join(self.img_dir, f"epoch{epoch:03d}_{label}.jpg"))]
            if not present:
                continue
            page.add_header(f"epoch [{epoch}]")
            page.add_images([f"images/epoch{epoch:03d}_{label}.jpg" for label in present], present,
                            width=self.win_size)
        self._page_state = (list(labels), last_epoch)
        return page.save()

    def _summary_rows(self, last_epoch: int, finished: bool) -> list[tuple[str, str]]:
        """Run summary: model, generator, changed flags, how far training got."""
        rows = model_rows(self.opt)
        total = int(self.opt.niter) + int(self.opt.niter_decay)
        of_total = f" of {total}" if total else ""
        state = "ended" if finished else "running (this page reloads every 30 s)"
        rows.append(("training", f"{state}; last images from epoch {last_epoch}{of_total}; "
                                 f"updated {time.strftime('%Y-%m-%d %H:%M:%S')}"))
        return rows

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
        """Rewrite the training page without its reload tag (training has ended), flush and close TensorBoard."""
        if self.enabled and self.use_html and self._page_state is not None:
            self._write_index(*self._page_state, finished=True)
            self._page_state = None
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


LOSS_LINE = re.compile(r"^\(epoch: (\d+), iters: (\d+), time: [^)]*\)(.*)$")
MAX_PLOT_POINTS = 400


@dataclass(frozen=True)
class LossRecord:
    """One line of ``loss_log.txt``: when (epoch, samples seen in the epoch) and the losses printed."""

    epoch: int
    iters: int
    losses: dict


def read_loss_log(path: str) -> list[LossRecord]:
    """Every loss line of ``loss_log.txt`` (headers and other lines skipped); empty if there is no log."""
    if not os.path.isfile(path):
        return []
    records = []
    with open(path) as stream:
        for line in stream:
            match = LOSS_LINE.match(line.strip())
            if match:
                pairs = re.findall(r"(\S+): (\S+)", match.group(3))
                losses = {key: float(value) for key, value in pairs if _is_number(value)}
                records.append(LossRecord(int(match.group(1)), int(match.group(2)), losses))
    return records


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


LOSS_GROUPS = ("generator", "discriminator", "temporal GAN", "flow and other")


def loss_group(name: str) -> str:
    """The plot a loss goes to: generator, discriminator, temporal GAN (D_T and G_T terms), or flow and other
    losses."""
    if "_T_" in name or name.startswith("D_T"):
        return "temporal GAN"
    if name.startswith("D"):
        return "discriminator"
    if name.startswith("G"):
        return "generator"
    return "flow and other"


def loss_groups(records: list[LossRecord]) -> "OrderedDict[str, list[str]]":
    """Group name -> sorted loss names seen in ``records``."""
    names = sorted({name for record in records for name in record.losses})
    groups: OrderedDict[str, list[str]] = OrderedDict((group, []) for group in LOSS_GROUPS)
    for name in names:
        groups[loss_group(name)].append(name)
    return OrderedDict((group, members) for group, members in groups.items() if members)


def epoch_positions(records: list[LossRecord]) -> list[float]:
    """Each record's place in training in epochs: ``epoch - 1 + iters / (largest iters logged in that epoch)``."""
    longest: dict[int, int] = {}
    for record in records:
        longest[record.epoch] = max(longest.get(record.epoch, 0), record.iters)
    return [record.epoch - 1 + record.iters / max(longest[record.epoch], 1) for record in records]


def loss_plot(records: list[LossRecord], group: str, names: list[str], width: int = 480, height: int = 220) -> str:
    """SVG of the losses ``names`` over the epochs (at most :data:`MAX_PLOT_POINTS` points per line)."""
    stride = max(1, -(-len(records) // MAX_PLOT_POINTS))
    kept = records[::stride]
    x = epoch_positions(records)[::stride]
    series = [Series(name, [record.losses.get(name) for record in kept], PALETTE[i % len(PALETTE)], x=x)
              for i, name in enumerate(names)]
    return line_plot(series, title=f"{group} losses", y_label="loss", x_label="epoch", width=width, height=height)


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
