"""The flow back-ends of ``--flow_backend`` (a registry, :data:`FLOW_BACKENDS`) and FlowNet2's estimator.

Back-ends: ``"flownet2"`` (the reference, needs its checkpoint), ``"dis"`` and ``"farneback"`` (OpenCV, no
weights). The interface they share (``estimator(current, previous, keys) -> (flow, conf)``, the confidence
rule) is :mod:`models.networks.flow.interface`, re-exported here. FlowNet2 itself is imported when loaded.
"""

from __future__ import annotations

import logging
from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from models.networks.flow.cache import FlowCache, file_digest
from models.networks.flow.interface import CONF_THRESHOLD, FlowEstimator, Keys, warp_confidence
from models.networks.flow.opencv_flow import OpenCVFlowEstimator

logger = logging.getLogger(__name__)

__all__ = ["BACKENDS", "CONF_THRESHOLD", "FLOW_BACKENDS", "FlowEstimator", "FlowNet2Estimator", "Keys",
           "create_flow_estimator", "load_flownet2", "warp_confidence"]
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


def flownet2_estimator(checkpoint: str, device: torch.device, ops_impl: str = "auto") -> FlowEstimator:
    """``--flow_backend flownet2``: the reference's FlowNet2 from ``checkpoint`` (see :func:`load_flownet2`)."""
    net = load_flownet2(checkpoint, device, ops_impl)
    return FlowNet2Estimator(net, device, checkpoint_digest=file_digest(checkpoint))


def opencv_estimator(method: str) -> Callable[..., FlowEstimator]:
    """The weights-free OpenCV back-end ``method`` ("dis" or "farneback"), in the registry's signature."""
    def build(checkpoint: str, device: torch.device, ops_impl: str = "auto") -> FlowEstimator:
        return OpenCVFlowEstimator(method)

    return build


#: ``--flow_backend`` name -> ``(checkpoint, device, ops_impl) -> FlowEstimator``. A new back-end subclasses
#: :class:`~models.networks.flow.interface.FlowEstimator` and adds one entry here.
FLOW_BACKENDS: dict[str, Callable[..., FlowEstimator]] = {
    "flownet2": flownet2_estimator,
    "dis": opencv_estimator("dis"),
    "farneback": opencv_estimator("farneback"),
}
BACKENDS = tuple(FLOW_BACKENDS)


def create_flow_estimator(backend: str, checkpoint: str, device: torch.device, cache_dir: str = "",
                          ops_impl: str = "auto") -> FlowEstimator:
    """The flow estimator of ``--flow_backend`` (with ``--flow_cache`` when ``cache_dir`` is set).

    Args:
        backend: A key of :data:`FLOW_BACKENDS` ("flownet2", "dis", "farneback").
        checkpoint: FlowNet2 weights (``FlowNet2_checkpoint.pth.tar``); ignored by the OpenCV back-ends.
        device: Where FlowNet2 runs (OpenCV always runs on the CPU; results follow the inputs).
        cache_dir: Flow cache folder, or "" for none.
        ops_impl: FlowNet2 operator implementation ("auto", "pytorch", "cuda").

    Raises:
        ValueError: unknown back-end.
        CheckpointError: FlowNet2 asked for and its checkpoint missing or unusable.
    """
    if backend not in FLOW_BACKENDS:
        raise ValueError(f"unknown flow backend {backend!r}; choose one of {BACKENDS}")
    estimator = FLOW_BACKENDS[backend](checkpoint, device, ops_impl)
    if cache_dir:
        estimator.cache = FlowCache(cache_dir, estimator.identity())
    logger.info("flow estimator: %s%s", backend, f" (cache {cache_dir})" if cache_dir else "")
    return estimator
