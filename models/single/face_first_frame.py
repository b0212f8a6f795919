"""The face first frame for ``--use_single_G`` (edge2face): pix2pixHD with a feature map chosen from training data.

The released ``edge2face_single`` folder holds a generator conditioned on a 16-channel feature map
(``latest_net_G.pth``), the encoder that produced those features (``latest_net_E.pth``) and ``features.npy``: per
face-part label, the features of every training image. For a test sequence the real first frame is encoded,
averaged per face part, and the training image whose part features are nearest (squared L2 summed over the
parts present) is chosen; its features paint the part regions of the map the generator reads.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch import Tensor, nn

from util.checkpoint import CheckpointError, load_file, load_state_dict_strict
from util.safe_pickle import load_numpy_pickle

HINT = "Download the released face models with `python scripts/face/download_models.py` or pass --single_G_dir"


def load_features(path: str) -> dict[int, np.ndarray]:
    """``features.npy``: {part label: (N_images, feat_num + 1) array} (a pickled dict, as released).

    Read with a restricted unpickler (numpy arrays and plain containers only): a file that would run code is
    refused.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"face single-frame features: file not found: {path}. {HINT}")
    features = load_numpy_pickle(path)
    if not isinstance(features, dict):
        raise CheckpointError(f"{path}: expected a dict of per-part feature arrays, found {type(features).__name__}")
    return {int(k): np.asarray(v) for k, v in features.items()}


def nearest_training_image(query: dict[int, np.ndarray], features: dict[int, np.ndarray]) -> int:
    """Index of the training image whose part features are nearest to ``query`` (parts present in both)."""
    labels = [label for label in query if label in features]
    n_images = min(features[label].shape[0] for label in labels)
    distance = np.zeros(n_images)
    for label in labels:
        stored = features[label][:n_images, : len(query[label])]
        distance += ((stored - query[label][None]) ** 2).sum(1)
    return int(distance.argmin())


class FaceFirstFrame(nn.Module):
    """Makes a face frame from its edge map and the real frame's appearance.

    Args:
        generator: ``Global_with_z`` (edge channels + feature channels -> RGB).
        encoder: ``Encoder`` (RGB + part map -> part-averaged features).
        features: Output of :func:`load_features`.
    """

    def __init__(self, generator: nn.Module, encoder: nn.Module, features: dict[int, np.ndarray]) -> None:
        super().__init__()
        self.generator, self.encoder, self.features = generator, encoder, features

    @torch.no_grad()
    def forward(self, edges: Tensor, image: Tensor, parts: Tensor) -> Tensor:
        """edges (1, 15, H, W), image (1, 3, H, W) in [-1, 1], parts (1, 1, H, W) ids -> (1, 3, H, W)."""
        encoded = self.encoder(image, parts)
        labels = [int(v) for v in torch.unique(parts)]
        query = {}
        for label in labels:
            first = (parts[0, 0] == label).nonzero()[0]
            query[label] = encoded[0, :, first[0], first[1]].float().cpu().numpy()
        chosen = nearest_training_image(query, self.features)
        z = torch.zeros_like(encoded)
        for label in labels:
            if label in self.features:
                stored = self.features[label]
                vector = torch.as_tensor(stored[min(chosen, stored.shape[0] - 1), :-1], dtype=z.dtype)
                mask = (parts == label).expand_as(z[:, :1])
                z[:, :, mask[0, 0]] = vector.to(z.device)[None, :, None]
        return self.generator(edges, z)


def load_face_first_frame(folder: str, generator: nn.Module, encoder: nn.Module,
                          device: torch.device) -> FaceFirstFrame:
    """The three released files of ``folder`` (``edge2face_single``) loaded strictly."""
    for net, name in ((generator, "latest_net_G.pth"), (encoder, "latest_net_E.pth")):
        path = os.path.join(folder, name)
        load_state_dict_strict(net, load_file(path, device, what="face single-frame model", hint=HINT), path)
    features = load_features(os.path.join(folder, "features.npy"))
    return FaceFirstFrame(generator.to(device), encoder.to(device), features)
