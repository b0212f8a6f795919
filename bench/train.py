"""Training benchmark: seconds per training frame and peak memory, label2city g1 settings, on this machine.

Runs the real training step (generator chunks, frame and temporal discriminators, three optimizer steps) on a
synthetic street sequence at 256x128 and 512x256 with the settings of scripts/street/train_g1_256.sh
(ngf 128, 2 downsamplings, num_D 1, foreground model, instance edges, 6 frames per chunk; 2 at 512x256, which
is what fits in 24 GB), random weights, each size in its own process,
OpenCV DIS flow (FlowNet2 weights are not available here) and no VGG loss (no ImageNet weights).

``--profile`` prints where a step's time goes instead: exclusive seconds per step and share of generator, one-hot
encoding, reference flow, frame D (with the warp and L1 terms), VGG (``--vgg``: random VGG19 weights saved in
torchvision's format), temporal D, backward passes, optimizer steps, data loading and the rest, measured by timers
wrapped around the existing calls (the model code is untouched).

``--arithmetic`` prints, per size, the multiply-adds of one training step (convolutions and matrix products,
forward and backward, counted by torch's flop counter), the rate the step runs them at and this CPU's float32
matrix-product peak (``torch.mm``, same threads, same process): the most an exact float32 speed-up of the same
arithmetic could give.

``--curve MINUTES --ab=FLAGS`` trains two models side by side on the shared Cityscapes sample (same seed, same
weights at the start, the same clip each step, steps alternated): float32 and float32 plus FLAGS (e.g.
``--autocast bf16``); prints per-step seconds and G/D losses of both and writes an SVG plot of the losses
(``--plot``).

``--against REV`` alternates this tree with commit REV (extracted with ``git archive``; each run a fresh process
with the same seed, weights and flags) ``--rounds`` times and prints the frames/s ratio and the largest relative
difference of each step's G and D objectives between the two.

Usage: ``python bench/train.py [--sizes 256 512] [--steps 2] [--threads 2] [--ngf 128] [--chunk N] [--profile]
[--arithmetic] [--vgg] [--ab=FLAGS] [--against REV] [--rounds N] [--curve MINUTES --curve_steps N --plot FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import torch  # noqa: E402


def train_flags(root: str, size: int, ngf: int, chunk: int) -> list[str]:
    return ["--dataroot", root, "--name", f"bench{size}", "--label_nc", "35", "--loadSize", str(size),
            "--use_instance", "--fg", "--n_downsample_G", "2", "--num_D", "1", "--max_frames_per_gpu", str(chunk),
            "--n_frames_total", str(clip_frames(chunk)), "--ngf", str(ngf), "--gpu_ids", "-1", "--no_vgg", "--flow_backend", "dis",
            "--nThreads", "0", "--no_flip", "--seed", "0"]


def random_vgg_weights(workdir: str) -> str:
    """A randomly initialised torchvision VGG19 state dict (ImageNet weights cannot be downloaded here)."""
    from torchvision.models import vgg19

    path = os.path.join(workdir, "vgg19_random.pth")
    torch.save(vgg19(weights=None).state_dict(), path)
    return path


def build(size: int, ngf: int, chunk: int, workdir: str, extra: list[str]):
    """(model, dataset) for the bench flags plus ``extra`` on a synthetic street sequence of 8 frames."""
    from data import create_dataset
    from models import create_model
    from options import TrainOptions
    from scripts.make_toy_dataset import make_toy_dataset

    root = os.path.join(workdir, f"data{size}")
    make_toy_dataset(root, n_seqs=1, n_frames=max(8, clip_frames(chunk)), width=size, height=size // 2, seed=0)
    flags = train_flags(root, size, ngf, chunk) + ["--checkpoints_dir", workdir] + extra
    if "--vgg_weights" in extra:
        flags.remove("--no_vgg")
    opt = TrainOptions().parse(flags, save=False)
    return create_model(opt), create_dataset(opt)


def load_batch(dataset) -> dict:
    """Sample 0 of ``dataset`` as a batch of one clip (what the trainer's loader gives with --nThreads 0)."""
    return {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v for k, v in dataset[0].items()}


def clip_frames(chunk: int) -> int:
    """Clip length: 6 frames (the g1 scripts' --n_frames_total), or one chunk plus its 2 conditioning frames."""
    return max(6, chunk + 2)


def measure(size: int, steps: int, ngf: int, chunk: int, workdir: str,
            extra: list[str] | None = None) -> tuple[float, float, int, list[tuple[float, float]]]:
    """Wall and process-CPU seconds per generated training frame (after one warm-up step), frames per step, and
    each step's (G, D) objectives (warm-up first). The weights are seeded, so two code versions start from the
    same ones. On a shared machine the CPU seconds are the steadier figure (others' load stretches the wall time,
    not this process's CPU time)."""
    torch.manual_seed(0)
    model, dataset = build(size, ngf, chunk, workdir, extra or [])
    torch.manual_seed(0)
    batch = load_batch(dataset)
    frames = batch["B"].shape[1] - model.opt.n_frames_G + 1
    curve = [objectives(model.train_sequence(batch).losses)]
    started, cpu_started = time.perf_counter(), time.process_time()
    for _ in range(steps):
        curve.append(objectives(model.train_sequence(batch).losses))
    wall, cpu = time.perf_counter() - started, time.process_time() - cpu_started
    return wall / (steps * frames), cpu / (steps * frames), frames, curve


class StageTimer:
    """Exclusive wall time per labelled stage: a stage timed inside another is subtracted from the outer one."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._stack: list[list] = []  # [label, start, seconds of timed children]

    def wrap(self, owner: object, attr: str, label: str) -> None:
        """Replace ``owner.attr`` (a callable) by a timed call labelled ``label``."""
        inner = getattr(owner, attr)
        setattr(owner, attr, self.timed(inner, label))

    def timed(self, fn: Callable, label: str) -> Callable:
        def call(*args, **kwargs):
            self._stack.append([label, time.perf_counter(), 0.0])
            try:
                return fn(*args, **kwargs)
            finally:
                _, start, children = self._stack.pop()
                spent = time.perf_counter() - start
                self.seconds[label] = self.seconds.get(label, 0.0) + spent - children
                if self._stack:
                    self._stack[-1][2] += spent
        return call

    def reset(self) -> None:
        self.seconds = {}


def optimizers_of(model) -> list:
    """Every torch optimizer the model holds (as attributes or lists of them)."""
    found = []
    for value in vars(model).values():
        items = list(value.values()) if isinstance(value, dict) else value if isinstance(value, (list, tuple)) else [value]
        found += [o for o in items if isinstance(o, torch.optim.Optimizer)]
    return found


def instrument(model, timer: StageTimer) -> None:
    """Time the existing calls of a vid2vid training step (instance attributes, the classes are untouched)."""
    import models.vid2vid.chunks as chunks_module

    chunks_module.encode_input = timer.timed(chunks_module.encode_input, "one-hot encoding")
    timer.wrap(model, "generate_chunk", "generator forward")
    timer.wrap(model, "reference_flow", "reference flow")
    timer.wrap(model.criterion, "frame_losses", "frame D + warp/L1 terms")
    timer.wrap(model.criterion, "temporal_losses", "temporal D")
    if model.criterion.vgg is not None:
        timer.wrap(model.criterion.vgg, "forward", "VGG")
    timer.wrap(model, "optimize", "backward passes")
    for optimizer in optimizers_of(model):
        timer.wrap(optimizer, "step", "optimizer steps")


STAGES = ["data loading", "one-hot encoding", "generator forward", "reference flow", "frame D + warp/L1 terms",
          "VGG", "temporal D", "backward passes", "optimizer steps"]


def profile(size: int, steps: int, ngf: int, chunk: int, workdir: str, extra: list[str]) -> list[str]:
    """Table rows: exclusive seconds per step and share of each stage, over ``steps`` steps after a warm-up."""
    model, dataset = build(size, ngf, chunk, workdir, extra)
    timer = StageTimer()
    instrument(model, timer)
    fetch = timer.timed(load_batch, "data loading")
    model.train_sequence(fetch(dataset))
    timer.reset()
    started = time.perf_counter()
    for _ in range(steps):
        model.train_sequence(fetch(dataset))
    total = time.perf_counter() - started
    other = total - sum(timer.seconds.values())
    rows = [(label, timer.seconds.get(label)) for label in STAGES] + [("other (losses glue, groups, warps)", other)]
    lines = [f"| {label} | {sec / steps:.2f} | {100 * sec / total:.1f}% |" for label, sec in rows if sec is not None]
    return lines + [f"| total | {total / steps:.2f} | 100% |"]


def matmul_peak_gmacs(repeats: int = 10) -> float:
    """This CPU's float32 matrix-product rate at the current thread count: GMAC/s of a 2048x4096 @ 4096x1024
    ``torch.mm`` (large enough to run at the BLAS kernel's peak), best of three timings of ``repeats`` products."""
    a, b = torch.randn(2048, 4096), torch.randn(4096, 1024)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        for _ in range(repeats):
            torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return repeats * a.shape[0] * a.shape[1] * b.shape[1] / best / 1e9


def arithmetic(size: int, steps: int, ngf: int, chunk: int, workdir: str, extra: list[str]) -> list[str]:
    """Table row: the multiply-adds of one training step (convolutions and matrix products, forward and backward,
    by torch's flop counter), its seconds (median of ``steps`` after a warm-up) and so the rate it runs at, against
    this CPU's float32 matrix-product peak: how much faster the same arithmetic could run at most."""
    from torch.utils.flop_counter import FlopCounterMode

    model, dataset = build(size, ngf, chunk, workdir, extra)
    batch = load_batch(dataset)
    model.train_sequence(batch)
    seconds = []
    for _ in range(steps):
        started = time.perf_counter()
        model.train_sequence(batch)
        seconds.append(time.perf_counter() - started)
    with FlopCounterMode(display=False) as counter:
        model.train_sequence(batch)
    by_op = {str(op): flops / 2 for op, flops in counter.get_flop_counts().get("Global", {}).items()}
    total = sum(by_op.values())
    backward = sum(macs for op, macs in by_op.items() if "backward" in op)
    step = statistics.median(seconds)
    rate, peak = total / step / 1e9, matmul_peak_gmacs()
    return [f"| {size}x{size // 2} | {' '.join(extra) or '-'} | {(total - backward) / 1e9:,.1f} "
            f"| {backward / 1e9:,.1f} | {step:.2f} | {rate:.1f} | {peak:.1f} | {rate / peak:.0%} "
            f"| {peak / rate:.2f}x |"]


def objectives(losses: dict[str, float]) -> tuple[float, float]:
    """(generator terms' sum, frame D's real + fake) of a step's reported losses."""
    g = sum(v for k, v in losses.items() if k.startswith(("G_", "F_")) or k == "W")
    return g, losses.get("D_real", 0.0) + losses.get("D_fake", 0.0)


def curve(args: argparse.Namespace) -> None:
    """Alternate training steps of float32 and float32 + ``args.ab`` on the Cityscapes sample for ``args.curve``
    minutes; print a row per step and the mean time ratio; plot the losses to ``args.plot``."""
    from data import create_dataset
    from models import create_model
    from options import TrainOptions
    from util.svg_plot import PALETTE, Series, line_plot

    torch.set_num_threads(args.threads)
    root = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "datasets",
                        "Cityscapes")
    size = args.sizes[0]
    chunk = args.chunk or default_chunk(size)
    with tempfile.TemporaryDirectory() as workdir:
        base = train_flags(root, size, args.ngf, chunk) + ["--checkpoints_dir", workdir]
        models, dataset = [], None
        for flags in ([], args.ab.split()):
            opt = TrainOptions().parse(base + flags, save=False)
            torch.manual_seed(0)
            models.append(create_model(opt))
            dataset = dataset or create_dataset(opt)
        seconds, curves = [[], []], [[], []]
        print(f"| step | s float32 | s {args.ab} | G float32 | G {args.ab} | D float32 | D {args.ab} |")
        print("|---:|---:|---:|---:|---:|---:|---:|")
        deadline = time.perf_counter() + 60 * args.curve
        step = 0
        while time.perf_counter() < deadline and (not args.curve_steps or step < args.curve_steps):
            torch.manual_seed(step)
            batch = {k: v.unsqueeze(0) if isinstance(v, torch.Tensor) else v
                     for k, v in dataset[step % len(dataset)].items()}
            for side in (step % 2, 1 - step % 2):  # which side goes first alternates
                started = time.perf_counter()
                result = models[side].train_sequence(batch)
                seconds[side].append(time.perf_counter() - started)
                curves[side].append(objectives(result.losses))
            print(f"| {step} | {seconds[0][-1]:.2f} | {seconds[1][-1]:.2f} | {curves[0][-1][0]:.3f} | "
                  f"{curves[1][-1][0]:.3f} | {curves[0][-1][1]:.3f} | {curves[1][-1][1]:.3f} |", flush=True)
            step += 1
    later = slice(1, None) if step > 1 else slice(None)  # the first step warms up
    ratio = sum(seconds[0][later]) / sum(seconds[1][later])
    print(f"{step} steps each; float32 / ({args.ab}) time ratio after the first step: {ratio:.2f}x")
    print(block_means(curves, args.ab))
    if args.plot:
        series = [Series(f"{name} {label}", [c[i] for c in curves[side]], PALETTE[2 * i + side], dashed=side == 1)
                  for i, name in enumerate(("G", "D")) for side, label in enumerate(("float32", args.ab))]
        with open(args.plot, "w") as handle:
            handle.write(line_plot(series, title=f"losses per step, Cityscapes sample {size}x{size // 2}",
                                   y_label="loss"))


def block_means(curves: list, label: str, block: int = 25) -> str:
    """A table of the mean G and D objectives of both sides over blocks of ``block`` steps (single steps swing
    with the clip; block means show whether the two curves part)."""
    lines = [f"| steps | G float32 | G {label} | ratio | D float32 | D {label} | ratio |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for start in range(0, len(curves[0]), block):
        means = [[sum(c[i] for c in side[start:start + block]) / len(side[start:start + block]) for i in (0, 1)]
                 for side in curves]
        lines.append(f"| {start}-{start + len(curves[0][start:start + block]) - 1} | {means[0][0]:.3f} | "
                     f"{means[1][0]:.3f} | {means[1][0] / means[0][0]:.3f} | {means[0][1]:.3f} | {means[1][1]:.3f} | "
                     f"{means[1][1] / max(means[0][1], 1e-12):.3f} |")
    return "\n".join(lines)


def default_chunk(size: int) -> int:
    """Frames per generator chunk: 6 (the g1 scripts' setting) fits 24 GB at 256x128; 512x256 needs 2."""
    return 6 if size <= 256 else 2


def run_child(size: int, args: argparse.Namespace, flags: str = "", tree: str = "") -> str:
    """Measure one size in a fresh process, so its peak memory is its own and an out-of-memory kill is reported.

    ``flags``: extra training flags for this run (one string, e.g. ``"--autocast bf16"``); ``tree``: run the
    model code of this source tree (``--against``) instead of this one. Without ``--profile`` the row is
    followed by a ``LOSSES [[G, D], ...]`` line (each step's objectives)."""
    chunk = args.chunk or default_chunk(size)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", str(size), "--steps", str(args.steps),
           "--threads", str(args.threads), "--ngf", str(args.ngf), "--chunk", str(chunk), f"--flags={flags}"]
    cmd += ["--profile"] * args.profile + ["--arithmetic"] * args.arithmetic + ["--vgg"] * args.vgg
    cmd += [f"--tree={tree}"] if tree else []
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        reason = "killed (out of memory?)" if done.returncode < 0 else last_line
        return f"| {size}x{size // 2} | {flags or '-'} | {chunk} | - | - | - | failed: {reason} |"
    rows = [row for row in done.stdout.strip().splitlines() if row.startswith(("|", "LOSSES"))]
    return "\n".join(rows)


def child(size: int, args: argparse.Namespace) -> None:
    """Print one table row for ``size`` (with ``--tree``: that source tree's models)."""
    torch.set_num_threads(args.threads)
    if args.tree:
        sys.path.insert(0, args.tree)
    if args.profile or args.arithmetic:
        with tempfile.TemporaryDirectory() as workdir:
            extra = ["--vgg_weights", random_vgg_weights(workdir)] if args.vgg else []
            extra += args.flags.split()
            run = profile if args.profile else arithmetic
            print("\n".join(run(size, args.steps, args.ngf, args.chunk, workdir, extra)), flush=True)
        return
    with tempfile.TemporaryDirectory() as workdir:
        seconds, cpu, frames, losses = measure(size, args.steps, args.ngf, args.chunk, workdir, args.flags.split())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    label = args.flags or "-"
    print(f"| {size}x{size // 2} | {label} | {args.chunk} | {frames} | {seconds:.2f} | {cpu:.2f} | {peak:.0f} |",
          flush=True)
    print(f"LOSSES {json.dumps(losses)}", flush=True)


def against(size: int, args: argparse.Namespace, workdir: str) -> None:
    """This tree and commit ``args.against`` alternated ``args.rounds`` times (same flags, seed and weights):
    a row per run, then the frames/s ratio (sums of seconds per frame) and the largest relative difference of
    each step's G and D objectives between the two."""
    from bench.inference import export_tree

    trees = {"this tree": "", args.against: export_tree(args.against, os.path.join(workdir, "previous"))}
    seconds: dict[str, list[float]] = {name: [] for name in trees}
    cpu: dict[str, list[float]] = {name: [] for name in trees}
    curves: dict[str, list] = {name: [] for name in trees}
    for _ in range(args.rounds):
        for name, tree in trees.items():
            lines = run_child(size, args, args.ab, tree).splitlines()
            row = lines[0].replace(f"| {args.ab or '-'} |", f"| {name} {args.ab} |".replace("  ", " "), 1)
            print(row, flush=True)
            if len(lines) > 1:
                seconds[name].append(float(row.split("|")[5]))
                cpu[name].append(float(row.split("|")[6]))
                curves[name].append(json.loads(lines[1][len("LOSSES "):]))
    ours, theirs = (seconds[name] for name in trees)
    if ours and theirs and len(ours) == len(theirs):
        print(f"frames/s, this tree / {args.against}: {sum(theirs) / sum(ours):.2f}x "
              f"(per round: {', '.join(f'{t / o:.2f}' for o, t in zip(ours, theirs))})")
        ours_cpu, theirs_cpu = (cpu[name] for name in trees)
        print(f"frames per CPU second, this tree / {args.against}: {sum(theirs_cpu) / sum(ours_cpu):.2f}x "
              f"(per round: {', '.join(f'{t / o:.2f}' for o, t in zip(ours_cpu, theirs_cpu))})")
        gaps = [max(abs(a - b) / max(abs(b), 1e-12) for a, b in zip(step_ours, step_theirs))
                for step_ours, step_theirs in zip(curves["this tree"][0], curves[args.against][0])]
        print("largest relative difference of the G/D objectives per step (warm-up first): "
              + ", ".join(f"{gap:.1e}" for gap in gaps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--ngf", type=int, default=128)
    parser.add_argument("--chunk", type=int, default=0,
                        help="--max_frames_per_gpu (0: 6 at 256x128, 2 at 512x256, what fits in 24 GB)")
    parser.add_argument("--profile", action="store_true",
                        help="print each stage's share of the step (generator, flow, D, VGG, backward, optimizer, data)")
    parser.add_argument("--arithmetic", action="store_true",
                        help="print a step's multiply-adds, the rate it runs them at and this CPU's float32 "
                             "matrix-product peak (the most an exact float32 speed-up of the same arithmetic can "
                             "give)")
    parser.add_argument("--vgg", action="store_true", help="with the VGG loss (random VGG19 weights)")
    parser.add_argument("--ab", type=str, default="",
                        help="compare training with and without these flags (one string, e.g. "
                             "'--checkpoint_activations' or '--autocast bf16'; write --ab=FLAGS), alternated --rounds times")
    parser.add_argument("--rounds", type=int, default=2, help="alternations of --ab")
    parser.add_argument("--curve", type=float, default=0.0,
                        help="minutes of side-by-side training on the Cityscapes sample, float32 against --ab")
    parser.add_argument("--plot", type=str, default="", help="SVG file for the --curve losses")
    parser.add_argument("--against", type=str, default="",
                        help="a git revision to alternate with this tree (e.g. HEAD~1), --rounds times, same flags")
    parser.add_argument("--curve_steps", type=int, default=0,
                        help="stop --curve after this many steps per side (0: only the minutes limit)")
    parser.add_argument("--flags", type=str, default="", help=argparse.SUPPRESS)
    parser.add_argument("--tree", type=str, default="", help=argparse.SUPPRESS)
    parser.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args)
        return
    if args.curve:
        curve(args)
        return
    print(f"torch {torch.__version__}, {args.threads} threads, ngf {args.ngf}")
    if args.profile:
        for size in args.sizes:
            print(f"\n{size}x{size // 2}, {args.chunk or default_chunk(size)} frames per chunk, {args.steps} steps")
            print("| stage | s per step | share |\n|---|---:|---:|")
            print(run_child(size, args), flush=True)
        return
    if args.arithmetic:
        print("| size | flags | forward GMACs per step | backward GMACs per step | s per step | GMAC/s | float32 "
              "matmul peak (GMAC/s) | share of the peak | most speed-up at the peak |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for size in args.sizes:
            print(run_child(size, args, args.ab), flush=True)
        return
    print("| size | flags | frames per chunk | frames per step | s per training frame | CPU s per training frame | "
          "peak RSS (MB) |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for size in args.sizes:
        if args.against:
            with tempfile.TemporaryDirectory() as workdir:
                against(size, args, workdir)
            continue
        if not args.ab:
            print(run_child(size, args).splitlines()[0], flush=True)
            continue
        for _ in range(args.rounds):
            for flags in ("", args.ab):
                print(run_child(size, args, flags).splitlines()[0], flush=True)


if __name__ == "__main__":
    main()
