"""Key-frame interpolation quality on the real Cityscapes photo sequences, against the published ffmpeg route.

    python bench/interpolation.py [--dataroot $VID2VID_SHARED/datasets/Cityscapes --width 512 --height 256]
                                  [--settings 2,3,4,published --max_key_gap 0 --threads 2]

For every sequence of ``<dataroot>/train_B`` (photos) with its label maps in ``train_A``: the key frames are
chosen from the label maps (:func:`models.fast_vid2vid.keyframe_selection.select_keyframes`, ``--n_frames_G 3``), the *real* photos
at the keys stand in for generated key frames, and every other frame from ``n_frames_G - 1`` on is
reconstructed and compared with the real photo (PSNR and SSIM on 8-bit RGB). Methods:

Each setting of ``--settings`` is a key rule: a number ``k`` for interval keys every ``k`` frames, ``published``
for the published rule. Methods:

- ``ours``: :class:`models.fast_vid2vid.interpolation.GapInterpolator` with OpenCV DIS flow, without labels
  (``method="trajectories"`` with its default constants: global alignment, plain-warp fallback, timing average);
- ``trajectories (first)``: the first trajectory version (``FIRST_TRAJECTORIES``: none of those three);
- ``ours + labels``: the same with the label-aware rule (label maps of keys and in-between frames);
- ``splatting (previous)``, ``splatting (previous) + labels``: ``method="splat"``, the first version;
- ``plain bidirectional warp``: DIS (MEDIUM) ``F01`` and ``F10`` between the keys, the frame at fraction ``t`` is
  ``(1 - t) key0(p + t F10(p)) + t key1(p + (1 - t) F01(p))`` (bilinear, border replicated), nothing else;
- ``nearest key``: the key frame nearest in time (the earlier one on ties);
- ``cross-fade``: linear blend of the two keys by true time;
- ``minterpolate (published)``: Fast-Vid2Vid's ``util/interploate_motion_ffmpeg.py`` procedure: the generated
  frames (frame ``n_frames_G - 1``, the keys, the last frame) at 1 fps, ``minterpolate=fps=<gap>:mi_mode=mci:
  mc_mode=obmc:me=epzs`` with ``gap = ceil(total / count)`` raised until at least ``total`` frames come out,
  surplus frames deleted by its random rule (seeded here), output frame ``i`` taken as frame
  ``n_frames_G - 1 + i``. Keys are thus treated as evenly spaced. Lossless here: PNG in and out, ``yuv444p``
  inside (the published code goes through JPEG and two default H.264 encodes);
- ``minterpolate (timestamps)``: the same filter fed the true time stamps through the concat demuxer (each key
  lasts until the next; the last one is repeated once because minterpolate emits nothing after the
  second-to-last input), ``fps=1``, so output frame ``i`` is exactly frame ``n_frames_G - 1 + i``.

Per method: mean PSNR and SSIM over the in-between frames, and the warping error (Lai et al. 2018, as
``scripts/evaluate.py``: DIS flow of the real frames, forward-backward visibility) of the whole output sequence
from frame ``n_frames_G - 1`` on (keys included, so flicker at the key boundaries counts), beside the real
sequence's. The ffmpeg commands are printed with ``--verbose``. Also times ``ours`` against the plain
bidirectional warp and the splatting version, alternated in one run, per interpolated frame with the gap's flows
included.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Optional

import cv2
import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from models.fast_vid2vid.interpolation import FIRST_TRAJECTORIES, GapInterpolator, InterpolationConfig  # noqa: E402
from models.fast_vid2vid.keyframe_selection import KeyframePolicy, label_picture, select_keyframes  # noqa: E402
from models.networks.flow.estimator import create_flow_estimator  # noqa: E402
from models.networks.warp import warp  # noqa: E402
from util import metrics  # noqa: E402

SPLAT = InterpolationConfig(method="splat")
MINTERPOLATE = "minterpolate=fps={fps}:mi_mode=mci:mc_mode=obmc:me=epzs"
Frames = dict[int, np.ndarray]


def load_sequence(root: Path, name: str, size: tuple[int, int]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(H, W, 3) uint8 RGB photos (area-resized) and (H, W) int64 label ids (nearest) of one sequence."""
    photos = [cv2.cvtColor(cv2.resize(cv2.imread(str(p)), size, interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
              for p in sorted((root / "train_B" / name).glob("*.jpg"))]
    labels = [cv2.resize(cv2.imread(str(p), cv2.IMREAD_GRAYSCALE), size, interpolation=cv2.INTER_NEAREST)
              .astype(np.int64) for p in sorted((root / "train_A" / name).glob("*.png"))]
    if len(photos) != len(labels) or not photos:
        raise ValueError(f"{name}: {len(photos)} photos and {len(labels)} label maps")
    return photos, labels


def to_tensor(picture: np.ndarray) -> torch.Tensor:
    """(H, W, 3) uint8 -> (3, H, W) float in [-1, 1]."""
    return torch.from_numpy(picture).permute(2, 0, 1).float() / 127.5 - 1


def to_picture(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) in [-1, 1] -> (H, W, 3) uint8."""
    return ((image.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()


def surrounding_keys(frame: int, keys: list[int]) -> tuple[int, int]:
    """The keys just before and after ``frame``."""
    after = next(k for k in keys if k > frame)
    return max(k for k in keys if k < frame), after


def run_ours(photos: list[np.ndarray], labels: Optional[list[np.ndarray]], keys: list[int],
             targets: list[int], config: InterpolationConfig = InterpolationConfig()) -> tuple[Frames, float]:
    """Our interpolation of ``targets`` from the real key photos; also the seconds it took."""
    gap = GapInterpolator(create_flow_estimator("dis", None, torch.device("cpu")), config)
    out: Frames = {}
    start = time.perf_counter()
    for key in keys:
        ids = None if labels is None else torch.from_numpy(labels[key])
        gap.push_key(to_tensor(photos[key]), key, ids)
        if len(gap.keys) < 2:
            continue
        for frame in (f for f in targets if gap.keys[0].time < f < key):
            ids = None if labels is None else torch.from_numpy(labels[frame])
            out[frame] = to_picture(gap.frame_at(frame, ids).image)
    return out, time.perf_counter() - start


def dis_flows(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """OpenCV DIS (MEDIUM) flows ``a -> b`` and ``b -> a`` of two (3, H, W) frames: (1, 2, H, W) each, pixels."""
    flow = create_flow_estimator("dis", None, torch.device("cpu"))(torch.stack([a, b]), torch.stack([b, a]))[0]
    return flow[0:1], flow[1:2]


def plain_warp(key0: torch.Tensor, key1: torch.Tensor, flow01: torch.Tensor, flow10: torch.Tensor,
               fraction: float) -> torch.Tensor:
    """The plain bidirectional backward warp at ``fraction``: (1, 3, H, W) keys and flows -> (1, 3, H, W)."""
    return (1 - fraction) * warp(key0, fraction * flow10) + fraction * warp(key1, (1 - fraction) * flow01)


def run_plain(photos: list[np.ndarray], keys: list[int], targets: list[int]) -> Frames:
    """The plain bidirectional backward warp between the surrounding keys (DIS flows, nothing else)."""
    out: Frames = {}
    for before, after in zip(keys, keys[1:]):
        frames = [f for f in targets if before < f < after]
        if not frames:
            continue
        key0, key1 = to_tensor(photos[before]), to_tensor(photos[after])
        flow01, flow10 = dis_flows(key0, key1)
        for frame in frames:
            fraction = (frame - before) / (after - before)
            out[frame] = to_picture(plain_warp(key0[None], key1[None], flow01, flow10, fraction)[0])
    return out


def run_nearest(photos: list[np.ndarray], keys: list[int], targets: list[int]) -> Frames:
    """The nearest key frame (the earlier one on ties)."""
    out = {}
    for frame in targets:
        before, after = surrounding_keys(frame, keys)
        out[frame] = photos[before if frame - before <= after - frame else after]
    return out


def run_crossfade(photos: list[np.ndarray], keys: list[int], targets: list[int]) -> Frames:
    """Linear blend of the surrounding keys by true time."""
    out = {}
    for frame in targets:
        before, after = surrounding_keys(frame, keys)
        share = (frame - before) / (after - before)
        blend = (1 - share) * photos[before].astype(np.float64) + share * photos[after].astype(np.float64)
        out[frame] = np.clip(np.round(blend), 0, 255).astype(np.uint8)
    return out


def ffmpeg(args: list[str], verbose: bool) -> None:
    """Run the ffmpeg binary of imageio-ffmpeg with ``args``."""
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args]
    if verbose:
        print(" ".join(command))
    subprocess.run(command, check=True)


def write_pictures(folder: Path, pictures: list[np.ndarray]) -> None:
    """Save RGB pictures as ``key_000.png``, ``key_001.png``, ..."""
    folder.mkdir(parents=True, exist_ok=True)
    for i, picture in enumerate(pictures):
        cv2.imwrite(str(folder / f"key_{i:03d}.png"), cv2.cvtColor(picture, cv2.COLOR_RGB2BGR))


def read_outputs(folder: Path) -> list[np.ndarray]:
    """The ``out_*.png`` frames of ``folder`` in name order, RGB."""
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted(folder.glob("out_*.png"))]


def filter_args(fps: int) -> list[str]:
    """The published minterpolate options, in yuv444p (no chroma subsampling), PNG frames out."""
    return ["-vf", f"format=yuv444p,{MINTERPOLATE.format(fps=fps)},format=rgb24", "-fps_mode", "passthrough"]


def run_minterpolate_published(photos: list[np.ndarray], generated: list[int], first: int, work: Path,
                               verbose: bool) -> Frames:
    """Fast-Vid2Vid's procedure (see the module docstring); frame ``first + i`` is output frame ``i``."""
    total = len(photos) - first
    write_pictures(work, [photos[k] for k in generated])
    gap = math.ceil(total / len(generated))
    while True:
        for old in work.glob("out_*.png"):
            old.unlink()
        ffmpeg(["-framerate", "1", "-i", str(work / "key_%03d.png"), *filter_args(gap),
                str(work / "out_%03d.png")], verbose)
        outputs = read_outputs(work)
        if len(outputs) >= total:
            break
        gap += 1
    outputs = published_deletion(outputs, total, random.Random(0))
    return {first + i: picture for i, picture in enumerate(outputs[:total])}


def published_deletion(outputs: list[np.ndarray], total: int, rng: random.Random) -> list[np.ndarray]:
    """The published surplus rule: one random frame per block of ``total // surplus``, counted from the end
    (index 0, the last frame, is kept; a frame drawn twice is deleted once)."""
    surplus = len(outputs) - total
    if surplus <= 0:
        return outputs
    reverse = outputs[::-1]
    jump, doomed = total // surplus, set()
    for i in range(surplus):
        index = rng.choice(range(i * jump, (i + 1) * jump))
        index = index + 1 if index == 0 else index
        doomed.add(index - 2 if index >= len(reverse) else index)
    return [picture for i, picture in enumerate(reverse) if i not in doomed][::-1]


def run_minterpolate_timestamps(photos: list[np.ndarray], generated: list[int], work: Path,
                                verbose: bool) -> Frames:
    """minterpolate at the true time stamps (concat demuxer durations); frame ``generated[0] + i`` is output i."""
    write_pictures(work, [photos[k] for k in generated])
    lines = ["ffconcat version 1.0"]
    for i, (key, after) in enumerate(zip(generated, generated[1:] + [generated[-1] + 1])):
        lines += [f"file key_{i:03d}.png", f"duration {after - key}"]
    lines += [f"file key_{len(generated) - 1:03d}.png", "duration 1"]
    (work / "keys.ffconcat").write_text("\n".join(lines) + "\n")
    ffmpeg(["-f", "concat", "-safe", "0", "-i", str(work / "keys.ffconcat"), *filter_args(1),
            str(work / "out_%03d.png")], verbose)
    outputs = read_outputs(work)
    return {generated[0] + i: picture for i, picture in enumerate(outputs) if generated[0] + i <= generated[-1]}


def _scores(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(PSNR dB, SSIM) of two (H, W, 3) uint8 pictures, with the evaluation's measures (util/metrics.py)."""
    fake, real = (torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in (a, b))
    return float(metrics.psnr(fake, real)[0]), float(metrics.ssim(fake, real)[0])


def interpolator_run(config: InterpolationConfig) -> Callable[[torch.Tensor, torch.Tensor, int, int], None]:
    """A timed job: :class:`GapInterpolator` with ``config`` makes every frame between two (3, H, W) keys."""
    flow_fn = create_flow_estimator("dis", None, torch.device("cpu"))

    def job(key0: torch.Tensor, key1: torch.Tensor, before: int, after: int) -> None:
        gap = GapInterpolator(flow_fn, config)
        gap.push_key(key0, before)
        gap.push_key(key1, after)
        for frame in range(before + 1, after):
            gap.frame_at(frame)
    return job


def plain_run(key0: torch.Tensor, key1: torch.Tensor, before: int, after: int) -> None:
    """A timed job: the plain bidirectional warp (its DIS flows included) of every frame between two keys."""
    flow01, flow10 = dis_flows(key0, key1)
    for frame in range(before + 1, after):
        plain_warp(key0[None], key1[None], flow01, flow10, (frame - before) / (after - before))


def time_interpolators(photos: list[np.ndarray], gaps: list[tuple[int, int]],
                       repeats: int) -> dict[str, list[float]]:
    """Wall ms per interpolated frame (the gap's flows included, no labels) of ``ours``, the plain bidirectional
    warp and the splatting version, alternated: per gap ``(before, after)``, the median over ``repeats`` rounds
    of each."""
    makers = {"ours": interpolator_run(InterpolationConfig()), "plain bidirectional warp": plain_run,
              "splatting (previous)": interpolator_run(SPLAT)}
    times: dict[str, list[float]] = {name: [] for name in makers}
    for before, after in gaps:
        key0, key1 = to_tensor(photos[before]), to_tensor(photos[after])
        samples: dict[str, list[float]] = {name: [] for name in makers}
        for round_ in range(repeats + 1):  # round 0 warms up
            for name, job in makers.items():
                start = time.perf_counter()
                with torch.no_grad():
                    job(key0, key1, before, after)
                if round_:
                    samples[name].append(1000 * (time.perf_counter() - start) / (after - before - 1))
        for name in makers:
            times[name].append(statistics.median(samples[name]))
    return times


def output_sequence(frames: Frames, photos: list[np.ndarray], first: int) -> list[np.ndarray]:
    """The sequence a method outputs from frame ``first`` on: its frames, the real photos at the keys."""
    return [frames.get(i, photos[i]) for i in range(first, len(photos))]


def real_flows(photos: list[np.ndarray], first: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Per consecutive pair from ``first`` on: the real frames' DIS flow t -> t-1 and its visibility mask."""
    flow_fn = create_flow_estimator("dis", None, torch.device("cpu"))
    out = []
    for i in range(first + 1, len(photos)):
        current, previous = to_tensor(photos[i]), to_tensor(photos[i - 1])
        flows = flow_fn(torch.stack([current, previous]), torch.stack([previous, current]))[0]
        out.append((flows[0:1], metrics.visibility_mask(flows[0:1], flows[1:2], warp)))
    return out


def warping_errors(sequence: list[np.ndarray], flows: list[tuple[torch.Tensor, torch.Tensor]]) -> list[float]:
    """The evaluation's warping error of each consecutive pair of ``sequence`` with the real frames' flows."""
    frames = [torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255 for x in sequence]
    return [float(metrics.warping_error(frames[i + 1], frames[i], flow, mask, warp)[0])
            for i, (flow, mask) in enumerate(flows)]


def evaluate_sequence(photos: list[np.ndarray], labels: list[np.ndarray], policy: KeyframePolicy,
                      args: argparse.Namespace) -> tuple[dict[str, Frames], list[int], list[int], int]:
    """Every method's frames for one sequence, its keys, the frames scored and the first output frame."""
    pictures = (label_picture(ids, args.label_nc) for ids in labels)
    keys = select_keyframes(pictures, policy)
    first = min(policy.n_frames_G, len(photos)) - 1
    generated = [k for k in keys if k >= first]
    targets = [f for f in range(first, len(photos)) if f not in keys]
    makers: dict[str, Callable[[], Frames]] = {
        "ours": lambda: run_ours(photos, None, generated, targets)[0],
        "ours + labels": lambda: run_ours(photos, labels, generated, targets)[0],
        "trajectories (first)": lambda: run_ours(photos, None, generated, targets, FIRST_TRAJECTORIES)[0],
        "splatting (previous)": lambda: run_ours(photos, None, generated, targets, SPLAT)[0],
        "splatting (previous) + labels": lambda: run_ours(photos, labels, generated, targets, SPLAT)[0],
        "plain bidirectional warp": lambda: run_plain(photos, generated, targets),
        "nearest key": lambda: run_nearest(photos, generated, targets),
        "cross-fade": lambda: run_crossfade(photos, generated, targets),
    }
    wanted = set(args.rows.split(",")) if args.rows else None
    results = {name: make() for name, make in makers.items() if wanted is None or name in wanted}
    if not args.no_ffmpeg:
        with tempfile.TemporaryDirectory() as work:
            if wanted is None or "minterpolate (published)" in wanted:
                results["minterpolate (published)"] = run_minterpolate_published(
                    photos, generated, first, Path(work) / "published", args.verbose)
            if wanted is None or "minterpolate (timestamps)" in wanted:
                results["minterpolate (timestamps)"] = run_minterpolate_timestamps(
                    photos, generated, Path(work) / "timestamps", args.verbose)
    return results, keys, targets, first


def score(results: dict[str, Frames], photos: list[np.ndarray], targets: list[int], first: int,
          flows: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, tuple[list[tuple], list[float]]]:
    """Per method: (PSNR, SSIM) on the frames ``targets`` (a missing frame scores 0) and the warping errors
    of its output sequence; ``real frames`` holds the real sequence's warping errors."""
    scores: dict[str, tuple[list[tuple], list[float]]] = {}
    for method, frames in results.items():
        quality = [_scores(frames[f], photos[f]) if f in frames else (0.0, 0.0) for f in targets]
        scores[method] = (quality, warping_errors(output_sequence(frames, photos, first), flows))
    scores["real frames"] = ([], warping_errors(photos[first:], flows))
    return scores


def print_table(setting: str, scores: dict[str, tuple[list[tuple], list[float]]], frames: int) -> None:
    """Markdown table of one setting: mean PSNR, SSIM and warping error (x 1000) per method."""
    print(f"\n{setting}: {frames} in-between frames\n\n| method | PSNR (dB) | SSIM | warping error (x1e-3) |"
          "\n|---|---:|---:|---:|")
    for method, (quality, errors) in scores.items():
        array = np.asarray(quality) if quality else None
        psnr = f"{array[:, 0].mean():.2f}" if array is not None else "-"
        ssim = f"{array[:, 1].mean():.4f}" if array is not None else "-"
        print(f"| {method} | {psnr} | {ssim} | {1000 * np.nanmean(errors):.3f} |", flush=True)


def policy_of(setting: str, args: argparse.Namespace) -> KeyframePolicy:
    """The key rule of a ``--settings`` entry: ``published`` or an interval in frames."""
    if setting == "published":
        return KeyframePolicy(mode="published", n_frames_G=args.n_frames_G, max_key_gap=args.max_key_gap)
    return KeyframePolicy(mode="interval", n_frames_G=args.n_frames_G, key_interval=int(setting),
                          max_key_gap=args.max_key_gap)


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    """Command-line flags."""
    shared = Path(os.environ.get("VID2VID_SHARED", Path(__file__).resolve().parent.parent.parent / "shared"))
    default_root = shared / "datasets" / "Cityscapes"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataroot", type=Path, default=default_root, help="folder with train_A and train_B")
    parser.add_argument("--width", type=int, default=512, help="frame width in pixels")
    parser.add_argument("--height", type=int, default=256, help="frame height in pixels")
    parser.add_argument("--label_nc", type=int, default=35, help="label classes (palette of the criterion)")
    parser.add_argument("--n_frames_G", type=int, default=3, help="generator input frames (always keys)")
    parser.add_argument("--settings", default="2,3,4,published",
                        help="comma-separated key rules: an interval in frames, or 'published'")
    parser.add_argument("--sequences", type=int, default=0, help="use only the first N sequences (0: all)")
    parser.add_argument("--names", default="", help="comma-separated sequence names to use (default: all)")
    parser.add_argument("--max_key_gap", type=int, default=0, help="largest allowed key gap in frames (0: none)")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads")
    parser.add_argument("--repeats", type=int, default=5, help="timed rounds of the speed measurement (0: none)")
    parser.add_argument("--rows", default="", help="comma-separated methods to run (default: all)")
    parser.add_argument("--partial_tables", action="store_true", help="also print the table after each sequence")
    parser.add_argument("--no_ffmpeg", action="store_true", help="skip the minterpolate baselines")
    parser.add_argument("--verbose", action="store_true", help="print the ffmpeg commands")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    """Every setting over every sequence: the keys, one table per setting, then the timing."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    names = sorted(p.name for p in (args.dataroot / "train_B").iterdir() if p.is_dir())
    names = names[: args.sequences] if args.sequences else names
    names = [name for name in names if name in args.names.split(",")] if args.names else names
    sequences = {name: load_sequence(args.dataroot, name, (args.width, args.height)) for name in names}
    flows: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {}  # the real frames' flows, made once
    for setting in filter(None, (part.strip() for part in args.settings.split(","))):
        policy = policy_of(setting, args)
        totals: dict[str, tuple[list[tuple], list[float]]] = {}
        interpolated = 0
        for name, (photos, labels) in sequences.items():
            results, keys, targets, first = evaluate_sequence(photos, labels, policy, args)
            if name not in flows:
                flows[name] = real_flows(photos, first)
            for method, (quality, errors) in score(results, photos, targets, first, flows[name]).items():
                totals.setdefault(method, ([], []))
                totals[method][0].extend(quality)
                totals[method][1].extend(errors)
            interpolated += len(targets)
            print(f"{setting} {name}: {len(photos)} frames, keys {keys}, {len(targets)} interpolated", flush=True)
            if name != names[-1] and args.partial_tables:
                print_table(f"keys: {setting}, so far", totals, interpolated)
        print_table(f"keys: {setting}", totals, interpolated)
    if args.repeats:
        photos = sequences[names[0]][0]
        gaps = [(2, 4), (2, 6)]
        print(f"\nms per interpolated frame at {args.width}x{args.height}, flows of the gap included, no labels, "
              f"{args.threads} thread(s), median of {args.repeats} alternated rounds ({names[0]}, gaps {gaps}):")
        for name, values in time_interpolators(photos, gaps, args.repeats).items():
            print(f"  {name}: " + ", ".join(f"gap {b - a}: {v:.1f}" for (a, b), v in zip(gaps, values)))


if __name__ == "__main__":
    main()
