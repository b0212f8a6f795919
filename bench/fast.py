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

Section ``keyframes``: the speed of key-frame inference, side by side in one run at one output size (the
Cityscapes sample sequence ``stuttgart_00`` at 512x256 from ``../shared/datasets``, random weights, the
published settings above, first frames from zeros): vid2vid every frame, the student every frame, and the
student on the published key frames with our interpolation in between (:mod:`models.fast_vid2vid.keyframe_inference`,
DIS flow). All three run through test.py's streaming frame generators, fed the same frames in turn (a, b, c,
a, b, c, ...), so load from other processes affects them alike. ``--quick`` runs it on a tiny network at
64x32 (the smoke test of ``tests/test_cost.py``).

Section ``paths``: one generation step at the published street setting (random weights, batch statistics),
alternated in one run: vid2vid's composite, the student and the teacher on the previous path (NCHW, PyTorch's
BatchNorm, label stems and heads as convolutions) and on today's (test.py's sparse label stems, channels-last,
fused BatchNorm + ReLU6, head products), and today's under ``--autocast bf16``: wall and CPU-time medians and
their ratios (CPU time is less disturbed when other processes load the machine).

Section ``autocast``: a toy student trained ``--toy_steps`` Adam steps (L1, real previous frames) on the shared
Cityscapes training sequence ``seq0000`` at 64x32, then run over the whole sequence in float32 and under bf16
autocast, its own outputs fed back: PSNR of every bf16 frame to the float32 one.

Section ``exactness``: test.py's CPU path (the sparse label stems, channels-last trunk, fused BatchNorm, the heads
as matrix products) against the plain modules in float32 on every frame of a toy student's seq0000 sequence at
256x128, where those paths are taken, with random weights and after ``--toy_steps`` training steps: the largest
pixel difference.

Sections are functions ``(args) -> list[str]`` (markdown lines) in ``SECTIONS``; add one there.

Usage: ``python bench/fast.py [--sections cost keyframes] [--runs 3] [--threads 2] [--time street face]
[--key_frames 30] [--quick]``
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterator, NamedTuple, Optional

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.base_model import FrameGenerator  # noqa: E402
from models.fast_vid2vid.keyframe_inference import KeyframeInference  # noqa: E402
from models.networks import GeneratorConfig, build_generator, generator_config  # noqa: E402
from models.networks.input_encoding import encode_input, one_hot_input  # noqa: E402
from models.networks.sparse_conv import OneHotInput  # noqa: E402
from models.networks.step_cost import build_random, step_cost  # noqa: E402
from models.networks.video_generator import InferenceState, VideoGenerator, inference_step  # noqa: E402
from util.cost import analytic_part, count_macs, time_calls  # noqa: E402
from util.cpu_memory import keep_freed_memory  # noqa: E402
from util.results_writer import OutputFrame  # noqa: E402


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


def inputs(setting: Setting, device: str) -> tuple[torch.Tensor, torch.Tensor, Optional[OneHotInput]]:
    """Encoded labels (1, tG, C, H, W), previous frames (1, tG-1, 3, H, W) and the labels as ids for the sparse
    label stems (street on the CPU; else None).

    On the CPU, street labels are random blocky label maps with instance edges (performance.md's kind of
    input; convolution cost does not depend on content), face inputs are random; on ``meta`` only shapes.
    """
    t_g, size = setting.config.n_frames_G, (setting.height, setting.width)
    if device == "meta":
        return (torch.empty(1, t_g, setting.config.input_nc, *size, device="meta"),
                torch.empty(1, t_g - 1, 3, *size, device="meta"), None)
    gen = torch.Generator().manual_seed(1)
    prev = torch.rand(1, t_g - 1, 3, *size, generator=gen) * 2 - 1
    if setting.label_nc == 0:
        return torch.rand(1, t_g, setting.config.input_nc, *size, generator=gen) * 2 - 1, prev, None
    coarse = torch.randint(0, setting.label_nc, (1, t_g, 1, size[0] // 16, size[1] // 16), generator=gen).float()
    labels = coarse.repeat_interleave(16, -2).repeat_interleave(16, -1)
    inst = labels * 1000 + torch.randint(0, 3, labels.shape, generator=gen).float()
    return encode_input(labels, inst, setting.label_nc), prev, one_hot_input(labels, inst, setting.label_nc)


def step(net: VideoGenerator, encoded: torch.Tensor, prev: torch.Tensor,
         onehot: Optional[OneHotInput] = None) -> Callable[[], torch.Tensor]:
    """One test-time generation step (warp, blends, fg composite) from fixed previous frames; the label stems as
    convolutions, or as sparse sums with ``onehot``."""
    return lambda: inference_step(net, InferenceState(), encoded, first_frames=prev, onehot=onehot)[-1].image


def cost_rows(key: str, setting: Setting, timed: bool, runs: int) -> list[str]:
    """Markdown rows of one setting: params, MACs (counted + analytic), ratio, paper figure, ms per step."""
    rows, costs = [], []
    for title, net_g, student in GENERATORS:
        net = build(setting, net_g, student, "meta")
        macs, by_op = count_macs(step(net, *inputs(setting, "meta")))
        costs.append((title, net_g, student, sum(p.numel() for p in net.parameters()), macs, analytic_part(by_op)))
    times = ["-"] * len(costs)
    if timed:
        encoded, prev, _ = inputs(setting, "cpu")
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

# ---------------------------------------------------------------------------------------------- key frames
CITYSCAPES = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "Cityscapes"
#: test.py flags of the published street setting (first frames from zeros: Cityscapes' test set has no photos)
KEY_FLAGS = ["--label_nc", "35", "--use_instance", "--fg", "--n_frames_G", "3", "--no_first_img",
             "--gpu_ids", "-1", "--nThreads", "0", "--label_stem", "auto"]
FULL_NET = ["--loadSize", "512", "--ngf", "128", "--n_downsample_G", "3", "--n_blocks", "9"]
QUICK_NET = ["--loadSize", "64", "--ngf", "8", "--n_downsample_G", "2", "--n_blocks", "2"]
#: (row title, --netG, --student, key frames)
KEY_PIPELINES = [("vid2vid every frame", "composite", False, False),
                 ("student every frame", "sr_mobile_composite", True, False),
                 ("student key frames + interpolation", "sr_mobile_composite", True, True)]
#: DIS (OpenCV, MEDIUM preset) analytic estimate: MACs per pixel of one flow direction at full resolution.
#: Patch inverse search on the half-resolution level and coarser (patch 8x8, stride 3 -> ~1/9 patch per pixel,
#: 25 Gauss-Newton iterations of ~8 MACs per patch pixel, levels summing to 4/3), densification (~7 patches per
#: pixel, ~10 MACs) and 5 variational refinement iterations (~50 MACs per pixel per iteration), per the
#: half-resolution pixel count.
DIS_MACS_PER_PIXEL = ((64 * 25 * 8 / 9) * 4 / 3 + 7 * 10 + 5 * 50) / 4


def rss_bytes() -> int:
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakSampler:
    """Largest increase of the resident set size while inside ``with`` (sampled every 2 ms in a thread)."""

    def __enter__(self) -> "PeakSampler":
        self.start, self.peak, self._stop = rss_bytes(), rss_bytes(), threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.002):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_bytes())

    @property
    def increase(self) -> int:
        """Bytes above the resident size at entry."""
        return self.peak - self.start


