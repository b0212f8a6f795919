"""Checkpoint files: atomic writes, safe loads, strict state-dict loading with readable errors."""

from __future__ import annotations

import os
import tempfile
from typing import Any, Mapping

import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the network it is loaded into."""


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename it over ``path``.

    A kill at any moment leaves either the old file or the complete new one, never a truncated file.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=".tmp_", suffix=os.path.basename(path), dir=folder)
    try:
        with os.fdopen(handle, "wb") as stream:
            torch.save(obj, stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp_path, path)
    except BaseException:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        raise


def atomic_write_text(text: str, path: str) -> None:
    """Write a small text file atomically (temporary file, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=".tmp_", dir=folder)
    with os.fdopen(handle, "w") as stream:
        stream.write(text)
    os.replace(tmp_path, path)


def load_file(path: str, map_location: torch.device | str = "cpu", what: str = "checkpoint",
              hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` with an error that names the file and what to do.

    Args:
        path: The checkpoint file.
        map_location: Where tensors are loaded.
        what: What the file is, for the message (e.g. "generator scale 0").
        hint: How to obtain the file or which flag to change.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{what}: file not found: {path}" + (f". {hint}" if hint else ""))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling error means an unusable file
        raise CheckpointError(f"{what}: cannot read {path} ({type(err).__name__}: {err}); the file may be "
                              "truncated or not a PyTorch checkpoint" + (f". {hint}" if hint else "")) from err


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of the unwrapped module with every tensor copied to the CPU (the live model stays put)."""
    module = getattr(module, "module", module)
    return {key: value.detach().to("cpu", copy=True) for key, value in module.state_dict().items()}


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> None:
    """Load ``state`` into ``module`` requiring identical keys and shapes.

    ``num_batches_tracked`` buffers missing from torch<=0.4 checkpoints are filled from the module.

    Raises:
        CheckpointError: listing the first missing, unexpected and mis-shaped keys.
    """
    own = module.state_dict()
    state = dict(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = value
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mis_shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
                  for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mis_shaped:
        raise CheckpointError(
            f"{source} does not match the network layout ({type(module).__name__}):\n"
            + _key_report("missing keys", missing) + _key_report("unexpected keys", unexpected)
            + _key_report("shape mismatches", mis_shaped)
            + "Check that the flags (--ngf, --n_downsample_G, --n_blocks, --fg, --use_instance, --label_nc, "
              "--n_frames_G, ...) are the ones the checkpoint was trained with.")
    module.load_state_dict(state, strict=True)


def _key_report(title: str, keys: list[str], limit: int = 8) -> str:
    if not keys:
        return ""
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"  {title} ({len(keys)}): {', '.join(keys[:limit])}{more}\n"
