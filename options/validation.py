"""Validation of parsed options: every impossible value or contradiction is one line naming the flag and the fix.

:func:`validate` runs at the end of ``BaseOptions.parse``, before anything is read or written. It checks

- each numeric flag against its valid range (:data:`RANGES`; a flag only train.py or test.py has is checked
  where it exists);
- combinations: frame sizes the generator can divide, ``--n_frames_G`` the model needs, the device split,
  crop modes, contradicting first-frame modes...;
- the model's own rules: its ``validate_options(opt)`` hook (beside ``modify_commandline_options``) yields
  them, and its ``min_frames_G`` / ``frame_divisor(opt)`` say what its generator needs; nothing here knows a
  model by name;
- that the output folder (``<checkpoints_dir>/<name>`` in training, ``--results_dir`` at test) can be written;
- that a frame of the requested size fits the machine's memory, where the size follows from the flags alone.

:func:`warn_ineffective` logs flags that are accepted but have no effect in this run (``--fp16`` on the CPU).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator, Optional

from util.memory import frame_memory_problem

if TYPE_CHECKING:
    from models.base_model import BaseModel

logger = logging.getLogger(__name__)


class OptionError(ValueError):
    """Raised when flags contradict each other or ask for something impossible."""


@dataclass(frozen=True)
class Range:
    """Valid values of a numeric flag: ``low <= v`` (``low < v`` when ``open_low``), ``v <= high``."""

    low: Optional[float] = None
    high: Optional[float] = None
    open_low: bool = False
    allow_inf: bool = False

    def __contains__(self, value: float) -> bool:
        if isinstance(value, float) and not math.isfinite(value):
            return self.allow_inf and value == math.inf
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        return self.high is None or value <= self.high

    def describe(self) -> str:
        """``">= 1"``, ``"> 0"`` or ``"from 0 to 1"``."""
        if self.low is not None and self.high is not None:
            return f"from {self.low:g} to {self.high:g}"
        return f"{'>' if self.open_low else '>='} {self.low:g}"


AT_LEAST_0, AT_LEAST_1, POSITIVE = Range(0), Range(1), Range(0, open_low=True)
#: Numeric flags and their valid values (checked only where the parsed options have them).
RANGES: dict[str, Range] = {
    # data and network (train.py and test.py)
    "batchSize": AT_LEAST_1, "input_nc": AT_LEAST_1, "output_nc": AT_LEAST_1, "label_nc": AT_LEAST_0,
    "nThreads": AT_LEAST_0, "max_dataset_size": Range(1, allow_inf=True), "ngf": AT_LEAST_1,
    "ndf": AT_LEAST_1, "n_blocks": AT_LEAST_0, "n_blocks_local": AT_LEAST_0, "n_downsample_G": AT_LEAST_0,
    "n_local_enhancers": AT_LEAST_1, "n_frames_G": AT_LEAST_1, "n_scales_spatial": AT_LEAST_1,
    "display_winsize": AT_LEAST_1, "random_drop_prob": Range(0, 1), "seed": Range(0, 2**32 - 1),
    # training
    "print_freq": AT_LEAST_1, "display_freq": AT_LEAST_1, "save_latest_freq": AT_LEAST_1,
    "save_epoch_freq": AT_LEAST_1, "niter": AT_LEAST_0, "niter_decay": AT_LEAST_0, "lr": POSITIVE,
    "beta1": Range(0, 0.9999), "num_D": AT_LEAST_1, "n_layers_D": AT_LEAST_1, "lambda_feat": AT_LEAST_0,
    "lambda_T": AT_LEAST_0, "lambda_F": AT_LEAST_0, "n_frames_D": Range(2), "n_scales_temporal": AT_LEAST_1,
    "max_frames_per_gpu": AT_LEAST_1, "max_frames_backpropagate": AT_LEAST_1, "max_t_step": AT_LEAST_1,
    "n_frames_total": AT_LEAST_1, "niter_step": AT_LEAST_1, "niter_fix_global": AT_LEAST_0,
    # distillation (--model skd / tkd)
    "lambda_kd_l1": AT_LEAST_0, "lambda_kd_vgg": AT_LEAST_0, "lambda_kd_flow": AT_LEAST_0,
    "lambda_kd_i3d": AT_LEAST_0, "i3d_size": AT_LEAST_1,
    # test
    "how_many": AT_LEAST_1, "ntest": Range(1, allow_inf=True), "start_frame": AT_LEAST_0,
    "aspect_ratio": POSITIVE, "key_interval": AT_LEAST_0, "max_key_gap": AT_LEAST_0,
}
#: Smallest frame side: the generators round sizes to multiples of 32.
MIN_SIDE = 32

CROP_MODES_SCALED_TO_LOADSIZE = (
    "resize_and_crop",
    "scaleWidth_and_crop",
    "scaleWidth_and_scaledCrop",
    "scaleHeight_and_scaledCrop",
    "randomScaleHeight_and_scaledCrop",
)
RESIZE_OR_CROP_MODES = CROP_MODES_SCALED_TO_LOADSIZE + (
    "crop",
    "scaledCrop",
    "scaleWidth",
    "scaleHeight",
    "randomScaleHeight",
    "randomScaleWidth",
    "none",
)


def validate(opt: argparse.Namespace) -> None:
    """Reject impossible or contradictory flags before any work starts.

    Raises:
        OptionError: one line per problem, each naming the flag and a valid value.
    """
    problems = list(range_problems(opt)) + list(_problems(opt)) + list(size_problems(opt))
    problems += [problem for check in MORE_CHECKS for problem in check(opt)]
    problems += list(output_problems(opt))
    if problems:
        raise OptionError("invalid options:\n  - " + "\n  - ".join(problems))


def range_problems(opt: argparse.Namespace) -> Iterator[str]:
    """Numeric flags outside :data:`RANGES`."""
    for name, valid in RANGES.items():
        value = getattr(opt, name, None)
        if value is not None and not isinstance(value, bool) and value not in valid:
            yield f"--{name} must be {valid.describe()} (got {value})"


def model_class(opt: argparse.Namespace) -> type[BaseModel]:
    """The class of ``--model`` (option sets built outside a command line take it from
    :func:`options.options_at_defaults`)."""
    from models import find_model_using_name

    return find_model_using_name(opt.model)


def min_frames_g(model: str) -> int:
    """Fewest generator frames (``--n_frames_G``) the model ``model`` accepts (its ``min_frames_G``)."""
    from models import find_model_using_name

    return find_model_using_name(model).min_frames_G


def frame_divisor(opt: argparse.Namespace) -> int:
    """What both frame sides must be a multiple of for the model's generator (its ``frame_divisor``)."""
    return model_class(opt).frame_divisor(opt)


