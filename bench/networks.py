"""Benchmark one sequential generation step of the label2city g1 generators on CPU.

For each configuration: parameters, MACs per generated frame (``torch.utils.flop_counter``), and the median
CPU time per frame in ``torch.inference_mode`` (after warm-up) of the plain path (the reference's algorithm)
and of the exact one-hot fast path, the largest output difference between the two, the machine's conv
throughput and the time over the FLOP bound. Weights are random (cost does not depend on them).

The inputs are random blocky label maps with per-pixel random instance ids (as performance.md's), or with
``--labels cityscapes`` the first frames of the shared Cityscapes test sequence resized to each row's size
(the fast path's cost follows how many labels meet near each pixel; the plain path's does not).

Usage: ``python bench/networks.py [--rows 256_g1@256x128 ...] [--runs 3] [--threads 2] [--labels cityscapes]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.networks import GeneratorConfig, build_generator  # noqa: E402
from models.networks.input_encoding import encode_input, one_hot_input  # noqa: E402
from models.networks.video_generator import InferenceState, VideoGenerator, inference_step  # noqa: E402
from util.cost import analytic_part, count_macs, time_calls  # noqa: E402

LABEL_NC, T_G, FG_LABELS = 35, 3, [26]
CONFIGS = {"256_g1": 1, "512_g1": 2, "1024_g1": 3}  # name -> spatial scales (ngf 128, 2 downsamplings, fg)
ROWS = ["1024_g1@1024x512", "512_g1@512x256", "256_g1@256x128", "256_g1@512x256"]
DEFAULT_CITYSCAPES = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets" / "Cityscapes"
REFERENCE_MS = {"256_g1@256x128": 3475, "256_g1@512x256": 14422, "512_g1@512x256": 6351, "1024_g1@1024x512": 11912}


def build(n_scales: int) -> VideoGenerator:
    """The released label2city g1 generator layout with random weights, BatchNorm in training mode."""
    torch.manual_seed(0)
    config = GeneratorConfig(input_nc=LABEL_NC + 1, n_frames_G=T_G, ngf=128, n_downsampling=2, n_blocks=9,
                             n_blocks_local=3, n_scales=n_scales, fg_labels=tuple(FG_LABELS))
    return build_generator("composite", config).train()


def blocky_inputs(width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Random blocky label ids (1, tG, 1, H, W) with car blocks, and instance ids."""
    gen = torch.Generator().manual_seed(1)
    coarse = torch.randint(0, LABEL_NC, (1, T_G, 1, height // 16, width // 16), generator=gen).float()
    labels = coarse.repeat_interleave(16, -2).repeat_interleave(16, -1)
    inst = labels * 1000 + torch.randint(0, 3, labels.shape, generator=gen).float()
    return labels, inst


def cityscapes_inputs(root: Path, width: int, height: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The first tG label and instance maps (1, tG, 1, H, W) of ``root``'s test sequence, nearest-resized."""
    from PIL import Image

    def load(folder: str) -> torch.Tensor:
        files = sorted((root / folder).glob("*/*.png"))[:T_G]
        if len(files) < T_G:
            raise SystemExit(f"--labels cityscapes needs {T_G} frames in {root / folder}; found {len(files)}")
        maps = [torch.from_numpy(np.array(Image.open(f).resize((width, height), Image.NEAREST))) for f in files]
        return torch.stack(maps).float().view(1, T_G, 1, height, width)

    return load("test_A"), load("test_inst")


def step_fn(net: VideoGenerator, labels: torch.Tensor, inst: torch.Tensor, fast: bool) -> Callable[[], torch.Tensor]:
    """One test-time generation step (encode, pyramid, every scale, warp, fg composite) from fixed first frames."""
    first = torch.zeros(1, T_G - 1, 3, *labels.shape[-2:])

    def run() -> torch.Tensor:
        state = InferenceState()
        encoded = encode_input(labels, inst, LABEL_NC)
        onehot = one_hot_input(labels, inst, LABEL_NC) if fast else None
        return inference_step(net, state, encoded, first_frames=first, onehot=onehot)[-1].image

    return run


def stem_macs(net: VideoGenerator, width: int, height: int) -> float:
    """MACs (1e9) of every scale's label-stem convolutions, which the fast path replaces by embedding-bag sums."""
    total = 0.0
    for s, scale in enumerate(net.scales):
        pixels = width * height / 4 ** (net.n_scales - 1 - s)
        convs = [stem.conv for stem in scale.label_stems()]
        total += sum(c.weight.numel() for c in convs) * pixels
    return total / 1e9


def gmacs(fn: Callable[[], torch.Tensor]) -> float:
    """Multiply-accumulates (1e9) of the convolutions and matmuls, as the flop counter counts them."""
    total, by_op = count_macs(fn)
    return (total - analytic_part(by_op)) / 1e9


def conv_throughput(runs: int = 5) -> float:
    """GFLOP/s of a 3x3 512->512 convolution at 32x64 (as performance.md)."""
    x, w = torch.randn(1, 512, 32, 64), torch.randn(512, 512, 3, 3)
    with torch.inference_mode():
        F.conv2d(x, w, padding=1)
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            F.conv2d(x, w, padding=1)
            times.append(time.perf_counter() - start)
    return 2 * 512 * 512 * 9 * 32 * 64 / statistics.median(times) / 1e9


def bench_row(row: str, runs: int, peak: float, cityscapes: Path | None) -> str:
    """Measure one ``config@WxH`` row (on Cityscapes frames from ``cityscapes`` if given) as a markdown line."""
    name, size = row.split("@")
    width, height = (int(v) for v in size.split("x"))
    net = build(CONFIGS[name])
    labels, inst = cityscapes_inputs(cityscapes, width, height) if cityscapes else blocky_inputs(width, height)
    plain, fast = step_fn(net, labels, inst, False), step_fn(net, labels, inst, True)
    with torch.inference_mode():
        diff = (plain() - fast()).abs().max().item()
    macs = gmacs(plain)
    fast_macs = macs - stem_macs(net, width, height)
    plain_ms, fast_ms = (timing.median_ms for timing in time_calls([plain, fast], runs=runs))
    params = sum(p.numel() for p in net.parameters())
    bound_ms = 2 * macs / peak * 1e3
    ref = REFERENCE_MS[row]
    return (f"| label2city_{name} | {width}x{height} | {CONFIGS[name]} | {params:,} | {macs:.1f} | {fast_macs:.1f} "
            f"| {plain_ms:,.0f} | {fast_ms:,.0f} | {bound_ms:,.0f} | {fast_ms / bound_ms:.2f} | {ref:,} "
            f"| {ref / fast_ms:.2f} | {plain_ms / fast_ms:.2f} | {diff:.1e} |")


def main(argv: list[str] | None = None) -> None:
    """Print the benchmark table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", nargs="+", default=ROWS, help=f"config@WxH rows; default {ROWS}")
    parser.add_argument("--runs", type=int, default=3, help="timed runs per path (median), after one warm-up")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--labels", choices=["blocky", "cityscapes"], default="blocky",
                        help="input label maps: random blocks (performance.md's) or real Cityscapes frames")
    parser.add_argument("--dataroot", type=Path, default=DEFAULT_CITYSCAPES,
                        help=f"Cityscapes sample with test_A/ and test_inst/ (default {DEFAULT_CITYSCAPES})")
    args = parser.parse_args(argv)
    cityscapes = args.dataroot if args.labels == "cityscapes" else None
    if cityscapes is not None and not (cityscapes / "test_A").is_dir():
        parser.error(f"--labels cityscapes: no test_A/ folder in {cityscapes}; pass --dataroot")
    torch.set_num_threads(args.threads)
    peak = conv_throughput()
    print(f"threads: {torch.get_num_threads()}; conv 3x3 512->512 at 32x64: {peak:.1f} GFLOP/s; torch {torch.__version__}; "
          f"labels: {args.labels}")
    print("| config | frame | scales | G params | GMAC/frame | GMAC fast path (convs; label stems become embedding-bag sums) | ms plain | ms fast "
          "| FLOP bound ms | fast / bound | reference ms (perf.md) | reference ms / fast ms | plain / fast "
          "| max abs diff plain-fast |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for row in args.rows:
        print(bench_row(row, args.runs, peak, cityscapes), flush=True)


if __name__ == "__main__":
    main()
