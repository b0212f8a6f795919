"""Models and the model factory.

``--model bar`` loads ``models/bar_model.py`` and uses its one ``BaseModel`` subclass whose name,
lowercased without underscores, is ``barmodel`` (``BarModel``). Adding a model is adding one file;
``models/template_model.py`` is a commented skeleton. Networks live in ``models/networks``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

from models.base_model import BaseModel
from util.registry import available, find_class

_HERE = Path(__file__).resolve().parent
#: ``--model``'s default (also what option sets built without the flag are taken to be).
DEFAULT_MODEL = "vid2vid"


def available_models() -> list[str]:
    """Every model found as ``models/<name>_model.py`` (the base class file excluded)."""
    return available(_HERE, "_model")


def find_model_using_name(name: str) -> type[BaseModel]:
    """The ``BaseModel`` subclass of ``models/<name>_model.py``.

    Raises:
        ValueError: no such file, or no matching class in it; the message lists the available models.
    """
    return find_class(_HERE, "models", "_model", name, BaseModel, "--model", "models")


def get_option_setter(name: str) -> Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]:
    """The ``modify_commandline_options`` hook of a model."""
    return find_model_using_name(name).modify_commandline_options


def create_model(opt: argparse.Namespace, **kwargs) -> BaseModel:
    """Instantiate the model of ``opt.model`` and call its ``setup``."""
    model = find_model_using_name(opt.model)(opt, **kwargs)
    model.setup()
    return model
