"""Fast-Vid2Vid's cost beside vid2vid's, measured: MACs and parameters per generator, and CPU time per step.

Section ``cost``: for the published settings (Cityscapes 512x256: 35 labels + the instance edge per frame,
``--fg``; FaceForensics 512x512: 15 edge channels per frame, no fg; both with n_frames_G 3, ngf 128,
n_downsample_G 3, n_blocks 9, the defaults the published scripts keep), the vid2vid composite generator,
the sr_mobile teacher and the student: parameters, MACs per generated frame (``util.cost.count_macs``:
convolutions counted by torch, the warp, the resize and the blends added analytically, counted on the
``meta`` device) beside the paper's figures, and the median time of one generation step on the CPU.

The paper's Fast-Vid2Vid figures are MEAN MACs per output frame: only the first frames, the key frames and
the last frame are generated, the rest are interpolated by ffmpeg and cost no generator MACs. So the
student's cost per generated frame X is compared to the paper's mean m through the fraction of generated
frames it implies, f = m / X.

Sections are functions ``(args) -> list[str]`` (markdown lines) in ``SECTIONS``; add one there.

Usage: ``python bench/fast.py [--sections cost] [--runs 3] [--threads 2] [--time street face]``
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.networks import GeneratorConfig, build_generator  # noqa: E402
from models.networks.input_encoding import encode_input  # noqa: E402
from models.networks.video_generator import InferenceState, VideoGenerator, inference_step  # noqa: E402
from util.cost import analytic_part, count_macs, time_calls  # noqa: E402


@dataclass(frozen=True)
class Setting:
    """A published task: its frame size, generator configuration and the paper's m.MACs (vid2vid, Fast-Vid2Vid)."""

    title: str
    width: int
    height: int
    label_nc: int  # 0: image-like input of config.input_nc channels
    config: GeneratorConfig
    paper_gmacs: tuple[float, float]


SETTINGS = {
    "street": Setting("Cityscapes 512x256", 512, 256, 35, GeneratorConfig(input_nc=36, fg_labels=(26,)),
                      (1254.0, 132.0)),
    "face": Setting("FaceForensics 512x512", 512, 512, 0, GeneratorConfig(input_nc=15), (2066.0, 282.0)),
}
#: (row title, --netG, --student)
GENERATORS = [("vid2vid composite", "composite", False), ("Fast-Vid2Vid teacher", "sr_mobile_composite", False),
              ("Fast-Vid2Vid student", "sr_mobile_composite", True)]


def build(setting: Setting, net_g: str, student: bool, device: str) -> VideoGenerator:
    """The generator with random weights (BatchNorm in training mode, as the published test code runs it)."""
    torch.manual_seed(0)
    with torch.device(device):
        return build_generator(net_g, replace(setting.config, student=student)).train()


