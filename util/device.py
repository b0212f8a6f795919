"""The one place that decides devices: ``--gpu_ids`` -> a list of ``torch.device``."""

from __future__ import annotations

import logging
from typing import Sequence

import torch

logger = logging.getLogger(__name__)


def resolve_devices(gpu_ids: Sequence[int]) -> list[torch.device]:
    """Turn GPU ids into devices; no ids, or ids of absent GPUs, fall back to the CPU with a warning.

    Args:
        gpu_ids: Non-negative CUDA device indices (``--gpu_ids -1`` gives an empty list).

    Returns:
        At least one device: the CUDA devices that exist, or ``[cpu]``.
    """
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    present = [i for i in gpu_ids if i < available]
    missing = [i for i in gpu_ids if i >= available]
    if missing:
        logger.warning("GPU ids %s are not present (%d GPUs found); using %s instead", missing, available,
                       "the remaining GPUs" if present else "the CPU")
    if not present:
        return [torch.device("cpu")]
    return [torch.device("cuda", i) for i in present]


def autocast_dtype(name: str) -> torch.dtype | None:
    """``"bf16"`` -> ``torch.bfloat16``, ``"fp16"`` -> ``torch.float16``, ``"none"`` -> None."""
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
