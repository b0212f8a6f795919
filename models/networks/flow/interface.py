"""The flow estimator interface: ``estimator(current, previous, keys) -> (flow, conf)``, batching, caching.

The flow goes from the current frame to the previous one, so ``warp(previous, flow) ~= current``
(vid2vid.md section 8.1), and ``conf = (sum_c (current - warp(previous, flow))^2 < 0.02)`` marks the pixels
where that holds. Back-ends subclass :class:`FlowEstimator` (``estimator.py``: FlowNet2, ``opencv_flow.py``:
DIS and Farneback) and are registered in :data:`models.networks.flow.estimator.FLOW_BACKENDS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Sequence, Union

import torch
from torch import Tensor

from models.networks.flow.cache import FlowCache
from models.networks.warp import warp

CONF_THRESHOLD = 0.02
Keys = Union[Sequence[str], Sequence[Sequence[str]], None]


def warp_confidence(current: Tensor, previous: Tensor, flow: Tensor) -> Tensor:
    """1 where ``warp(previous, flow)`` matches ``current``: squared RGB error (in [-1, 1] units) below 0.02.

    Args:
        current: (N, 3, H, W) in [-1, 1].
        previous: (N, 3, H, W) in [-1, 1].
        flow: (N, 2, H, W) in pixels.

    Returns:
        (N, 1, H, W) float mask of 0 and 1.
    """
    error = (current - warp(previous, flow)).pow(2).sum(dim=1, keepdim=True)
    return (error < CONF_THRESHOLD).to(current.dtype)


def _flatten_keys(keys: Keys, count: int) -> list[str] | None:
    """``keys`` as one flat list of ``count`` strings ((B, T) nesting flattened row-major), or None."""
    if keys is None:
        return None
    flat = [key for group in keys for key in ([group] if isinstance(group, str) else group)]
    if len(flat) != count:
        raise ValueError(f"got {len(flat)} flow cache keys for {count} frame pairs")
    return flat


class FlowEstimator(ABC):
    """Base of every back-end: batching of (N, ...) or (B, T, ...) input, no_grad, device and caching.

    Args:
        cache: Optional on-disk cache used when the caller passes keys.
    """

    name = "base"

    def __init__(self, *, cache: FlowCache | None = None) -> None:
        self.cache = cache

    def identity(self) -> str:
        """Text identifying the back-end and its parameters (part of every cache key)."""
        return self.name

    @abstractmethod
    def compute(self, current: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        """current, previous: (N, 3, H, W) in [-1, 1] -> flow (N, 2, H, W) pixels, conf (N, 1, H, W)."""

    @torch.no_grad()
    def __call__(self, current: Tensor, previous: Tensor, keys: Keys = None) -> tuple[Tensor, Tensor]:
        """Flow from ``current`` to ``previous`` and its confidence.

        Args:
            current: (N, 3, H, W) or (B, T, 3, H, W) frames in [-1, 1].
            previous: Same shape: the frames the flow points into.
            keys: One cache key per pair (:func:`~models.networks.flow.cache.pair_key`), flat or nested
                (B, T); with a cache, pairs already stored are read instead of computed.

        Returns:
            flow (..., 2, H, W) in pixels with ``warp(previous, flow) ~= current``; conf (..., 1, H, W).
            Both detached, on ``current``'s device.
        """
        if current.shape != previous.shape or current.dim() not in (4, 5) or current.shape[-3] != 3:
            raise ValueError(f"expected two (N, 3, H, W) or (B, T, 3, H, W) tensors, got {tuple(current.shape)} "
                             f"and {tuple(previous.shape)}")
        lead, (height, width) = current.shape[:-3], current.shape[-2:]
        cur, prev = current.reshape(-1, 3, height, width), previous.reshape(-1, 3, height, width)
        flat_keys = _flatten_keys(keys, cur.shape[0])
        if self.cache is None or flat_keys is None:
            flow, conf = self.compute(cur, prev)
        else:
            flow, conf = self._cached(cur, prev, flat_keys)
        flow = flow.to(current.device, current.dtype).reshape(*lead, 2, height, width)
        conf = conf.to(current.device, current.dtype).reshape(*lead, 1, height, width)
        return flow.detach(), conf.detach()

    def _cached(self, cur: Tensor, prev: Tensor, keys: list[str]) -> tuple[Tensor, Tensor]:
        """Read cached pairs, compute and store the missing ones; (N, 2, H, W), (N, 1, H, W)."""
        size = (cur.shape[-2], cur.shape[-1])
        entries = [self.cache.load(key, size, cur.device) for key in keys]
        missing = [i for i, entry in enumerate(entries) if entry is None]
        if missing:
            flow, conf = self.compute(cur[missing], prev[missing])
            for row, i in enumerate(missing):
                self.cache.save(keys[i], flow[row], conf[row])
                entries[i] = (flow[row].to(cur.device), conf[row].to(cur.device))
        return torch.stack([e[0] for e in entries]), torch.stack([e[1] for e in entries])
