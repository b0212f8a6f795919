"""Write a small synthetic street dataset in the temporal layout (train_A/inst/B, test_A/inst/B).

Each sequence is a camera slowly panning over a street: sky (Cityscapes label 23), buildings with windows (11),
vegetation (21), sidewalk (8), road with lane marks (7) and poles (17), with cars (26) and pedestrians (24)
moving at their own speeds. Per frame it writes:

- ``<phase>_A/<seq>/frame_XXXX.png``: uint8 label ids (all < 35, use ``--label_nc 35``);
- ``<phase>_inst/<seq>/frame_XXXX.png``: uint8 instance ids. Background pixels hold their label id (< 35);
  every car and pedestrian holds its own id ``40 + k`` (k = 0, 1, ... within the sequence), so object
  boundaries give instance edges even between two touching cars;
- ``<phase>_B/<seq>/frame_XXXX.png``: the rendered RGB photo (textures: noise, stripes, windows).

The output is fully determined by the seed. Usage::

    python scripts/make_toy_dataset.py --out datasets/toy [--n_seqs 3 --n_frames 12 --width 256 --height 128]
"""

from __future__ import annotations

import argparse
import logging
import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

logger = logging.getLogger(__name__)

ROAD, SIDEWALK, BUILDING, POLE, VEGETATION, SKY, PERSON, CAR = 7, 8, 11, 17, 21, 23, 24, 26
FIRST_OBJECT_ID = 40


@dataclass
class Canvas:
    """A frame being drawn: label ids (H, W) uint8, instance ids (H, W) uint8, colours (H, W, 3) float."""

    label: np.ndarray
    inst: np.ndarray
    rgb: np.ndarray

    def paint(self, mask: np.ndarray, label: int, rgb: np.ndarray, inst: int | None = None) -> None:
        """Set ``mask`` pixels to ``label`` / ``inst`` (default: the label id) and colours ``rgb`` (H, W, 3)."""
        self.label[mask] = label
        self.inst[mask] = label if inst is None else inst
        self.rgb[mask] = rgb[mask]


@dataclass
class Mover:
    """A car or pedestrian: class, instance id, size, start x, speed (px/frame), bottom y, colour."""

    label: int
    inst: int
    width: int
    height: int
    x0: float
    speed: float
    bottom: int
    color: np.ndarray


def _noise(rng: np.random.Generator, shape: tuple[int, int], base, amount: float) -> np.ndarray:
    """(H, W, 3) colour field: ``base`` plus per-pixel noise of strength ``amount``."""
    return np.clip(np.asarray(base, np.float32) + rng.normal(0, amount, shape + (1,)), 0, 255)


