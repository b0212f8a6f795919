"""The test-results page ``index.html``: a run summary, then per sequence a video player, a strip marking key
and interpolated frames (key-frame runs) and a grid of small thumbnails, each opening its full frame.

Thumbnails are small JPEG files written beside the frames (``<sequence>/thumbs/thumb_<frame>.jpg``), so a page
of 1,000 frames loads a few megabytes, lazily, rather than the full frames scaled down by the browser.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Optional

from PIL import Image

from util.html import HTML
from util.run_summary import checkpoint_description, model_rows

THUMB_FOLDER = "thumbs"
THUMB_WIDTH = 160
KIND_LEGEND = (("key", "key frame (generated)"), ("interpolated", "interpolated"))


@dataclass(frozen=True)
class PageFrame:
    """One frame on the page: full files, their thumbnails (paths relative to the page) and how it was made."""

    stem: str
    input_file: str
    output_file: str
    input_thumb: str
    output_thumb: str
    kind: str = ""


def thumbnail_path(relative: str) -> str:
    """``seq/fake_B_frame_0003.jpg`` -> ``seq/thumbs/thumb_fake_B_frame_0003.jpg`` (a name that globs for the
    frames, ``**/fake_B_*.jpg``, do not pick up)."""
    stem = os.path.splitext(os.path.basename(relative))[0]
    return os.path.join(os.path.dirname(relative), THUMB_FOLDER, f"thumb_{stem}.jpg")


def make_thumbnail(folder: str, relative: str, width: int = THUMB_WIDTH) -> str:
    """Write a ``width``-pixel-wide JPEG copy of ``folder/relative`` into ``thumbs/`` beside it.

    Returns:
        The thumbnail's path relative to ``folder``; ``relative`` itself when the frame cannot be read.
    """
    source = os.path.join(folder, relative)
    thumb = thumbnail_path(relative)
    try:
        with Image.open(source) as image:
            image.draft("RGB", (width, max(1, image.height * width // image.width)))  # JPEG: decode scaled down
            image = image.convert("RGB")
            width = min(width, image.width)
            height = max(1, round(image.height * width / image.width))
            os.makedirs(os.path.dirname(os.path.join(folder, thumb)), exist_ok=True)
            image.resize((width, height), Image.BILINEAR).save(os.path.join(folder, thumb), quality=80)
    except OSError:
        return relative
    return thumb


def frame_stem(output_file: str) -> str:
    """``seq/fake_B_frame_0003.jpg`` -> ``frame_0003``."""
    name = os.path.splitext(os.path.basename(output_file))[0]
    return name[len("fake_B_"):] if name.startswith("fake_B_") else name


def anchor_id(sequence: str, stem: str) -> str:
    """An HTML id for a frame (letters, digits, ``-`` and ``_`` only)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", f"{sequence}--{stem}")


def kind_counts(frames: list[PageFrame]) -> dict[str, int]:
    """How many frames of each kind (``""`` counts frames generated without key frames)."""
    counts: dict[str, int] = {}
    for frame in frames:
        counts[frame.kind] = counts.get(frame.kind, 0) + 1
    return counts


