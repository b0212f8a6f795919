"""The checks every dataset layout shares: folders, pairing, frame names, lengths, every file decoded, sizes.

A layout is a list of :class:`FolderSpec` (the primary modality first: its frame count defines a sequence);
:func:`check_folders` returns every problem of it at once, each a :class:`Problem` naming the file or folder
and the fix. Dataset modes describe their layout in a static ``check_dataset(opt)`` hook (see
``data/face_dataset.py``) and add checks of their own; ``data/check.py`` runs them.

Kinds of content: ``"label"`` / ``"inst"`` (one channel of integer ids), ``"image"`` (input images,
``--input_nc`` channels), ``"photo"`` (RGB), ``"iuv"`` (DensePose RGB maps, part ids <= 24) and ``"file"``
(anything else, read by the spec's ``reader``, which raises ``ValueError`` naming what is wrong).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from PIL import Image

from data.transforms import ID_MODES
from data.video_folder import IMG_EXTENSIONS, FrameSequence, natural_key, printable, scan_sequences
from options.validation import frame_divisor, min_frames_g
from util.memory import frame_memory_problem

logger = logging.getLogger(__name__)

RGB_MODES = ("RGB", "RGBA", "P", "CMYK", "YCbCr")
LOSSY_FORMATS = ("JPEG", "MPO", "WEBP")  # WebP may be lossless, but PIL cannot tell: refused for ids
EXIF_ORIENTATION = 0x0112
ORIENTATIONS = {2: "mirrored", 3: "rotated 180 degrees", 4: "flipped upside down", 5: "mirrored and rotated 90 "
                "degrees", 6: "rotated 90 degrees", 7: "mirrored and rotated 270 degrees", 8: "rotated 270 degrees"}
IMAGE_KINDS = ("label", "inst", "image", "photo", "iuv")
N_DENSEPOSE_PARTS = 24
REEXPORT = "re-export or remove the file"


@dataclass(frozen=True)
class Problem:
    """One dataset problem: the file or folder, what is wrong, and the flag or action that fixes it.

    ``kind`` names the sort of problem of a file (``"unreadable"``, ``"jpeg label"``...): the report shows the
    problems of one kind in one folder as one line with a count and the first file as the example
    (:func:`group_problems`); problems without a kind are shown one by one.
    """

    path: str
    message: str
    fix: str
    kind: str = field(default="", compare=False)

    def __str__(self) -> str:
        return f"{printable(self.path)}: {self.message} (fix: {self.fix})"


def group_problems(problems: list[Problem]) -> list[tuple[Problem, int]]:
    """Problems of the same kind in the same folder merged: (first problem, how many), in order of first
    appearance; problems without a kind each stand alone (count 1)."""
    groups: dict[object, list] = {}
    for index, problem in enumerate(problems):
        key = (os.path.dirname(problem.path), problem.kind) if problem.kind else index
        groups.setdefault(key, [problem, 0])[1] += 1
    return [(problem, count) for problem, count in groups.values()]


def describe_group(problem: Problem, count: int) -> str:
    """One report line: the example problem, and how many files of its folder share it."""
    if count == 1:
        return str(problem)
    return (f"{problem} [{count} files of {printable(os.path.dirname(problem.path))} have this kind of problem; "
            "the first is shown]")


@dataclass(frozen=True)
class FolderSpec:
    """A modality folder to check.

    Attributes:
        key: Name of the modality (``A``, ``inst``, ``B``, ``img``, ``keypoints``...).
        path: The folder.
        kind: Kind of content (see the module docstring).
        drop_hint: How to fix a missing folder.
        extensions: File endings of its frames.
        reader: For kind ``"file"``: reads one file, raising ``ValueError`` with the problem.
        fix: What fixes a file the reader rejects.
    """

    key: str
    path: str
    kind: str
    drop_hint: str
    extensions: tuple[str, ...] = IMG_EXTENSIONS
    reader: Optional[Callable[[str], object]] = field(default=None, compare=False)
    fix: str = REEXPORT


@dataclass(frozen=True)
class FrameInfo:
    """What decoding a frame told: PIL mode, channel count, (width, height), largest value (ids / parts),
    smallest value (ids), file format (``"PNG"``, ``"JPEG"``...) and EXIF orientation (1: stored upright)."""

    mode: str
    bands: int
    size: tuple[int, int]
    high: Optional[int] = None
    low: Optional[int] = None
    format: str = ""
    orientation: int = 1


# ---------------------------------------------------------------- folders, pairing, names, lengths
def find_folders(specs: list[FolderSpec]) -> tuple[list[Problem], dict[str, list[FrameSequence]]]:
    """Sequences of every spec's folder; problems for missing or empty folders."""
    problems, found = [], {}
    for spec in specs:
        if not os.path.isdir(spec.path):
            problems.append(Problem(spec.path, "missing folder", spec.drop_hint))
            continue
        found[spec.key], refused = scan_sequences(spec.path, spec.extensions)
        problems += [Problem(path, what, fix, kind=f"entry: {what}") for path, what, fix in refused]
        if not found[spec.key]:
            ends = "|".join(e.lstrip(".") for e in spec.extensions[:4])
            problems.append(Problem(spec.path, f"no frames (expected <seq>/<frame>.{ends})", spec.drop_hint))
    return problems, found