def _background(rng: np.random.Generator, width: int, height: int) -> Canvas:
    """The static street, ``width`` wide (wider than a frame, so the camera can pan over it)."""
    canvas = Canvas(np.full((height, width), SKY, np.uint8), np.full((height, width), SKY, np.uint8),
                    np.zeros((height, width, 3), np.float32))
    yy, xx = np.mgrid[0:height, 0:width]
    canvas.rgb[:] = np.stack([120 + 60 * yy / height, 170 + 40 * yy / height, 235 + 0 * yy], -1)
    horizon, road_top = int(height * 0.55), int(height * 0.68)
    _buildings(rng, canvas, horizon, xx, yy)
    _trees(rng, canvas, horizon, xx, yy)
    canvas.paint(yy >= horizon, SIDEWALK, _noise(rng, (height, width), (150, 140, 130), 12))
    road = _noise(rng, (height, width), (85, 85, 90), 10)
    lane_y = (road_top + height) // 2
    marks = (abs(yy - lane_y) <= max(1, height // 96)) & ((xx // max(4, width // 40)) % 2 == 0)
    road[marks] = (235, 235, 225)
    canvas.paint(yy >= road_top, ROAD, road)
    for x in rng.integers(0, width, size=max(1, width // 160)):
        pole = (abs(xx - x) <= max(1, width // 400)) & (yy >= horizon // 3) & (yy < road_top)
        canvas.paint(pole, POLE, np.full((height, width, 3), (60, 60, 70), np.float32))
    return canvas


def _buildings(rng: np.random.Generator, canvas: Canvas, horizon: int, xx: np.ndarray, yy: np.ndarray) -> None:
    """Blocks of random width and height standing on the horizon, each with a grid of windows."""
    height, width = xx.shape
    x = 0
    while x < width:
        w = int(rng.integers(width // 12 + 8, width // 5 + 16))
        top = int(rng.integers(height // 10, horizon - height // 8))
        block = (xx >= x) & (xx < x + w) & (yy >= top) & (yy < horizon)
        color = _noise(rng, (height, width), rng.integers(90, 200, size=3), 8)
        step = max(4, height // 16)
        windows = ((xx - x) % step < step // 2) & ((yy - top) % step < step // 2) & ((xx - x) >= step // 2)
        color[windows] = np.asarray(rng.integers(20, 90, size=3), np.float32)
        canvas.paint(block, BUILDING, color)
        x += w + int(rng.integers(0, width // 20 + 1))


def _trees(rng: np.random.Generator, canvas: Canvas, horizon: int, xx: np.ndarray, yy: np.ndarray) -> None:
    """Round tree crowns over the building line."""
    height, width = xx.shape
    leaves = _noise(rng, (height, width), (60, 120, 50), 25)
    for _ in range(max(1, width // 90)):
        cx, cy = int(rng.integers(0, width)), int(rng.integers(horizon - height // 4, horizon))
        r = int(rng.integers(height // 12 + 2, height // 6 + 4))
        canvas.paint((xx - cx) ** 2 + (yy - cy) ** 2 <= r * r, VEGETATION, leaves)


def _movers(rng: np.random.Generator, width: int, height: int) -> list[Mover]:
    """Cars on the road (two lanes) and pedestrians on the sidewalk, far ones first (drawing order)."""
    movers, road_top = [], int(height * 0.68)
    for k in range(int(rng.integers(2, 5))):
        lane = k % 2
        w, h = int(width * rng.uniform(0.14, 0.22)), int(height * rng.uniform(0.12, 0.18))
        speed = rng.uniform(1.5, 4.0) * (1 if lane else -1) * width / 256
        bottom = road_top + (height - road_top) * (lane + 1) // 2 - 1
        movers.append(Mover(CAR, 0, w, h, float(rng.uniform(0, width)), speed, bottom, rng.integers(30, 230, 3)))
    for _ in range(int(rng.integers(1, 3))):
        w, h = max(3, width // 50), int(height * 0.16)
        movers.append(Mover(PERSON, 0, w, h, float(rng.uniform(0, width)), rng.uniform(-1, 1) * width / 256,
                            int(height * 0.66), rng.integers(40, 200, 3)))
    movers.sort(key=lambda m: m.bottom)
    for k, mover in enumerate(movers):
        mover.inst = FIRST_OBJECT_ID + k
    return movers


def _draw_mover(canvas: Canvas, mover: Mover, x: float, rng: np.random.Generator) -> None:
    """Draw a car (body, cabin with windows, wheels) or a pedestrian (body, head) with its left edge at ``x``."""
    height, width = canvas.label.shape
    yy, xx = np.mgrid[0:height, 0:width]
    left, top = int(x), mover.bottom - mover.height
    color = _noise(rng, (height, width), mover.color, 6)
    if mover.label == CAR:
        body = (xx >= left) & (xx < left + mover.width) & (yy >= top + mover.height // 2) & (yy <= mover.bottom)
        cabin = (xx >= left + mover.width // 5) & (xx < left + 4 * mover.width // 5) & (yy >= top) & \
                (yy < top + mover.height // 2)
        glass = cabin & ((xx - left) % max(3, mover.width // 4) > 1) & (yy > top + 1)
        color[glass] = (40, 60, 90)
        r = max(1, mover.height // 5)
        wheels = np.zeros_like(body)
        for cx in (left + mover.width // 5, left + 4 * mover.width // 5):
            wheels |= (xx - cx) ** 2 + (yy - mover.bottom + r // 2) ** 2 <= r * r
        color[wheels] = (15, 15, 15)
        shape = body | cabin | wheels
    else:
        head = max(1, mover.width // 2)
        shape = (xx >= left) & (xx < left + mover.width) & (yy >= top + 2 * head) & (yy <= mover.bottom)
        shape |= (xx - left - mover.width // 2) ** 2 + (yy - top - head) ** 2 <= head * head
    canvas.paint(shape, mover.label, color, inst=mover.inst)


def render_sequence(rng: np.random.Generator, n_frames: int, width: int, height: int) -> list[Canvas]:
    """Render one sequence: a camera panning over a street with moving objects; (H, W) frames."""
    pan = float(rng.uniform(0.5, 2.0)) * width / 256
    world = _background(rng, width + int(np.ceil(pan * n_frames)) + 1, height)
    movers = _movers(rng, width, height)
    frames = []
    for t in range(n_frames):
        x = int(round(pan * t))
        view = world.rgb[:, x:x + width]
        canvas = Canvas(world.label[:, x:x + width].copy(), world.inst[:, x:x + width].copy(), view.copy())
        for mover in movers:
            # Objects leaving the frame come back on the other side, so long sequences keep their cars.
            left = (mover.x0 + mover.speed * t) % (width + mover.width) - mover.width
            _draw_mover(canvas, mover, left, rng)
        canvas.rgb = np.clip(canvas.rgb + rng.normal(0, 2, canvas.rgb.shape), 0, 255)
        frames.append(canvas)
    return frames


def _write_sequence(out_dir: str, phase: str, name: str, frames: list[Canvas]) -> None:
    for key in ("A", "inst", "B"):
        os.makedirs(os.path.join(out_dir, f"{phase}_{key}", name), exist_ok=True)
    for t, canvas in enumerate(frames):
        file_name = f"frame_{t:04d}.png"
        Image.fromarray(canvas.label).save(os.path.join(out_dir, f"{phase}_A", name, file_name))
        Image.fromarray(canvas.inst).save(os.path.join(out_dir, f"{phase}_inst", name, file_name))
        rgb = np.round(canvas.rgb).astype(np.uint8)
        Image.fromarray(rgb, "RGB").save(os.path.join(out_dir, f"{phase}_B", name, file_name))


def make_toy_dataset(out_dir: str | os.PathLike, n_seqs: int = 3, n_frames: int = 12, width: int = 256,
                     height: int = 128, seed: int = 0, n_test_seqs: int = 1) -> str:
    """Write the toy dataset to ``out_dir`` and return its path.

    Args:
        out_dir: Dataset root (created); gets train_A, train_inst, train_B, test_A, test_inst, test_B.
        n_seqs: Training sequences (``seq0000`` ...).
        n_frames: Frames per sequence.
        width: Frame width in pixels.
        height: Frame height in pixels.
        seed: Seed of everything drawn; the same seed writes the same files.
        n_test_seqs: Test sequences (``test0000`` ...).
    """
    out_dir = os.fspath(out_dir)
    if min(n_seqs, n_frames, n_test_seqs) < 1 or width < 32 or height < 32:
        raise ValueError("need n_seqs, n_frames, n_test_seqs >= 1 and frames of at least 32x32 pixels")
    for phase, count, prefix in (("train", n_seqs, "seq"), ("test", n_test_seqs, "test")):
        for k in range(count):
            rng = np.random.default_rng([seed, 0 if phase == "train" else 1, k])
            _write_sequence(out_dir, phase, f"{prefix}{k:04d}", render_sequence(rng, n_frames, width, height))
    logger.info("wrote %d train and %d test sequences of %d frames to %s", n_seqs, n_test_seqs, n_frames, out_dir)
    return out_dir


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=str, default="datasets/toy", help="dataset root to write")
    parser.add_argument("--n_seqs", type=int, default=3, help="training sequences")
    parser.add_argument("--n_test_seqs", type=int, default=1, help="test sequences")
    parser.add_argument("--n_frames", type=int, default=12, help="frames per sequence")
    parser.add_argument("--width", type=int, default=256, help="frame width (pixels)")
    parser.add_argument("--height", type=int, default=128, help="frame height (pixels)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    make_toy_dataset(args.out, args.n_seqs, args.n_frames, args.width, args.height, args.seed,
                     n_test_seqs=args.n_test_seqs)


if __name__ == "__main__":
    import sys

    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    from util.cli import run

    sys.exit(run(main))
