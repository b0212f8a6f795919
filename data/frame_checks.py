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
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable, Optional

from PIL import Image

from data.transforms import ID_MODES
from data.video_folder import IMG_EXTENSIONS, FrameSequence, find_sequences, natural_key
from options.validation import frame_divisor, min_frames_g
from util.memory import frame_memory_problem

logger = logging.getLogger(__name__)

RGB_MODES = ("RGB", "RGBA", "P", "CMYK", "YCbCr")
IMAGE_KINDS = ("label", "inst", "image", "photo", "iuv")
N_DENSEPOSE_PARTS = 24
REEXPORT = "re-export or remove the file"


@dataclass(frozen=True)
class Problem:
    """One dataset problem: the file or folder, what is wrong, and the flag or action that fixes it."""

    path: str
    message: str
    fix: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (fix: {self.fix})"


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
    """What decoding a frame told: PIL mode, channel count, (width, height), largest value (ids / parts)."""

    mode: str
    bands: int
    size: tuple[int, int]
    high: Optional[int] = None


# ---------------------------------------------------------------- folders, pairing, names, lengths
def find_folders(specs: list[FolderSpec]) -> tuple[list[Problem], dict[str, list[FrameSequence]]]:
    """Sequences of every spec's folder; problems for missing or empty folders."""
    problems, found = [], {}
    for spec in specs:
        if not os.path.isdir(spec.path):
            problems.append(Problem(spec.path, "missing folder", spec.drop_hint))
            continue
        found[spec.key] = find_sequences(spec.path, spec.extensions)
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
    needed, lowest = opt.n_frames_G + extra, min_frames_g(getattr(opt, "model", "vid2vid"))
    problems = []
    for seq in sequences:
        if len(seq) >= needed:
            continue
        if len(seq) - extra >= lowest:
            fix = f"--n_frames_G {len(seq) - extra}, or remove the sequence"
        else:
            fix = (f"remove the sequence or give it at least {lowest + extra} frames (the "
                   f"{getattr(opt, 'model', 'vid2vid')} model needs --n_frames_G >= {lowest})")
        problems.append(Problem(os.path.join(spec.path, seq.name), f"only {len(seq)} frames; {needed} needed "
                                f"{'in training' if opt.isTrain else 'at test'} with --n_frames_G {opt.n_frames_G}",
                                fix))
    return problems


def warn_short_clips(opt: argparse.Namespace, sequences: list[FrameSequence]) -> None:
    """Log the training sequences shorter than the first clip: they train with shorter clips, as the reference."""
    if not opt.isTrain or not hasattr(opt, "n_frames_total"):
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
    """Open and fully decode one image; ids get their exact maximum, DensePose maps their largest part id."""
    with Image.open(path) as img:
        img.load()
        mode, bands, size = img.mode, len(img.getbands()), img.size
        if kind == "label" and mode in ID_MODES:
            return FrameInfo(mode, bands, size, int(img.getextrema()[1]))
        if kind == "iuv" and mode in ("RGB", "RGBA"):
            return FrameInfo(mode, bands, size, int(img.getextrema()[2][1]))
        return FrameInfo(mode, bands, size)


def content_problem(info: FrameInfo, kind: str, opt: argparse.Namespace) -> Optional[tuple[str, str]]:
    """(message, fix) when a decoded image has the wrong channels or values for its kind, else None."""
    if kind in ("label", "inst") and info.mode not in ID_MODES:
        what = "label" if kind == "label" else "instance"
        fix = "save ids as 1-channel PNGs" + (f", or read the frames as images with --label_nc 0 --input_nc "
                                             f"{info.bands}" if kind == "label" else ", or drop --use_instance")
        return f"{what} map has mode {info.mode} ({info.bands} channels); one channel of integer ids expected", fix
    if kind == "photo" and info.mode not in RGB_MODES:
        return f"photo has mode {info.mode} ({info.bands} channel(s)); RGB expected", "convert the photos to RGB"
    if kind == "image" and opt.input_nc not in (1, 3) and info.bands != opt.input_nc:
        return f"{info.bands} channel(s) but --input_nc {opt.input_nc}", f"--input_nc {info.bands}"
    if kind == "iuv" and info.mode not in ("RGB", "RGBA"):
        return (f"DensePose map has mode {info.mode} ({info.bands} channel(s)); an RGB IUV map expected (R = U, "
                "G = V, B = part index)", "re-render DensePose as 3-channel IUV PNGs")
    if kind == "iuv" and info.high is not None and info.high > N_DENSEPOSE_PARTS:
        return (f"blue channel (DensePose part index) reaches {info.high} > {N_DENSEPOSE_PARTS}: not an IUV map",
                "re-render DensePose as IUV PNGs")
    return None