def check_pairing(specs: list[FolderSpec], found: dict[str, list[FrameSequence]]) -> list[Problem]:
    """Sequences missing from a modality, and sequences whose frame counts differ from the primary's."""
    problems, primary = [], specs[0]
    ref = {s.name: len(s) for s in found.get(primary.key, [])}
    for spec in specs[1:]:
        if spec.key not in found or primary.key not in found:
            continue
        other = {s.name: len(s) for s in found[spec.key]}
        for name in sorted(set(ref) ^ set(other)):
            where, missing_in = (primary, spec) if name in ref else (spec, primary)
            problems.append(Problem(os.path.join(where.path, name), f"sequence has no counterpart in "
                                    f"{missing_in.path}", f"add or remove the sequence in {missing_in.path}"))
        for name in sorted(set(ref) & set(other)):
            if ref[name] != other[name]:
                problems.append(Problem(os.path.join(spec.path, name), f"{other[name]} frames but "
                                        f"{ref[name]} in {os.path.join(primary.path, name)}",
                                        "give every modality the same frames"))
    return problems


def frame_numbers(paths: list[str]) -> Optional[list[tuple[int, ...]]]:
    """The numbers that change from frame to frame in the file names (None when nothing changes)."""
    runs = [tuple(int(d) for d in re.findall(r"\d+", os.path.splitext(os.path.basename(p))[0])) for p in paths]
    if len({len(r) for r in runs}) != 1:
        return None
    varying = [i for i in range(len(runs[0])) if len({r[i] for r in runs}) > 1]
    return [tuple(r[i] for i in varying) for r in runs] if varying else None


def check_names(specs: list[FolderSpec], found: dict[str, list[FrameSequence]]) -> list[Problem]:
    """Frames paired by position whose frame numbers differ (e.g. labels 1..10 beside photos 2..11)."""
    problems, primary = [], specs[0]
    ref = {s.name: s for s in found.get(primary.key, [])}
    for spec in specs[1:]:
        for seq in found.get(spec.key, []):
            mine = ref.get(seq.name)
            if mine is None or len(mine) != len(seq):
                continue
            a, b = frame_numbers(mine.frames), frame_numbers(seq.frames)
            if a is None or b is None or len(a[0]) != len(b[0]):
                continue
            bad = [t for t in range(len(a)) if a[t] != b[t]]
            if bad:
                t = bad[0]
                problems.append(Problem(seq.frames[t], f"paired with {mine.frames[t]} (frame {t + 1} of both "
                                        f"folders), but the frame numbers differ ({len(bad)} of {len(a)} frames)",
                                        "rename or remove frames so both folders hold the same frame numbers"))
    return problems