def inputs(setting: Setting, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Encoded labels (1, tG, C, H, W) and previous frames (1, tG-1, 3, H, W).

    On the CPU, street labels are random blocky label maps with instance edges (performance.md's kind of
    input; convolution cost does not depend on content), face inputs are random; on ``meta`` only shapes.
    """
    t_g, size = setting.config.n_frames_G, (setting.height, setting.width)
    if device == "meta":
        return (torch.empty(1, t_g, setting.config.input_nc, *size, device="meta"),
                torch.empty(1, t_g - 1, 3, *size, device="meta"))
    gen = torch.Generator().manual_seed(1)
    prev = torch.rand(1, t_g - 1, 3, *size, generator=gen) * 2 - 1
    if setting.label_nc == 0:
        return torch.rand(1, t_g, setting.config.input_nc, *size, generator=gen) * 2 - 1, prev
    coarse = torch.randint(0, setting.label_nc, (1, t_g, 1, size[0] // 16, size[1] // 16), generator=gen).float()
    labels = coarse.repeat_interleave(16, -2).repeat_interleave(16, -1)
    inst = labels * 1000 + torch.randint(0, 3, labels.shape, generator=gen).float()
    return encode_input(labels, inst, setting.label_nc), prev


def step(net: VideoGenerator, encoded: torch.Tensor, prev: torch.Tensor) -> Callable[[], torch.Tensor]:
    """One test-time generation step (plain convolutions; warp, blends, fg composite) from fixed previous frames."""
    return lambda: inference_step(net, InferenceState(), encoded, first_frames=prev)[-1].image


def cost_rows(key: str, setting: Setting, timed: bool, runs: int) -> list[str]:
    """Markdown rows of one setting: params, MACs (counted + analytic), ratio, paper figure, ms per step."""
    rows, costs = [], []
    for title, net_g, student in GENERATORS:
        net = build(setting, net_g, student, "meta")
        macs, by_op = count_macs(step(net, *inputs(setting, "meta")))
        costs.append((title, net_g, student, sum(p.numel() for p in net.parameters()), macs, analytic_part(by_op)))
    times = ["-"] * len(costs)
    if timed:
        encoded, prev = inputs(setting, "cpu")
        nets = [build(setting, net_g, student, "cpu") for _, net_g, student, *_ in costs]
        times = [f"{t.median_ms:,.0f}" for t in time_calls([step(n, encoded, prev) for n in nets], runs=runs)]
        del nets
    base = costs[0][4]
    paper = [f"{setting.paper_gmacs[0]:,.0f} (per frame)", "-",
             f"{setting.paper_gmacs[1]:,.0f} (mean over all frames)"]
    for (title, _, _, params, macs, extra), ms, published in zip(costs, times, paper):
        rows.append(f"| {setting.title} | {title} | {params / 1e6:,.1f} M | {(macs - extra) / 1e9:,.1f} "
                    f"| {extra / 1e6:,.1f} M | {macs / 1e9:,.1f} | {base / macs:.2f}x | {published} | {ms} |")
    student = costs[-1][4] / 1e9
    rows.append(f"| {setting.title} | *student vs paper* | | | | | | f = {setting.paper_gmacs[1]:,.0f} / "
                f"{student:,.1f} = {setting.paper_gmacs[1] / student:.2f} of the frames generated | |")
    return rows


def cost_section(args: argparse.Namespace) -> list[str]:
    """Section ``cost``: MACs, parameters and step time of the composite, teacher and student generators."""
    lines = ["## Cost per generated frame (random weights, batch 1)", "",
             "| setting | generator | params | GMACs counted (conv) | + analytic (warp, resize, blends) "
             "| GMACs per generated frame | composite / this | paper m.MACs (G) | ms per step (CPU) |",
             "|---|---|---:|---:|---:|---:|---:|---|---:|"]
    for key, setting in SETTINGS.items():
        lines += cost_rows(key, setting, key in args.time, args.runs)
    lines += ["", "Counted: convolutions and transposed convolutions (torch's flop counter, MACs = FLOPs / 2). "
              "Analytic: grid_sample warp 4 MACs per output value, elementwise blends, residual sums and the "
              "student's bilinear input resize (decomposed into elementwise ops) 1 MAC per output value; "
              "normalisation and activations are not counted.",
              "Paper: vid2vid's figure is per frame (every frame is generated); Fast-Vid2Vid's is the mean over "
              "all output frames, of which only a fraction f (first frames, key frames, last frame) is generated, "
              "so f = paper mean / our student's MACs per generated frame."]
    return lines


SECTIONS: dict[str, Callable[[argparse.Namespace], list[str]]] = {"cost": cost_section}


def main(argv: list[str] | None = None) -> None:
    """Print the selected sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS),
                        help="sections to run")
    parser.add_argument("--runs", type=int, default=3, help="timed steps per generator (median), after a warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--time", nargs="*", default=["street"], choices=list(SETTINGS),
                        help="settings whose generator steps are timed on the CPU (default: street)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.sections:
        print("\n".join(SECTIONS[name](args)), flush=True)


if __name__ == "__main__":
    main()
