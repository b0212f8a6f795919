"""Command-line options.

``BaseOptions`` holds the flags shared by training and testing; ``TrainOptions`` and ``TestOptions`` add
their own. Dataset modes and models add flags of their own through ``modify_commandline_options``.
"""

import argparse

from options.base_options import BaseOptions, OptionError
from options.test_options import TestOptions
from options.train_options import TrainOptions
from util import run_summary

__all__ = ["BaseOptions", "OptionError", "TestOptions", "TrainOptions", "option_defaults"]


def option_defaults(opt: argparse.Namespace) -> dict:
    """The defaults of every flag of ``opt``'s option class (train or test) with its ``--model`` hooks applied
    (the result pages' "flags that differ from the defaults")."""
    options = TrainOptions() if getattr(opt, "isTrain", False) else TestOptions()
    defaults = vars(options.gather(["--model", str(getattr(opt, "model", "vid2vid"))]))
    defaults["dataset_mode"] = options._dataset_mode(argparse.Namespace(**defaults))  # as parse derives it
    return defaults


run_summary.defaults_provider = option_defaults