def check_lengths(opt: argparse.Namespace, spec: FolderSpec, sequences: list[FrameSequence]) -> list[Problem]:
    """Sequences too short for one clip (``n_frames_G + 1`` frames in training, ``n_frames_G`` at test), with a
    fix that works: a smaller ``--n_frames_G`` only where the model accepts it."""
    extra = 1 if opt.isTrain else 0
    needed, lowest = opt.n_frames_G + extra, min_frames_g(opt.model)
    problems = []
    for seq in sequences:
        if len(seq) >= needed:
            continue
        if len(seq) - extra >= lowest:
            fix = f"--n_frames_G {len(seq) - extra}, or remove the sequence"
        else:
            fix = (f"remove the sequence or give it at least {lowest + extra} frames (the "
                   f"{opt.model} model needs --n_frames_G >= {lowest})")
        problems.append(Problem(os.path.join(spec.path, seq.name), f"only {len(seq)} frames; {needed} needed "
                                f"{'in training' if opt.isTrain else 'at test'} with --n_frames_G {opt.n_frames_G}",
                                fix))
    return problems


def warn_short_clips(opt: argparse.Namespace, sequences: list[FrameSequence]) -> None:
    """Log the training sequences shorter than the first clip: they train with shorter clips, as the reference."""
    if not opt.isTrain:
        return
    clip = opt.n_frames_total + opt.n_frames_G - 1
    short = [s for s in sequences if opt.n_frames_G + 1 <= len(s) < clip]
    if short:
        listed = ", ".join(f"{s.name} ({len(s)} frames)" for s in short[:10])
        more = f" and {len(short) - 10} more" if len(short) > 10 else ""
        logger.warning("%d sequence(s) are shorter than a clip of %d frames (--n_frames_total %d + --n_frames_G "
                       "%d - 1): %s%s; their clips hold fewer frames", len(short), clip, opt.n_frames_total,
                       opt.n_frames_G, listed, more)


# ---------------------------------------------------------------- reading every file
def read_frame(path: str, kind: str) -> FrameInfo:
    """Open and fully decode one image; ids get their exact range, DensePose maps their largest part id."""
    with Image.open(path) as img:
        img.load()
        mode, bands, size = img.mode, len(img.getbands()), img.size
        about = {"format": img.format or "", "orientation": int(img.getexif().get(EXIF_ORIENTATION, 1) or 1)}
        if kind == "label" and mode in ID_MODES:
            low, high = img.getextrema()
            return FrameInfo(mode, bands, size, int(high), int(low), **about)
        if kind == "iuv" and mode in ("RGB", "RGBA"):
            return FrameInfo(mode, bands, size, int(img.getextrema()[2][1]), **about)
        return FrameInfo(mode, bands, size, **about)


KIND_NAMES = {"label": "label map", "inst": "instance map", "photo": "photo", "image": "input image",
              "iuv": "DensePose map"}


def storage_problem(info: FrameInfo, kind: str) -> Optional[tuple[str, str, str]]:
    """(kind of problem, message, fix) for ids saved lossily, or a frame stored turned (EXIF orientation)."""
    what = KIND_NAMES[kind]
    if kind in ("label", "inst") and info.format in LOSSY_FORMATS:
        return ("lossy ids", f"{what} saved as {info.format}: lossy compression changes ids near every edge; label "
                "and instance maps must be lossless", "save the ids again as PNG from their source (converting this "
                "file keeps its wrong ids; for colour maps use scripts/colors_to_ids.py)")
    if info.orientation not in (0, 1):
        return ("orientation", f"EXIF orientation {info.orientation} ({ORIENTATIONS.get(info.orientation, 'unknown')}"
                f"): viewers show this {what} turned, but frames are read as stored (as the reference does) and label "
                "maps carry no orientation, so it would not match its other modalities", "store the pixels upright "
                "and drop the tag (ImageMagick: mogrify -auto-orient FILE; Python: PIL.ImageOps.exif_transpose), "
                "after checking which view its label map matches")
    return None


