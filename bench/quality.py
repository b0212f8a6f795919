"""Quality at a fixed CPU budget: vid2vid against the per-frame pix2pixHD baseline on real Cityscapes frames.

Both models train from random weights, with the same seed, on Cityscapes sample sequences seq0000-seq0003 for the
same **process CPU time** each (``--budget_minutes``; CPU time, not wall time, so other load on the machine does
not change what a model gets), each in its own process with ``--threads`` torch threads, the two at once. Then
both generate seq0004 from its label maps with ``test.py`` and ``scripts/evaluate.py`` scores them against
seq0004's real frames; the two evaluations are printed side by side.

- vid2vid (``--model vid2vid``): label_nc 35, instance edges, foreground model, OpenCV DIS flow (no FlowNet2
  weights here), no VGG loss (no ImageNet weights), 3 generator frames, 4-frame clips in chunks of 2, one
  frame-discriminator scale (``--num_D 1``); at test time its first 2 frames are the real ones
  (``--use_real_img``), so it is scored on frames 3.. only.
- per-frame baseline (``--model single``): the pix2pixHD GlobalGenerator (the 512 layout) with the same first
  width, downsamplings and residual blocks, the same discriminator width, no VGG; every frame on its own. It is
  scored on the same frames as vid2vid.

The budget counts the CPU time of the training loop (data loading, flow and every step; set-up excluded), checked
after every step: when it is used up the run saves its ``latest`` checkpoint and stops. The learning rate stays
constant (no decay epochs) and the clip length fixed, since the number of epochs is not known in advance.

Everything goes under ``--out``: ``data/`` (symlinks: ``train_*`` with the training sequences, ``test_*`` the test
one), ``checkpoints/``, ``results/``, ``scored/`` (the frames both models made), ``logs/`` and ``quality.json``.

Usage: ``python bench/quality.py [--budget_minutes 20] [--loadSize 256] [--seed 0] [--out results/quality]``
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Optional, Sequence

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("VID2VID_SHARED", REPO.parent / "shared"))
sys.path.insert(0, str(REPO))

from util.video import natural_key  # noqa: E402

if TYPE_CHECKING:
    from training.trainer import Trainer

MODELS = ("vid2vid", "single")
LABELS = {"vid2vid": "vid2vid", "single": "per-frame (single)"}
FOLDERS = {"A": "png", "inst": "png", "B": "jpg"}
STEP_SUMMARY = "budget_summary.json"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget_minutes", type=float, default=20.0,
                        help="process CPU minutes of training for each model (default 20: about 23 minutes "
                             "for the whole bench on an idle 2-core machine)")
    parser.add_argument("--loadSize", type=int, default=256, help="frame width in pixels (height: half of it)")
    parser.add_argument("--seed", type=int, default=0, help="seed of both trainings")
    parser.add_argument("--out", type=str, default="results/quality", help="folder for everything the bench makes")
    parser.add_argument("--dataroot", type=str, default=str(SHARED / "datasets" / "Cityscapes"),
                        help="the Cityscapes sample (train_A, train_inst, train_B; default under $VID2VID_SHARED)")
    parser.add_argument("--train_seqs", type=str, nargs="+", default=["seq0000", "seq0001", "seq0002", "seq0003"],
                        help="training sequences")
    parser.add_argument("--test_seq", type=str, default="seq0004", help="the sequence generated and scored")
    parser.add_argument("--max_frames", type=int, default=0, help="frames used per sequence (0: all)")
    parser.add_argument("--ngf", type=int, default=32, help="first-layer generator filters of both models")
    parser.add_argument("--n_downsample_G", type=int, default=2, help="generator downsamplings of both models")
    parser.add_argument("--n_blocks", type=int, default=4, help="residual blocks of both generators")
    parser.add_argument("--ndf", type=int, default=32, help="discriminator filters of both models")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per training process")
    parser.add_argument("--vid2vid_flags", type=str, default="",
                        help="(new) extra train.py flags for the vid2vid model only, one string, e.g. "
                             "--vid2vid_flags='--autocast bf16' (the baseline trains in float32)")
    parser.add_argument("--child_train", type=str, default="", help=argparse.SUPPRESS)  # JSON list of train flags
    parser.add_argument("--child_budget", type=float, default=0.0, help=argparse.SUPPRESS)  # CPU seconds
    return parser.parse_args(argv)


# ---------------------------------------------------------------------- flags
def network_flags(model: str, args: argparse.Namespace) -> list[str]:
    """The flags that fix a model's networks (train.py and test.py alike)."""
    common = ["--label_nc", "35", "--loadSize", str(args.loadSize), "--n_blocks", str(args.n_blocks),
              "--gpu_ids", "-1", "--nThreads", "0"]
    if model == "single":
        return common + ["--model", "single", "--single_G_size", "512", "--single_G_ngf", str(args.ngf),
                         "--single_G_n_downsample", str(args.n_downsample_G)]
    return common + ["--model", "vid2vid", "--use_instance", "--fg", "--ngf", str(args.ngf),
                     "--n_downsample_G", str(args.n_downsample_G), "--n_frames_G", "3"]


