"""Dataset checker: find every problem of a dataset before a long job starts, and say which flag fixes it.

Run it as ``python -m data.check --dataroot datasets/Cityscapes --label_nc 35 --use_instance [flags]``
(the flags of ``train.py``; add ``--test`` to check what ``test.py`` reads). It reports, all at once:

- missing folders (``<phase>_A``, ``<phase>_B``, ``<phase>_inst`` with --use_instance);
- sequences present in one modality and not another, or with different frame counts;
- label ids ``>= --label_nc`` (exact: the maximum of every label file, through PIL ``getextrema``);
- images of the wrong channel count (multi-channel label / instance maps, non-RGB photos);
- unreadable or truncated files;
- sequences shorter than a clip needs (``--n_frames_G + 1`` frames in training, ``--n_frames_G`` at test).

The street modes (``temporal`` / ``test`` / ``template``) are checked here; another mode can add its own checks
with a static ``check_dataset(opt) -> list[Problem]`` on its dataset class.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Sequence

from PIL import Image

from data.transforms import ID_MODES
from data.video_folder import IMG_EXTENSIONS, FrameSequence, find_sequences

logger = logging.getLogger(__name__)

STREET_MODES = ("temporal", "test", "template")
RGB_MODES = ("RGB", "RGBA", "P", "CMYK", "YCbCr")


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
    """A modality folder to check: key (``A``/``inst``/``B``), path, kind of content and how to drop it."""

    key: str
    path: str
    kind: str  # "label", "inst", "image" or "photo"
    drop_hint: str


def street_folders(opt: argparse.Namespace) -> list[FolderSpec]:
    """The folders the street modes read with these options (``A`` first)."""
    root, phase = opt.dataroot, opt.phase
    label_kind = "label" if opt.label_nc > 0 and opt.dataset_mode != "template" else "image"
    specs = [FolderSpec("A", os.path.join(root, f"{phase}_A"), label_kind, "check --dataroot and --phase")]
    if opt.use_instance and opt.dataset_mode != "template":
        specs.append(FolderSpec("inst", os.path.join(root, f"{phase}_inst"), "inst",
                                "check --dataroot and --phase, or drop --use_instance"))
    if opt.isTrain or getattr(opt, "use_real_img", False):
        hint = "check --dataroot and --phase" + ("" if opt.isTrain else ", or drop --use_real_img")
        specs.append(FolderSpec("B", os.path.join(root, f"{phase}_B"), "photo", hint))
    return specs


def check_pairing(specs: list[FolderSpec], found: dict[str, list[FrameSequence]]) -> list[Problem]:
    """Sequences missing from a modality, and sequences whose frame counts differ from ``A``'s."""
    problems = []
    ref = {s.name: len(s) for s in found.get("A", [])}
    for spec in specs[1:]:
        if spec.key not in found or "A" not in found:
            continue
        other = {s.name: len(s) for s in found[spec.key]}
        for name in sorted(set(ref) ^ set(other)):
            where, missing_in = (specs[0], spec) if name in ref else (spec, specs[0])
            problems.append(Problem(os.path.join(where.path, name), f"sequence has no counterpart in "
                                    f"{missing_in.path}", f"add or remove the sequence in {missing_in.path}"))
        for name in sorted(set(ref) & set(other)):
            if ref[name] != other[name]:
                problems.append(Problem(os.path.join(spec.path, name), f"{other[name]} frames but "
                                        f"{ref[name]} in {os.path.join(specs[0].path, name)}",
                                        "give every modality the same frames"))
    return problems


def check_lengths(opt: argparse.Namespace, spec: FolderSpec, sequences: list[FrameSequence]) -> list[Problem]:
    """Sequences shorter than one clip: ``n_frames_G + 1`` frames in training, ``n_frames_G`` at test."""
    needed = opt.n_frames_G + 1 if opt.isTrain else opt.n_frames_G
    problems = []
    for seq in sequences:
        if len(seq) < needed:
            fix = f"--n_frames_G {max(1, len(seq) - 1 if opt.isTrain else len(seq))} or remove the sequence"
            problems.append(Problem(os.path.join(spec.path, seq.name), f"only {len(seq)} frames; "
                                    f"{needed} needed with --n_frames_G {opt.n_frames_G}", fix))
    return problems


