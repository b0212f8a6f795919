"""Cost of one test-time generation step of a sequential generator: parameters, MACs per generated frame and
the time of a step, measured one way for ``bench/`` and ``scripts/evaluate.py --model_cost``.

MACs come from :func:`util.cost.count_macs` (convolutions and matmuls counted by torch's flop counter, the warp,
resize and blends added analytically) on the ``meta`` device, so counting computes nothing; the time is the
median of several steps on real tensors after a warm-up.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable, Optional

import torch
from torch import Tensor

from models.networks import GeneratorConfig, build_generator
from models.networks.input_encoding import encode_input
from models.networks.video_generator import InferenceState, VideoGenerator, inference_step
from util.cost import analytic_part, count_macs, time_calls


@dataclass(frozen=True)
class StepCost:
    """One generation step.

    Attributes:
        params: Generator parameters.
        macs: MACs per generated frame (counted + analytic).
        analytic_macs: The analytic part of ``macs`` (warp, resize, blends).
        ms: Median milliseconds per step, or None when not timed.
    """

    params: int
    macs: float
    analytic_macs: float
    ms: Optional[float] = None

    @property
    def fps(self) -> Optional[float]:
        """Generated frames per second at the median step time."""
        return None if self.ms is None else 1e3 / self.ms


def build_random(net_g: str, config: GeneratorConfig, device: str | torch.device, student: bool = False
                 ) -> VideoGenerator:
    """The generator with random (seeded) weights, BatchNorm in training mode as test time runs it."""
    torch.manual_seed(0)
    with torch.device(device):
        return build_generator(net_g, replace(config, student=student or config.student)).train()


def step_inputs(config: GeneratorConfig, label_nc: int, height: int, width: int,
                device: str | torch.device) -> tuple[Tensor, Tensor]:
    """Encoded inputs (1, tG, C, H, W) and previous frames (1, tG-1, 3, H, W) of one step.

    Label input (``label_nc > 0``): random blocky label maps with instance edges (convolution cost does not depend
    on content); other input: random images. On ``meta`` only the shapes.
    """
    t_g, size = config.n_frames_G, (height, width)
    if torch.device(device).type == "meta":
        return (torch.empty(1, t_g, config.input_nc, *size, device="meta"),
                torch.empty(1, t_g - 1, 3, *size, device="meta"))
    gen = torch.Generator().manual_seed(1)
    prev = torch.rand(1, t_g - 1, 3, *size, generator=gen) * 2 - 1
    if label_nc == 0:
        return torch.rand(1, t_g, config.input_nc, *size, generator=gen) * 2 - 1, prev
    coarse = torch.randint(0, label_nc, (1, t_g, 1, max(1, height // 16), max(1, width // 16)), generator=gen)
    labels = coarse.float().repeat_interleave(16, -2).repeat_interleave(16, -1)[..., :height, :width]
    with_inst = config.input_nc > label_nc
    inst = labels * 1000 + torch.randint(0, 3, labels.shape, generator=gen).float() if with_inst else None
    return encode_input(labels, inst, label_nc), prev


def generation_step(net: VideoGenerator, encoded: Tensor, prev: Tensor) -> Callable[[], Tensor]:
    """One test-time step (plain convolutions; warp, blends, fg composite) from fixed previous frames."""
    return lambda: inference_step(net, InferenceState(), encoded, first_frames=prev)[-1].image


def step_cost(net_g: str, config: GeneratorConfig, label_nc: int, height: int, width: int, *,
              runs: int = 0) -> StepCost:
    """Parameters and MACs of one step at (height, width); with ``runs`` > 0 also its median CPU time."""
    net = build_random(net_g, config, "meta")
    macs, by_op = count_macs(generation_step(net, *step_inputs(config, label_nc, height, width, "meta")))
    params = sum(p.numel() for p in net.parameters())
    ms = None
    if runs > 0:
        cpu_net = build_random(net_g, config, "cpu")
        ms = time_calls([generation_step(cpu_net, *step_inputs(config, label_nc, height, width, "cpu"))],
                        runs=runs)[0].median_ms
    return StepCost(params, macs, analytic_part(by_op), ms)
