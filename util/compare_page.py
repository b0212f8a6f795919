"""The comparison page of several test-results folders (``scripts/compare_runs.py``): per sequence the runs'
videos side by side, started, paused and sought together, then the same frames in one grid row per run; the
runs' ``metrics.json`` (``scripts/evaluate.py``) as one table. Sequences and frames are matched by name, and
what one run has and another lacks is said on the page.
"""

from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Optional, Sequence

from dominate.tags import button, div, figcaption, figure, script, video
from dominate.util import raw

from util.html import HTML, relative_url
from util.metrics_report import format_value
from util.results_page import thumbnail_path

FAKE = re.compile(r"^fake_B_(.+)\.(jpg|png)$")
METRIC_COLUMNS = (("psnr", "PSNR (dB)", "{:.2f}"), ("ssim", "SSIM", "{:.4f}"), ("lpips", "LPIPS", "{:.4f}"),
                  ("warp_error", "warp err", "{:.4g}"), ("warp_error_real", "warp err (real)", "{:.4g}"),
                  ("fid", "FID", "{:.3f}"), ("fvd", "FVD", "{:.3f}"))
FRAMES_SHOWN = 8

# Every player of a sequence follows the one the user drives: play, pause and seek are repeated on the others.
SYNC_JS = """
document.querySelectorAll('.players').forEach(function (group) {
  var players = Array.from(group.querySelectorAll('video'));
  var busy = false;
  function others(source, action) {
    if (busy) { return; }
    busy = true;
    players.forEach(function (v) { if (v !== source) { action(v); } });
    busy = false;
  }
  players.forEach(function (v) {
    v.addEventListener('play', function () {
      others(v, function (o) { o.currentTime = v.currentTime; o.play(); });
    });
    v.addEventListener('pause', function () { others(v, function (o) { o.pause(); }); });
    v.addEventListener('seeked', function () {
      others(v, function (o) {
        if (Math.abs(o.currentTime - v.currentTime) > 0.05) { o.currentTime = v.currentTime; }
      });
    });
  });
  var play = group.parentNode.querySelector('button.play-all');
  if (play) {
    play.addEventListener('click', function () {
      busy = true;
      players.forEach(function (v) { v.currentTime = 0; });
      Promise.all(players.map(function (v) { return v.play(); })).finally(function () { busy = false; });
    });
  }
  var pause = group.parentNode.querySelector('button.pause-all');
  if (pause) { pause.addEventListener('click', function () { players.forEach(function (v) { v.pause(); }); }); }
});
"""


@dataclass
class Run:
    """One results folder: its label, sequences -> frame stems -> generated file, videos and metrics."""

    label: str
    folder: str
    frames: "OrderedDict[str, OrderedDict[str, str]]" = field(default_factory=OrderedDict)
    videos: dict = field(default_factory=dict)
    metrics: Optional[dict] = None


def run_labels(folders: Sequence[str]) -> list[str]:
    """Short distinct names: ``results/label2city/test_latest`` -> ``label2city/test_latest``, with more of the
    path where two folders would get the same name."""
    parts = [os.path.normpath(os.path.abspath(folder)).split(os.sep) for folder in folders]
    for depth in range(2, max(len(p) for p in parts) + 1):
        labels = ["/".join(p[-depth:]) for p in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{i + 1}: {label}" for i, label in enumerate(labels)]


def read_run(folder: str, label: str) -> Run:
    """Scan a test-results folder: ``<sequence>/fake_B_<stem>.jpg``, ``<sequence>/<sequence>.mp4`` and
    ``metrics.json``.

    Raises:
        FileNotFoundError: the folder does not exist or holds no generated frame.
    """
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"results folder not found: {folder} (give folders test.py wrote, e.g. "
                                "results/<name>/test_latest)")
    run = Run(label, folder)
    for sequence in sorted(os.listdir(folder)):
        path = os.path.join(folder, sequence)
        if not os.path.isdir(path):
            continue
        stems = sorted((m.group(1), name) for name in os.listdir(path) if (m := FAKE.match(name)))
        if stems:
            run.frames[sequence] = OrderedDict((stem, os.path.join(sequence, name)) for stem, name in stems)
        if os.path.isfile(os.path.join(path, f"{sequence}.mp4")):
            run.videos[sequence] = os.path.join(sequence, f"{sequence}.mp4")
    if not run.frames:
        raise FileNotFoundError(f"no generated frames (<sequence>/fake_B_*.jpg) in {folder}: is it a folder "
                                "test.py wrote?")
    metrics_path = os.path.join(folder, "metrics.json")
    if os.path.isfile(metrics_path):
        with open(metrics_path) as stream:
            run.metrics = json.load(stream)
    return run


