"""The one place that decides devices: ``--gpu_ids`` -> a list of ``torch.device``."""

from __future__ import annotations

import logging
from typing import Sequence

import torch

logger = logging.getLogger(__name__)
_told_no_gpu: set = set()  # the GPU ids already reported absent on a machine without GPUs (said once a process)


def resolve_devices(gpu_ids: Sequence[int]) -> list[torch.device]:
    """Turn GPU ids into devices; no ids, or ids of absent GPUs, fall back to the CPU.

    On a machine without any GPU the fallback is expected (``--gpu_ids`` defaults to 0): it is said once per
    process as information. Where GPUs exist but not the ones asked for, it is a warning every time.

    Args:
        gpu_ids: Non-negative CUDA device indices (``--gpu_ids -1`` gives an empty list).

    Returns:
        At least one device: the CUDA devices that exist, or ``[cpu]``.
    """
    available = torch.cuda.device_count() if torch.cuda.is_available() else 0
    present = [i for i in gpu_ids if i < available]
    missing = [i for i in gpu_ids if i >= available]
    if missing and available == 0:
        if tuple(missing) not in _told_no_gpu:
            _told_no_gpu.add(tuple(missing))
            logger.info("no GPU on this machine (GPU ids %s are not present); running on the CPU", missing)
    elif missing:
        logger.warning("GPU ids %s are not present (%d GPUs found); using %s instead", missing, available,
                       "the remaining GPUs" if present else "the CPU")
    if not present:
        return [torch.device("cpu")]
    return [torch.device("cuda", i) for i in present]


def autocast_dtype(name: str) -> torch.dtype | None:
    """``"bf16"`` -> ``torch.bfloat16``, ``"fp16"`` -> ``torch.float16``, ``"none"`` -> None."""
    return {"none": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]
