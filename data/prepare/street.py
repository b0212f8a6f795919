"""``prepare_video --mode street``: ``<phase>_A`` (label ids), ``<phase>_inst`` (instance ids), ``<phase>_B`` (photos).

:class:`StreetLabeler` turns one frame into its two maps with back-ends that load local weights only
(``--seg_model``: :mod:`data.prepare.segmenters`; ``--inst_model``: :mod:`data.prepare.instances`);
:class:`StreetWriter` is the mode's writer for :mod:`data.prepare.pipeline` (resume, atomic writes). Label maps are
8-bit PNGs of Cityscapes label ids (``--label_nc 35``), instance maps 16-bit PNGs (``label_id * 1000 + k``).
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import numpy as np
import torch
from PIL import Image

from data.detect.backends import Backend
from data.prepare.base import ModeWriter
from data.prepare.errors import PrepareError
from data.prepare.files import encode_image
from data.prepare.instances import InstanceDetector
from data.prepare.segmenters import Segmenter, load_segmenter

LABEL_NC = 35  # the --label_nc the written maps are for


@dataclass(frozen=True)
class StreetMaps:
    """A frame's street inputs: ``labels`` (H, W) uint8 label ids, ``instances`` (H, W) uint16 ids or None."""

    labels: np.ndarray
    instances: Optional[np.ndarray]


class StreetLabeler:
    """Segmenter plus optional instance detector.

    Args:
        seg_model: ``--seg_model`` path (SegFormer folder or DeepLabV3 state dict).
        inst_model: ``--inst_model`` path (torchvision Mask R-CNN COCO state dict), or None for no instances.
        device: Where both networks run.
        inst_threshold: Lowest detection score kept.
    """

    def __init__(self, seg_model: str, inst_model: Optional[str] = None, device: torch.device | str = "cpu",
                 inst_threshold: float = 0.5) -> None:
        self.segmenter: Segmenter = load_segmenter(seg_model, device)
        self.detector = InstanceDetector(inst_model, device, inst_threshold) if inst_model else None

    def __call__(self, rgb: np.ndarray) -> StreetMaps:
        """(H, W, 3) uint8 RGB frame -> its label map and instance map."""
        labels = self.segmenter(rgb)
        return StreetMaps(labels, self.detector(rgb, labels) if self.detector is not None else None)


def load_segmenter_backend(options: Optional[argparse.Namespace] = None) -> StreetLabeler:
    """The street back-end from ``--seg_model`` (required), ``--inst_model``, ``--inst_threshold``, ``--device``.

    Raises:
        PrepareError: no ``--seg_model`` given.
    """
    seg_model = getattr(options, "seg_model", "") if options is not None else ""
    if not seg_model:
        raise PrepareError("--mode street needs --seg_model: a SegFormer Cityscapes checkpoint folder (e.g. "
                           "nvidia/segformer-b0-finetuned-cityscapes-1024-1024 from the Hugging Face hub) or a "
                           "torchvision DeepLabV3 .pth with a Cityscapes head; see docs/own-video.md")
    return StreetLabeler(seg_model, getattr(options, "inst_model", "") or None, getattr(options, "device", "cpu"),
                         getattr(options, "inst_threshold", 0.5))


def probe_segmenter() -> None:
    """Nothing to probe: torchvision is a base dependency, and the weights are checked when they are loaded."""


#: ``--backend`` -> the street labeler (weights from ``--seg_model`` / ``--inst_model``).
STREET_BACKENDS: dict[str, Backend] = {"segmenter": Backend(load_segmenter_backend, probe_segmenter)}


class StreetWriter(ModeWriter):
    """Street mode: label maps (``A``), instance maps (``inst``, with ``--inst_model``) and photos (``B``)."""

    mode = "temporal"
    photo_folder = "B"
    photo_extension = ".jpg"
    nothing_found = "no labelled pixel"  # never happens: every frame gets a label map
    backends = STREET_BACKENDS

    def __init__(self, backend: str = "segmenter", options: Optional[argparse.Namespace] = None) -> None:
        super().__init__(backend, options)
        self.labeler: StreetLabeler = self.detector
        self.annotations = {"A": ".png", **({"inst": ".png"} if self.labeler.detector is not None else {})}

    def encode(self, folder: str, annotation: Any) -> bytes:
        """``A``: 8-bit PNG of label ids; ``inst``: 16-bit PNG of instance ids."""
        return encode_image(annotation.labels if folder == "A" else annotation.instances, ".png")

    def read(self, paths: dict[str, Path]) -> StreetMaps:
        """The maps of a written frame from its files (``A`` and, when written, ``inst``)."""
        labels = np.asarray(Image.open(paths["A"]))
        instances = np.asarray(Image.open(paths["inst"])).astype(np.uint16) if "inst" in paths else None
        return StreetMaps(labels, instances)

    def blend(self, before: Any, after: Any, weight: float) -> Any:
        """Ids cannot be averaged: the nearer neighbour's maps."""
        return before if weight < 0.5 else after

    def check_flags(self) -> list[str]:
        return ["--label_nc", "35"] + (["--use_instance"] if "inst" in self.annotations else [])
