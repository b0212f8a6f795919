"""Shared fixtures: tiny option sets, the shared sample data and golden fixtures, a device list."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VID2VID_SHARED", REPO.parent / "shared"))
DATASETS = SHARED / "datasets"
GOLDEN = SHARED / "golden"
REFERENCE = SHARED / "reference"

# A tiny configuration: ngf 8, ndf 8, one residual block, 2 generator frames, 32x64 frames, 4 labels.
TINY_FLAGS = [
    "--gpu_ids", "-1", "--ngf", "8", "--ndf", "8", "--n_blocks", "2", "--n_blocks_local", "1",
    "--n_downsample_G", "2", "--n_frames_G", "2", "--loadSize", "64", "--fineSize", "64",
    "--label_nc", "4", "--nThreads", "0",
]
TINY_TRAIN_FLAGS = TINY_FLAGS + ["--n_frames_total", "3", "--max_frames_per_gpu", "2", "--num_D", "1",
                                 "--n_frames_D", "2", "--no_vgg", "--flow_backend", "dis"]


def make_opt(argv: Sequence[str], train: bool = True, checkpoints_dir: str | os.PathLike | None = None):
    """Parse ``argv`` with the train or test option class, saving into ``checkpoints_dir`` if given."""
    from options import TestOptions, TrainOptions

    argv = list(argv)
    if checkpoints_dir is not None:
        argv += ["--checkpoints_dir", str(checkpoints_dir)]
    options = TrainOptions() if train else TestOptions()
    return options.parse(argv, save=checkpoints_dir is not None)


def require(path: Path, what: str) -> Path:
    """Skip the test, with a reason, where ``path`` (shared data or golden fixtures) is absent."""
    if not path.exists():
        pytest.skip(f"{what} not found at {path} (only in the project's shared folder)")
    return path


@pytest.fixture
def cityscapes_root() -> Path:
    return require(DATASETS / "Cityscapes", "Cityscapes sample data")


@pytest.fixture
def golden_root() -> Path:
    return require(GOLDEN, "golden fixtures")


@pytest.fixture(params=["cpu"] + (["cuda"] if torch.cuda.is_available() else []))
def device(request) -> torch.device:
    return torch.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    yield
