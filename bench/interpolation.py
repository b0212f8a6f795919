"""Key-frame interpolation quality on the real Cityscapes photo sequences, against the published ffmpeg route.

    python bench/interpolation.py [--dataroot $VID2VID_SHARED/datasets/Cityscapes --width 512 --height 256]
                                  [--keyframes published|interval --key_interval 4 --max_key_gap 0]

For every sequence of ``<dataroot>/train_B`` (photos) with its label maps in ``train_A``: the key frames are
chosen from the label maps (:func:`models.fast_vid2vid.keyframe_selection.select_keyframes`, ``--n_frames_G 3``), the *real* photos
at the keys stand in for generated key frames, and every other frame from ``n_frames_G - 1`` on is
reconstructed and compared with the real photo (PSNR and SSIM on 8-bit RGB). Methods:

- ``ours``: :class:`models.fast_vid2vid.interpolation.GapInterpolator` with OpenCV DIS flow, without labels;
- ``ours + labels``: the same with the label-aware rule (label maps of keys and in-between frames);
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

The ffmpeg commands are printed with ``--verbose``. Also reports the time of ``ours`` per interpolated frame and, measured apart, per gap's flows and per frame.
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

from models.fast_vid2vid.interpolation import GapInterpolator  # noqa: E402
from models.fast_vid2vid.keyframe_selection import KeyframePolicy, label_picture, select_keyframes  # noqa: E402
from models.networks.flow.estimator import create_flow_estimator  # noqa: E402
from util import metrics  # noqa: E402

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
             targets: list[int]) -> tuple[Frames, float]:
    """Our interpolation of ``targets`` from the real key photos; also the seconds it took."""
    gap = GapInterpolator(create_flow_estimator("dis", None, torch.device("cpu")))
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


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall and CPU (all threads) milliseconds of ``fn`` over ``repeats`` runs after one warm-up."""
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(1000 * (time.perf_counter() - start_wall))
        cpu.append(1000 * (time.process_time() - start_cpu))
    return statistics.median(wall), statistics.median(cpu)


def time_ours(photos: list[np.ndarray], labels: list[np.ndarray], before: int, after: int,
              repeats: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) ms of one gap's flows and of one middle frame without and with labels."""
    gap = GapInterpolator(create_flow_estimator("dis", None, torch.device("cpu")))
    gap.push_key(to_tensor(photos[before]), before, torch.from_numpy(labels[before]))
    gap.push_key(to_tensor(photos[after]), after, torch.from_numpy(labels[after]))
    middle, ids = (before + after) / 2, torch.from_numpy(labels[(before + after) // 2])

    def flows() -> None:
        gap._motion = None
        gap._gap_motion()

    return {"flows and confirmation, per gap": timed(flows, repeats),
            "one frame, without labels": timed(lambda: gap.frame_at(middle), repeats),
            "one frame, with labels": timed(lambda: gap.frame_at(middle, ids), repeats)}


def evaluate_sequence(photos: list[np.ndarray], labels: list[np.ndarray], policy: KeyframePolicy,
                      args: argparse.Namespace) -> tuple[dict[str, Frames], list[int], list[int], float]:
    """Every method's frames for one sequence, its keys, the frames scored and the seconds ``ours`` took."""
    pictures = (label_picture(ids, args.label_nc) for ids in labels)
    keys = select_keyframes(pictures, policy)
    first = min(policy.n_frames_G, len(photos)) - 1
    generated = [k for k in keys if k >= first]
    targets = [f for f in range(first, len(photos)) if f not in keys]
    results: dict[str, Frames] = {}
    results["ours"], seconds = run_ours(photos, None, generated, targets)
    results["ours + labels"], _ = run_ours(photos, labels, generated, targets)
    results["nearest key"] = run_nearest(photos, generated, targets)
    results["cross-fade"] = run_crossfade(photos, generated, targets)
    if not args.no_ffmpeg:
        with tempfile.TemporaryDirectory() as work:
            results["minterpolate (published)"] = run_minterpolate_published(
                photos, generated, first, Path(work) / "published", args.verbose)
            results["minterpolate (timestamps)"] = run_minterpolate_timestamps(
                photos, generated, Path(work) / "timestamps", args.verbose)
    return results, keys, targets, seconds


def score(results: dict[str, Frames], photos: list[np.ndarray], targets: list[int]) -> dict[str, list[tuple]]:
    """(PSNR, SSIM) per method on the frames ``targets`` (a method missing a frame scores its absence as 0)."""
    scores: dict[str, list[tuple]] = {}
    for method, frames in results.items():
        scores[method] = [_scores(frames[f], photos[f]) if f in frames else (0.0, 0.0)
                          for f in targets]
    return scores


def print_table(scores: dict[str, list[tuple]]) -> None:
    """Markdown table: mean PSNR and SSIM per method over every scored frame."""
    print("\n| method | PSNR (dB) | SSIM |\n|---|---:|---:|")
    for method, values in scores.items():
        array = np.asarray(values)
        print(f"| {method} | {array[:, 0].mean():.2f} | {array[:, 1].mean():.4f} |")


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
    parser.add_argument("--keyframes", default="published", choices=["published", "interval"], help="key rule")
    parser.add_argument("--key_interval", type=int, default=4, help="interval mode: frames between keys")
    parser.add_argument("--max_key_gap", type=int, default=0, help="largest allowed key gap in frames (0: none)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs of the speed measurement")
    parser.add_argument("--no_ffmpeg", action="store_true", help="skip the minterpolate baselines")
    parser.add_argument("--verbose", action="store_true", help="print the ffmpeg commands")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> None:
    """Run every sequence, print the keys, the table and the time per interpolated frame."""
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    policy = KeyframePolicy(mode=args.keyframes, n_frames_G=args.n_frames_G, key_interval=args.key_interval,
                            max_key_gap=args.max_key_gap)
    names = sorted(p.name for p in (args.dataroot / "train_B").iterdir() if p.is_dir())
    totals: dict[str, list[tuple]] = {}
    seconds, interpolated = 0.0, 0
    for name in names:
        photos, labels = load_sequence(args.dataroot, name, (args.width, args.height))
        results, keys, targets, spent = evaluate_sequence(photos, labels, policy, args)
        for method, values in score(results, photos, targets).items():
            totals.setdefault(method, []).extend(values)
        seconds, interpolated = seconds + spent, interpolated + len(targets)
        print(f"{name}: {len(photos)} frames, keys {keys}, {len(targets)} interpolated")
    print_table(totals)
    print(f"\nours over the benchmark: {1000 * seconds / max(interpolated, 1):.1f} ms per interpolated frame at "
          f"{args.width}x{args.height} ({interpolated} frames, flows of each gap included, no labels)")
    photos, labels = load_sequence(args.dataroot, names[0], (args.width, args.height))
    print(f"\nspeed on {names[0]}, gap 2 -> 6, {args.threads} torch thread(s): median wall / CPU ms")
    for what, (wall, cpu) in time_ours(photos, labels, 2, 6, args.repeats).items():
        print(f"  {what}: {wall:.1f} / {cpu:.1f}")


if __name__ == "__main__":
    main()
