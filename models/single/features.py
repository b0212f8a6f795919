"""``features.npy`` of a face single-frame model: per face part, the encoder's features of the training frames.

The released ``edge2face_single/features.npy`` is pix2pixHD's un-clustered features file (what its
``encode_features.py`` saves before the k-means step): a pickled dict ``{part label: (N, feat_nc + 1) float
array}`` with one row per training image, the part's instance-averaged feature (``feat_nc`` = 16 values) then
its area in units of ``H*W/32`` pixels. The face first frame (:mod:`models.single.face_first_frame`) picks the training
image whose parts are nearest to a test frame's, so row ``m`` of every part must be training image ``m`` (a part
missing from a frame gets a stand-in row, see :func:`aligned_features`), and no k-means is run (cluster centres,
pix2pixHD's choice for its street features, would break that alignment).

After the last epoch of ``train.py --model single --dataset_mode face`` the file is written into the run's
folder. To write it again from a checkpoint: ``python -m models.single.features <the run's train.py flags>``
(``--which_epoch`` picks the encoder, ``--n_feature_frames`` how many frames per sequence).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

from data.base_dataset import BaseDataset

logger = logging.getLogger(__name__)

FEATURES_FILE = "features.npy"
AREA_UNIT = 32  # pix2pixHD's block_num: the area column counts pixels in units of H*W/32


def part_rows(feat: Tensor, parts: Tensor) -> dict[int, np.ndarray]:
    """One image's rows: per part label present, its averaged feature and its area.

    Args:
        feat: (C, H, W) part-averaged features (the encoder's output: constant over each part).
        parts: (1, H, W) integer-valued part ids.

    Returns:
        {label: (C + 1,) float64 array}: the C feature values, then pixels / (H*W // 32).
    """
    height, width = parts.shape[-2:]
    ids = parts[0].long()
    rows = {}
    for label in torch.unique(ids).tolist():
        mask = ids == label
        y, x = mask.nonzero()[0].tolist()
        area = float(mask.sum()) / (height * width // AREA_UNIT)
        rows[int(label)] = np.append(feat[:, y, x].double().cpu().numpy(), area)
    return rows


def aligned_features(images: Sequence[dict[int, np.ndarray]]) -> dict[int, np.ndarray]:
    """Stack per-image rows so that row ``m`` of every part is image ``m``.

    An image lacking a part (a closed mouth has no inner mouth) gets that part's mean feature over the images
    that have it, with area 0: the nearest-image search then neither favours nor avoids it for that part.

    Args:
        images: Per image, the output of :func:`part_rows`.

    Returns:
        {label: (N, C + 1) float64 array} for every label any image has, labels ascending.

    Raises:
        ValueError: no images.
    """
    if not images:
        raise ValueError("no training frames to encode into features.npy")
    features = {}
    for label in sorted(set().union(*images)):
        present = np.stack([rows[label] for rows in images if label in rows])
        stand_in = np.append(present[:, :-1].mean(axis=0), 0.0)
        features[label] = np.stack([rows.get(label, stand_in) for rows in images])
    missing = sum(len(features) - len(rows) for rows in images)
    if missing:
        logger.info("features.npy: %d part(s) absent from their frames, filled with the part's mean", missing)
    return features


def save_features(features: dict[int, np.ndarray], path: str) -> None:
    """Write ``features`` as released (``np.save`` of a 0-d object array holding the dict), atomically."""
    plain = {int(label): np.asarray(rows, dtype=np.float64) for label, rows in features.items()}
    temp = f"{path}.tmp"
    with open(temp, "wb") as stream:
        # Writing only: the released layout is a pickled dict, so np.save needs allow_pickle for it. Every read
        # of such a file goes through util.safe_pickle.load_numpy_pickle, which rebuilds arrays and dicts only.
        np.save(stream, np.array(plain, dtype=object), allow_pickle=True)
    os.replace(temp, path)


def frame_list(dataset: BaseDataset, per_sequence: int) -> list[tuple[int, int]]:
    """(sequence, frame) pairs to encode: every frame, or ``per_sequence`` evenly spaced ones per sequence."""
    frames = []
    for seq in range(dataset.n_sequences()):
        count = len(dataset.sequences[seq])
        chosen = range(count)
        if 0 < per_sequence < count:
            chosen = np.linspace(0, count - 1, per_sequence).round().astype(int).tolist()
        frames += [(seq, t) for t in chosen]
    return frames


class TrainingFrames(Dataset):
    """Chosen training frames, each with its sequence's fixed transform: photo ``B`` (3, H, W), parts ``inst``.

    Args:
        dataset: The face training dataset (built without flips).
        frames: (sequence, frame) pairs.
    """

    def __init__(self, dataset: BaseDataset, frames: list[tuple[int, int]]) -> None:
        self.dataset, self.frames = dataset, frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        seq, frame = self.frames[index]
        sample = self.dataset.load_frames(seq, [frame], self.dataset.sequence_params(seq))
        return {"B": sample["B"][0], "inst": sample["inst"][0]}


@torch.no_grad()
def encode_training_set(opt: argparse.Namespace, encoder: nn.Module, device: torch.device) -> dict[int, np.ndarray]:
    """Encode the training frames (not flipped, as pix2pixHD) into aligned per-part rows."""
    from data import create_dataset

    dataset = create_dataset(argparse.Namespace(**{**vars(opt), "no_flip": True}))
    items = TrainingFrames(dataset, frame_list(dataset, getattr(opt, "n_feature_frames", 0)))
    loader = DataLoader(items, batch_size=1, num_workers=0 if opt.debug else opt.nThreads)
    images = []
    for item in loader:
        parts = item["inst"].to(device)
        feat = encoder(item["B"].to(device), parts)
        images.append(part_rows(feat[0], parts[0]))
    return aligned_features(images)


def write_features(opt: argparse.Namespace, encoder: nn.Module, device: torch.device) -> str:
    """Encode the training set and write ``<checkpoints_dir>/<name>/features.npy``; returns its path."""
    path = os.path.join(opt.checkpoints_dir, opt.name, FEATURES_FILE)
    save_features(encode_training_set(opt, encoder, device), path)
    return path


def main(argv: Optional[Sequence[str]] = None) -> str:
    """Write ``features.npy`` again from the run's ``<which_epoch>_net_E.pth`` (the run's train.py flags)."""
    from models.networks import define_single_E
    from options import TrainOptions
    from util.checkpoint import load_file, load_state_dict_strict

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    argv = list(sys.argv[1:] if argv is None else argv)
    opt = TrainOptions().parse(argv + ["--model", "single"], save=False)
    encoder = define_single_E(opt).to(opt.device)
    path = os.path.join(opt.checkpoints_dir, opt.name, f"{opt.which_epoch}_net_E.pth")
    load_state_dict_strict(encoder, load_file(path, opt.device, what="face feature encoder"), path)
    written = write_features(opt, encoder, opt.device)
    print(f"wrote {written}")
    return written


if __name__ == "__main__":
    from util.cli import run

    sys.exit(run(main))
