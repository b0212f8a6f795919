"""Write one sequence of a mode's dataset from a video: detect, write atomically, resume, fill short gaps, drop.

Frames are named ``00000``, ``00001``... by their index in the source. A frame is done when its photo and all its
annotation files exist (annotations are written first, the photo last, each atomically), so a resumed run skips it.
A frame where nothing is detected waits in ``<root>/.prepare/<phase>/<seq>/`` (its photo and a ``.none`` marker)
until the end: runs of at most ``max_gap`` such frames are filled from their detected neighbours (interpolated
between both, or copied from the one neighbour at the sequence's ends); longer runs are dropped from every folder
alike and listed in the report.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm import tqdm

from data.prepare.base import ModeWriter
from data.prepare.errors import PrepareError
from data.prepare.files import encode_image, write_atomic
from data.prepare.frames import FrameSource

logger = logging.getLogger(__name__)

STAGING = ".prepare"


@dataclass
class Report:
    """What one run wrote: counts and the names of filled and dropped frames."""

    source: str
    sequence: str
    frames: int = 0
    detected: int = 0
    resumed: int = 0
    filled: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Layout:
    """Paths of one sequence of a mode's dataset."""

    root: Path
    phase: str
    seq: str
    writer: ModeWriter

    def photo(self, name: str) -> Path:
        w = self.writer
        return self.root / f"{self.phase}_{w.photo_folder}" / self.seq / f"{name}{w.photo_extension}"

    def annotation(self, folder: str, name: str) -> Path:
        return self.root / f"{self.phase}_{folder}" / self.seq / f"{name}{self.writer.annotations[folder]}"

    @property
    def staging(self) -> Path:
        return self.root / STAGING / self.phase / self.seq

    def staged_photo(self, name: str) -> Path:
        return self.staging / f"{name}{self.writer.photo_extension}"

    def marker(self, name: str) -> Path:
        return self.staging / f"{name}.none"

    def is_done(self, name: str) -> bool:
        return self.photo(name).is_file() and all(self.annotation(f, name).is_file() for f in self.writer.annotations)

    def is_staged(self, name: str) -> bool:
        return self.marker(name).is_file() and self.staged_photo(name).is_file()


def frame_name(index: int) -> str:
    """Output stem of frame ``index``: ``00042``."""
    return f"{index:05d}"


def write_annotations(layout: Layout, name: str, annotation: object) -> None:
    """Every annotation file of frame ``name`` (atomic each)."""
    for folder in layout.writer.annotations:
        write_atomic(layout.annotation(folder, name), layout.writer.encode(folder, annotation))


def detect_all(source: FrameSource, layout: Layout, report: Report, *, progress: bool = True) -> list[bool]:
    """First pass: detect on every frame not done yet; returns, per frame, whether it has a detection."""
    found: list[bool] = []
    writer = layout.writer
    bar = tqdm(source, total=source.count or None, desc=f"{writer.mode} {layout.seq}", unit="frame",
               disable=not progress)
    for index, frame in bar:
        name = frame_name(index)
        if layout.is_done(name) or layout.is_staged(name):
            report.resumed += 1
            found.append(layout.is_done(name))
            continue
        annotation = writer.detect(frame)
        photo = encode_image(frame, writer.photo_extension)
        if annotation is None:
            write_atomic(layout.staged_photo(name), photo)
            write_atomic(layout.marker(name), b"")
        else:
            write_annotations(layout, name, annotation)
            write_atomic(layout.photo(name), photo)
        found.append(annotation is not None)
        bar.set_postfix(missing=found.count(False))
    report.frames, report.detected = len(found), found.count(True)
    return found


def missing_runs(found: list[bool]) -> list[tuple[int, int]]:
    """Runs ``[start, stop)`` of consecutive frames without a detection."""
    runs, start = [], None
    for index, ok in enumerate(found + [True]):
        if not ok and start is None:
            start = index
        elif ok and start is not None:
            runs.append((start, index))
            start = None
    return runs


def fill_run(layout: Layout, run: tuple[int, int], n_frames: int) -> None:
    """Fill frames ``[start, stop)`` from the detected frames around them and move their photos in."""
    start, stop = run
    writer = layout.writer

    def read(index: int) -> object:
        return writer.read({folder: layout.annotation(folder, frame_name(index)) for folder in writer.annotations})

    before = read(start - 1) if start > 0 else None
    after = read(stop) if stop < n_frames else None
    for index in range(start, stop):
        name = frame_name(index)
        if before is None or after is None:
            annotation = before if after is None else after
        else:
            annotation = writer.blend(before, after, (index - start + 1) / (stop - start + 1))
        write_annotations(layout, name, annotation)
        layout.photo(name).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(layout.staged_photo(name)), layout.photo(name))


def fill_or_drop(layout: Layout, found: list[bool], report: Report, max_gap: int) -> None:
    """Second pass: fill runs of at most ``max_gap`` missing frames, drop (and list) longer ones."""
    for run in missing_runs(found):
        names = [frame_name(i) for i in range(*run)]
        if run[1] - run[0] <= max_gap:
            fill_run(layout, run, len(found))
            report.filled += names
        else:
            report.dropped += names
    shutil.rmtree(layout.staging, ignore_errors=True)
    staging_root = layout.root / STAGING
    for folder in (layout.staging.parent, staging_root):
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def prepare_sequence(source: FrameSource, writer: ModeWriter, *, root: str | Path, phase: str, seq: str,
                     max_gap: int = 2, progress: bool = True) -> Report:
    """Write sequence ``seq`` of ``writer``'s dataset under ``root`` from ``source``.

    Args:
        source: Opened video or frame folder (:func:`data.prepare.frames.open_source`).
        writer: The mode's detector and formats.
        root: Dataset root (``--dataroot``).
        phase: ``train`` or ``test`` (folder prefix).
        seq: Sequence (sub-folder) name.
        max_gap: Longest run of frames without a detection that is filled from its neighbours.
        progress: Show a tqdm bar.

    Returns:
        The report (also written as ``<root>/<phase>_<seq>.prepare.json``).

    Raises:
        PrepareError: nothing was detected in any frame (nothing is left written).
    """
    layout = Layout(Path(root), phase, seq, writer)
    report = Report(source=source.path, sequence=seq)
    found = detect_all(source, layout, report, progress=progress)
    if not any(found):
        shutil.rmtree(layout.staging, ignore_errors=True)
        fill_or_drop(layout, [], report, max_gap)
        raise PrepareError(f"{source.path}: {writer.nothing_found} in any of its {len(found)} frames; nothing was "
                           f"written. Check the video shows a {writer.nothing_found.split()[-1]}, or try another "
                           "--backend")
    fill_or_drop(layout, found, report, max_gap)
    write_atomic(Path(root) / f"{phase}_{seq.replace('/', '_')}.prepare.json", json.dumps(asdict(report), indent=1).encode())
    return report
