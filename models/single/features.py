"""``features.npy`` of a face single-frame model: per face part, the encoder's features of the training frames.

The released ``edge2face_single/features.npy`` is pix2pixHD's un-clustered features file (what its
``encode_features.py`` saves before the k-means step): a pickled dict ``{part label: (N, feat_nc + 1) float
array}`` with one row per training image, the part's instance-averaged feature (``feat_nc`` = 16 values) then
its area in units of ``H*W/32`` pixels. The face first frame (:mod:`models.single.face_first_frame`) picks the training
image whose parts are nearest to a test frame's, so row ``m`` of every part must be training image ``m`` (a part
missing from a frame gets a stand-in row, see :func:`aligned_features`), and no k-means is run (cluster centres,
pix2pixHD's choice for its street features, would break that alignment).

After the last epoch of ``train.py --model single --dataset_mode face`` the file is written into the run's
folder (the trainer hands the model its dataset factory, :meth:`~models.base_model.BaseModel.finish_training`).
To write it again from a checkpoint: ``python -m training.face_features <the run's train.py flags>``
(``--which_epoch`` picks the encoder, ``--n_feature_frames`` how many frames per sequence).
"""

from __future__ import annotations

import argparse
import logging
import os
from typing import Sequence

import numpy as np
import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset

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


def frame_list(dataset: Dataset, per_sequence: int) -> list[tuple[int, int]]:
    """(sequence, frame) pairs to encode: every frame, or ``per_sequence`` evenly spaced ones per sequence.

    Args:
        dataset: A temporal dataset (``n_sequences()``, ``sequences``: per sequence its frame paths).
        per_sequence: Frames per sequence, 0 for all.
    """
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
        dataset: The face training dataset (built without flips): ``load_frames``, ``sequence_params``.
        frames: (sequence, frame) pairs.
    """

    def __init__(self, dataset: Dataset, frames: list[tuple[int, int]]) -> None:
        self.dataset, self.frames = dataset, frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        seq, frame = self.frames[index]
        sample = self.dataset.load_frames(seq, [frame], self.dataset.sequence_params(seq))
        return {"B": sample["B"][0], "inst": sample["inst"][0]}


@torch.no_grad()
def encode_training_set(opt: argparse.Namespace, encoder: nn.Module, device: torch.device,
                        dataset: Dataset) -> dict[int, np.ndarray]:
    """Encode the training frames of ``dataset`` (built without flips, as pix2pixHD) into aligned per-part rows.

    Args:
        opt: Training options (``n_feature_frames``, ``nThreads``, ``debug``).
        encoder: The face feature encoder ``E``.
        device: Where the encoder runs.
        dataset: The face training dataset, built with ``no_flip``.
    """
    items = TrainingFrames(dataset, frame_list(dataset, opt.n_feature_frames))
    loader = DataLoader(items, batch_size=1, num_workers=0 if opt.debug else opt.nThreads)
    images = []
    for item in loader:
        parts = item["inst"].to(device)
        feat = encoder(item["B"].to(device), parts)
        images.append(part_rows(feat[0], parts[0]))
    return aligned_features(images)


def write_features(opt: argparse.Namespace, encoder: nn.Module, device: torch.device, dataset: Dataset) -> str:
    """Encode ``dataset``'s frames and write ``<checkpoints_dir>/<name>/features.npy``; returns its path."""
    path = os.path.join(opt.checkpoints_dir, opt.name, FEATURES_FILE)
    save_features(encode_training_set(opt, encoder, device, dataset), path)
    return path
