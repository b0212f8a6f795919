"""Dataset checker: find every problem of a dataset before a long job starts, and say which flag fixes it.

Run it as ``python -m data.check --dataroot datasets/Cityscapes --label_nc 35 --use_instance [flags]``
(the flags of ``train.py``; add ``--test`` to check what ``test.py`` reads). ``train.py`` and ``test.py`` run the
same check before anything is built or written (``--skip_check`` turns it off). It reports, all at once:

- missing folders (``<phase>_A``, ``<phase>_B``, ``<phase>_inst`` with --use_instance);
- sequences present in one modality and not another, or with different frame counts;
- frames paired by position whose frame numbers differ (labels ``frame_0001..`` beside photos ``frame_0002..``);
- label ids ``>= --label_nc`` or negative (exact: every label file is decoded);
- Cityscapes *train* ids (0-18, 255) in a label folder read with ``--label_nc 35`` (label ids expected);
- label / instance maps saved lossily (JPEG): their ids are wrong near every edge;
- images of the wrong channel count (multi-channel label / instance maps, non-RGB photos; colour label maps
  are pointed at ``scripts/colors_to_ids.py``);
- images with an EXIF orientation other than "upright" (frames are read as stored);
- entries that are not regular files (FIFOs, devices, broken links: never opened), names that are not UTF-8,
  folder links that loop back (never followed);
- at test: sequence folders sharing a name (results are named by it), names too long for the results folder;
- unreadable or truncated files: every file of every modality is decoded in full;
- frames of another size than the first frame of their sequence (in any modality);
- sequences shorter than a clip needs (``--n_frames_G + 1`` frames in training, ``--n_frames_G`` at test), with
  a fix the model accepts; sequences shorter than the first clip only give a warning (they train with shorter
  clips, as in the reference);
- frame sizes the generator cannot divide, or frames too large for this machine's memory.

The street modes (``temporal`` / ``test`` / ``template``) are described here; another mode adds its checks
with a static ``check_dataset(opt) -> list[Problem]`` on its dataset class (``data/face_dataset.py``,
``data/pose_dataset.py``), built from the shared pieces of :mod:`data.frame_checks`.

The report merges the same kind of problem in one folder into one line with a count and the first file.
``python -m data.check`` prints the problems and exits with 1 when there are any (0 when none); a bad flag is
an ``error:`` line and exit code 2, as everywhere (:mod:`util.cli`).
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from typing import Sequence

from data.errors import DatasetError
from data.frame_checks import (
    FolderSpec,
    Problem,
    check_folders,
    check_geometry,
    describe_group,
    group_problems,
    train_id_problems,
)
from data.transforms import get_params

logger = logging.getLogger(__name__)

STREET_MODES = ("temporal", "test", "template")

__all__ = ["DatasetError", "Problem", "check_dataset", "ensure_dataset_ok", "format_problems", "main"]


def street_folders(opt: argparse.Namespace) -> list[FolderSpec]:
    """The folders the street modes read with these options (``A`` first)."""
    root, phase = opt.dataroot, opt.phase
    template = opt.dataset_mode == "template"
    label_kind = "label" if opt.label_nc > 0 and not template else "image"
    specs = [FolderSpec("A", os.path.join(root, f"{phase}_A"), label_kind, "check --dataroot and --phase")]
    if opt.use_instance and not template:
        specs.append(FolderSpec("inst", os.path.join(root, f"{phase}_inst"), "inst",
                                "check --dataroot and --phase, or drop --use_instance"))
    if opt.isTrain or template or opt.use_real_img:
        hint = "check --dataroot and --phase" + ("" if opt.isTrain or template else ", or drop --use_real_img")
        specs.append(FolderSpec("B", os.path.join(root, f"{phase}_B"), "photo", hint))
    return specs


def generator_sizes(opt: argparse.Namespace, first_frames: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
    """(width, height) the generator receives for each sequence, from its first frame's raw size."""
    return {path: get_params(opt, size, rng=random.Random(0)).out_size for path, size in first_frames.items()}


def check_street(opt: argparse.Namespace) -> list[Problem]:
    """Every problem of a temporal/test-layout dataset."""
    specs = street_folders(opt)
    problems, found, infos = check_folders(opt, specs)
    train_ids = train_id_problems(opt, specs, found)
    if train_ids:  # the ignore id 255 also trips the id-range check, whose "--label_nc 256" fix would mislead
        problems = [p for p in problems if not p.message.startswith("label ids up to")]
    problems += train_ids
    if problems:
        return problems
    firsts = {seq.frames[0]: infos[seq.frames[0]].size for seq in found["A"]}
    return check_geometry(opt, generator_sizes(opt, firsts))


def root_problems(opt: argparse.Namespace) -> list[Problem]:
    """A missing ``--dataroot``."""
    if os.path.isdir(opt.dataroot):
        return []
    return [Problem(opt.dataroot, "dataset root does not exist", "--dataroot <folder of the dataset>")]


def check_dataset(opt: argparse.Namespace) -> list[Problem]:
    """Every problem of the dataset that ``opt`` describes (empty when it is fine).

    Args:
        opt: Train or test options (``dataroot``, ``phase``, ``dataset_mode``, ``label_nc``, ``input_nc``,
            ``use_instance``, ``n_frames_G``, ``isTrain``, the resize flags, and ``use_real_img`` at test).
    """
    if opt.dataset_mode in STREET_MODES:
        return root_problems(opt) or check_street(opt)
    from data import find_dataset_using_name, loaded_mode

    hook = getattr(find_dataset_using_name(loaded_mode(opt)), "check_dataset", None)
    if hook is None:
        logger.info("no dataset checks for --dataset_mode %s beyond the root folder", opt.dataset_mode)
        return root_problems(opt)
    return list(hook(opt))


def format_problems(problems: Sequence[Problem]) -> str:
    """A readable multi-line list of problems: the same kind of problem in one folder is one line, with its
    count and first file (real datasets hold hundreds of frames with the same fault)."""
    groups = group_problems(list(problems))
    files = "" if len(groups) == len(problems) else f" in {len(problems)} files or folders"
    return (f"{len(groups)} dataset problem(s){files}:\n  - " +
            "\n  - ".join(describe_group(problem, count) for problem, count in groups))


def ensure_dataset_ok(opt: argparse.Namespace) -> None:
    """Raise before any training or writing when the dataset has problems.

    Raises:
        DatasetError: listing every problem found by :func:`check_dataset`.
    """
    problems = check_dataset(opt)
    if problems:
        raise DatasetError(format_problems(problems))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The flags of train.py (or test.py with ``--test``), with the dataset mode's hook applied."""
    from data import get_option_setter
    from options import TestOptions, TrainOptions
    from options.validation import OptionError, range_problems

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
    problems = list(range_problems(opt))
    if problems:
        raise OptionError("invalid options:\n  - " + "\n  - ".join(problems))
    return opt


def main(argv: Sequence[str] | None = None) -> int:
    """Check the dataset named by the flags; print the problems; return 1 when there are any.

    Raises:
        OptionError: a flag outside its valid range (``python -m data.check`` prints it as ``error:``, exit 2).
    """
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    opt = parse_args(argv)
    problems = check_dataset(opt)
    if problems:
        print(format_problems(problems))
        return 1
    source = "" if opt.isTrain else opt.input_video  # a test.py flag
    print(f"--input_video {source}: no problems found" if source else
          f"dataset {opt.dataroot} ({opt.phase}): no problems found")
    return 0


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main, returns_code=True))