class TimedFrames(FrameGenerator):
    """A frame generator that adds up the seconds its wrapped generator spends and the frames it makes."""

    def __init__(self, frames: FrameGenerator) -> None:
        self.frames, self.seconds, self.made = frames, 0.0, 0

    def step(self, item: dict) -> list[OutputFrame]:
        start = time.perf_counter()
        out = self.frames.step(item)
        self.seconds += time.perf_counter() - start
        self.made += len(out)
        return out

    def flush(self) -> list[OutputFrame]:
        return self.frames.flush()


@dataclass
class Pipeline:
    """One row of the key-frame section while it runs."""

    title: str
    net_g: str
    student: bool
    params: int
    config: GeneratorConfig
    generator: TimedFrames
    frames: FrameGenerator
    seconds: float = 0.0
    outputs: int = 0
    peak_step_bytes: int = 0
    keys: list = field(default_factory=list)  # (index, (1, 3, H, W) image) of the generated keys, key rows only

    def feed(self, item: Optional[dict]) -> None:
        """One step (``None``: the flush at the end), timed, its memory sampled."""
        with PeakSampler() as memory:
            start = time.perf_counter()
            out = self.frames.flush() if item is None else self.frames.step(item)
            self.seconds += time.perf_counter() - start
        self.peak_step_bytes = max(self.peak_step_bytes, memory.increase)
        self.outputs += len(out)
        if isinstance(self.frames, KeyframeInference):
            self.keys += [(f.index, f.image.reshape(1, 3, *f.image.shape[-2:])) for f in out if f.kind == "key"]


def key_options(net_flags: list[str], net_g: str, student: bool, keyframes: bool) -> argparse.Namespace:
    """test.py options of one pipeline (printing silenced)."""
    from options import TestOptions

    flags = KEY_FLAGS + net_flags + ["--dataroot", str(CITYSCAPES), "--netG", net_g]
    flags += (["--student"] if student else []) + (["--keyframes", "published"] if keyframes else [])
    with contextlib.redirect_stdout(io.StringIO()):
        return TestOptions().parse(flags, save=False)


def build_pipeline(net_flags: list[str], row: tuple[str, str, bool, bool], overlap: bool = True) -> Pipeline:
    """Random weights (BatchNorm in training mode, as test.py), wrapped as test.py wraps them (``overlap``: gaps
    interpolated on a worker thread, as test.py does)."""
    from models.fast_vid2vid.keyframe_inference import keyframe_policy
    from models.networks.flow.estimator import create_flow_estimator
    from models.vid2vid.inference import Vid2VidInference

    title, net_g, student, keyframes = row
    opt = key_options(net_flags, net_g, student, keyframes)
    net = build_random(net_g, generator_config(opt), "cpu")
    timed = TimedFrames(Vid2VidInference(opt, net, torch.device("cpu")))
    frames: FrameGenerator = timed
    if keyframes:
        frames = KeyframeInference(opt, timed, create_flow_estimator("dis", "", torch.device("cpu")),
                                   keyframe_policy(opt), overlap=overlap)
    params = sum(p.numel() for p in net.parameters())
    return Pipeline(title, net_g, student, params, generator_config(opt), timed, frames)


