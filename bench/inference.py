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

Start-up section (``--sections startup``): a whole ``test.py --how_many 1`` process at the 256_g1 settings
(256x128, ngf 128, random weights in the official layout), split into imports (interpreter start to the model's
construction, option parsing and the dataset check included), build (``define_G``), load (the rest of model
set-up: reading and loading the checkpoint) and the first step (loader to the first generated frame), for this
tree and, with ``--startup_against REV``, for commit REV (``git archive``), alternated in one run; medians and
the ratio of the totals.

Usage: ``python bench/inference.py [--sections throughput startup] [--frames 100] [--sizes 256 512]
[--threads 2] [--ngf 128] [--startup_against HEAD~1] [--startup_runs 3]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
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


# Runs in the measured tree (cwd): times test.main's phases by wrapping define_G, create_model and the first step.
STARTUP_RUNNER = """
import json, sys, time
started = time.perf_counter()
import test as script
import models
import models.vid2vid_model as vm
from models.vid2vid.inference import Vid2VidInference
marks = {"build": 0.0}
define_g, create_model, step = vm.define_G, models.create_model, Vid2VidInference.step
def timed_define_g(opt):
    t = time.perf_counter(); net = define_g(opt); marks["build"] += time.perf_counter() - t; return net
def timed_create_model(opt, **kwargs):
    marks["model_start"] = time.perf_counter(); model = create_model(opt, **kwargs)
    marks["model_end"] = time.perf_counter(); return model
def timed_step(self, item):
    out = step(self, item)
    if out and "first" not in marks:
        marks["first"] = time.perf_counter()
    return out
vm.define_G, models.create_model, Vid2VidInference.step = timed_define_g, timed_create_model, timed_step
script.main(sys.argv[1:])
model = marks["model_end"] - marks["model_start"]
print("STARTUP " + json.dumps({"imports": marks["model_start"] - started, "build": marks["build"],
                               "load": model - marks["build"], "first step": marks["first"] - marks["model_end"]}))
"""
PHASES = ("imports", "build", "load", "first step")


def export_tree(rev: str, folder: str) -> str:
    """Commit ``rev`` of this repository extracted to ``folder`` (``git archive``; the repository is untouched)."""
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    archive = subprocess.run(["git", "-C", repo, "archive", rev], check=True, capture_output=True).stdout
    os.makedirs(folder, exist_ok=True)
    subprocess.run(["tar", "-x", "-C", folder], input=archive, check=True)
    return folder


def startup_once(tree: str, flags: list[str], threads: int) -> dict:
    """One ``test.py`` process in ``tree``: its phases (seconds) and ``total``, the process's wall time."""
    started = time.perf_counter()
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    result = subprocess.run([sys.executable, "-c", STARTUP_RUNNER, *flags], cwd=tree, capture_output=True,
                            text=True, env=env)
    total = time.perf_counter() - started
    lines = [line for line in result.stdout.splitlines() if line.startswith("STARTUP ")]
    if result.returncode != 0 or not lines:
        raise RuntimeError(f"test.py start-up run failed in {tree}:\n{result.stderr[-2000:]}")
    return {**json.loads(lines[-1][len("STARTUP "):]), "total": total}


def startup_section(args: argparse.Namespace, workdir: str) -> None:
    """Start-up to the first frame, this tree against ``--startup_against`` (alternated), as a table."""
    data = os.path.join(workdir, "startup_data")
    make_data(data, 256, 128, 3)
    flags = ["--dataroot", data, "--name", "startup_g1", "--checkpoints_dir", os.path.join(workdir, "checkpoints"),
             "--loadSize", "256", "--ngf", str(args.ngf), "--how_many", "1", "--no_video", "--phase", "test",
             "--results_dir", os.path.join(workdir, "startup_results")] + G1_FLAGS
    from options import TestOptions

    save_random_generator(TestOptions().parse(flags, save=False))
    trees = {"this tree": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    if args.startup_against:
        trees[args.startup_against] = export_tree(args.startup_against, os.path.join(workdir, "previous"))
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.startup_runs):
        for name, tree in trees.items():
            runs[name].append(startup_once(tree, flags, args.threads))
    print(f"\ntest.py start-up to the first frame, 256_g1 settings at 256x128 (ngf {args.ngf}), median of "
          f"{args.startup_runs} runs, alternated")
    print("| tree | " + " | ".join(PHASES) + " | whole process | ratio |")
    print("|---|" + "---:|" * (len(PHASES) + 2))
    base = statistics.median(r["total"] for r in runs["this tree"])
    for name, results in runs.items():
        median = {key: statistics.median(r[key] for r in results) for key in (*PHASES, "total")}
        cells = " | ".join(f"{median[key]:.2f} s" for key in PHASES)
        print(f"| {name} | {cells} | {median['total']:.2f} s | {median['total'] / base:.2f} |", flush=True)


def throughput_section(args: argparse.Namespace, workdir: str) -> None:
    """Frames per second, memory and PSNR for float32 and bf16 at each size."""
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.frames} frames per run")
    print("| size | precision | frames/s | generator ms/frame | outside generator | RSS at 10% (MB) | RSS at end (MB) | PSNR vs fp32, first frame | PSNR vs fp32, mean |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
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


SECTIONS = {"throughput": throughput_section, "startup": startup_section}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sections", nargs="+", choices=list(SECTIONS), default=list(SECTIONS))
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ngf", type=int, default=128, help="generator filters (128: the g1 recipes)")
    parser.add_argument("--startup_against", type=str, default="",
                        help="start-up section: also measure this commit (e.g. HEAD~1), alternated with this tree")
    parser.add_argument("--startup_runs", type=int, default=3, help="start-up section: runs of each tree")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as workdir:
        for section in args.sections:
            SECTIONS[section](args, workdir)


if __name__ == "__main__":
    main()
