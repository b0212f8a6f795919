"""Cityscapes ids: label ids (what ``--label_nc 35`` reads), train ids (what segmenters predict), instance ids.

Cityscapes names every class twice. Its *label ids* 0-33 are what the dataset's ``*_labelIds.png`` files hold
and what vid2vid's street models were trained on (``--label_nc 35``). Its *train ids* 0-18 (255 = ignored) are
the 19 evaluated classes that segmentation networks predict. Feeding train ids to a street model is the commonest
preparation mistake (imaginaire#32): every class is silently another (road becomes "unlabeled", car becomes
"person"...). :func:`train_to_label_ids` converts; :func:`looks_like_train_ids` tells them apart for the checker.

Instance maps (``*_instanceIds.png``, ``<phase>_inst``) hold, per pixel, ``label_id * 1000 + k`` for the k-th
object (k from 0) of an instance class, and the plain label id elsewhere (16-bit PNGs).

``python -m data.cityscapes_ids SRC DST`` converts a folder tree of train-id PNGs into label-id PNGs.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

#: Label id of each train id 0..18 (road, sidewalk, building, wall, fence, pole, traffic light, traffic sign,
#: vegetation, terrain, sky, person, rider, car, truck, bus, train, motorcycle, bicycle).
TRAIN_TO_LABEL = (7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)
IGNORE_TRAIN_ID = 255
UNLABELED = 0
N_TRAIN_IDS = len(TRAIN_TO_LABEL)
N_LABEL_IDS = 34  # 0..33; vid2vid's --label_nc 35 leaves one spare channel
#: Label ids of the classes that have instances (person, rider, car, truck, bus, caravan, trailer, train,
#: motorcycle, bicycle).
INSTANCE_LABELS = (24, 25, 26, 27, 28, 29, 30, 31, 32, 33)
INSTANCE_SCALE = 1000
#: Share of pixels with ids 0..6 above which a map of ids <= 18 is read as train ids: these are void classes
#: (unlabeled, ego vehicle, borders, static, dynamic, ground) in label ids, but road, sidewalk, building, wall,
#: fence, pole and traffic light in train ids.
TRAIN_ID_LOW_SHARE = 0.3


def train_to_label_lut() -> np.ndarray:
    """(256,) uint8 lookup table: train id -> label id (255 and every unused value -> 0, unlabeled)."""
    lut = np.full(256, UNLABELED, dtype=np.uint8)
    lut[:N_TRAIN_IDS] = TRAIN_TO_LABEL
    return lut


def train_to_label_ids(train_ids: np.ndarray) -> np.ndarray:
    """(H, W) integer train ids (0..18, 255 ignored) -> (H, W) uint8 label ids (ignored -> 0, unlabeled).

    Raises:
        ValueError: an id is neither a train id nor 255.
    """
    train_ids = np.asarray(train_ids)
    bad = (train_ids >= N_TRAIN_IDS) & (train_ids != IGNORE_TRAIN_ID)
    if bad.any() or (train_ids < 0).any():
        raise ValueError(f"not Cityscapes train ids: values {sorted(set(np.unique(train_ids[bad]).tolist()))[:5]} "
                         f"are outside 0..{N_TRAIN_IDS - 1} and {IGNORE_TRAIN_ID}")
    return train_to_label_lut()[train_ids.astype(np.int64)]


def looks_like_train_ids(label_map: np.ndarray) -> bool:
    """Whether a Cityscapes-style map holds train ids rather than label ids.

    A map is read as train ids when no id lies in 19..254 and either 255 (the train-id "ignore") occurs or ids
    0..6 cover at least :data:`TRAIN_ID_LOW_SHARE` of the other pixels. A label-id street scene has sky (23),
    vegetation (21) or cars (26) and little void; a train-id one has road (0) and buildings (2).

    Args:
        label_map: (H, W) integer ids.
    """
    counts = np.bincount(np.asarray(label_map, dtype=np.int64).ravel(), minlength=256)
    if counts[N_TRAIN_IDS:IGNORE_TRAIN_ID].any() or counts[IGNORE_TRAIN_ID + 1:].any():
        return False
    valid = counts[:N_TRAIN_IDS].sum()
    if valid == 0:
        return False
    return bool(counts[IGNORE_TRAIN_ID] > 0 or counts[:7].sum() / valid >= TRAIN_ID_LOW_SHARE)


def instance_id(label_id: int, index: int) -> int:
    """The instance-map value of object ``index`` (0-based) of class ``label_id``: ``label_id * 1000 + index``."""
    if label_id not in INSTANCE_LABELS or not 0 <= index < INSTANCE_SCALE:
        raise ValueError(f"no instance id for label {label_id}, object {index}")
    return label_id * INSTANCE_SCALE + index


def convert_tree(src: str, dst: str) -> int:
    """Convert every PNG under ``src`` (train ids) into a label-id PNG at the same place under ``dst``.

    Returns:
        The number of files written.

    Raises:
        DatasetError: a file holds values that are not train ids (the message names it).
    """
    from pathlib import Path

    from PIL import Image

    from data.errors import DatasetError
    from data.prepare.files import encode_image, write_atomic

    written = 0
    for folder, _, files in sorted(os.walk(src)):
        for name in sorted(f for f in files if f.lower().endswith(".png")):
            path = os.path.join(folder, name)
            with Image.open(path) as image:
                ids = np.asarray(image)
            try:
                labels = train_to_label_ids(ids)
            except ValueError as err:
                raise DatasetError(f"{path}: {err}") from None
            write_atomic(Path(dst) / os.path.relpath(path, src), encode_image(labels, ".png"))
            written += 1
    return written


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m data.cityscapes_ids SRC DST``: train-id PNGs under SRC -> label-id PNGs under DST."""
    parser = argparse.ArgumentParser(description="Convert Cityscapes train-id label maps into label ids "
                                     "(what --label_nc 35 reads).")
    parser.add_argument("src", help="folder of train-id PNGs (searched recursively)")
    parser.add_argument("dst", help="output folder (same sub-folders and names)")
    args = parser.parse_args(argv)
    if not os.path.isdir(args.src):
        raise FileNotFoundError(f"{args.src}: no such folder (the train-id label maps to convert)")
    if os.path.abspath(args.src) == os.path.abspath(args.dst):
        raise FileExistsError(f"{args.dst}: DST must differ from SRC (the originals stay untouched)")
    print(f"wrote {convert_tree(args.src, args.dst)} label-id maps under {args.dst}")
    return 0


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