class ResultsPage:
    """The test-results page.

    Args:
        folder: The results folder; ``index.html`` is written there and all paths are relative to it.
        title: Page title.
        width: Displayed width of each sequence's video player in pixels (it shrinks with the window).
        opt: Test options, for the run summary (model, generator, changed flags, checkpoint); optional.
        thumb_width: Width of the thumbnails in pixels.
    """

    def __init__(self, folder: str | os.PathLike, title: str, width: int = 384,
                 opt: Optional[argparse.Namespace] = None, thumb_width: int = THUMB_WIDTH) -> None:
        self.folder = os.fspath(folder)
        self.title = title
        self.width = width
        self.opt = opt
        self.thumb_width = thumb_width
        self.frames: OrderedDict[str, list[PageFrame]] = OrderedDict()
        self.videos: dict[str, str] = {}
        self.with_real: set[str] = set()
        self.started = time.time()

    def add_frame(self, sequence: str, input_file: str, output_file: str, kind: str = "") -> None:
        """Record one frame: the input visual and the synthesized image (paths relative to ``folder``) and
        write their thumbnails. ``kind`` (``"key"`` or ``"interpolated"``) is shown on the strip and caption."""
        frame = PageFrame(frame_stem(output_file), input_file, output_file,
                          make_thumbnail(self.folder, input_file, self.thumb_width),
                          make_thumbnail(self.folder, output_file, self.thumb_width), kind)
        self.frames.setdefault(sequence, []).append(frame)

    def add_video(self, sequence: str, video_file: str, with_real: bool = False) -> None:
        """Show ``video_file`` (relative to ``folder``) as the sequence's player; ``with_real``: its frames are
        input | synthesized | real rather than input | synthesized."""
        self.videos[sequence] = video_file
        if with_real:
            self.with_real.add(sequence)

    def _video_of(self, sequence: str) -> Optional[str]:
        """The registered video, else ``<sequence>.mp4`` next to the page or inside the sequence folder."""
        candidates = [self.videos.get(sequence), f"{sequence}.mp4", os.path.join(sequence, f"{sequence}.mp4")]
        for candidate in candidates:
            if candidate and os.path.isfile(os.path.join(self.folder, candidate)):
                return candidate
        return None

    def summary_rows(self, seconds: float) -> list[tuple[str, str]]:
        """The run summary: what made the run (with options), then frames, time, speed and frame kinds."""
        every = [frame for frames in self.frames.values() for frame in frames]
        rows = model_rows(self.opt) if self.opt is not None else []
        if self.opt is not None:
            rows.append(("checkpoint", checkpoint_description(self.opt)))
        rows.append(("frames", f"{len(every)} in {len(self.frames)} sequence(s)"))
        fps = len(every) / seconds if seconds > 0 else 0.0
        rows.append(("time", f"{seconds:.1f} s ({fps:.2f} frames/s, writing included)"))
        counts = kind_counts(every)
        if counts.get("key") or counts.get("interpolated"):
            rows.append(("key frames", f"{counts.get('key', 0)} generated, {counts.get('interpolated', 0)} "
                                       "interpolated"))
        return rows

    def build(self, seconds: Optional[float] = None) -> HTML:
        """The page (``seconds``: the run's duration; default: since this page was created)."""
        seconds = time.time() - self.started if seconds is None else seconds
        page = HTML(self.folder, self.title)
        page.add_header(self.title)
        page.add_summary(self.summary_rows(seconds))
        for sequence, frames in self.frames.items():
            self._add_sequence(page, sequence, frames)
        return page

    def _add_sequence(self, page: HTML, sequence: str, frames: list[PageFrame]) -> None:
        """One sequence: header, player, key-frame strip, thumbnail grid."""
        page.add_header(f"{sequence} ({len(frames)} frames)")
        video_file = self._video_of(sequence)
        if video_file is not None:
            panels = "input | synthesized | real" if sequence in self.with_real else "input | synthesized"
            page.add_video(video_file, width=self.width * (3 if sequence in self.with_real else 2), caption=panels)
        if any(frame.kind for frame in frames):
            marks = [(frame.kind or "generated", f"{frame.stem}: {frame.kind or 'generated'}",
                      anchor_id(sequence, frame.stem)) for frame in frames]
            page.add_strip(marks, KIND_LEGEND)
        cells = [([(frame.input_thumb, frame.input_file), (frame.output_thumb, frame.output_file)],
                  f"{frame.stem} {frame.kind}".strip(), anchor_id(sequence, frame.stem)) for frame in frames]
        page.add_grid(cells, thumb_width=self.thumb_width)

    def save(self, seconds: Optional[float] = None) -> str:
        """Write ``<folder>/index.html`` atomically and return its path."""
        os.makedirs(self.folder, exist_ok=True)
        return self.build(seconds).save()