def colour_label_fix(opt: argparse.Namespace) -> str:
    """How to turn colour label maps back into ids (``scripts/colors_to_ids.py`` on ``<phase>_A``)."""
    source = os.path.join(opt.dataroot, f"{opt.phase}_A")
    return (f"convert colour maps back to ids: python scripts/colors_to_ids.py {source} {source}_ids --label_nc "
            f"{opt.label_nc} (lossless 1-channel PNGs), then put that folder in place of {opt.phase}_A")


def channel_problem(info: FrameInfo, kind: str, opt: argparse.Namespace) -> Optional[tuple[str, str, str]]:
    """(kind of problem, message, fix) when a decoded image has the wrong channels or values for its kind."""
    if kind in ("label", "inst") and info.mode not in ID_MODES:
        fix = (colour_label_fix(opt) if kind == "label"
               else "save instance ids as 1-channel PNGs, or drop --use_instance")
        return ("channels", f"{KIND_NAMES[kind]} has mode {info.mode} ({info.bands} channels); one channel of "
                "integer ids expected", fix)
    if kind == "photo" and info.mode not in RGB_MODES:
        return ("channels", f"photo has mode {info.mode} ({info.bands} channel(s)); RGB expected",
                "convert the photos to RGB")
    if kind == "image" and opt.input_nc not in (1, 3) and info.bands != opt.input_nc:
        return "channels", f"{info.bands} channel(s) but --input_nc {opt.input_nc}", f"--input_nc {info.bands}"
    if kind == "iuv" and info.mode not in ("RGB", "RGBA"):
        return ("channels", f"DensePose map has mode {info.mode} ({info.bands} channel(s)); an RGB IUV map expected "
                "(R = U, G = V, B = part index)", "re-render DensePose as 3-channel IUV PNGs")
    if kind == "iuv" and info.high is not None and info.high > N_DENSEPOSE_PARTS:
        return ("part ids", f"blue channel (DensePose part index) reaches {info.high} > {N_DENSEPOSE_PARTS}: not an "
                "IUV map", "re-render DensePose as IUV PNGs")
    return None


def content_problem(info: FrameInfo, kind: str, opt: argparse.Namespace) -> Optional[tuple[str, str, str]]:
    """(kind of problem, message, fix) when a decoded image has the wrong format, orientation, channels or
    values for its kind, else None."""
    return storage_problem(info, kind) or channel_problem(info, kind, opt)


def check_file(path: str, spec: FolderSpec, opt: argparse.Namespace) -> tuple[list[Problem], Optional[FrameInfo]]:
    """Problems of one file (unreadable, wrong channels or content) and what decoding it told."""
    try:
        if spec.kind not in IMAGE_KINDS:
            spec.reader(path)
            return [], None
        info = read_frame(path, spec.kind)
    except ValueError as err:
        if spec.kind not in IMAGE_KINDS:
            return [Problem(path, str(err).replace(f"{path}: ", ""), spec.fix, kind="content")], None
        return [Problem(path, f"unreadable file (ValueError: {err})", REEXPORT, kind="unreadable")], None
    except Exception as err:  # noqa: BLE001 - any decoder error means the file is unusable
        return [Problem(path, f"unreadable file ({type(err).__name__}: {err})", spec.fix, kind="unreadable")], None
    bad = content_problem(info, spec.kind, opt)
    return ([Problem(path, bad[1], bad[2], kind=bad[0])] if bad else []), info