def mismatches(runs: Sequence[Run]) -> list[str]:
    """What the runs do not share: sequences missing from some runs, frames missing from some sequences."""
    notes = []
    sequences = list(OrderedDict.fromkeys(seq for run in runs for seq in run.frames))
    for sequence in sequences:
        missing = [run.label for run in runs if sequence not in run.frames]
        if missing:
            notes.append(f"sequence {sequence} is missing from {', '.join(missing)}")
            continue
        stems = [set(run.frames[sequence]) for run in runs]
        common = set.intersection(*stems)
        for run, own in zip(runs, stems):
            extra = sorted(own - common)
            if extra:
                notes.append(f"{sequence}: {run.label} has {len(extra)} frame(s) the others lack "
                             f"({', '.join(extra[:3])}{', ...' if len(extra) > 3 else ''})")
    return notes


def shown_stems(runs: Sequence[Run], sequence: str, count: int = FRAMES_SHOWN) -> list[str]:
    """Up to ``count`` frame stems every run of ``sequence`` has, evenly spread over the sequence."""
    having = [run for run in runs if sequence in run.frames]
    common = [stem for stem in having[0].frames[sequence] if all(stem in run.frames[sequence] for run in having)]
    if len(common) <= count:
        return common
    return [common[round(i * (len(common) - 1) / (count - 1))] for i in range(count)]


def _relative(out_dir: str, run: Run, path: str) -> str:
    """A run's file as seen from the comparison page."""
    return os.path.relpath(os.path.join(run.folder, path), out_dir)


def _thumbnail(run: Run, path: str) -> str:
    """The run's thumbnail of a frame (test pages write them) or the frame itself."""
    thumb = thumbnail_path(path)
    return thumb if os.path.isfile(os.path.join(run.folder, thumb)) else path


def metrics_table(runs: Sequence[Run]) -> tuple[list[str], list[list[str]]]:
    """Header and one row per run with a ``metrics.json``: the overall value of every measure any run has."""
    with_metrics = [run for run in runs if run.metrics]
    keys = [(key, title, pattern) for key, title, pattern in METRIC_COLUMNS
            if any(_number(run.metrics.get("overall", {}).get(key)) is not None for run in with_metrics)]
    header = ["run", "frames"] + [title for _, title, _ in keys]
    rows = [[run.label, str(run.metrics.get("frames", "-"))]
            + [format_value(_number(run.metrics.get("overall", {}).get(key)), pattern) for key, _, pattern in keys]
            for run in with_metrics]
    return header, rows


def _number(value) -> Optional[float]:
    """A metrics.json value as a float ("inf" strings included), None when absent."""
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def build_page(runs: Sequence[Run], out_dir: str, title: str = "comparison", video_width: int = 480) -> HTML:
    """The comparison page (paths relative to ``out_dir``)."""
    page = HTML(out_dir, title)
    page.add_header(title)
    page.add_table(["run", "folder", "sequences", "frames"],
                   [[run.label, os.path.relpath(run.folder, out_dir), str(len(run.frames)),
                     str(sum(len(f) for f in run.frames.values()))] for run in runs])
    header, rows = metrics_table(runs)
    if rows:
        page.add_header("metrics (scripts/evaluate.py, metrics.json)")
        page.add_table(header, rows)
    for note in mismatches(runs):
        page.add_text(f"mismatch: {note}")
    for sequence in OrderedDict.fromkeys(seq for run in runs for seq in run.frames):
        _add_sequence(page, runs, sequence, out_dir, video_width)
    with page.doc:
        script(raw(SYNC_JS))
    return page


def _add_sequence(page: HTML, runs: Sequence[Run], sequence: str, out_dir: str, video_width: int) -> None:
    """A sequence: the synchronised players, then a row of the same frames per run."""
    having = [run for run in runs if sequence in run.frames]
    page.add_header(f"{sequence} ({', '.join(run.label for run in having)})")
    with_video = [run for run in having if sequence in run.videos]
    if with_video:
        with page.doc:
            with div(cls="compare"):
                button("play all from the start", cls="play-all")
                button("pause all", cls="pause-all")
                with div(cls="players row"):
                    for run in with_video:
                        _player(run, _relative(out_dir, run, run.videos[sequence]), video_width)
    stems = shown_stems(having, sequence)
    for run in having:
        paths = [run.frames[sequence][stem] for stem in stems]
        page.add_text(run.label)
        page.add_images([_relative(out_dir, run, _thumbnail(run, p)) for p in paths], stems,
                        links=[_relative(out_dir, run, p) for p in paths], width=160)


def _player(run: Run, src: str, width: int) -> None:
    """One labelled ``<video>`` (inside the current dominate context)."""
    with figure():
        video(src=relative_url(src), controls=True, muted=True, preload="auto", playsinline=True,
              style=f"width:{int(width)}px; max-width:100%")
        figcaption(run.label)


def write_compare_page(folders: Sequence[str], out_dir: str, labels: Optional[Sequence[str]] = None) -> str:
    """Read every results folder and write ``out_dir/index.html``; returns its path."""
    labels = list(labels) if labels else run_labels(folders)
    runs = [read_run(folder, label) for folder, label in zip(folders, labels)]
    os.makedirs(out_dir, exist_ok=True)
    title = "comparison: " + " vs ".join(run.label for run in runs)
    return build_page(runs, out_dir, title=title).save()

