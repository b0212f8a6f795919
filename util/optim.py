"""Adam as every model builds it: the fused kernel where it applies, and optimizer states that load across it.

``torch.optim.Adam(fused=True)`` updates all tensors of a device in one kernel; on this CPU it steps the
``train_g1_256`` generator (ngf 128, 284 tensors) 4.1x faster than the default for-loop, and its results differ
from the for-loop's by float rounding only (docs/performance.md). It needs floating-point parameters on a device
with fused kernels (CPU, CUDA, ...); elsewhere the default implementation is used. A saved optimizer state
records which implementation wrote it; :func:`load_optimizer_state` keeps the loading optimizer's own choice, so
a run resumes with either.
"""

from __future__ import annotations

from typing import Iterable

import torch
from torch import Tensor
from torch.utils._foreach_utils import _get_fused_kernels_supported_devices

#: Group options that choose the implementation, not the update (kept from the loading optimizer).
IMPLEMENTATION_KEYS = ("fused", "foreach")


def fused_adam_applies(params: Iterable[Tensor]) -> bool:
    """Whether ``Adam(fused=True)`` accepts ``params``: a non-empty set of floating-point tensors, all on
    devices with fused optimizer kernels."""
    params = list(params)
    supported = set(_get_fused_kernels_supported_devices())
    return bool(params) and all(p.is_floating_point() and p.device.type in supported for p in params)


def load_optimizer_state(optimizer: torch.optim.Optimizer, state: dict) -> None:
    """``optimizer.load_state_dict(state)``, keeping ``optimizer``'s implementation (fused, foreach or the
    for-loop) whichever one saved ``state``: the moments and step counts are the same in all of them; only
    where the step count lives differs (on the parameter's device for fused, on the CPU for the for-loop).

    Args:
        optimizer: The optimizer to restore, built over the same parameters as the saved one.
        state: A ``state_dict()`` of an optimizer of the same class (any implementation).
    """
    own = [{key: group[key] for key in IMPLEMENTATION_KEYS if key in group} for group in optimizer.param_groups]
    optimizer.load_state_dict(state)
    for group, options in zip(optimizer.param_groups, own):
        group.update(options)
        on_device = bool(group.get("fused")) or bool(group.get("capturable"))
        for param in group["params"]:
            step = optimizer.state.get(param, {}).get("step")
            if isinstance(step, Tensor):
                device = param.device if on_device else torch.device("cpu")
                optimizer.state[param]["step"] = step.to(device=device, dtype=torch.float32)
