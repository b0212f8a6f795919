"""Seeding of every random number generator the project uses."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed ``random``, NumPy and torch (CUDA too when present)."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def get_rng_state() -> dict:
    """Every generator's state as tensors and numbers (readable by a weights-only load), for an exact resume."""
    version, mt_words, gauss = random.getstate()
    kind, np_words, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {"python": {"version": version, "words": torch.tensor(mt_words, dtype=torch.int64), "gauss": gauss},
             "numpy": {"kind": kind, "words": torch.from_numpy(np_words.astype(np.int64)), "pos": int(np_pos),
                       "has_gauss": int(np_has_gauss), "gauss": float(np_gauss)},
             "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what :func:`get_rng_state` returned."""
    py = state["python"]
    random.setstate((py["version"], tuple(int(w) for w in py["words"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["kind"], npy["words"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"],
                         npy["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
