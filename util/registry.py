"""Plugin lookup by file name, shared by the dataset-mode and model factories.

A package holds ``<name><suffix>.py`` files (``temporal_dataset.py``, ``vid2vid_model.py``); the class of
``<name>`` is the one subclass of the package's base class whose lowercased name, without underscores, is
``<name without underscores><suffix without underscores and .py>`` (``TemporalDataset``, ``Vid2VidModel``).
"""

from __future__ import annotations

import difflib
import importlib
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", bound=type)


class UnknownPluginError(ValueError):
    """A ``--model`` / ``--dataset_mode`` name with no plugin file (a user error: one ``error:`` line)."""


def did_you_mean(name: str, choices: list[str]) -> str:
    """``" did you mean vid2vid?"`` for the closest of ``choices`` to a mistyped ``name`` (empty if none is close)."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.6)
    return f" did you mean {close[0]}?" if close else ""


def available(folder: Path, suffix: str) -> list[str]:
    """Names of every ``<name><suffix>.py`` in ``folder``, the base class file (``base<suffix>.py``) excluded."""
    return sorted(p.name[: -len(suffix) - 3] for p in folder.glob(f"*{suffix}.py") if p.name != f"base{suffix}.py")


def find_class(folder: Path, package: str, suffix: str, name: str, base: T, flag: str, kind: str) -> T:
    """The ``base`` subclass defined in ``<folder>/<name><suffix>.py``.

    Args:
        folder: The package folder.
        package: Its import name (``"data"``).
        suffix: File-name suffix without ``.py`` (``"_dataset"``).
        name: The plugin's name, as given to ``flag``.
        base: The base class the plugin must subclass.
        flag: The command-line flag that named it, for the error message.
        kind: What the names are ("modes", "models"), for the error message.

    Raises:
        UnknownPluginError: no such file (a ValueError; the message suggests the closest name and lists all).
        ValueError: no matching class in the file; the message lists the available names.
    """
    file_name = folder / f"{name}{suffix}.py"
    if name == "base" or not file_name.exists():
        choices = available(folder, suffix)
        raise UnknownPluginError(f"{flag} {name!r}: no file {file_name};{did_you_mean(name, choices)} "
                                 f"available {kind}: {choices}")
    module = importlib.import_module(f"{package}.{name}{suffix}")
    target = (name + suffix).replace("_", "")
    for attr, obj in vars(module).items():
        if attr.lower() == target and isinstance(obj, type) and issubclass(obj, base):
            return obj
    raise ValueError(f"{flag} {name!r}: {file_name} defines no {base.__name__} subclass named like {target!r}; "
                     f"available {kind}: {available(folder, suffix)}")
