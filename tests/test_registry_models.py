"""The model registry: every models/*_model.py is found, unknown names fail clearly."""

from __future__ import annotations

import pytest

from models import available_models, find_model_using_name
from models.base_model import BaseModel


def test_every_model_file_is_found():
    names = available_models()
    assert {"vid2vid", "template"} <= set(names)
    for name in names:
        assert issubclass(find_model_using_name(name), BaseModel)


def test_unknown_model_names_the_file_and_choices():
    with pytest.raises(ValueError, match=r"nonexistent_model\.py.*available models.*vid2vid"):
        find_model_using_name("nonexistent")


def test_template_model_trains_one_step(tmp_path):
    import torch

    from tests.conftest import make_opt

    opt = make_opt(["--gpu_ids", "-1", "--model", "template", "--label_nc", "0", "--input_nc", "3"])
    model = find_model_using_name("template")(opt)
    model.setup()
    data = {"A": torch.rand(1, 2, 3, 8, 8), "B": torch.rand(1, 2, 3, 8, 8) * 2 - 1}
    first = model.train_sequence(data).losses["G_L1"]
    for _ in range(20):
        last = model.train_sequence(data).losses["G_L1"]
    assert last < first