def check_file(path: str, spec: FolderSpec, opt: argparse.Namespace) -> tuple[list[Problem], Optional[FrameInfo]]:
    """Problems of one file (unreadable, wrong channels or content) and what decoding it told."""
    try:
        if spec.kind not in IMAGE_KINDS:
            spec.reader(path)
            return [], None
        info = read_frame(path, spec.kind)
    except ValueError as err:
        if spec.kind not in IMAGE_KINDS:
            return [Problem(path, str(err).replace(f"{path}: ", ""), spec.fix)], None
        return [Problem(path, f"unreadable file (ValueError: {err})", REEXPORT)], None
    except Exception as err:  # noqa: BLE001 - any decoder error means the file is unusable
        return [Problem(path, f"unreadable file ({type(err).__name__}: {err})", spec.fix)], None
    bad = content_problem(info, spec.kind, opt)
    return ([Problem(path, *bad)] if bad else []), info


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


def check_label_ids(opt: argparse.Namespace, infos: dict[str, FrameInfo], specs: list[FolderSpec]) -> list[Problem]:
    """One problem per sequence whose label maps hold ids ``>= --label_nc`` (path: its first such file)."""
    label_dirs = tuple(os.path.join(s.path, "") for s in specs if s.kind == "label")
    highs = {p: i.high for p, i in infos.items() if i.high is not None and p.startswith(label_dirs)}
    bad = {path: high for path, high in highs.items() if high >= opt.label_nc}
    if not bad or not label_dirs:
        return []
    fix = f"--label_nc {max(bad.values()) + 1}"
    by_sequence: dict[str, list[str]] = {}
    for path in sorted(bad, key=natural_key):
        by_sequence.setdefault(os.path.dirname(path), []).append(path)
    return [Problem(paths[0], f"label ids up to {max(bad[p] for p in paths)} >= --label_nc {opt.label_nc} "
                    f"({len(paths)} frame(s) of this sequence)", fix) for paths in by_sequence.values()]


def check_folders(opt: argparse.Namespace, specs: list[FolderSpec]
                  ) -> tuple[list[Problem], dict[str, list[FrameSequence]], dict[str, FrameInfo]]:
    """Every problem of a layout, all at once; also the sequences found and the decoded frames' infos."""
    problems, found = find_folders(specs)
    problems += check_pairing(specs, found) + check_names(specs, found)
    if specs[0].key in found:
        problems += check_lengths(opt, specs[0], found[specs[0].key])
        warn_short_clips(opt, found[specs[0].key])
    file_problems, infos = read_all(opt, specs, found)
    problems += file_problems + check_sizes(specs, found, infos) + check_label_ids(opt, infos, specs)
    return problems, found, infos


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
                                    f"{getattr(opt, 'n_downsample_G', 3)}, --n_scales_spatial "
                                    f"{getattr(opt, 'n_scales_spatial', 1)})",
                                    "a larger --loadSize (or --fineSize with crops), or a smaller "
                                    "--n_scales_spatial / --n_downsample_G"))
            continue
        memory = frame_memory_problem(width, height, opt)
        if memory:
            problems.append(Problem(path, f"{memory} ({resize_flags(opt)})",
                                    "a smaller --loadSize (or --fineSize with crops)"))
    return problems