def train_flags(model: str, args: argparse.Namespace) -> list[str]:
    """train.py flags: constant learning rate, no periodic checkpoints (the budget stop saves ``latest``)."""
    flags = network_flags(model, args) + [
        "--dataroot", os.path.join(args.out, "data"), "--checkpoints_dir", os.path.join(args.out, "checkpoints"),
        "--name", model, "--seed", str(args.seed), "--ndf", str(args.ndf), "--num_D", "1", "--no_vgg",
        "--niter", "1000000", "--niter_decay", "0", "--save_epoch_freq", "1000000",
        "--save_latest_freq", "1000000", "--display_freq", "1000000", "--print_freq", "20", "--no_html"]
    if model == "vid2vid":
        flags += ["--flow_backend", "dis", "--n_frames_D", "2", "--n_frames_total", "4", "--max_frames_per_gpu", "2",
                  "--niter_step", "1000000", *args.vid2vid_flags.split()]
    return flags


def test_flags(model: str, args: argparse.Namespace) -> list[str]:
    """test.py flags: the test sequence, every frame, vid2vid's first frames real."""
    flags = network_flags(model, args) + [
        "--dataroot", os.path.join(args.out, "data"), "--checkpoints_dir", os.path.join(args.out, "checkpoints"),
        "--name", model, "--results_dir", os.path.join(args.out, "results"), "--phase", "test",
        "--how_many", "100000", "--no_video"]
    return flags + (["--use_real_img"] if model == "vid2vid" else [])


# ---------------------------------------------------------------------- data
def link_frames(source: Path, target: Path, max_frames: int) -> int:
    """Symlink the first ``max_frames`` frames (all when 0) of ``source`` into ``target``; returns how many."""
    frames = sorted((p for p in source.iterdir() if p.is_file()), key=lambda p: natural_key(p.name))
    frames = frames[:max_frames] if max_frames > 0 else frames
    target.mkdir(parents=True, exist_ok=True)
    for frame in frames:
        (target / frame.name).symlink_to(frame.resolve())
    return len(frames)


def make_dataroot(args: argparse.Namespace) -> dict[str, int]:
    """``<out>/data``: train_{A,inst,B}/<train seqs> and test_{A,inst,B}/<test seq> as symlinks.

    Returns:
        Frames per sequence.

    Raises:
        FileNotFoundError: a sequence folder is missing from ``--dataroot``.
    """
    source, root = Path(args.dataroot), Path(args.out) / "data"
    shutil.rmtree(root, ignore_errors=True)
    counts = {}
    for phase, sequences in (("train", args.train_seqs), ("test", [args.test_seq])):
        for seq in sequences:
            for folder in FOLDERS:
                found = source / f"train_{folder}" / seq
                if not found.is_dir():
                    raise FileNotFoundError(f"{found}: no such sequence folder (--dataroot {args.dataroot})")
                counts[seq] = link_frames(found, root / f"{phase}_{folder}" / seq, args.max_frames)
    return counts


# ---------------------------------------------------------------------- training under a budget
def training_steps(trainer: Trainer) -> Iterator[tuple[int, dict]]:
    """(epoch, batch) of train.py's loop, ending each epoch once its batches are used (not when stopped inside)."""
    for epoch in trainer.epochs():
        for batch in trainer.batches(epoch):
            yield epoch, batch
        trainer.end_epoch(epoch)


