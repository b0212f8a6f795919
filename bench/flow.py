"""Speed of the flow back-ends and of each FlowNet2 operator implementation, in ms per frame pair.

    python bench/flow.py [--width 512 --height 256 --repeats 3 --threads 2 --skip_flownet2]

Back-ends: OpenCV DIS and Farneback, FlowNet2 with random weights (speed does not depend on them) using the
pure-PyTorch operators on the CPU, and on a GPU with both operator implementations. Operators: Correlation at
FlowNetC's size (256 channels at 1/8 resolution), Resample2d and ChannelNorm on an RGB frame, each with every
implementation that can run here. Median of ``--repeats`` timed runs after one warm-up run.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from pathlib import Path
from typing import Callable, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.networks.flow import ops  # noqa: E402
from models.networks.flow.estimator import FlowNet2Estimator, create_flow_estimator  # noqa: E402
from models.networks.flow.flownet2 import FlowNet2  # noqa: E402


def median_ms(fn: Callable[[], object], repeats: int, device: torch.device) -> float:
    """Median wall time of ``fn`` in milliseconds (one untimed warm-up; CUDA synchronised)."""
    fn()
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def implementations(device: torch.device) -> list[str]:
    """Operator implementations runnable on ``device``."""
    if device.type != "cuda":
        return ["pytorch"]
    from models.networks.flow import cuda_ops

    return ["pytorch", "cuda"] if cuda_ops.load_extension() is not None else ["pytorch"]


def bench_ops(width: int, height: int, repeats: int, device: torch.device) -> list[tuple[str, str, float]]:
    """(operator, implementation, ms) for the three operators at FlowNet2's sizes."""
    feat = [torch.randn(1, 256, height // 8, width // 8, device=device) for _ in range(2)]
    image = torch.randn(1, 3, height, width, device=device)
    flow = torch.randn(1, 2, height, width, device=device) * 5
    rows = []
    with torch.no_grad():
        for impl in implementations(device):
            rows.append(("Correlation", impl, median_ms(lambda: ops.correlation(*feat, impl=impl), repeats, device)))
            rows.append(("Resample2d", impl, median_ms(lambda: ops.resample2d(image, flow, impl=impl), repeats,
                                                       device)))
            rows.append(("ChannelNorm", impl, median_ms(lambda: ops.channel_norm(image, impl=impl), repeats, device)))
    return rows


def bench_backends(width: int, height: int, repeats: int, device: torch.device,
                   skip_flownet2: bool) -> list[tuple[str, str, float]]:
    """(back-end, detail, ms per pair) for DIS, Farneback and FlowNet2."""
    current = torch.rand(1, 3, height, width) * 2 - 1
    previous = torch.roll(current, shifts=(1, 3), dims=(2, 3))
    rows = []
    for backend in ("dis", "farneback"):
        estimator = create_flow_estimator(backend, "", torch.device("cpu"))
        rows.append((backend, "opencv, cpu", median_ms(lambda: estimator(current, previous), repeats,
                                                       torch.device("cpu"))))
    if not skip_flownet2:
        net = FlowNet2(ops_impl="pytorch").eval()
        cur, prev = current.to(device), previous.to(device)
        for impl in implementations(device):
            net.set_ops_impl(impl)
            estimator = FlowNet2Estimator(net, device)
            rows.append(("flownet2", f"{impl} ops, {device.type}", median_ms(lambda: estimator(cur, prev), repeats,
                                                                          device)))
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    """Print one table of milliseconds per frame pair / per operator call."""
    parser = argparse.ArgumentParser(description="flow back-end and operator speed")
    parser.add_argument("--width", type=int, default=512, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=256, help="frame height in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per entry (median reported)")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave the default)")
    parser.add_argument("--device", type=str, default="cpu", help="cpu or cuda[:i]")
    parser.add_argument("--skip_flownet2", action="store_true", help="skip the 162M-parameter FlowNet2")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"{args.width}x{args.height}, torch {torch.__version__}, {torch.get_num_threads()} CPU threads, {device}")
    print(f"{'what':<14}{'implementation':<22}{'ms':>10}")
    for name, detail, ms in bench_backends(args.width, args.height, args.repeats, device, args.skip_flownet2):
        print(f"{name:<14}{detail:<22}{ms:>10.1f}")
    for name, impl, ms in bench_ops(args.width, args.height, args.repeats, device):
        print(f"{name:<14}{impl:<22}{ms:>10.2f}")


if __name__ == "__main__":
    main()