def read_frame(path: str, kind: str) -> tuple[str, int, int | None]:
    """Open and decode one frame; (PIL mode, channel count, largest id for label maps else None).

    Label maps are decoded fully (``getextrema`` gives the exact maximum); instance PNGs are verified
    (chunk CRCs, which catch truncation) and photos decoded at 1/8 scale, which is enough to find a broken
    file and keeps the check fast on full-size frames.
    """
    with Image.open(path) as img:
        mode, bands = img.mode, len(img.getbands())
        if kind == "label" and mode in ID_MODES:
            return mode, bands, int(img.getextrema()[1])
        if img.format == "PNG":
            img.verify()
        else:
            img.draft("RGB", (max(1, img.size[0] // 8), max(1, img.size[1] // 8)))
            img.load()
        return mode, bands, None


def check_file(path: str, kind: str, opt: argparse.Namespace) -> tuple[list[Problem], int | None]:
    """Problems of one frame (unreadable, wrong channels) and its largest label id (label maps only)."""
    try:
        mode, bands, high = read_frame(path, kind)
    except Exception as err:  # noqa: BLE001 - any decoder error means the file is unusable
        return [Problem(path, f"unreadable file ({type(err).__name__}: {err})", "re-export or remove the file")], None
    if kind in ("label", "inst") and mode not in ID_MODES:
        return [Problem(path, f"{'label' if kind == 'label' else 'instance'} map has mode {mode} ({bands} "
                        "channels); one channel of integer ids expected",
                        "save ids as 1-channel PNGs" + (f", or read the frames as images with --label_nc 0 "
                                                        f"--input_nc {bands}" if kind == "label" else
                                                        ", or drop --use_instance"))], None
    if kind == "photo" and mode not in RGB_MODES:
        return [Problem(path, f"photo has mode {mode} ({bands} channel(s)); RGB expected",
                        "convert the photos to 3-channel RGB")], None
    if kind == "image" and opt.input_nc not in (1, 3) and bands != opt.input_nc:
        return [Problem(path, f"{bands} channel(s) but --input_nc {opt.input_nc}", f"--input_nc {bands}")], None
    return [], high


def check_label_ids(opt: argparse.Namespace, highs: dict[str, int]) -> list[Problem]:
    """One problem per sequence whose label maps hold ids ``>= --label_nc`` (path: its first such file)."""
    bad = {path: high for path, high in highs.items() if high >= opt.label_nc}
    if not bad:
        return []
    fix = f"--label_nc {max(bad.values()) + 1}"
    by_sequence: dict[str, list[str]] = {}
    for path in bad:
        by_sequence.setdefault(os.path.dirname(path), []).append(path)
    return [Problem(paths[0], f"label ids up to {max(bad[p] for p in paths)} >= --label_nc {opt.label_nc} "
                    f"({len(paths)} frame(s) of this sequence)", fix) for paths in by_sequence.values()]


def check_files(opt: argparse.Namespace, specs: list[FolderSpec],
                found: dict[str, list[FrameSequence]]) -> list[Problem]:
    """Read every frame of every modality (two threads: decoding releases the GIL)."""
    jobs = [(path, spec.kind) for spec in specs for seq in found.get(spec.key, []) for path in seq.frames]
    problems, highs = [], {}
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for (path, _), (file_problems, high) in zip(jobs, pool.map(lambda job: check_file(*job, opt), jobs)):
            problems += file_problems
            if high is not None:
                highs[path] = high
    return problems + check_label_ids(opt, highs)


def check_street(opt: argparse.Namespace) -> list[Problem]:
    """Every problem of a temporal/test-layout dataset."""
    specs = street_folders(opt)
    problems, found = [], {}
    for spec in specs:
        if not os.path.isdir(spec.path):
            problems.append(Problem(spec.path, "missing folder", spec.drop_hint))
            continue
        found[spec.key] = find_sequences(spec.path, IMG_EXTENSIONS)
        if not found[spec.key]:
            problems.append(Problem(spec.path, "no image frames (expected <seq>/<frame>.png|jpg)", spec.drop_hint))
    problems += check_pairing(specs, found)
    if "A" in found:
        problems += check_lengths(opt, specs[0], found["A"])
    return problems + check_files(opt, specs, found)


def check_dataset(opt: argparse.Namespace) -> list[Problem]:
    """Every problem of the dataset that ``opt`` describes (empty when it is fine).

    Args:
        opt: Train or test options (``dataroot``, ``phase``, ``dataset_mode``, ``label_nc``, ``input_nc``,
            ``use_instance``, ``n_frames_G``, ``isTrain``, and ``use_real_img`` at test).
    """
    if not os.path.isdir(opt.dataroot):
        return [Problem(opt.dataroot, "dataset root does not exist", "--dataroot <folder of the dataset>")]
    if opt.dataset_mode in STREET_MODES:
        return check_street(opt)
    from data import find_dataset_using_name

    hook = getattr(find_dataset_using_name(opt.dataset_mode), "check_dataset", None)
    if hook is None:
        logger.info("no dataset checks for --dataset_mode %s beyond the root folder", opt.dataset_mode)
        return []
    return list(hook(opt))


def format_problems(problems: Sequence[Problem]) -> str:
    """A readable multi-line list of problems."""
    return f"{len(problems)} dataset problem(s):\n  - " + "\n  - ".join(str(p) for p in problems)


def ensure_dataset_ok(opt: argparse.Namespace) -> None:
    """Raise before any training or writing when the dataset has problems.

    Raises:
        ValueError: listing every problem found by :func:`check_dataset`.
    """
    problems = check_dataset(opt)
    if problems:
        raise ValueError(format_problems(problems))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags of train.py (or test.py with ``--test``), with the dataset mode's hook applied."""
    from data import get_option_setter
    from options import TestOptions, TrainOptions

    argv = list(sys.argv[1:] if argv is None else argv)
    for_test = "--test" in argv
    argv = [a for a in argv if a != "--test"]
    options = TestOptions() if for_test else TrainOptions()
    parser = options.initialize(argparse.ArgumentParser(description="Check a vid2vid dataset."))
    opt, _ = parser.parse_known_args(argv)
    mode = options._dataset_mode(opt)
    parser = get_option_setter(mode)(parser, not for_test)
    opt, unknown = parser.parse_known_args(argv)
    if unknown:
        logger.warning("ignoring flags the checker does not know: %s", " ".join(unknown))
    opt.dataset_mode, opt.isTrain = mode, not for_test
    return opt


def main(argv: Sequence[str] | None = None) -> int:
    """Check the dataset named by the flags; print the problems; return 1 when there are any."""
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    opt = parse_args(argv)
    problems = check_dataset(opt)
    if problems:
        print(format_problems(problems))
        return 1
    print(f"dataset {opt.dataroot} ({opt.phase}): no problems found")
    return 0


if __name__ == "__main__":
    sys.exit(main())
