"""Flow estimators used by training: ``estimator(current, previous, keys) -> (flow, conf)``.

The flow goes from the current frame to the previous one, so ``warp(previous, flow) ~= current``
(vid2vid.md section 8.1), and ``conf = (sum_c (current - warp(previous, flow))^2 < 0.02)`` marks the pixels
where that holds. Back-ends: ``"flownet2"`` (the reference, needs its checkpoint), ``"dis"`` and
``"farneback"`` (OpenCV, no weights). Heavy pieces are imported lazily.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import Sequence, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from models.networks.flow.cache import FlowCache
from models.networks.warp import warp

logger = logging.getLogger(__name__)

BACKENDS = ("flownet2", "dis", "farneback")
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


class FlowNet2Estimator(FlowEstimator):
    """FlowNet2 with vid2vid's input preparation (vid2vid.md section 8.1).

    Frames whose height or width is not a multiple of 64 are resized bilinearly (align_corners=False) to the
    multiples of 64 below, and the flow is resized back and rescaled. The reference only checks the height
    and scales both components by ``old_h / new_h``; that is kept whenever the height is resized, and a
    width-only mismatch (which crashes the reference) scales dx by ``old_w / new_w``.

    Args:
        net: A :class:`~models.networks.flow.flownet2.FlowNet2` with its weights, in eval mode.
        device: Where the network runs (inputs are moved there, results moved back).
        checkpoint_digest: Identifies the weights in cache keys.
        cache: Optional flow cache.
    """

    name = "flownet2"

    def __init__(self, net: torch.nn.Module, device: torch.device, *, checkpoint_digest: str = "",
                 cache: FlowCache | None = None) -> None:
        super().__init__(cache=cache)
        self.net = net.to(device).eval()
        self.device = device
        self.checkpoint_digest = checkpoint_digest

    def identity(self) -> str:
        return f"flownet2|{self.checkpoint_digest}"

    def compute(self, current: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        """current, previous: (N, 3, H, W) in [-1, 1] -> flow (N, 2, H, W) pixels, conf (N, 1, H, W)."""
        old_h, old_w = current.shape[-2:]
        new_h, new_w = old_h // 64 * 64, old_w // 64 * 64
        if new_h == 0 or new_w == 0:
            raise ValueError(f"FlowNet2 needs frames of at least 64x64 pixels, got {old_w}x{old_h}")
        cur, prev = current.to(self.device, torch.float32), previous.to(self.device, torch.float32)
        resized = (new_h, new_w) != (old_h, old_w)
        if resized:
            cur = F.interpolate(cur, size=(new_h, new_w), mode="bilinear", align_corners=False)
            prev = F.interpolate(prev, size=(new_h, new_w), mode="bilinear", align_corners=False)
        flow = self.net(cur, prev)
        conf = warp_confidence(cur, prev, flow)
        if resized:
            scale_y = old_h / new_h
            scale_x = scale_y if new_h != old_h else old_w / new_w
            flow = F.interpolate(flow, size=(old_h, old_w), mode="bilinear", align_corners=False)
            flow = flow * flow.new_tensor([scale_x, scale_y]).view(1, 2, 1, 1)
            conf = F.interpolate(conf, size=(old_h, old_w), mode="bilinear", align_corners=False)
        return flow, conf


DOWNLOAD_HINT = ("get it with `python scripts/download_models_flownet2.py` (or pass --flownet_checkpoint PATH), "
                 "or train without FlowNet2 weights with `--flow_backend dis`")


def load_flownet2(checkpoint: str, device: torch.device, ops_impl: str = "auto") -> torch.nn.Module:
    """FlowNet2 with the official weights of ``checkpoint`` (``{"state_dict": ...}``), eval mode, on ``device``.

    Raises:
        CheckpointError: the file is missing (the message names it, the download script and ``--flow_backend
            dis``), unreadable, or its keys/shapes differ from FlowNet2's.
    """
    from models.networks.flow.flownet2 import FlowNet2
    from util.checkpoint import load_file, load_state_dict_strict

    content = load_file(checkpoint, map_location="cpu", what="FlowNet2 checkpoint", hint=DOWNLOAD_HINT)
    state = content["state_dict"] if isinstance(content, dict) and "state_dict" in content else content
    net = FlowNet2(ops_impl=ops_impl)
    load_state_dict_strict(net, state, source=checkpoint)
    return net.to(device).eval()


def create_flow_estimator(backend: str, checkpoint: str, device: torch.device, cache_dir: str = "",
                          ops_impl: str = "auto") -> FlowEstimator:
    """The flow estimator of ``--flow_backend`` (with ``--flow_cache`` when ``cache_dir`` is set).

    Args:
        backend: "flownet2", "dis" or "farneback".
        checkpoint: FlowNet2 weights (``FlowNet2_checkpoint.pth.tar``); ignored by the OpenCV back-ends.
        device: Where FlowNet2 runs (OpenCV always runs on the CPU; results follow the inputs).
        cache_dir: Flow cache folder, or "" for none.
        ops_impl: FlowNet2 operator implementation ("auto", "pytorch", "cuda").

    Raises:
        ValueError: unknown back-end.
        CheckpointError: FlowNet2 asked for and its checkpoint missing or unusable.
    """
    if backend == "flownet2":
        from models.networks.flow.cache import file_digest

        net = load_flownet2(checkpoint, device, ops_impl)
        estimator: FlowEstimator = FlowNet2Estimator(net, device, checkpoint_digest=file_digest(checkpoint))
    elif backend in ("dis", "farneback"):
        from models.networks.flow.opencv_flow import OpenCVFlowEstimator

        estimator = OpenCVFlowEstimator(backend)
    else:
        raise ValueError(f"unknown flow backend {backend!r}; choose one of {BACKENDS}")
    if cache_dir:
        estimator.cache = FlowCache(cache_dir, estimator.identity())
    logger.info("flow estimator: %s%s", backend, f" (cache {cache_dir})" if cache_dir else "")
    return estimator
