"""What made a run, in a few lines for the result pages: the model, the generator, the flags that differ from
their defaults and the checkpoint used."""

from __future__ import annotations

import argparse
import os
from typing import Any, Callable

SKIPPED_KEYS = ("devices", "device", "isTrain", "gpu_ids", "n_gpus_gen", "name")
"""Fields ``parse`` derives (their values are no flag a user typed), and the run's name (shown on its own)."""


def _as_flag_value(value: Any) -> str:
    """A parsed value as it would be typed: lists comma-joined."""
    if isinstance(value, (list, tuple)):
        return ",".join(str(v) for v in value)
    return str(value)


#: ``opt -> {flag: default}`` for a parsed options object; installed by the ``options`` package (which sits
#: above ``util``), so a summary of options parsed elsewhere lists no changed flags.
defaults_provider: Callable[[argparse.Namespace], dict[str, Any]] | None = None


def option_defaults(opt: argparse.Namespace) -> dict[str, Any]:
    """The defaults of every flag of ``opt``'s option class (train or test) with its ``--model`` hooks applied.

    Raises:
        LookupError: no provider is installed (the ``options`` package was never imported).
    """
    if defaults_provider is None:
        raise LookupError("no option defaults: options were not parsed by the options package")
    return defaults_provider(opt)


def changed_flags(opt: argparse.Namespace) -> list[str]:
    """The flags of ``opt`` whose values differ from their defaults, as command-line text (``--ngf 8``).

    Returns an empty list for an options object that is no parsed ``TrainOptions`` / ``TestOptions``.
    """
    try:
        defaults = option_defaults(opt)
    except (SystemExit, Exception):  # noqa: BLE001 - a summary must never stop a finished run
        return []
    flags = []
    for key, value in sorted(vars(opt).items()):
        if key in SKIPPED_KEYS or key not in defaults:
            continue
        default = defaults[key]
        if value == default or _as_flag_value(value) == _as_flag_value(default):
            continue
        if value is True and default is False:
            flags.append(f"--{key}")
        else:
            flags.append(f"--{key} {_as_flag_value(value)}")
    return flags


def checkpoint_description(opt: argparse.Namespace) -> str:
    """``--which_epoch`` and, for ``latest``, how far training had got (from the run's ``iter.txt``)."""
    which = str(opt.which_epoch)
    path = os.path.join(str(opt.checkpoints_dir), str(opt.name), "iter.txt")
    if which != "latest" or not os.path.isfile(path):
        return which
    from util.checkpoint import read_iter_txt

    try:
        epoch, iteration = read_iter_txt(path)
    except Exception:  # noqa: BLE001 - an unreadable iter.txt only shortens the summary
        return which
    return f"{which} (after epoch {epoch - 1})" if iteration == 0 else f"{which} (epoch {epoch}, iteration {iteration})"


def model_rows(opt: argparse.Namespace) -> list[tuple[str, str]]:
    """``(what, value)`` rows naming the run, its model, generator and changed flags."""
    rows = [("run", str(opt.name)), ("model", str(opt.model)),
            ("generator", f"{opt.netG}, ngf {opt.ngf}, {opt.n_scales_spatial} spatial scale(s)")]
    flags = changed_flags(opt)
    rows.append(("flags not at their defaults", " ".join(flags) if flags else "none"))
    return rows
