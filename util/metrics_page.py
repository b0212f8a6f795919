"""The evaluation page ``metrics.html``: the table, per-frame PSNR and warping-error plots (SVG), and the
frames with the lowest PSNR beside their real frames and the difference.

Pictures go to ``<page folder>/metrics_files/`` (paths in the page are relative, the folder can be moved).
"""

from __future__ import annotations

import math
import os
import re
from typing import Sequence

import numpy as np

from util.checkpoint import atomic_write_text
from util.evaluation import Evaluation, FrameScores, SequenceScores, load_frame
from util.html import HTML
from util.image import save_image
from util.metrics_report import FORMATS, format_value, set_lines, table_rows
from util.svg_plot import PALETTE, Series, line_plot

FILES_FOLDER = "metrics_files"
DIFF_GAIN = 4.0


PSNR_CAPTION = ("PSNR of each generated frame against its real frame, one line per sequence, over the frame number "
                "of the file names (higher is closer; identical frames are not drawn)")
WARP_CAPTION = ("warping error per frame: frame t-1 warped to frame t by the flow of the real frames, compared with "
                "frame t (lower is smoother). Solid: the generated video; dashed and lighter: the real video, "
                "whose own error is the floor a generated video can reach")


def frame_number(stem: str, position: int) -> int:
    """The frame number in a file stem (``frame_0014`` -> 14, the last digit run), else ``position``."""
    digits = re.findall(r"\d+", stem)
    return int(digits[-1]) if digits else position


def _frame_numbers(seq: SequenceScores) -> list[int]:
    """The x values of a sequence's frames: numbers from the file names when they rise, else 0, 1, 2..."""
    numbers = [frame_number(frame.stem, i) for i, frame in enumerate(seq.frames)]
    return numbers if all(b > a for a, b in zip(numbers, numbers[1:])) else list(range(len(seq.frames)))


def psnr_plot(evaluation: Evaluation) -> str:
    """SVG of the per-frame PSNR, one line per sequence (infinite values are not drawn)."""
    series = [Series(seq.name, [f.psnr for f in seq.frames], PALETTE[i % len(PALETTE)], x=_frame_numbers(seq))
              for i, seq in enumerate(evaluation.sequences)]
    return line_plot(series, title="PSNR per frame", y_label="PSNR (dB)", x_label="frame number", x_min_step=1)


def warp_plot(evaluation: Evaluation) -> str:
    """SVG of the per-frame warping error: generated (solid) and real (dashed, lighter) per sequence."""
    series = []
    for i, seq in enumerate(evaluation.sequences):
        color, x = PALETTE[i % len(PALETTE)], _frame_numbers(seq)
        series.append(Series(f"{seq.name} generated", [f.warp_error for f in seq.frames], color, x=x))
        series.append(Series(f"{seq.name} real", [f.warp_error_real for f in seq.frames], color, dashed=True, x=x))
    return line_plot(series, title="warping error per frame (frame t-1 warped to t)", y_label="warping error",
                     x_label="frame number", x_min_step=1)


def worst_frames(evaluation: Evaluation, count: int) -> list[tuple[SequenceScores, FrameScores]]:
    """The ``count`` frames with the lowest PSNR (NaN last)."""
    frames = [(seq, frame) for seq in evaluation.sequences for frame in seq.frames]
    frames.sort(key=lambda item: (math.isnan(item[1].psnr), item[1].psnr))
    return frames[:max(count, 0)]


def _to_uint8(frame) -> np.ndarray:
    """(3, H, W) tensor in [0, 1] -> (H, W, 3) uint8."""
    return (frame.clamp(0, 1).permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)


def save_frame_triplet(page_folder: str, number: int, frame: FrameScores) -> list[str]:
    """Write the generated frame, the real frame at the generated size and |difference| x 4 under
    ``page_folder/metrics_files``.

    Returns:
        The three paths, relative to ``page_folder``.
    """
    fake, size = load_frame(frame.fake)
    real, _ = load_frame(frame.real, size=size)
    pictures = {"fake": fake, "real": real, "diff": ((fake - real).abs() * DIFF_GAIN)}
    paths = []
    for kind, picture in pictures.items():
        relative = os.path.join(FILES_FOLDER, f"worst{number:02d}_{kind}.jpg")
        save_image(_to_uint8(picture), os.path.join(page_folder, relative))
        paths.append(relative)
    return paths


def _add_worst(page: HTML, evaluation: Evaluation, page_folder: str, count: int, width: int) -> None:
    """The lowest-PSNR frames, each as one row: generated | real | difference."""
    worst = worst_frames(evaluation, count)
    if not worst:
        return
    page.add_header(f"the {len(worst)} frames with the lowest PSNR")
    for number, (seq, frame) in enumerate(worst):
        paths = save_frame_triplet(page_folder, number, frame)
        scores = f"PSNR {format_value(frame.psnr, FORMATS['psnr'])}, SSIM {format_value(frame.ssim, FORMATS['ssim'])}"
        captions = [f"generated: {seq.name}/{frame.stem} ({scores})", f"real: {os.path.basename(frame.real)}",
                    f"|generated - real| x {DIFF_GAIN:g}"]
        page.add_images(paths, captions, width=width)


def write_page(evaluation: Evaluation, page_folder: str, *, title: str, info: Sequence[str] = (), worst: int = 6,
               width: int = 384) -> str:
    """Write ``metrics.html`` and its pictures into ``page_folder``; returns the page path.

    Args:
        evaluation: What was measured.
        page_folder: Folder of the page.
        title: Page title.
        info: Lines shown under the title (inputs, tools).
        worst: How many lowest-PSNR frames to show.
        width: Displayed width of the frames, in pixels.
    """
    files = os.path.join(page_folder, FILES_FOLDER)
    os.makedirs(files, exist_ok=True)
    page = HTML(page_folder, title)
    page.add_header(title)
    for line in info:
        page.add_text(line)
    header, rows = table_rows(evaluation)
    page.add_table(header, rows)
    for line in set_lines(evaluation) + [f"note: {note}" for note in evaluation.notes]:
        page.add_text(line)
    plots = (("psnr.svg", psnr_plot(evaluation), PSNR_CAPTION), ("warp_error.svg", warp_plot(evaluation), WARP_CAPTION))
    for name, svg, caption in plots:
        atomic_write_text(svg, os.path.join(files, name))
        page.add_images([os.path.join(FILES_FOLDER, name)], [caption], width=720)
    _add_worst(page, evaluation, page_folder, worst, width)
    return page.save("metrics.html")