def train_within_budget(train_argv: list[str], budget_s: float) -> dict:
    """train.py's loop that stops after the step at which this process has used ``budget_s`` CPU seconds.

    Saves the ``latest`` checkpoint unit on stopping and returns what the run got (steps, generated frames,
    epochs, CPU seconds of set-up and of training), also written to ``<name>/budget_summary.json``.
    """
    from options import TrainOptions
    from training.trainer import Trainer

    started = time.process_time()
    options = TrainOptions()
    opt = options.parse(train_argv, save=False)
    trainer = Trainer(opt)
    options.save_options(opt)
    loop_start = time.process_time()
    frames, epoch = 0, 0
    try:
        for epoch, batch in training_steps(trainer):
            trainer.after_step(epoch, trainer.model.train_sequence(batch))
            frames += batch["B"].shape[1] - (opt.n_frames_G - 1)
            if time.process_time() - loop_start >= budget_s:
                break
        trainer.save(["latest"])
    finally:
        trainer.close()
    summary = {"steps": trainer.counters.total_steps, "frames": frames, "epoch": epoch,
               "setup_cpu_s": loop_start - started, "train_cpu_s": time.process_time() - loop_start}
    Path(opt.checkpoints_dir, opt.name, STEP_SUMMARY).write_text(json.dumps(summary) + "\n")
    return summary


def child(args: argparse.Namespace) -> None:
    """The training process of one model (flags from the parent)."""
    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)  # DIS flow runs on OpenCV's own thread pool
    print(json.dumps(train_within_budget(json.loads(args.child_train), args.child_budget)), flush=True)


def run_logged(cmd: list[str], log: Path) -> subprocess.Popen:
    """Start ``cmd`` with its output into ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as stream:
        return subprocess.Popen(cmd, stdout=stream, stderr=subprocess.STDOUT, cwd=REPO,
                                env={**os.environ, "PYTHONPATH": str(REPO)})


def wait_ok(process: subprocess.Popen, what: str, log: Path) -> None:
    """Wait for ``process``; raise with the end of its log if it failed."""
    if process.wait() != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-15:])
        raise RuntimeError(f"{what} failed (exit code {process.returncode}); end of {log}:\n{tail}")


def train_both(args: argparse.Namespace) -> dict[str, dict]:
    """Train the two models at once, each in its own process under the budget; their summaries."""
    logs = Path(args.out) / "logs"
    processes = {}
    for model in MODELS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--threads", str(args.threads),
               "--child_budget", str(args.budget_minutes * 60), "--child_train", json.dumps(train_flags(model, args))]
        processes[model] = run_logged(cmd, logs / f"train_{model}.log")
    try:
        for model, process in processes.items():
            wait_ok(process, f"training {model}", logs / f"train_{model}.log")
    finally:  # a failure or Ctrl-C stops the other run too
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
                process.wait()
    return {model: json.loads((Path(args.out) / "checkpoints" / model / STEP_SUMMARY).read_text())
            for model in MODELS}


# ---------------------------------------------------------------------- generation and scoring
def generate(model: str, args: argparse.Namespace) -> Path:
    """test.py on the test sequence; returns the sequence's results folder."""
    log = Path(args.out) / "logs" / f"test_{model}.log"
    cmd = [sys.executable, str(REPO / "test.py"), *test_flags(model, args)]
    wait_ok(run_logged(cmd, log), f"test.py for {model}", log)
    return Path(args.out) / "results" / model / "test_latest" / args.test_seq


def link_common_frames(folders: dict[str, Path], out: Path, sequence: str) -> dict[str, Path]:
    """``<out>/<model>/<sequence>/``: symlinks to the generated frames every model made (same stems).

    Returns:
        The folder to score for each model.
    """
    made = {model: {p.name: p for p in folder.glob("fake_B_*")} for model, folder in folders.items()}
    common = set.intersection(*(set(names) for names in made.values()))
    scored = {}
    for model, frames in made.items():
        target = out / model / sequence
        shutil.rmtree(target.parent, ignore_errors=True)
        target.mkdir(parents=True)
        for name in common:
            (target / name).symlink_to(frames[name].resolve())
        scored[model] = target.parent
    return scored