def min_frame_side(opt: argparse.Namespace) -> int:
    """Smallest frame side the generator can take: 32, or what the model's generator divides by."""
    return max(MIN_SIDE, frame_divisor(opt))


def _student_problems(opt: argparse.Namespace) -> Iterator[str]:
    """Fast-Vid2Vid's student flags."""
    if not opt.student:
        return
    if opt.netG != "sr_mobile_composite":
        yield f"--student is Fast-Vid2Vid's student generator: it needs --netG sr_mobile_composite (got {opt.netG})"
    scale = opt.student_scale
    if scale < 2 or scale & (scale - 1) or scale > 2 ** opt.n_downsample_G:
        yield (f"--student_scale {scale} must be a power of two from 2 to 2**--n_downsample_G "
               f"({2 ** opt.n_downsample_G})")


def keyframe_problems(opt: argparse.Namespace) -> Iterator[str]:
    """test.py's key-frame flags: a rule that cannot run, or a key-frame flag without ``--keyframes``."""
    if opt.isTrain:  # test.py's flags
        return
    mode = opt.keyframes
    interval, gap = opt.key_interval, opt.max_key_gap
    if mode == "interval" and interval < 1:
        yield "--keyframes interval needs --key_interval N (frames from one key to the next, N >= 1)"
    if mode != "interval" and interval > 0:
        yield (f"--key_interval {interval} only applies to --keyframes interval (got --keyframes {mode}); "
               "add --keyframes interval or drop --key_interval")
    if mode == "off" and gap > 0:
        yield (f"--max_key_gap {gap} only applies with --keyframes published or interval; add one or drop "
               "--max_key_gap")
    if mode != "off" and opt.flow_backend == "flownet2" and not os.path.isfile(opt.flownet_checkpoint):
        yield (f"--keyframes with --flow_backend flownet2: --flownet_checkpoint {opt.flownet_checkpoint} not "
               "found; get it with `python scripts/download_models_flownet2.py`, or interpolate with "
               "--flow_backend dis (the default)")


