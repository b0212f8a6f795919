"""Fill a flow cache (``--flow_cache``) with the flow of every consecutive pair of real frames of a dataset.

Example::

    python scripts/precompute_flow.py --dataroot datasets/Cityscapes --flow_cache cache/flow \\
        --flow_backend flownet2 --loadSize 512 --resize_or_crop scaleWidth --gpu_ids 0

Frames are read from ``<dataroot>/<phase>_B/<sequence>/``, resized as the training data would be
(``data/transforms.py``; modes with a random crop or scale cannot be precomputed: those pairs are filled
during the first epoch instead) and keyed with :func:`models.networks.flow.cache.pair_key`, the same
function the model uses, so training finds them. Pairs already cached are skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sys
from pathlib import Path
from typing import Sequence

import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data.transforms import TransformParams, get_params, transform_image  # noqa: E402
from models.networks.flow import BACKENDS, create_flow_estimator, pair_key  # noqa: E402
from models.networks.flow.cache import geometry_tag  # noqa: E402
from util.device import resolve_devices  # noqa: E402

logger = logging.getLogger("precompute_flow")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line flags (names as in the training options)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataroot", type=str, required=True, help="dataset folder holding <phase>_B/")
    parser.add_argument("--phase", type=str, default="train", help="train or test: reads <phase>_B")
    parser.add_argument("--flow_cache", type=str, required=True, help="cache folder to fill")
    parser.add_argument("--flow_backend", type=str, default="flownet2", choices=list(BACKENDS), help="flow method")
    parser.add_argument("--flownet_checkpoint", type=str,
                        default=os.path.join("checkpoints", "flownet2", "FlowNet2_checkpoint.pth.tar"),
                        help="FlowNet2 weights (flownet2 back-end only)")
    parser.add_argument("--loadSize", type=int, default=512, help="resize target in pixels, as in training")
    parser.add_argument("--fineSize", type=int, default=512, help="crop size in pixels, as in training")
    parser.add_argument("--resize_or_crop", type=str, default="scaleWidth", help="resize mode, as in training")
    parser.add_argument("--with_flip", action="store_true", help="also cache the mirrored pairs (training flips)")
    parser.add_argument("--gpu_ids", type=str, default="-1", help="e.g. 0; -1 for CPU")
    parser.add_argument("--batch_pairs", type=int, default=8, help="frame pairs per flow batch")
    parser.add_argument("--max_sequences", type=int, default=0, help="stop after this many sequences (0: all)")
    parser.add_argument("--max_frames", type=int, default=0, help="frames read per sequence (0: all)")
    return parser.parse_args(argv)


def sequences(root: Path) -> list[list[Path]]:
    """Sorted frame lists of every sub-folder of ``root`` holding images."""
    folders = sorted(p for p in root.iterdir() if p.is_dir())
    found = [sorted(f for f in folder.iterdir() if f.suffix.lower() in IMAGE_EXTENSIONS) for folder in folders]
    return [frames for frames in found if len(frames) > 1]


def sequence_params(args: argparse.Namespace, first_frame: Path) -> TransformParams:
    """Deterministic resize parameters of a sequence; raises ValueError for random crop/scale modes."""
    if "crop" in args.resize_or_crop.lower() or "random" in args.resize_or_crop:
        raise ValueError(f"--resize_or_crop {args.resize_or_crop} is random per clip: its flows cannot be "
                         "precomputed (they are cached during the first epoch)")
    opt = argparse.Namespace(resize_or_crop=args.resize_or_crop, loadSize=args.loadSize, fineSize=args.fineSize,
                             isTrain=False, no_flip=True, dataset_mode="temporal")
    with Image.open(first_frame) as image:
        return get_params(opt, image.size, rng=random.Random(0))


def fill_sequence(estimator, frames: list[Path], images: list[Image.Image], params: TransformParams,
                  batch_pairs: int) -> None:
    """Compute (or find) the flow of every pair (frame t, frame t-1) of one sequence (``images``: its RGB frames)."""
    tensors = [transform_image(image, params) for image in images]
    tag = geometry_tag(params.new_size, params.crop_pos, params.crop_size)
    for start in range(1, len(frames), batch_pairs):
        stop = min(len(frames), start + batch_pairs)
        current = torch.stack(tensors[start:stop])
        previous = torch.stack(tensors[start - 1:stop - 1])
        keys = [pair_key(str(frames[t]), str(frames[t - 1]), flip=params.flip, crop=tag) for t in range(start, stop)]
        estimator(current, previous, keys)


def main(argv: Sequence[str] | None = None) -> None:
    """Fill the cache for every sequence of ``<dataroot>/<phase>_B`` (and its mirror with ``--with_flip``)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    device = resolve_devices([int(i) for i in args.gpu_ids.split(",") if int(i) >= 0])[0]
    estimator = create_flow_estimator(args.flow_backend, args.flownet_checkpoint, device, cache_dir=args.flow_cache)
    all_sequences = sequences(Path(args.dataroot) / f"{args.phase}_B")
    if args.max_sequences > 0:
        all_sequences = all_sequences[: args.max_sequences]
    for index, frames in enumerate(all_sequences):
        frames = frames[: args.max_frames] if args.max_frames > 0 else frames
        params = sequence_params(args, frames[0])
        images = [Image.open(f).convert("RGB") for f in frames]
        variants = [params] + ([TransformParams(params.new_size, params.crop_pos, params.crop_size, True)]
                               if args.with_flip else [])
        for variant in variants:
            fill_sequence(estimator, frames, images, variant, args.batch_pairs)
        logger.info("sequence %d/%d (%s): %d pairs", index + 1, len(all_sequences), frames[0].parent.name,
                    len(frames) - 1)


if __name__ == "__main__":
    main()