def read_all(opt: argparse.Namespace, specs: list[FolderSpec], found: dict[str, list[FrameSequence]]
             ) -> tuple[list[Problem], dict[str, FrameInfo]]:
    """Read every file of every modality (threads: decoding releases the GIL); problems and frame infos."""
    jobs = [(path, spec) for spec in specs for seq in found.get(spec.key, []) for path in seq.frames]
    problems, infos = [], {}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for (path, _), (file_problems, info) in zip(jobs, pool.map(lambda job: check_file(*job, opt), jobs)):
            problems += file_problems
            if info is not None:
                infos[path] = info
    return problems, infos


def check_sizes(specs: list[FolderSpec], found: dict[str, list[FrameSequence]],
                infos: dict[str, FrameInfo]) -> list[Problem]:
    """Frames whose size differs from the first image of their sequence (within and across modalities);
    one problem per sequence and modality, naming its first odd frame."""
    image_specs = [s for s in specs if s.kind in IMAGE_KINDS and s.key in found]
    if not image_specs:
        return []
    first = {seq.name: seq.frames[0] for seq in found[image_specs[0].key]}
    problems = []
    for spec in image_specs:
        for seq in found[spec.key]:
            ref = first.get(seq.name)
            if ref not in infos:
                continue
            want = infos[ref].size
            odd = [p for p in seq.frames if p in infos and infos[p].size != want]
            if odd:
                got = infos[odd[0]].size
                fix = ("render DensePose at the photos' size" if spec.kind == "iuv"
                       else f"resize the frames to {want[0]}x{want[1]}, or remove them")
                problems.append(Problem(odd[0], f"frame is {got[0]}x{got[1]} but {ref} is {want[0]}x{want[1]} "
                                        f"({len(odd)} frame(s) of this sequence differ); every frame of a "
                                        "sequence, in every modality, must have the same size", fix))
    return problems


def by_sequence(paths: list[str]) -> list[list[str]]:
    """Paths grouped by their folder (a sequence), each group naturally sorted."""
    groups: dict[str, list[str]] = {}
    for path in sorted(paths, key=natural_key):
        groups.setdefault(os.path.dirname(path), []).append(path)
    return list(groups.values())


def check_label_ids(opt: argparse.Namespace, infos: dict[str, FrameInfo], specs: list[FolderSpec]) -> list[Problem]:
    """One problem per sequence whose label maps hold ids ``>= --label_nc``, one per sequence with negative ids
    (path: its first such file). Lossy files are left out: their ids are wrong anyway (see content_problem)."""
    label_dirs = tuple(os.path.join(s.path, "") for s in specs if s.kind == "label")
    if not label_dirs:
        return []
    ids = {p: i for p, i in infos.items()
           if i.high is not None and p.startswith(label_dirs) and i.format not in LOSSY_FORMATS}
    high = {path: info.high for path, info in ids.items() if info.high >= opt.label_nc}
    low = {path: info.low for path, info in ids.items() if info.low is not None and info.low < 0}
    problems = [Problem(paths[0], f"label ids down to {min(low[p] for p in paths)}; ids must lie in [0, "
                        f"--label_nc {opt.label_nc}) ({len(paths)} frame(s) of this sequence)",
                        "save the ids as non-negative integers (e.g. the unlabeled id 0 instead of -1)")
                for paths in by_sequence(list(low))]
    if high:
        fix = f"--label_nc {max(high.values()) + 1}"
        problems += [Problem(paths[0], f"label ids up to {max(high[p] for p in paths)} >= --label_nc {opt.label_nc} "
                             f"({len(paths)} frame(s) of this sequence)", fix) for paths in by_sequence(list(high))]
    return problems


