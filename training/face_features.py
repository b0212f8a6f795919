"""Write a face single-frame run's ``features.npy`` again from its checkpoint (the command-line side).

``train.py --model single --dataset_mode face`` writes the file after its last epoch; this rebuilds it from
``<which_epoch>_net_E.pth`` (for instance with another ``--n_feature_frames``)::

    python -m training.face_features <the run's train.py flags> [--which_epoch N] [--n_feature_frames K]

The encoding itself is :mod:`models.single.features`; this module adds what a model may not import: the dataset.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Optional, Sequence

from data import create_dataset
from models.networks import define_single_E
from models.single.features import write_features
from options import TrainOptions
from util.checkpoint import load_file, load_state_dict_strict
from util.config import derive


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Write ``features.npy`` again from the run's ``<which_epoch>_net_E.pth``; returns its path."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    opt = TrainOptions().parse(argv + ["--model", "single"], save=False)
    encoder = define_single_E(opt).to(opt.device)
    path = os.path.join(opt.checkpoints_dir, opt.name, f"{opt.which_epoch}_net_E.pth")
    load_state_dict_strict(encoder, load_file(path, opt.device, what="face feature encoder"), path)
    written = write_features(opt, encoder, opt.device, create_dataset(derive(opt, no_flip=True)))
    print(f"wrote {written}")
    return written


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
