"""Weights-free flow back-ends: OpenCV's DIS and Farneback, with FlowNet2's convention and confidence rule.

Both compute, on grey-level frames, the flow from the current frame to the previous one
(``current(p) ~= previous(p + flow(p))``), i.e. ``warp(previous, flow) ~= current`` like FlowNet2 in vid2vid.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch
from torch import Tensor

from models.networks.flow.interface import FlowEstimator, warp_confidence

# Farneback parameters: pyramid scale, levels, window, iterations, polynomial size and sigma, flags.
FARNEBACK_PARAMS = (0.5, 5, 15, 3, 5, 1.2, 0)
DIS_PRESET = cv2.DISOPTICAL_FLOW_PRESET_MEDIUM


def to_gray_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) RGB tensor in [-1, 1] -> (H, W) uint8 grey image."""
    rgb = ((image.detach().float().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    return cv2.cvtColor(np.ascontiguousarray(rgb.permute(1, 2, 0).numpy()), cv2.COLOR_RGB2GRAY)


class OpenCVFlowEstimator(FlowEstimator):
    """Dense flow with ``cv2.DISOpticalFlow`` ("dis") or ``cv2.calcOpticalFlowFarneback`` ("farneback").

    Args:
        method: "dis" or "farneback".
    """

    def __init__(self, method: str, **kwargs) -> None:
        if method not in ("dis", "farneback"):
            raise ValueError(f"unknown OpenCV flow method {method!r}; choose 'dis' or 'farneback'")
        super().__init__(**kwargs)
        self.name = method
        self._dis = cv2.DISOpticalFlow_create(DIS_PRESET) if method == "dis" else None

    def identity(self) -> str:
        params = f"preset{DIS_PRESET}" if self.name == "dis" else ",".join(map(str, FARNEBACK_PARAMS))
        return f"{self.name}|opencv {cv2.__version__}|{params}"

    def pair_flow(self, current: np.ndarray, previous: np.ndarray) -> np.ndarray:
        """(H, W) uint8 grey frames -> (H, W, 2) float32 flow from ``current`` to ``previous``."""
        if self._dis is not None:
            return self._dis.calc(current, previous, None)
        return cv2.calcOpticalFlowFarneback(current, previous, None, *FARNEBACK_PARAMS)

    def compute(self, current: Tensor, previous: Tensor) -> tuple[Tensor, Tensor]:
        """current, previous: (N, 3, H, W) in [-1, 1] -> flow (N, 2, H, W) pixels, conf (N, 1, H, W)."""
        flows = [self.pair_flow(to_gray_uint8(cur), to_gray_uint8(prev)) for cur, prev in zip(current, previous)]
        flow = torch.from_numpy(np.stack(flows)).permute(0, 3, 1, 2).to(current.device, current.dtype)
        return flow, warp_confidence(current, previous, flow)
