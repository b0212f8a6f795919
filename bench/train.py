"""Training benchmark: seconds per training frame and peak memory, label2city g1 settings, on this machine.

Runs the real training step (generator chunks, frame and temporal discriminators, three optimizer steps) on a
synthetic street sequence at 256x128 and 512x256 with the settings of scripts/street/train_g1_256.sh
(ngf 128, 2 downsamplings, num_D 1, foreground model, instance edges, 6 frames per chunk), random weights,
OpenCV DIS flow (FlowNet2 weights are not available here) and no VGG loss (no ImageNet weights).

Usage: ``python bench/train.py [--sizes 256 512] [--steps 2] [--threads 2] [--ngf 128]``
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402


def train_flags(root: str, size: int, ngf: int) -> list[str]:
    return ["--dataroot", root, "--name", f"bench{size}", "--label_nc", "35", "--loadSize", str(size),
            "--use_instance", "--fg", "--n_downsample_G", "2", "--num_D", "1", "--max_frames_per_gpu", "6",
            "--n_frames_total", "6", "--ngf", str(ngf), "--gpu_ids", "-1", "--no_vgg", "--flow_backend", "dis",
            "--nThreads", "0", "--no_flip", "--seed", "0"]


def measure(size: int, steps: int, ngf: int, workdir: str) -> tuple[float, int]:
    """Seconds per generated training frame (after one warm-up step) and frames per step."""
    from data import create_dataset
    from models import create_model
    from options import TrainOptions
    from scripts.make_toy_dataset import make_toy_dataset

    root = os.path.join(workdir, f"data{size}")
    make_toy_dataset(root, n_seqs=1, n_frames=8, width=size, height=size // 2, seed=0)
    opt = TrainOptions().parse(train_flags(root, size, ngf) + ["--checkpoints_dir", workdir], save=False)
    dataset = create_dataset(opt)
    model = create_model(opt)
    batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in dataset[0].items()}
    frames = batch["B"].shape[1] - opt.n_frames_G + 1
    model.train_sequence(batch)
    started = time.perf_counter()
    for _ in range(steps):
        model.train_sequence(batch)
    return (time.perf_counter() - started) / (steps * frames), frames


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ngf", type=int, default=128)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| size | frames per step | s per training frame | peak RSS (MB, whole process so far) |")
    print("|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes:
            seconds, frames = measure(size, args.steps, args.ngf, workdir)
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"| {size}x{size // 2} | {frames} | {seconds:.2f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