def score(model: str, results: Path, args: argparse.Namespace) -> dict:
    """scripts/evaluate.py against the test sequence's real frames; its metrics.json."""
    out = Path(args.out) / "metrics" / model
    log = Path(args.out) / "logs" / f"evaluate_{model}.log"
    cmd = [sys.executable, str(REPO / "scripts" / "evaluate.py"), "--results", str(results), "--dataroot",
           os.path.join(args.out, "data"), "--phase", "test", "--gpu_ids", "-1", "--out", str(out)]
    wait_ok(run_logged(cmd, log), f"evaluate.py for {model}", log)
    return json.loads((out / "metrics.json").read_text())


# ---------------------------------------------------------------------- report
def _number(value: object, digits: int) -> str:
    """A measure for the table ("-" when missing or not finite, which metrics.json stores as a string)."""
    return "-" if value is None or isinstance(value, str) else f"{value:.{digits}f}"


def format_report(args: argparse.Namespace, trained: dict[str, dict], metrics: dict[str, dict],
                  counts: dict[str, int]) -> str:
    """The side-by-side table and what each model got."""
    width, height = args.loadSize, args.loadSize // 2
    lines = [f"budget {args.budget_minutes:g} CPU minutes per model (process CPU time of the training loop, "
             f"{args.threads} thread(s) each), {width}x{height}, seed {args.seed}"
             + (f", vid2vid trained with {args.vid2vid_flags}" if args.vid2vid_flags else ""),
             f"train: {', '.join(args.train_seqs)} ({sum(counts[s] for s in args.train_seqs)} frames); "
             f"test: {args.test_seq}, {metrics[MODELS[0]]['frames']} frames scored (those both models made)", "",
             "| measure | " + " | ".join(LABELS[m] for m in MODELS) + " |",
             "|---|" + "---:|" * len(MODELS)]
    rows = [("PSNR (dB), higher is better", "psnr", 2), ("SSIM, higher is better", "ssim", 4),
            ("warping error, generated (x1e3)", "warp_error", 3),
            ("warping error of the real video (x1e3)", "warp_error_real", 3)]
    for label, key, digits in rows:
        scale = 1000.0 if key.startswith("warp") else 1.0
        values = [metrics[m]["overall"].get(key) for m in MODELS]
        lines.append(f"| {label} | " + " | ".join(
            _number(v * scale if isinstance(v, float) else v, digits) for v in values) + " |")
    for label, key, fmt in (("training steps (clips)", "steps", "{:d}"), ("frames trained on", "frames", "{:d}"),
                            ("epochs reached", "epoch", "{:d}"), ("training CPU (s)", "train_cpu_s", "{:.0f}"),
                            ("set-up CPU (s), not in the budget", "setup_cpu_s", "{:.0f}")):
        lines.append(f"| {label} | " + " | ".join(fmt.format(trained[m][key]) for m in MODELS) + " |")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict:
    """The whole experiment; returns the report document (also written to ``<out>/quality.json``)."""
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    counts = make_dataroot(args)
    trained = train_both(args)
    folders = {model: generate(model, args) for model in MODELS}
    scored = link_common_frames(folders, out / "scored", args.test_seq)
    metrics = {model: score(model, scored[model], args) for model in MODELS}
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    report = format_report(args, trained, metrics, counts)
    document = {"flags": {k: v for k, v in vars(args).items() if not k.startswith("child")}, "trained": trained,
                "overall": {m: metrics[m]["overall"] for m in MODELS}, "frames_scored": metrics[MODELS[0]]["frames"],
                "children_cpu_s": children.ru_utime + children.ru_stime, "wall_s": time.time() - started,
                "report": report}
    (out / "quality.json").write_text(json.dumps(document, indent=1) + "\n")
    return document


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Run the bench and print its table (or, with the hidden ``--child_*`` flags, one training process)."""
    args = parse_args(argv)
    if args.child_train:
        child(args)
        return
    document = run(args)
    print(document["report"])
    print(f"\nwhole bench: {document['wall_s'] / 60:.1f} min wall, {document['children_cpu_s'] / 60:.1f} CPU min "
          f"in its processes; details in {os.path.join(args.out, 'quality.json')}")


if __name__ == "__main__":
    main()