def interpolation_macs(pipe: Pipeline, items: list[dict]) -> tuple[float, float, float]:
    """MACs of one gap's set-up (counted: confirmations; analytic: DIS both ways) and of one interpolated frame,
    on the first gap of the key row that has frames between its keys. Returns (gap counted, gap DIS, frame)."""
    from models.fast_vid2vid.interpolation import GapInterpolator
    from models.fast_vid2vid.keyframe_inference import item_labels, scaled_config
    from models.networks.flow.estimator import create_flow_estimator

    (t0, key0), (t1, key1) = next((a, b) for a, b in zip(pipe.keys, pipe.keys[1:]) if b[0] - a[0] > 1)
    # DIS runs in OpenCV, outside the counter (its MACs are the analytic estimate); the gap calls it on the keys
    # as test.py does (shifted by their global translation first)
    gap = GapInterpolator(create_flow_estimator("dis", "", torch.device("cpu")), scaled_config(key0.shape[-1]))
    gap.push_key(key0, t0, item_labels(items[t0], 35))
    gap.push_key(key1, t1, item_labels(items[t1], 35))
    middle = (t0 + t1) // 2
    with_set_up, _ = count_macs(gap.frame_at, middle, item_labels(items[middle], 35))  # flows are confirmed once
    frame, _ = count_macs(gap.frame_at, middle, item_labels(items[middle], 35))
    return with_set_up - frame, 2 * DIS_MACS_PER_PIXEL * key0.shape[-1] * key0.shape[-2], frame


def _gmacs(macs: float) -> str:
    """GMACs with one decimal, or three for the tiny ``--quick`` networks."""
    return f"{macs / 1e9:,.1f}" if macs >= 1e10 else f"{macs / 1e9:.3f}"


def keyframe_rows(pipes: list[Pipeline], items: list[dict]) -> list[str]:
    """The table rows: cost per output frame and speed of each pipeline."""
    height, width = items[0]["A"].shape[-2:]
    rows, base = [], None
    for pipe in pipes:
        generated, interpolated = pipe.generator.made, pipe.outputs - pipe.generator.made
        macs, interp_ms = step_cost(pipe.net_g, pipe.config, 35, height, width).macs * generated, "-"
        if isinstance(pipe.frames, KeyframeInference):
            counted, dis, frame = interpolation_macs(pipe, items)
            gaps = sum(b[0] - a[0] > 1 for a, b in zip(pipe.keys, pipe.keys[1:]))
            macs += gaps * (counted + dis) + interpolated * frame
            interp_ms = f"{(pipe.seconds - pipe.generator.seconds) / max(interpolated, 1) * 1e3:,.0f}"
        per_frame, fps = macs / pipe.outputs, pipe.outputs / pipe.seconds
        base = base or (per_frame, fps)
        memory = (pipe.params * 4 + pipe.peak_step_bytes) / 2**20
        rows.append(f"| {pipe.title} | {generated / pipe.outputs:.2f} ({generated}/{pipe.outputs}) | "
                    f"{_gmacs(per_frame)} | {base[0] / per_frame:.1f}x | {fps:.3f} | {fps / base[1]:.1f}x | "
                    f"{pipe.generator.seconds / max(generated, 1) * 1e3:,.0f} | {interp_ms} | {memory:,.0f} |")
    return rows


