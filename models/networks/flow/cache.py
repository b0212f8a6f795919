"""On-disk cache of the optical flow of real frame pairs (``--flow_cache DIR``).

The flow between two real frames depends only on the data, so it is computed once and reused across epochs.
One file per pair, named by a hash of (estimator identity, frame size, caller's pair key): a changed backend,
checkpoint, resolution or frame pair never reuses a stale flow. The caller builds one key per pair with
:func:`pair_key` (paths of both frames and the geometric transform applied to them).
"""

from __future__ import annotations

import hashlib
import logging
import os
from pathlib import Path

import torch
from torch import Tensor

from util.checkpoint import atomic_save

logger = logging.getLogger(__name__)


def content_keys(current: Tensor, previous: Tensor) -> list[str]:
    """One key per frame pair (flattened over leading axes): a hash of both frames' values.

    The training model keys its pairs this way, so any flip or crop of the same frames finds its own entry.

    Args:
        current: (..., 3, H, W) current frames; previous: the same shape, the frames the flow points into.
    """
    cur = current.detach().reshape(-1, *current.shape[-3:]).float().cpu().numpy()
    prev = previous.detach().reshape(-1, *previous.shape[-3:]).float().cpu().numpy()
    return [hashlib.sha1(a.tobytes() + b.tobytes()).hexdigest() for a, b in zip(cur, prev)]


def pair_key(path_current: str, path_previous: str, *, flip: bool = False, crop: str = "") -> str:
    """The cache key of one frame pair: ``"<path_cur>|<path_prev>|<flip>|<crop>"``, paths made absolute.

    Args:
        path_current: File of the current frame (the one the flow starts from).
        path_previous: File of the previous frame (the one the flow points into).
        flip: Whether both frames were mirrored.
        crop: Text identifying the resize/crop applied, e.g. :func:`geometry_tag`; empty when none.
    """
    return f"{os.path.abspath(path_current)}|{os.path.abspath(path_previous)}|{int(flip)}|{crop}"


def geometry_tag(new_size: tuple[int, int], crop_pos: tuple[int, int] = (0, 0),
                 crop_size: tuple[int, int] | None = None) -> str:
    """``"<W>x<H>"`` of the resize, plus ``"+<x>+<y>:<w>x<h>"`` of the crop if any (the ``crop`` of :func:`pair_key`).

    Args:
        new_size: (width, height) the frames were resized to.
        crop_pos: (x, y) of the crop in the resized frame.
        crop_size: (width, height) of the crop, or None.
    """
    tag = f"{new_size[0]}x{new_size[1]}"
    if crop_size is not None:
        tag += f"+{crop_pos[0]}+{crop_pos[1]}:{crop_size[0]}x{crop_size[1]}"
    return tag


def file_digest(path: str, chunk: int = 1 << 22) -> str:
    """SHA-256 of a file's content (identifies a checkpoint whatever its name or date)."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(chunk):
            digest.update(block)
    return digest.hexdigest()


class FlowCache:
    """Flow and confidence maps of frame pairs stored under ``root``.

    Args:
        root: Cache folder (created on first write).
        identity: Text identifying the estimator (backend, checkpoint digest, parameters).
    """

    def __init__(self, root: str, identity: str) -> None:
        self.root = Path(root)
        self.identity = identity

    def path(self, key: str, size: tuple[int, int]) -> Path:
        """File of pair ``key`` at ``size`` = (H, W): ``root/<2 hex>/<sha1>.pt``."""
        text = f"{self.identity}\n{size[0]}x{size[1]}\n{key}"
        name = hashlib.sha1(text.encode("utf-8")).hexdigest()
        return self.root / name[:2] / f"{name}.pt"

    def load(self, key: str, size: tuple[int, int], device: torch.device) -> tuple[Tensor, Tensor] | None:
        """Cached (flow (2, H, W) pixels, conf (1, H, W)) of ``key`` on ``device``, or None on a miss.

        An unreadable or mis-shaped file counts as a miss (it is overwritten by the next :meth:`save`).
        """
        path = self.path(key, size)
        if not path.exists():
            return None
        try:
            entry = torch.load(path, map_location=device, weights_only=True)
            flow, conf = entry["flow"], entry["conf"]
        except Exception as err:  # noqa: BLE001 - a damaged cache file is simply recomputed
            logger.warning("ignoring unreadable flow cache file %s (%s)", path, err)
            return None
        if tuple(flow.shape) != (2, *size) or tuple(conf.shape) != (1, *size):
            return None
        return flow, conf

    def save(self, key: str, flow: Tensor, conf: Tensor) -> None:
        """Store one pair's flow (2, H, W) and conf (1, H, W) (copied to the CPU, float32)."""
        path = self.path(key, (flow.shape[-2], flow.shape[-1]))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_save({"flow": flow.detach().float().cpu().contiguous(), "conf": conf.detach().float().cpu().contiguous(),
                     "key": key}, str(path))