def name_limit(folder: str) -> int:
    """Longest file name (bytes) the file system of ``folder`` (or of its nearest existing parent) accepts."""
    folder = os.path.abspath(folder or ".")
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def check_output_names(opt: argparse.Namespace, spec: FolderSpec, sequences: list[FrameSequence]) -> list[Problem]:
    """What test.py cannot write: two sequences whose folders share a name (results are named by the folder's
    name, as the reference names them), and output names (``fake_B_<stem>.jpg``, ``<folder>.mp4``) longer than
    the results folder's file system allows."""
    problems, seen = [], {}
    limit = name_limit(opt.results_dir)
    for seq in sequences:
        folder = os.path.dirname(seq.frames[0])
        base = os.path.basename(folder)
        if base in seen:
            problems.append(Problem(folder, f"has the same folder name as {seen[base]}; test.py names results by the "
                                    f"folder's name ({base}), so both would write into one results folder",
                                    "rename one of the two folders"))
        seen.setdefault(base, folder)
        names = [p for p in seq.frames if len(f"fake_B_{os.path.splitext(os.path.basename(p))[0]}.jpg"
                                              .encode("utf-8", "surrogateescape")) > limit]
        if len(f"{base}.mp4".encode("utf-8", "surrogateescape")) > limit:
            names.insert(0, folder)
        if names:
            problems.append(Problem(names[0], f"name too long for test.py's results: fake_B_<name>.jpg and "
                                    f"<folder>.mp4 must fit the {limit} bytes the results folder's file system "
                                    f"allows ({len(names)} name(s) of this sequence)",
                                    f"shorten the names to at most {limit - 11} bytes"))
    return problems


def check_folders(opt: argparse.Namespace, specs: list[FolderSpec]
                  ) -> tuple[list[Problem], dict[str, list[FrameSequence]], dict[str, FrameInfo]]:
    """Every problem of a layout, all at once; also the sequences found and the decoded frames' infos."""
    problems, found = find_folders(specs)
    problems += check_pairing(specs, found) + check_names(specs, found)
    if specs[0].key in found:
        problems += check_lengths(opt, specs[0], found[specs[0].key])
        warn_short_clips(opt, found[specs[0].key])
        if not opt.isTrain and not opt.input_video:  # a video's results are named frame<n>
            problems += check_output_names(opt, specs[0], found[specs[0].key])
    file_problems, infos = read_all(opt, specs, found)
    problems += file_problems + check_sizes(specs, found, infos) + check_label_ids(opt, infos, specs)
    return problems, found, infos


# ---------------------------------------------------------------- keypoints inside their frames
#: How far points may lie outside their frame, as a fraction of the frame's larger side: detectors place
#: hidden points a little outside; farther out a point is a failed detection (and draws a huge canvas).
POINT_MARGIN = 0.5
#: One point of a keypoint file: (where it is in the file, x, y).
LabelledPoint = tuple[str, float, float]


def stray_point(points: list[LabelledPoint], size: tuple[int, int]) -> Optional[str]:
    """A description of the first point that is not finite or lies beyond the margin around a frame of
    ``size`` (width, height), or None when every point is usable."""
    margin = POINT_MARGIN * max(size)
    for where, x, y in points:
        if not (math.isfinite(x) and math.isfinite(y)):
            return f"{where} is ({x:g}, {y:g}): not a number"
        if not (-margin <= x <= size[0] + margin and -margin <= y <= size[1] + margin):
            return (f"{where} is ({x:g}, {y:g}), far outside its {size[0]}x{size[1]} frame (points may lie at most "
                    f"{margin:g} px outside)")
    return None


def check_points_in_frames(points_spec: FolderSpec, image_spec: FolderSpec, found: dict[str, list[FrameSequence]],
                           infos: dict[str, FrameInfo], read_points: Callable[[str], list[LabelledPoint]]
                           ) -> list[Problem]:
    """Keypoint files holding a point that is not finite or lies far outside the frame of their photo (paired
    by sequence and position); one problem per file, grouped by the report.

    Args:
        points_spec: The keypoint folder (its ``fix`` is the fix given).
        image_spec: The photo folder whose decoded sizes (``infos``) bound the points.
        found: Sequences of both.
        infos: Decoded photos.
        read_points: One file's points, each labelled with where it is in the file.
    """
    photos = {seq.name: seq.frames for seq in found.get(image_spec.key, [])}
    problems = []
    for seq in found.get(points_spec.key, []):
        for path, photo in zip(seq.frames, photos.get(seq.name, [])):
            if photo not in infos:
                continue
            stray = stray_point(read_points(path), infos[photo].size)
            if stray:
                problems.append(Problem(path, stray, points_spec.fix, kind="stray point"))
    return problems


