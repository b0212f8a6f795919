"""Fill a flow cache (``--flow_cache``) with the flow of the real frame pairs training will ask for.

Example (the same flags as train.py, plus the ones below)::

    python scripts/precompute_flow.py --dataroot datasets/Cityscapes --label_nc 35 --use_instance \\
        --flow_cache cache/flow --flow_backend flownet2 --loadSize 512 --gpu_ids 0 --with_flip

The frames are produced by the training dataset itself (``--dataset_mode``, its transform and its modalities),
so they are exactly the tensors training sees, and each pair is keyed as training keys it:
:func:`models.networks.flow.cache.content_keys` of both frames' pixels, in the estimator's cache (its backend,
checkpoint and the frame size are part of the file name). Pairs already cached are read, not recomputed.

What is covered: every pair ``(frame t, frame t - d)`` of every sequence, for each frame distance ``d`` a clip
can hold (time steps 1 .. ``--max_t_step`` times ``--n_frames_D ** s`` for each temporal scale ``s``), on the
unflipped frames, and on the mirrored ones with ``--with_flip``. Frames are never cropped here: a
``--resize_or_crop`` mode that crops or scales each clip at random is refused (and so is the face mode, whose
crop follows each clip's first frame), because its pairs differ from clip to clip; training computes and caches
those, and, with random flips, the mirrored pairs when ``--with_flip`` was not given.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import random
import sys
from pathlib import Path
from typing import Optional, Sequence

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from data import create_dataset  # noqa: E402
from data.base_dataset import BaseDataset  # noqa: E402
from data.transforms import TransformParams  # noqa: E402
from models.networks.flow import create_flow_estimator  # noqa: E402
from models.networks.flow.cache import content_keys  # noqa: E402
from options import OptionError, TrainOptions  # noqa: E402

logger = logging.getLogger("precompute_flow")


def parse_args(argv: Optional[Sequence[str]]) -> tuple[argparse.Namespace, argparse.Namespace]:
    """(this script's flags, the training options of every other flag)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] + " Every flag of train.py applies too.")
    parser.add_argument("--with_flip", action="store_true", help="also cache the mirrored pairs (training flips)")
    parser.add_argument("--batch_pairs", type=int, default=8, help="frame pairs per flow batch")
    parser.add_argument("--max_sequences", type=int, default=0, help="stop after this many sequences (0: all)")
    parser.add_argument("--max_frames", type=int, default=0, help="frames read per sequence (0: all)")
    args, rest = parser.parse_known_args(list(sys.argv[1:] if argv is None else argv))
    if args.batch_pairs < 1 or args.max_sequences < 0 or args.max_frames < 0:
        raise OptionError("--batch_pairs must be >= 1, --max_sequences and --max_frames >= 0")
    opt = TrainOptions().parse(rest, save=False)
    if not opt.flow_cache:
        raise OptionError("--flow_cache DIR is required: the folder to fill")
    if "crop" in opt.resize_or_crop.lower() or "random" in opt.resize_or_crop:
        raise OptionError(f"--resize_or_crop {opt.resize_or_crop} crops or scales every clip at random: its frame "
                          "pairs cannot be precomputed; training fills --flow_cache during the first epochs")
    if opt.dataset_mode == "face":  # the face crop follows each clip's first frame: pairs differ per clip
        raise OptionError("--dataset_mode face crops every clip around its first frame's landmarks: its frame pairs "
                          "cannot be precomputed; training fills --flow_cache during the first epochs")
    return args, opt


def pair_distances(opt: argparse.Namespace) -> list[int]:
    """Frame distances of the pairs training computes flow for: time step x ``n_frames_D ** s``."""
    return sorted({step * opt.n_frames_D ** s for step in range(1, opt.max_t_step + 1)
                   for s in range(opt.n_scales_temporal)})


def variants(opt: argparse.Namespace, dataset: BaseDataset, seq: int, with_flip: bool) -> list[TransformParams]:
    """The sequence's deterministic transform, unflipped (and mirrored with ``with_flip`` where training flips)."""
    params = dataclasses.replace(dataset.make_params(seq, random.Random(0)), flip=False)
    flips = with_flip and not opt.no_flip and opt.dataset_mode != "pose"
    return [params] + ([dataclasses.replace(params, flip=True)] if flips else [])


def fill_sequence(estimator, dataset: BaseDataset, seq: int, params: TransformParams, *, n_frames: int,
                  distances: list[int], batch_pairs: int) -> int:
    """Compute (or find) the flow of every pair ``(t, t - d)`` of one sequence; returns the number of pairs."""
    pairs = 0
    for distance in distances:
        for start in range(distance, n_frames, batch_pairs):
            now = list(range(start, min(n_frames, start + batch_pairs)))
            wanted = sorted(set(now) | {t - distance for t in now})
            frames = dict(zip(wanted, dataset.load_frames(seq, wanted, params)["B"]))
            current = torch.stack([frames[t] for t in now])
            previous = torch.stack([frames[t - distance] for t in now])
            estimator(current, previous, content_keys(current, previous))
            pairs += len(now)
    return pairs


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Fill the cache for every sequence of the training dataset the flags describe."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args, opt = parse_args(argv)
    if not opt.skip_check:
        from data.check import ensure_dataset_ok

        ensure_dataset_ok(opt)
    dataset = create_dataset(opt)
    estimator = create_flow_estimator(opt.flow_backend, opt.flownet_checkpoint, opt.device, cache_dir=opt.flow_cache)
    count = dataset.n_sequences() if args.max_sequences == 0 else min(args.max_sequences, dataset.n_sequences())
    distances = pair_distances(opt)
    for seq in range(count):
        n_frames = len(dataset.sequences[seq])
        n_frames = min(n_frames, args.max_frames) if args.max_frames > 0 else n_frames
        pairs = sum(fill_sequence(estimator, dataset, seq, params, n_frames=n_frames, distances=distances,
                                  batch_pairs=args.batch_pairs) for params in variants(opt, dataset, seq, args.with_flip))
        logger.info("sequence %d/%d (%s): %d pairs (frame distances %s)", seq + 1, count, dataset.sequence_name(seq),
                    pairs, distances)


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