def keyframe_section(args: argparse.Namespace) -> list[str]:
    """Section ``keyframes``: vid2vid every frame, student every frame, student on key frames + interpolation."""
    from data import create_test_loader

    net_flags = QUICK_NET if args.quick else FULL_NET
    frames = args.key_frames or (12 if args.quick else 30)
    loader_opt = key_options(net_flags, "sr_mobile_composite", True, False)
    items = [item for _, item in zip(range(frames), create_test_loader(loader_opt))]
    pipes = [build_pipeline(net_flags, row) for row in KEY_PIPELINES]
    for done, item in enumerate(items + [None]):
        for pipe in pipes:
            pipe.feed(item)
        print(f"keyframes section: {min(done + 1, len(items))}/{len(items)} input frames done", file=sys.stderr, flush=True)
    height, width = items[0]["A"].shape[-2:]
    lines = [f"## Key-frame inference, {width}x{height}, stuttgart_00 frames 0-{len(items) - 1} (random weights)", "",
             "| pipeline | key-frame fraction (generated/output) | GMACs per output frame | vid2vid / this "
             "| frames/s | this / vid2vid | generator ms per key frame | interpolation ms per frame "
             "| peak memory (MB) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    lines += keyframe_rows(pipes, items)
    lines += ["", f"{len(items)} input frames; the first 2 condition the generator (zeros) and are not output. "
              "MACs per output frame, amortised over the output frames: generator steps counted as in the cost "
              "section (convolutions by torch's flop counter; warp, resize, blends analytic), interpolation "
              "counted by the same counter on a gap of this run (flow confirmation, splatting arithmetic, warps, "
              "blends; scatter and exp not counted), plus DIS flow both ways per gap, an ANALYTIC estimate "
              f"({DIS_MACS_PER_PIXEL:.0f} MACs per pixel per direction; OpenCV is outside the counter).",
              "frames/s: output frames over the wall time of every step and the flush (key selection, "
              "generation, flow, interpolation). Interpolation ms per frame: that time minus the generator's, "
              "per interpolated frame. Peak memory: float32 parameters plus the largest resident-memory increase "
              "during one step (sampled every 2 ms). Both generators take the exact sparse label stem on the CPU "
              "and the allocator keeps freed memory, as in test.py."]
    return lines


def overlap_section(args: argparse.Namespace) -> list[str]:
    """Section ``overlap``: the student on key frames + interpolation, gaps interpolated in line or on the worker
    thread; each pass runs the whole sequence (so no worker time spills into the other's), passes alternate."""
    from data import create_test_loader

    net_flags = QUICK_NET if args.quick else ["--loadSize", str(args.overlap_width), *FULL_NET[2:]]
    frames = args.key_frames or 12
    items = [item for _, item in zip(range(frames), create_test_loader(key_options(net_flags, "sr_mobile_composite",
                                                                                   True, False)))]
    row = KEY_PIPELINES[2]
    seconds: dict[bool, list[float]] = {False: [], True: []}
    outputs: dict[bool, list] = {}
    warm_up = build_pipeline(net_flags, row, overlap=False)  # one-time costs (kernels, DIS) outside the timing
    for item in items[:4] + [None]:
        warm_up.frames.flush() if item is None else warm_up.frames.step(item)
    for run in range(args.runs):
        for overlap in (False, True):
            pipe = build_pipeline(net_flags, row, overlap=overlap)
            collected = []
            start = time.perf_counter()
            for item in items + [None]:
                collected += pipe.frames.flush() if item is None else pipe.frames.step(item)
            seconds[overlap].append(time.perf_counter() - start)
            outputs[overlap] = collected
        print(f"overlap section: run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
    same = [(f.index, f.kind) for f in outputs[False]] == [(f.index, f.kind) for f in outputs[True]] and all(
        torch.equal(a.image, b.image) for a, b in zip(outputs[False], outputs[True]))
    height, width = items[0]["A"].shape[-2:]
    sequential, overlapped = statistics.median(seconds[False]), statistics.median(seconds[True])
    n_out = len(outputs[True])
    return [f"## Key frames + interpolation with and without overlap, {width}x{height}, stuttgart_00 frames "
            f"0-{len(items) - 1} ({args.runs} alternated whole-sequence passes each)", "",
            "| gaps interpolated | frames/s (median pass) | this / in line | same frames, same order |",
            "|---|---:|---:|---|",
            f"| in line (previous) | {n_out / sequential:.3f} | 1.00x | - |",
            f"| on a worker thread (test.py now) | {n_out / overlapped:.3f} | {sequential / overlapped:.2f}x "
            f"| {'yes' if same else 'NO'} |"]


# ---------------------------------------------------------------------------------------------- inference paths
class PathRow(NamedTuple):
    """One row of the paths section: a generator on one inference path, one precision, one allocator setting."""

    title: str
    net_g: str
    student: bool
    path: str  # "plain" (NCHW, PyTorch's modules), "fused-v1" (first fused version, var_mean), "fused" (today's),
    # "fused-1t" (today's with its norms, residual adds and input copies on one thread, fused_norm.one_thread)
    bf16: bool = False
    kept_memory: bool = True  # util.cpu_memory.keep_freed_memory on during the call
    conv_heads: bool = False  # the output heads as oneDNN convolutions (before models/networks/head_conv.py);
    # the "plain" path always has them
    conv_stems: bool = False  # the label stems as convolutions, not the sparse sums test.py takes on the CPU (the
    # student's before it had them); the "plain" path always has them


PATH_ROWS = [PathRow("vid2vid composite, glibc default", "composite", False, "fused", kept_memory=False),
             PathRow("vid2vid composite, plain modules (heads as convolutions)", "composite", False, "plain"),
             PathRow("vid2vid composite (test.py now)", "composite", False, "fused"),
             PathRow("student, plain NCHW, glibc default", "sr_mobile_composite", True, "plain", kept_memory=False),
             PathRow("student, channels-last + fused BN v1 (var_mean), glibc default", "sr_mobile_composite", True,
                     "fused-v1", kept_memory=False),
             PathRow("student, channels-last + fused BN, glibc default", "sr_mobile_composite", True, "fused",
                     kept_memory=False),
             PathRow("student, plain NCHW", "sr_mobile_composite", True, "plain"),
             PathRow("student, channels-last + fused BN, short ops on one thread (before)", "sr_mobile_composite",
                     True, "fused-1t"),
             PathRow("student, channels-last + fused BN, heads as convolutions", "sr_mobile_composite", True,
                     "fused", conv_heads=True),
             PathRow("student, channels-last + fused BN, label stems as convolutions (before)", "sr_mobile_composite",
                     True, "fused", conv_stems=True),
             PathRow("student, channels-last + fused BN (test.py now)", "sr_mobile_composite", True, "fused"),
             PathRow("student, channels-last + fused BN, bf16 (weights stored in bf16)", "sr_mobile_composite", True,
                     "fused", bf16=True)]
TEACHER_ROWS = [PathRow("teacher, plain NCHW", "sr_mobile_composite", False, "plain"),
                PathRow("teacher, channels-last + fused BN", "sr_mobile_composite", False, "fused")]


def var_mean_batch_norm_act(x: torch.Tensor, norm: torch.nn.BatchNorm2d,
                            bounds: tuple[Optional[float], Optional[float]] = (None, None),
                            in_place: bool = False) -> torch.Tensor:
    """The first fused BatchNorm (+ clamp) of issue 22, kept here as the paths section's baseline: statistics by
    ``torch.var_mean``, a new output tensor (running buffers not updated: only its speed is compared).

    Args:
        x: (B, C, H, W) channels-last.

    Returns:
        (B, C, H, W).
    """
    var, mean = torch.var_mean(x if x.dtype in (torch.float32, torch.float64) else x.float(), dim=(0, 2, 3),
                               correction=0)
    scale = torch.rsqrt(var + norm.eps) * norm.weight
    shift = norm.bias - mean * scale
    out = torch.addcmul(shift.to(x.dtype).view(1, -1, 1, 1), x, scale.to(x.dtype).view(1, -1, 1, 1))
    lower, upper = bounds
    return out.clamp_(lower, upper) if lower is not None or upper is not None else out


@contextlib.contextmanager
def module_paths(channels_last: bool, head_products: bool) -> Iterator[None]:
    """Inside: the sr_mobile trunk channels-last (with its fused norms) or not, the output heads as matrix products
    (models/networks/head_conv.py) or as convolutions; both restored after."""
    import models.networks.head_conv as head_conv
    import models.networks.sr_mobile as sr_mobile

    saved = sr_mobile.CHANNELS_LAST_INFERENCE, head_conv.TAP_MIN_PIXELS
    sr_mobile.CHANNELS_LAST_INFERENCE = channels_last
    head_conv.TAP_MIN_PIXELS = saved[1] if head_products else sys.maxsize
    try:
        yield
    finally:
        sr_mobile.CHANNELS_LAST_INFERENCE, head_conv.TAP_MIN_PIXELS = saved


def path_step(setting: Setting, row: PathRow) -> Callable[[], torch.Tensor]:
    """One generation step of a row, its path, precision and allocator switched on around the call."""
    import models.networks.fused_norm as fused_norm
    from models.vid2vid.inference import label_stem_convs, store_conv_weights_as

    net = build(setting, row.net_g, row.student, "cpu")
    plain = row.path == "plain"
    encoded, prev, onehot = inputs(setting, "cpu")
    sparse = onehot is not None and not (plain or row.conv_stems)
    if row.bf16:  # as test.py's --autocast bf16: convolution weights stored in bf16 once (sparse stems' kept)
        store_conv_weights_as(net, torch.bfloat16, keep=label_stem_convs(net) if sparse else [])
    generate = step(net, encoded, prev, onehot if sparse else None)
    today = fused_norm.batch_norm_act

    def call() -> torch.Tensor:
        fused_norm.batch_norm_act = var_mean_batch_norm_act if row.path == "fused-v1" else today
        fused_norm.SHORT_OPS_ON_ONE_THREAD = row.path == "fused-1t"
        keep_freed_memory(row.kept_memory)
        try:
            with module_paths(not plain, not (plain or row.conv_heads)), \
                    torch.autocast("cpu", dtype=torch.bfloat16, enabled=row.bf16):
                return generate()
        finally:
            fused_norm.batch_norm_act, fused_norm.SHORT_OPS_ON_ONE_THREAD = today, False
            keep_freed_memory(True)
    return call


def paths_section(args: argparse.Namespace) -> list[str]:
    """Section ``paths``: step time of the inference paths (and allocator settings), alternated in one run."""
    setting = replace(SETTINGS["street"], width=args.paths_size[0], height=args.paths_size[1])
    rows = PATH_ROWS + (TEACHER_ROWS if args.teacher else [])
    calls = [path_step(setting, row) for row in rows]
    wall: list[list[float]] = [[] for _ in rows]
    cpu: list[list[float]] = [[] for _ in rows]
    with torch.inference_mode():
        outputs = [call().float() for call in calls]  # warm-up
        for run in range(args.runs):
            for call, w, c in zip(calls, wall, cpu):
                start, start_cpu = time.perf_counter(), time.process_time()
                call()
                w.append(time.perf_counter() - start)
                c.append(time.process_time() - start_cpu)
            print(f"paths section: run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
    med = [(statistics.median(w), statistics.median(c)) for w, c in zip(wall, cpu)]
    vid2vid = {row.kept_memory: m for row, m in zip(rows, med) if row.net_g == "composite" and row.path != "plain"}
    v1 = next(m for row, m in zip(rows, med) if row.path == "fused-v1")
    lines = [f"## Inference paths, {setting.width}x{setting.height}, published street settings (random weights, "
             f"{args.runs} alternated runs after a warm-up)", "",
             "| generator / path | wall ms (median) | CPU ms (median) | vid2vid / this (wall) | vid2vid / this (CPU) "
             "| fused v1 / this (wall) | fused v1 / this (CPU) | max abs diff to plain NCHW |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for row, (w, c), out in zip(rows, med, outputs):
        plain = next(o for r, o in zip(rows, outputs) if (r.net_g, r.student, r.path) == (row.net_g, row.student, "plain"))
        base_w, base_c = vid2vid[row.kept_memory]
        lines.append(f"| {row.title} | {w * 1e3:,.0f} | {c * 1e3:,.0f} | {base_w / w:.2f}x | {base_c / c:.2f}x "
                     f"| {v1[0] / w:.2f}x | {v1[1] / c:.2f}x | {(out - plain).abs().max().item():.1e} |")
    lines += ["", "CPU ms: process CPU time of the step (both threads). vid2vid / this: against vid2vid under the same "
              "allocator setting (test.py's path). glibc default: malloc's default mmap use (large blocks returned to "
              "the kernel at free); the other rows keep freed memory in the heap (util/cpu_memory.py, what test.py "
              "does). Plain: PyTorch's modules, NCHW, the label stems and 7x7 output heads as oneDNN convolutions; the "
              "other rows take the sparse label stems as test.py does on the CPU and compute the heads as one matrix "
              "product (models/networks/head_conv.py), unless they say otherwise. Diff: to "
              "the same weights and inputs on the plain path in float32 (bf16 rows: the bf16 error)."]
    return lines


def _op_times(generate: Callable[[], torch.Tensor], shapes: bool) -> dict[str, tuple[float, int]]:
    """One profiled call: op name (with its input shapes if ``shapes``) -> (self time in ms, calls)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], record_shapes=shapes) as prof:
        generate()
    events = prof.key_averages(group_by_input_shape=shapes)
    return {(f"{e.key} {e.input_shapes}" if shapes else e.key): (e.self_cpu_time_total / 1e3, e.count)
            for e in events}


def profile_section(args: argparse.Namespace) -> list[str]:
    """Section ``profile``: where one student step's time goes, op by op (torch.profiler, CPU), at 1 thread and at
    ``--threads``, alternated ``--runs`` times; each op's fastest time is kept. An op whose time does not fall with
    the second thread runs single-threaded (or is memory-bound)."""
    setting = replace(SETTINGS["street"], width=args.paths_size[0], height=args.paths_size[1])
    row = PathRow("student", "sr_mobile_composite", True, "plain" if args.profile_plain else "fused",
                  args.profile_bf16, not args.profile_default_malloc)
    generate = path_step(setting, row)
    counts = tuple(sorted({1, args.threads}))
    best: dict[int, dict[str, tuple[float, int]]] = {n: {} for n in counts}
    steps: dict[int, list[tuple[float, float]]] = {n: [] for n in counts}
    with torch.inference_mode():
        generate()  # warm-up
        for run in range(args.runs):
            for n in counts:
                torch.set_num_threads(n)
                start, start_cpu = time.perf_counter(), time.process_time()
                generate()
                steps[n].append((time.perf_counter() - start, time.process_time() - start_cpu))
                for key, (ms, calls) in _op_times(generate, args.profile_shapes).items():
                    best[n][key] = min(best[n].get(key, (ms, calls)), (ms, calls))
            print(f"profile section: run {run + 1}/{args.runs}", file=sys.stderr, flush=True)
    torch.set_num_threads(args.threads)
    many = best[args.threads]
    total = sum(ms for ms, _ in many.values())
    wall = {n: statistics.median(w for w, _ in steps[n]) for n in counts}
    cpu = {n: statistics.median(c for _, c in steps[n]) for n in counts}
    path = "plain NCHW" if args.profile_plain else "channels-last + fused BN"
    path += ", glibc default malloc" if args.profile_default_malloc else ""
    lines = [f"## Student step by op, {setting.width}x{setting.height}, {path}"
             f"{', bf16' if args.profile_bf16 else ''} (torch.profiler self time, fastest of {args.runs} runs)", "",
             f"Step without the profiler (median): 1 thread {wall[1] * 1e3:,.0f} ms wall / {cpu[1] * 1e3:,.0f} ms "
             f"CPU; {args.threads} threads {wall[args.threads] * 1e3:,.0f} ms wall / {cpu[args.threads] * 1e3:,.0f} "
             f"ms CPU (CPU / wall {cpu[args.threads] / wall[args.threads]:.2f}).", "",
             f"| op | calls | ms at {args.threads} threads | share | ms at 1 thread | 1 thread / {args.threads} |",
             "|---|---:|---:|---:|---:|---:|"]
    for key, (ms, calls) in sorted(many.items(), key=lambda kv: -kv[1][0])[:args.profile_top]:
        single = best[1].get(key, (float("nan"), 0))[0]
        lines.append(f"| {key} | {calls} | {ms:,.1f} | {ms / total:.1%} | {single:,.1f} | {single / max(ms, 1e-9):.2f}x |")
    lines += ["", f"Sum of self times at {args.threads} threads: {total:,.0f} ms (profiler overhead included)."]
    return lines


def toy_cityscapes(size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, OneHotInput]:
    """The shared Cityscapes training sequence seq0000 at ``size`` (W, H): encoded labels (1, T, 36, H, W), its
    frames (1, T, 3, H, W) in [-1, 1] and the labels as ids (test.py's sparse label stem reads those)."""
    import numpy as np
    from PIL import Image

    def read(folder: str, resample: int) -> np.ndarray:
        paths = sorted((CITYSCAPES / folder / "seq0000").iterdir())
        return np.stack([np.array(Image.open(p).resize(size, resample)) for p in paths])

    labels = torch.from_numpy(read("train_A", Image.NEAREST)).float()[None, :, None]
    inst = torch.from_numpy(read("train_inst", Image.NEAREST).astype(np.float32))[None, :, None]
    frames = torch.from_numpy(read("train_B", Image.BICUBIC)).permute(0, 3, 1, 2).float()[None] / 127.5 - 1
    return encode_input(labels, inst, 35), frames, one_hot_input(labels, inst, 35)


def train_toy(net: VideoGenerator, encoded: torch.Tensor, frames: torch.Tensor, steps: int) -> list[float]:
    """``steps`` Adam steps (lr 2e-3) of L1 to a random frame of the sequence, the real previous frames fed;
    returns the losses.

    Args:
        net: A single-scale generator (training mode).
        encoded: (1, T, C, H, W) encoded labels.
        frames: (1, T, 3, H, W) the frames in [-1, 1].
    """
    optimizer, t_g, length = torch.optim.Adam(net.parameters(), lr=2e-3), net.n_frames_G, encoded.shape[1]
    losses = []
    for _ in range(steps):
        t = int(torch.randint(t_g - 1, length, (1,)))
        out = net.generate_frame([encoded[:, t - t_g + 1:t + 1]], [frames[:, t - t_g + 1:t]])[-1]
        loss = (out.image - frames[:, t]).abs().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def run_sequence(net: VideoGenerator, encoded: torch.Tensor, first: torch.Tensor,
                 bf16: bool = False, onehot: Optional[OneHotInput] = None) -> list[torch.Tensor]:
    """Every output frame (1, 3, H, W), float32, of a sequence generated without autograd (as test.py), each step
    feeding back its own outputs.

    Args:
        net: The generator.
        encoded: (1, T, C, H, W) encoded labels.
        first: (1, tG-1, 3, H, W) the frames before the first output.
        bf16: Under bf16 autocast.
        onehot: The labels as ids, for the exact sparse label stem (test.py's CPU path), or None (convolutions).
    """
    t_g, state, out = net.n_frames_G, InferenceState(), []
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        for t in range(t_g - 1, encoded.shape[1]):
            window = None if onehot is None else onehot.frames(t - t_g + 1, t + 1)
            out.append(inference_step(net, state, encoded[:, t - t_g + 1:t + 1], first_frames=first,
                                      onehot=window)[-1].image.float())
    return out


def psnr_db(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of two images in [-1, 1]."""
    return 10 * math.log10(4 / max((a - b).pow(2).mean().item(), 1e-20))


def autocast_psnr(net: VideoGenerator, encoded: torch.Tensor, first: torch.Tensor,
                  onehot: Optional[OneHotInput] = None) -> list[float]:
    """PSNR (dB) of each frame made under bf16 autocast to the float32 one (:func:`run_sequence`'s arguments)."""
    return [psnr_db(a, b) for a, b in zip(run_sequence(net, encoded, first, onehot=onehot),
                                          run_sequence(net, encoded, first, bf16=True, onehot=onehot))]


class ToyStudent(NamedTuple):
    """A toy student trained on seq0000 (:func:`toy_student`) and its sequence."""

    net: VideoGenerator
    encoded: torch.Tensor  # (1, T, 36, H, W)
    frames: torch.Tensor  # (1, T, 3, H, W) in [-1, 1]
    onehot: OneHotInput  # the labels as ids
    losses: list[float]


def toy_student(size: tuple[int, int], steps: int) -> ToyStudent:
    """A toy student (ngf 16, 3 downsamplings, 4 blocks, fg) trained ``steps`` steps on seq0000 at ``size`` (W, H)."""
    torch.manual_seed(0)
    encoded, frames, onehot = toy_cityscapes(size)
    config = GeneratorConfig(input_nc=36, ngf=16, n_downsampling=3, n_blocks=4, fg_labels=(26,), student=True)
    net = build_generator("sr_mobile_composite", config).train()
    return ToyStudent(net, encoded, frames, onehot, train_toy(net, encoded, frames, steps))


def autocast_section(args: argparse.Namespace) -> list[str]:
    """Section ``autocast``: PSNR of bf16 to float32 on every frame of a trained toy student's sequence."""
    net, encoded, frames, onehot, losses = toy_student((64, 32), args.toy_steps)
    psnr = autocast_psnr(net, encoded, frames[:, :net.n_frames_G - 1], onehot)
    return [f"## bf16 autocast against float32: toy student (ngf 16, 64x32, {args.toy_steps} steps, L1 "
            f"{losses[0]:.3f} -> {sum(losses[-5:]) / 5:.3f}), Cityscapes seq0000, {len(psnr)} frames fed back", "",
            f"PSNR (dB) per frame: {', '.join(f'{p:.1f}' for p in psnr)}", "",
            f"min {min(psnr):.1f} dB, mean {sum(psnr) / len(psnr):.1f} dB"]


def plain_sequence(net: VideoGenerator, encoded: torch.Tensor, first: torch.Tensor) -> list[torch.Tensor]:
    """:func:`run_sequence` on PyTorch's plain modules (NCHW, BatchNorm modules, heads as convolutions)."""
    with module_paths(channels_last=False, head_products=False):
        return run_sequence(net, encoded, first)


def exactness_section(args: argparse.Namespace) -> list[str]:
    """Section ``exactness``: test.py's CPU path (sparse label stems, channels-last trunk, fused norms, head
    products) against the plain modules on every frame of a toy student's sequence at 256x128 (where the fast
    paths are taken), before and after training it."""
    import models.networks.head_conv as head_conv

    net, encoded, frames, onehot, _ = toy_student((256, 128), 0)
    first = frames[:, :net.n_frames_G - 1]
    thinnest = head_conv.TAP_MIN_IN_CHANNELS
    head_conv.TAP_MIN_IN_CHANNELS = 1  # the toy's heads read 16 channels: take the head products all the same
    try:
        untrained = [(a - b).abs().max().item() for a, b in zip(run_sequence(net, encoded, first, onehot=onehot),
                                                                plain_sequence(net, encoded, first))]
        losses = train_toy(net, encoded, frames, args.toy_steps)
        fast, plain = run_sequence(net, encoded, first, onehot=onehot), plain_sequence(net, encoded, first)
    finally:
        head_conv.TAP_MIN_IN_CHANNELS = thinnest
    trained = [(a - b).abs().max().item() for a, b in zip(fast, plain)]
    psnr = [psnr_db(a, b) for a, b in zip(fast, plain)]
    return [f"## test.py's CPU path against the plain modules, float32: toy student (ngf 16, 256x128), Cityscapes "
            f"seq0000, {len(trained)} frames fed back", "",
            "| weights | max abs diff, first frame | max abs diff, worst frame | mean of the per-frame max | "
            "PSNR, worst frame |", "|---|---:|---:|---:|---:|",
            f"| random (untrained) | {untrained[0]:.1e} | {max(untrained):.1e} | "
            f"{sum(untrained) / len(untrained):.1e} | - |",
            f"| trained {args.toy_steps} steps (L1 {losses[0]:.3f} -> {sum(losses[-5:]) / 5:.3f}) | {trained[0]:.1e} "
            f"| {max(trained):.1e} | {sum(trained) / len(trained):.1e} | {min(psnr):.1f} dB |", "",
            "Images in [-1, 1]; each run feeds back its own outputs, so a difference carries into later frames."]


SECTIONS: dict[str, Callable[[argparse.Namespace], list[str]]] = {"cost": cost_section, "keyframes": keyframe_section,
                                                                  "paths": paths_section, "overlap": overlap_section,
                                                                  "profile": profile_section,
                                                                  "autocast": autocast_section,
                                                                  "exactness": exactness_section}


def main(argv: list[str] | None = None) -> None:
    """Print the selected sections."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=list(SECTIONS),
                        help="sections to run")
    parser.add_argument("--runs", type=int, default=3, help="timed steps per generator (median), after a warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--time", nargs="*", default=["street"], choices=list(SETTINGS),
                        help="settings whose generator steps are timed on the CPU (default: street)")
    parser.add_argument("--key_frames", type=int, default=0,
                        help="keyframes section: input frames of stuttgart_00 used (0: all 30; 12 with --quick)")
    parser.add_argument("--paths_size", type=int, nargs=2, default=[512, 256], metavar=("W", "H"),
                        help="paths section: frame size (default: the published 512x256)")
    parser.add_argument("--overlap_width", type=int, default=256,
                        help="overlap section: --loadSize of the student's frames (default 256: 256x128)")
    parser.add_argument("--profile_top", type=int, default=25, help="profile section: ops listed")
    parser.add_argument("--profile_shapes", action="store_true", help="profile section: ops split by input shapes")
    parser.add_argument("--profile_plain", action="store_true",
                        help="profile section: the previous path (NCHW, PyTorch's BatchNorm)")
    parser.add_argument("--profile_default_malloc", action="store_true",
                        help="profile section: glibc's default allocator behaviour (freed large blocks unmapped)")
    parser.add_argument("--teacher", action="store_true", help="paths section: add the teacher's rows")
    parser.add_argument("--profile_bf16", action="store_true", help="profile section: under bf16 autocast")
    parser.add_argument("--toy_steps", type=int, default=40, help="autocast section: training steps of the toy student")
    parser.add_argument("--quick", action="store_true",
                        help="keyframes section: a tiny network at 64x32 (a smoke run of a few seconds)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    keep_freed_memory(True)  # as test.py: freed feature maps stay mapped (util/cpu_memory.py)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in args.sections:
        print("\n".join(SECTIONS[name](args)), flush=True)


if __name__ == "__main__":
    main()