# ---------------------------------------------------------------- what the generator receives
def resize_flags(opt: argparse.Namespace) -> str:
    """The flags that decide a frame's size, as text."""
    flags = f"--resize_or_crop {opt.resize_or_crop}"
    if opt.resize_or_crop != "none":
        flags += f" --loadSize {opt.loadSize}"
    if "crop" in opt.resize_or_crop.lower() or "random" in opt.resize_or_crop:
        flags += f" --fineSize {opt.fineSize}"
    return flags


def check_geometry(opt: argparse.Namespace, sized: dict[str, tuple[int, int]]) -> list[Problem]:
    """Generator inputs that cannot work: a side the generator cannot divide, or a frame larger than memory.

    Args:
        opt: Options (``resize_or_crop``, ``loadSize``, ``fineSize``, ``n_downsample_G``, ...).
        sized: (width, height) the generator receives, keyed by a file of the sequence (its first frame).

    Returns:
        One problem per distinct size, naming the first sequence that has it.
    """
    problems, seen = [], set()
    divisor = frame_divisor(opt)
    for path, (width, height) in sized.items():
        if (width, height) in seen:
            continue
        seen.add((width, height))
        if min(width, height) < 32 or width % divisor or height % divisor:
            problems.append(Problem(path, f"frames become {width}x{height} with {resize_flags(opt)}; the generator "
                                    f"needs both sides to be multiples of {max(32, divisor)} (--n_downsample_G "
                                    f"{opt.n_downsample_G}, --n_scales_spatial {opt.n_scales_spatial})",
                                    "a larger --loadSize (or --fineSize with crops), or a smaller "
                                    "--n_scales_spatial / --n_downsample_G"))
            continue
        memory = frame_memory_problem(width, height, opt)
        if memory:
            problems.append(Problem(path, f"{memory} ({resize_flags(opt)})",
                                    "a smaller --loadSize (or --fineSize with crops)"))
    return problems


# ---------------------------------------------------------------- Cityscapes train ids in a label folder
def train_id_problems(opt: argparse.Namespace, specs: list[FolderSpec],
                      found: dict[str, list[FrameSequence]]) -> list[Problem]:
    """Label folders that hold Cityscapes *train* ids (0-18, 255) where ``--label_nc 35`` reads *label* ids.

    The commonest preparation mistake (imaginaire#32): a segmenter's output saved as it is. The first frame of
    each sequence is tested (:func:`data.cityscapes_ids.looks_like_train_ids`); one problem per folder, naming
    its first such frame and how many sequences look so.
    """
    from data.cityscapes_ids import N_LABEL_IDS, looks_like_train_ids

    if opt.label_nc < N_LABEL_IDS:
        return []
    problems = []
    for spec in specs:
        if spec.kind != "label" or spec.key not in found:
            continue
        suspects = []
        for seq in found[spec.key]:
            try:
                with Image.open(seq.frames[0]) as img:
                    suspects += [seq.frames[0]] if img.mode in ID_MODES and looks_like_train_ids(img) else []
            except Exception:  # noqa: BLE001 - unreadable files are reported by check_file
                continue
        if suspects:
            problems.append(Problem(
                suspects[0], f"label maps hold Cityscapes train ids (0-18, 255 = ignore), not the label ids (0-33) "
                f"that --label_nc {opt.label_nc} reads: road would be read as 'unlabeled', cars as 'person' "
                f"({len(suspects)} of {len(found[spec.key])} sequence(s) of {spec.path})",
                f"convert them: python -m data.cityscapes_ids {spec.path} <new folder> (then use that folder)"))
    return problems
