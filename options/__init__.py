"""Command-line options.

``BaseOptions`` holds the flags shared by training and testing; ``TrainOptions`` and ``TestOptions`` add
their own. Dataset modes and models add flags of their own through ``modify_commandline_options``.
"""

from options.base_options import BaseOptions, OptionError
from options.test_options import TestOptions
from options.train_options import TrainOptions

__all__ = ["BaseOptions", "OptionError", "TestOptions", "TrainOptions"]
