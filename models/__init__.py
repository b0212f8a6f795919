"""Models and the model factory.

``--model bar`` loads ``models/bar_model.py`` and uses its one ``BaseModel`` subclass whose name,
lowercased without underscores, is ``barmodel`` (``BarModel``). Adding a model is adding one file;
``models/template_model.py`` is a commented skeleton. Networks live in ``models/networks``.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path
from typing import Callable

from models.base_model import BaseModel

_HERE = Path(__file__).resolve().parent


def available_models() -> list[str]:
    """Every model found as ``models/<name>_model.py`` (the base class file excluded)."""
    return sorted(p.name[: -len("_model.py")] for p in _HERE.glob("*_model.py") if p.name != "base_model.py")


def find_model_using_name(name: str) -> type[BaseModel]:
    """The ``BaseModel`` subclass of ``models/<name>_model.py``.

    Raises:
        ValueError: no such file, or no matching class in it; the message lists the available models.
    """
    file_name = _HERE / f"{name}_model.py"
    if name == "base" or not file_name.exists():
        raise ValueError(f"--model {name!r}: no file {file_name}; available models: {available_models()}")
    module = importlib.import_module(f"models.{name}_model")
    target = f"{name.replace('_', '')}model"
    for attr, obj in vars(module).items():
        if attr.lower() == target and isinstance(obj, type) and issubclass(obj, BaseModel):
            return obj
    raise ValueError(f"--model {name!r}: {file_name} defines no BaseModel subclass named like {target!r}; "
                     f"available models: {available_models()}")


def get_option_setter(name: str) -> Callable[[argparse.ArgumentParser, bool], argparse.ArgumentParser]:
    """The ``modify_commandline_options`` hook of a model."""
    return find_model_using_name(name).modify_commandline_options


def create_model(opt: argparse.Namespace, **kwargs) -> BaseModel:
    """Instantiate the model of ``opt.model`` and call its ``setup``."""
    model = find_model_using_name(opt.model)(opt, **kwargs)
    model.setup()
    return model
