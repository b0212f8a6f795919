"""Dataset modes and the data-loader factory.

``--dataset_mode foo`` loads ``data/foo_dataset.py`` and uses its one ``BaseDataset`` subclass whose name,
lowercased without underscores, is ``foodataset`` (``FooDataset``). Adding a mode is adding one file;
``data/template_dataset.py`` is a commented skeleton to start from.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from torch.utils.data import DataLoader

from data.base_dataset import BaseDataset
from util.registry import available, find_class

_HERE = Path(__file__).resolve().parent


def available_modes() -> list[str]:
    """Every dataset mode found as ``data/<name>_dataset.py`` (the base class file excluded)."""
    return available(_HERE, "_dataset")


def find_dataset_using_name(mode: str) -> type[BaseDataset]:
    """The ``BaseDataset`` subclass of ``data/<mode>_dataset.py``.

    Raises:
        ValueError: no such file, or no matching class in it; the message lists the available modes.
    """
    return find_class(_HERE, "data", "_dataset", mode, BaseDataset, "--dataset_mode", "modes")


def get_option_setter(mode: str) -> Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]:
    """The ``modify_commandline_options`` hook of a dataset mode."""
    return find_dataset_using_name(mode).modify_commandline_options


def reads_raw_video(mode: str) -> bool:
    """Whether ``mode`` has a raw-video reader, ``data/<mode>_video_dataset.py`` (face, pose)."""
    return mode != "video" and (_HERE / f"{mode}_video_dataset.py").is_file()


def loaded_mode(opt: argparse.Namespace) -> str:
    """The mode whose class is loaded: ``<mode>_video`` for test.py's ``--input_video`` where the mode reads raw
    video itself (``opt.dataset_mode`` stays ``face`` / ``pose`` for the model), else ``opt.dataset_mode``."""
    if not opt.isTrain and opt.input_video and reads_raw_video(opt.dataset_mode):
        return f"{opt.dataset_mode}_video"
    return opt.dataset_mode


def create_dataset(opt: argparse.Namespace) -> BaseDataset:
    """Instantiate the dataset of ``opt.dataset_mode`` (see :func:`loaded_mode`)."""
    return find_dataset_using_name(loaded_mode(opt))(opt)


def create_test_loader(opt: argparse.Namespace) -> DataLoader:
    """test.py's loader: frames in order, one per item; workers read ahead while the generator runs."""
    dataset = create_dataset(opt)
    dataset.check_start_frame()
    workers = 0 if opt.debug else opt.nThreads
    return DataLoader(dataset, batch_size=1, shuffle=False, num_workers=workers,
                      prefetch_factor=4 if workers > 0 else None)
