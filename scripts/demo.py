"""The one-command demo (``make demo``): toy street data -> a tiny vid2vid trained on CPU -> a generated video.

Needs no download: the dataset is synthesised, the flow comes from OpenCV's DIS (no FlowNet2 weights) and the
VGG loss is off (no ImageNet weights). Trains for about 3.5 minutes on a 2-core CPU (60 short epochs).
"""

from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import test as test_script  # noqa: E402
import train as train_script  # noqa: E402
from scripts.make_toy_dataset import make_toy_dataset  # noqa: E402

MODEL_FLAGS = ["--label_nc", "35", "--use_instance", "--fg", "--loadSize", "128", "--ngf", "32",
               "--n_downsample_G", "2", "--n_blocks", "4", "--n_frames_G", "3", "--gpu_ids", "-1"]
TRAIN_FLAGS = ["--ndf", "32", "--num_D", "1", "--n_frames_D", "2", "--no_vgg", "--flow_backend", "dis",
               "--n_frames_total", "4", "--max_frames_per_gpu", "2", "--niter_step", "100", "--nThreads", "1",
               "--display_freq", "10", "--print_freq", "10", "--save_latest_freq", "1000", "--seed", "0"]


KEPT_EPOCHS = 3


def save_epoch_freq(epochs: int) -> int:
    """Numbered checkpoints every ``epochs / 3`` epochs: ``latest`` plus three snapshots (20, 40, 60 of 60)
    instead of one per epoch (the reference's default, 4.6 GB for the demo's 60 epochs)."""
    return max(1, -(-epochs // KEPT_EPOCHS))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dataroot", default="datasets/toy")
    parser.add_argument("--name", default="demo")
    parser.add_argument("--epochs", type=int, default=60, help="training epochs (each visits every sequence)")
    parser.add_argument("--n_seqs", type=int, default=4)
    parser.add_argument("--n_frames", type=int, default=16)
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    started = time.time()
    make_toy_dataset(args.dataroot, n_seqs=args.n_seqs, n_frames=args.n_frames, width=256, height=128, seed=0)
    print(f"[demo] toy dataset written to {args.dataroot}")
    half = max(1, args.epochs // 2)
    train_script.main(["--name", args.name, "--dataroot", args.dataroot, *MODEL_FLAGS, *TRAIN_FLAGS,
                       "--niter", str(half), "--niter_decay", str(args.epochs - half),
                       "--save_epoch_freq", str(save_epoch_freq(args.epochs))])
    print(f"[demo] trained for {time.time() - started:.0f} s")
    summary = test_script.main(["--name", args.name, "--dataroot", args.dataroot, *MODEL_FLAGS,
                                "--use_real_img", "--results_dir", "results", "--how_many", "1000"])
    print(f"[demo] done in {time.time() - started:.0f} s")
    print(f"[demo] results page: {os.path.abspath(summary['page'])}")
    for sequence, video in summary["videos"].items():
        print(f"[demo] video of {sequence}: {os.path.abspath(video)}")


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
