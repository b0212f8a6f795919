"""The dataset-mode registry: every data/*_dataset.py is importable and found; unknown modes fail clearly."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from data import available_modes, create_dataset, find_dataset_using_name, get_option_setter
from data.base_dataset import BaseDataset

DATA_DIR = Path(__file__).resolve().parent.parent / "data"


def test_every_dataset_file_is_found():
    files = sorted(p.name[: -len("_dataset.py")] for p in DATA_DIR.glob("*_dataset.py"))
    assert available_modes() == [name for name in files if name != "base"]
    assert {"temporal", "test", "template"} <= set(available_modes())
    for mode in available_modes():
        cls = find_dataset_using_name(mode)
        assert issubclass(cls, BaseDataset)
        assert cls.__name__.lower().replace("_", "") == f"{mode.replace('_', '')}dataset"


@pytest.mark.parametrize("mode", ["nonexistent", "base"])
def test_unknown_mode_names_the_file_and_the_choices(mode):
    with pytest.raises(ValueError) as info:
        find_dataset_using_name(mode)
    message = str(info.value)
    assert f"{mode}_dataset.py" in message
    assert "available modes" in message and "temporal" in message and "template" in message


def test_option_setters_return_the_parser():
    for mode in available_modes():
        parser = argparse.ArgumentParser()
        parser.add_argument("--label_nc", type=int, default=35)
        parser.add_argument("--input_nc", type=int, default=3)
        assert get_option_setter(mode)(parser, True) is parser
    parser = argparse.ArgumentParser()
    parser.add_argument("--label_nc", type=int, default=35)
    get_option_setter("template")(parser, True)
    assert parser.parse_args([]).label_nc == 0  # the template's hook changes a default


def test_create_dataset_uses_the_mode(tmp_path):
    for key in ("A", "B"):
        (tmp_path / f"train_{key}" / "seq0").mkdir(parents=True)
    from PIL import Image

    for key in ("A", "B"):
        for t in range(3):
            Image.new("RGB", (64, 32), (10 * t, 0, 0)).save(tmp_path / f"train_{key}" / "seq0" / f"{t}.png")
    opt = argparse.Namespace(dataset_mode="template", dataroot=str(tmp_path), phase="train", isTrain=True,
                             n_frames_total=1, n_frames_G=2, resize_or_crop="none", loadSize=64, fineSize=64,
                             no_flip=True, max_dataset_size=float("inf"), n_gpus_gen=1, batchSize=1,
                             max_frames_per_gpu=1, max_t_step=1)
    dataset = create_dataset(opt)
    assert type(dataset).__name__ == "TemplateDataset"
    assert dataset[0]["A"].shape == (2, 3, 32, 64)
