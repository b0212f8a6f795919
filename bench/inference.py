"""Inference benchmark: frames per second, memory and where the time goes, for the test.py pipeline.

For label2city g1 settings (one scale, ngf 128, 2 downsamplings, foreground model, instance edges) at 256x128
and 512x256, with random weights, in float32 and bf16 autocast: generates ``--frames`` frames from a synthetic
label sequence through the same loader, streaming generator and writer test.py uses, and prints
- frames per second and the generator's own milliseconds per frame,
- the share of wall time spent outside the generator (loading, encoding, writing frames and the mp4),
- resident memory after 10% of the frames and at the end (flat memory = no growth with sequence length), less
  the generated frames this bench keeps in memory for the PSNR column,
- PSNR of the bf16 frames against the float32 ones (same weights, same inputs): of the first generated frame
  (one step's rounding) and the mean over the sequence (each frame is fed back, so differences accumulate).

Usage: ``python bench/inference.py [--frames 100] [--sizes 256 512] [--threads 2] [--ngf 128]``
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import torch  # noqa: E402

G1_FLAGS = ["--label_nc", "35", "--use_instance", "--fg", "--n_downsample_G", "2", "--gpu_ids", "-1",
            "--use_real_img", "--nThreads", "1"]


def rss_mb() -> float:
    """Resident set size of this process in MB."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_data(root: str, width: int, height: int, n_frames: int) -> None:
    """A synthetic test sequence (labels, instances, real frames) of ``n_frames`` frames."""
    from scripts.make_toy_dataset import make_toy_dataset

    make_toy_dataset(root, n_seqs=1, n_frames=n_frames, width=width, height=height, seed=0)


def run(size: int, frames: int, autocast: str, workdir: str, ngf: int = 128) -> dict:
    """Generate ``frames`` frames at ``size`` wide; returns timings, memory and the last frames."""
    from data import create_test_loader
    from models import create_model
    from options import TestOptions
    from util.results_writer import ResultsWriter

    data = os.path.join(workdir, f"data{size}")
    if not os.path.isdir(data):
        make_data(data, size, size // 2, frames + 2)
    ckpt = os.path.join(workdir, "checkpoints")
    name = f"g1_{size}_ngf{ngf}"
    flags = ["--dataroot", data, "--name", name, "--checkpoints_dir", ckpt, "--loadSize", str(size),
             "--results_dir", os.path.join(workdir, "results"), "--how_many", str(frames), "--autocast", autocast,
             "--phase", "test", "--ngf", str(ngf)] + G1_FLAGS
    opt = TestOptions().parse(flags, save=False)
    save_random_generator(opt)
    torch.manual_seed(0)
    frame_generator = create_model(opt).make_inference()
    loader = create_test_loader(opt)
    gen_seconds, outputs, memory = 0.0, [], []
    started = time.perf_counter()
    with ResultsWriter(opt) as writer:
        for data_item in loader:
            t0 = time.perf_counter()
            finished = frame_generator.step(data_item)
            gen_seconds += time.perf_counter() - t0
            if not finished:
                continue
            writer.add_all(finished)
            outputs += [frame.image.clone() for frame in finished]
            kept_mb = sum(o.numel() * o.element_size() for o in outputs) / 2**20
            memory.append(rss_mb() - kept_mb)  # the frames kept for the PSNR column are the bench's, not test.py's
            if len(outputs) >= frames:
                break
    wall = time.perf_counter() - started
    return {"wall": wall, "gen": gen_seconds, "n": len(outputs), "outputs": outputs, "memory": memory}


def save_random_generator(opt) -> None:
    """Random weights in the official layout at ``<checkpoints>/<name>/latest_net_G0.pth``."""
    from models.networks import define_G
    from util.checkpoint import atomic_save, cpu_state_dict

    path = os.path.join(opt.checkpoints_dir, opt.name, "latest_net_G0.pth")
    if not os.path.isfile(path):
        torch.manual_seed(0)
        for s, net in enumerate(define_G(opt).scales):
            atomic_save(cpu_state_dict(net), path.replace("G0.pth", f"G{s}.pth"))


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    """PSNR in dB of images in [-1, 1]."""
    mse = float(((a - b) / 2).pow(2).mean())
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ngf", type=int, default=128, help="generator filters (128: the g1 recipes)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.frames} frames per run")
    print("| size | precision | frames/s | generator ms/frame | outside generator | RSS at 10% (MB) | RSS at end (MB) | PSNR vs fp32, first frame | PSNR vs fp32, mean |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as workdir:
        for size in args.sizes:
            reference = None
            for autocast in ("none", "bf16"):
                r = run(size, args.frames, autocast, workdir, args.ngf)
                if reference is None:
                    reference = r["outputs"]
                scores = [psnr(a, b) for a, b in zip(r["outputs"], reference)]
                early = r["memory"][max(0, len(r["memory"]) // 10 - 1)]
                print(f"| {size}x{size // 2} | {'float32' if autocast == 'none' else autocast} | {r['n'] / r['wall']:.3f} | "
                      f"{1000 * r['gen'] / max(1, r['n']):.0f} | {100 * (1 - r['gen'] / r['wall']):.1f}% | "
                      f"{early:.0f} | {r['memory'][-1]:.0f} | {scores[0]:.1f} dB | {np.mean(scores):.1f} dB |", flush=True)


if __name__ == "__main__":
    main()