def _problems(opt: argparse.Namespace) -> Iterator[str]:
    """Flags that contradict each other (or the model)."""
    model = model_class(opt)
    if opt.n_frames_G >= 1 and opt.n_frames_G < model.min_frames_G:
        yield (f"--n_frames_G {opt.n_frames_G}: the {opt.model} model needs --n_frames_G >= {model.min_frames_G} "
               "(the generator conditions on previous frames)")
    yield from model.validate_options(opt)
    if opt.isTrain and opt.niter >= 0 and opt.niter_decay >= 0 and opt.niter + opt.niter_decay < 1:
        yield "--niter 0 with --niter_decay 0 trains no epoch; use --niter >= 1 (epochs at the starting rate)"
    yield from device_problems(opt)
    if opt.resize_or_crop not in RESIZE_OR_CROP_MODES:
        yield f"--resize_or_crop {opt.resize_or_crop!r} is not one of: {', '.join(RESIZE_OR_CROP_MODES)}"
    elif opt.resize_or_crop in CROP_MODES_SCALED_TO_LOADSIZE and opt.fineSize > opt.loadSize:
        yield (f"--fineSize {opt.fineSize} is larger than --loadSize {opt.loadSize} with --resize_or_crop "
               f"{opt.resize_or_crop}: the crop cannot exceed the scaled image; lower --fineSize")
    elif "random" in opt.resize_or_crop and opt.fineSize > opt.loadSize:
        yield (f"--fineSize {opt.fineSize} is larger than --loadSize {opt.loadSize} with --resize_or_crop "
               f"{opt.resize_or_crop}: the random side is drawn from [--fineSize, --loadSize]; lower --fineSize")
    if opt.fg and opt.label_nc == 0:
        yield "--fg needs label maps (--label_nc > 0): the foreground mask is read from --fg_labels"
    bad = [label for label in opt.fg_labels if opt.label_nc and not 0 <= label < opt.label_nc]
    if opt.fg and bad:
        yield f"--fg_labels {bad} are outside [0, --label_nc {opt.label_nc})"
    yield from _student_problems(opt)
    yield from keyframe_problems(opt)
    if opt.isTrain and opt.fp16 and opt.autocast != "none":
        yield f"--fp16 and --autocast {opt.autocast} both choose the training precision; pass one of them"
    if opt.openpose_only and opt.densepose_only:
        yield "--openpose_only and --densepose_only exclude each other; pass at most one"
    if opt.no_first_img and not opt.isTrain and opt.use_real_img:
        yield "--no_first_img and --use_real_img contradict each other; pass one first-frame mode"


def device_problems(opt: argparse.Namespace) -> Iterator[str]:
    """``--n_gpus_gen`` and ``--batchSize`` against the devices of ``--gpu_ids``."""
    n_devices = len(opt.devices)
    if opt.n_gpus_gen < 1 or opt.n_gpus_gen > n_devices:
        yield (f"--n_gpus_gen {opt.n_gpus_gen} does not fit the {n_devices} device(s) of --gpu_ids; "
               f"use -1 (all) or a number from 1 to {n_devices}")
    elif opt.batchSize > 1 and opt.n_gpus_gen < n_devices and opt.batchSize != opt.n_gpus_gen:
        yield (f"--batchSize {opt.batchSize} with a generator/discriminator split (--n_gpus_gen "
               f"{opt.n_gpus_gen} of {n_devices} devices) needs --batchSize equal to --n_gpus_gen, "
               "or --n_gpus_gen -1")


def size_problems(opt: argparse.Namespace) -> Iterator[str]:
    """``--loadSize`` / ``--fineSize`` too small for the generator, or a square frame too large for the memory."""
    mode = opt.resize_or_crop
    if mode not in RESIZE_OR_CROP_MODES:
        return
    side = min_frame_side(opt)
    why = (f"frames are rounded to multiples of 32 and the generator halves them {opt.n_downsample_G} + "
           f"{opt.n_scales_spatial - 1} times (--n_downsample_G, --n_scales_spatial)")
    uses_load = any(key in mode for key in ("resize", "scaleWidth", "scaleHeight", "random"))
    uses_fine = "crop" in mode or "scaledCrop" in mode or "random" in mode
    for flag, used in (("loadSize", uses_load), ("fineSize", uses_fine)):
        if used and getattr(opt, flag) < side:
            yield f"--{flag} {getattr(opt, flag)} is too small: use --{flag} >= {side} ({why})"
    if "resize" in mode and opt.loadSize >= side:
        square = opt.fineSize if "crop" in mode else opt.loadSize
        message = frame_memory_problem(square, square, opt)
        if message:
            yield f"--loadSize {opt.loadSize} / --fineSize {opt.fineSize}: {message}; use smaller sizes"


