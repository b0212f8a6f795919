"""Training benchmark: seconds per training frame and peak memory, label2city g1 settings, on this machine.

Runs the real training step (generator chunks, frame and temporal discriminators, three optimizer steps) on a
synthetic street sequence at 256x128 and 512x256 with the settings of scripts/street/train_g1_256.sh
(ngf 128, 2 downsamplings, num_D 1, foreground model, instance edges, 6 frames per chunk; 2 at 512x256, which
is what fits in 24 GB), random weights, each size in its own process,
OpenCV DIS flow (FlowNet2 weights are not available here) and no VGG loss (no ImageNet weights).

Usage: ``python bench/train.py [--sizes 256 512] [--steps 2] [--threads 2] [--ngf 128] [--chunk N]``
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402


def train_flags(root: str, size: int, ngf: int, chunk: int) -> list[str]:
    return ["--dataroot", root, "--name", f"bench{size}", "--label_nc", "35", "--loadSize", str(size),
            "--use_instance", "--fg", "--n_downsample_G", "2", "--num_D", "1", "--max_frames_per_gpu", str(chunk),
            "--n_frames_total", "6", "--ngf", str(ngf), "--gpu_ids", "-1", "--no_vgg", "--flow_backend", "dis",
            "--nThreads", "0", "--no_flip", "--seed", "0"]


def measure(size: int, steps: int, ngf: int, chunk: int, workdir: str) -> tuple[float, int]:
    """Seconds per generated training frame (after one warm-up step) and frames per step."""
    from data import create_dataset
    from models import create_model
    from options import TrainOptions
    from scripts.make_toy_dataset import make_toy_dataset

    root = os.path.join(workdir, f"data{size}")
    make_toy_dataset(root, n_seqs=1, n_frames=8, width=size, height=size // 2, seed=0)
    opt = TrainOptions().parse(train_flags(root, size, ngf, chunk) + ["--checkpoints_dir", workdir], save=False)
    dataset = create_dataset(opt)
    model = create_model(opt)
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in dataset[0].items()}
    frames = batch["B"].shape[1] - opt.n_frames_G + 1
    model.train_sequence(batch)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_sequence(batch)
    return (time.perf_counter() - started) / (steps * frames), frames


def default_chunk(size: int) -> int:
    """Frames per generator chunk: 6 (the g1 scripts' setting) fits 24 GB at 256x128; 512x256 needs 2."""
    return 6 if size <= 256 else 2


def run_child(size: int, args: argparse.Namespace) -> str:
    """Measure one size in a fresh process, so its peak memory is its own and an out-of-memory kill is reported."""
    chunk = args.chunk or default_chunk(size)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(size), "--steps", str(args.steps),
           "--threads", str(args.threads), "--ngf", str(args.ngf), "--chunk", str(chunk)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        reason = "killed (out of memory?)" if done.returncode < 0 else last_line
        return f"| {size}x{size // 2} | {chunk} | - | - | failed: {reason} |"
    return done.stdout.strip().splitlines()[-1]


def child(size: int, args: argparse.Namespace) -> None:
    """Print one table row for ``size``."""
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        seconds, frames = measure(size, args.steps, args.ngf, args.chunk, workdir)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"| {size}x{size // 2} | {args.chunk} | {frames} | {seconds:.2f} | {peak:.0f} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ngf", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=0,
                        help="--max_frames_per_gpu (0: 6 at 256x128, 2 at 512x256, what fits in 24 GB)")
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    print(f"torch {torch.__version__}, {args.threads} threads, ngf {args.ngf}")
    print("| size | frames per chunk | frames per step | s per training frame | peak RSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for size in args.sizes:
        print(run_child(size, args), flush=True)


if __name__ == "__main__":
    main()
