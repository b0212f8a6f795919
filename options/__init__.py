"""Command-line options.

``BaseOptions`` holds the flags shared by training and testing; ``TrainOptions`` and ``TestOptions`` add
their own. Dataset modes and models add flags of their own through ``modify_commandline_options``.
"""

import argparse

from options.base_options import BaseOptions, OptionError
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util import run_summary
from util.config import derive

__all__ = ["BaseOptions", "OptionError", "TestOptions", "TrainOptions", "option_defaults", "options_at_defaults"]


def option_defaults(opt: argparse.Namespace) -> dict:
    """The defaults of every flag of ``opt``'s option class (train or test) with its ``--model`` hooks applied
    (the result pages' "flags that differ from the defaults")."""
    options = TrainOptions() if opt.isTrain else TestOptions()
    defaults = vars(options.gather(["--model", str(opt.model)]))
    defaults["dataset_mode"] = options._dataset_mode(argparse.Namespace(**defaults))  # as parse derives it
    return defaults


run_summary.defaults_provider = option_defaults


def options_at_defaults(is_train: bool, **values: object) -> argparse.Namespace:
    """Options as ``parse`` leaves them with no flag given (devices and lists derived, nothing validated, printed
    or saved), then ``values`` set: the one place option sets built outside a command line (tests, benches)
    take their defaults from, instead of repeating them.

    Args:
        is_train: train.py's flags (True) or test.py's.
        **values: Option name -> value; ``model`` and ``dataset_mode`` are given as flags, so their hooks' flags
            are there too. Every name must be an option of that phase (:func:`util.config.derive`).
    """
    options = TrainOptions() if is_train else TestOptions()
    as_flags = ("model", "dataset_mode")  # parse's own derivation applies (test.py reads temporal data as test)
    opt = options.gather([word for key in as_flags if key in values for word in (f"--{key}", str(values[key]))])
    opt.isTrain = is_train
    options.derive(opt)
    return derive(opt, **{name: value for name, value in values.items() if name not in as_flags})