def unwritable_reason(folder: str) -> Optional[str]:
    """Why ``folder`` cannot be created or written to, or None when it can (nothing is created)."""
    probe = os.path.abspath(folder)
    while not os.path.lexists(probe):
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    if not os.path.isdir(probe):
        return f"{probe} exists and is not a folder"
    if not os.access(probe, os.W_OK | os.X_OK):
        return f"{probe} is not writable"
    return None


def output_problems(opt: argparse.Namespace) -> Iterator[str]:
    """Output folders that cannot be written: checkpoints and the flow cache in training, results at test."""
    if opt.isTrain:
        folders = [("--checkpoints_dir", os.path.join(opt.checkpoints_dir, opt.name))]
        if opt.flow_cache:
            folders.append(("--flow_cache", opt.flow_cache))
    else:
        folders = [("--results_dir", opt.results_dir)]
    for flag, folder in folders:
        reason = unwritable_reason(folder) if folder else None
        if reason:
            yield f"{flag} {folder}: cannot write there ({reason}); choose a writable folder"


def warn_ineffective(opt: argparse.Namespace) -> None:
    """Log flags that are accepted but change nothing in this run."""
    if opt.fp16 and not opt.isTrain:
        logger.warning("--fp16 has no effect in test.py; use --autocast fp16 (CUDA) or --autocast bf16")
    elif opt.fp16 and opt.device.type != "cuda":
        logger.warning("--fp16 has no effect on the %s: mixed precision training runs on CUDA only",
                       opt.device.type)
    if opt.isTrain and opt.autocast != "none" and not model_class(opt).trains_with_autocast:
        logger.warning("--autocast %s has no effect on --model %s: it trains in float32 (bf16 training is "
                       "implemented for the vid2vid models)", opt.autocast, opt.model)


# ---------------------------------------------------------------------- checks added in hardening round 2
#: Output channels every dataset mode loads (RGB frames) and every released checkpoint generates.
OUTPUT_NC = 3
#: Widest or tallest side a saved JPEG may have (libjpeg's limit is 65535).
MAX_SAVED_SIDE = 65500


def fg_label_problems(opt: argparse.Namespace) -> Iterator[str]:
    """``--fg`` with an empty ``--fg_labels``: the foreground branch would never be used."""
    if opt.fg and opt.label_nc and not opt.fg_labels:
        yield ("--fg with an empty --fg_labels: no label is foreground, so the foreground branch is never used; "
               "list the foreground label ids (e.g. --fg_labels 26) or drop --fg")


def output_nc_problems(opt: argparse.Namespace) -> Iterator[str]:
    """``--output_nc`` other than 3 (checked before ``opt.txt`` is written)."""
    if opt.output_nc >= 1 and opt.output_nc != OUTPUT_NC:
        yield (f"--output_nc {opt.output_nc}: every dataset mode loads RGB frames and the released checkpoints "
               f"generate {OUTPUT_NC} channels; use --output_nc {OUTPUT_NC}")


def aspect_ratio_problems(opt: argparse.Namespace) -> Iterator[str]:
    """test.py's ``--aspect_ratio`` stretching a saved frame beyond what an image file can hold."""
    if opt.isTrain:
        return  # a test.py flag
    ratio = opt.aspect_ratio
    if ratio == 1 or not (math.isfinite(ratio) and ratio > 0):
        return  # not used, or reported by range_problems
    stretch = max(ratio, 1 / ratio)
    side = opt.loadSize if opt.resize_or_crop != "none" else MIN_SIDE
    if side <= MAX_SAVED_SIDE < side * stretch:
        yield (f"--aspect_ratio {ratio:g} stretches a {side}-px side of the saved frames {stretch:g} times, past "
               f"the {MAX_SAVED_SIDE} px an image file holds; use a ratio from {side / MAX_SAVED_SIDE:.3g} to "
               f"{MAX_SAVED_SIDE / side:.3g}")


def model_problems(opt: argparse.Namespace) -> Iterator[str]:
    """Checks that live beside their network or model (imported here so that they run before any work)."""
    from models.networks.sr_mobile import sr_mobile_problems

    yield from sr_mobile_problems(opt)


MORE_CHECKS = (fg_label_problems, output_nc_problems, aspect_ratio_problems, model_problems)
