"""Cityscapes instance maps from torchvision's Mask R-CNN (COCO weights): one frame -> ``<phase>_inst`` ids.

``--inst_model PATH`` is a torchvision Mask R-CNN state dict as published: ``maskrcnn_resnet50_fpn_coco-
bf2d0c1e.pth`` (v1) or ``maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth`` (v2), both on download.pytorch.org/models/
(the version is read from the keys). COCO classes become Cityscapes instance classes (:data:`COCO_TO_CITYSCAPES`);
COCO has no *rider*: a person whose mask lies mostly on pixels the segmenter calls rider becomes a rider.

The map (:func:`instance_map`) is the Cityscapes ``instanceIds`` encoding: the semantic label id everywhere, and
``label_id * 1000 + k`` on the pixels of the k-th object of a class, where the segmenter agrees on the class
(so ``id // 1000`` always equals the label map's id). It is written as a 16-bit PNG.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from data.cityscapes_ids import INSTANCE_LABELS, instance_id
from util.checkpoint import CheckpointError, load_file

PERSON, RIDER = 24, 25
#: torchvision's COCO category index (91-way head) -> Cityscapes label id.
COCO_TO_CITYSCAPES = {1: PERSON, 2: 33, 3: 26, 4: 32, 6: 28, 7: 31, 8: 27}
COCO_CLASSES = 91
#: Mask R-CNN's own resize (torchvision's defaults: short side 800, long side at most 1333 pixels).
MIN_SIZE, MAX_SIZE = 800, 1333
MASKRCNN_HINT = ("download torchvision's Mask R-CNN COCO weights (maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth or "
                 "maskrcnn_resnet50_fpn_v2_coco-73cbd019.pth from download.pytorch.org/models/) and pass the file "
                 "with --inst_model")


@dataclass(frozen=True)
class Detection:
    """One detected object: its Cityscapes label id, its (H, W) bool mask and its score in [0, 1]."""

    label_id: int
    mask: np.ndarray
    score: float


def cityscapes_class(coco_label: int, mask: np.ndarray, semantic: np.ndarray) -> int | None:
    """The Cityscapes label id of a COCO detection (None when it has none); person -> rider where the
    segmenter marks most of the mask as rider.

    Args:
        coco_label: torchvision COCO category index.
        mask: (H, W) bool mask of the object.
        semantic: (H, W) label ids of the frame.
    """
    label = COCO_TO_CITYSCAPES.get(int(coco_label))
    if label == PERSON and mask.any():
        under = semantic[mask]
        if np.count_nonzero(under == RIDER) > np.count_nonzero(under == PERSON):
            return RIDER
    return label


def instance_map(semantic: np.ndarray, detections: list[Detection]) -> np.ndarray:
    """The Cityscapes instance-id map of a frame.

    Objects are painted from the highest score down; a pixel belongs to the first object that claims it and
    whose class the segmenter gives that pixel. Objects are numbered per class in that order from 0.

    Args:
        semantic: (H, W) uint8 label ids.
        detections: Objects found in the frame.

    Returns:
        (H, W) uint16: ``label_id`` on pixels without an object, ``label_id * 1000 + k`` on object pixels.
    """
    out = semantic.astype(np.uint16)
    free = np.ones(semantic.shape, dtype=bool)
    counts: dict[int, int] = {}
    for det in sorted(detections, key=lambda d: -d.score):
        if det.label_id not in INSTANCE_LABELS:
            continue
        pixels = det.mask & free & (semantic == det.label_id)
        if not pixels.any():
            continue
        index = counts.get(det.label_id, 0)
        counts[det.label_id] = index + 1
        out[pixels] = instance_id(det.label_id, index)
        free &= ~pixels
    return out


def maskrcnn_builder(state: dict[str, torch.Tensor]) -> str:
    """``maskrcnn_resnet50_fpn`` (fully connected box head ``fc6``) or ``maskrcnn_resnet50_fpn_v2`` (conv head)."""
    return "maskrcnn_resnet50_fpn" if "roi_heads.box_head.fc6.weight" in state else "maskrcnn_resnet50_fpn_v2"


def load_published(net: torch.nn.Module, state: dict[str, torch.Tensor], path: str) -> None:
    """Load a published Mask R-CNN state dict; torchvision's own hooks rename the v1 release's old keys
    (``rpn.head.conv.weight``, ``fpn.inner_blocks.0.weight``, ``mask_head.mask_fcn1.weight``).

    Raises:
        CheckpointError: the keys or shapes do not match (the message names the file and where to get one).
    """
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        first = str(err).split("\n")[:4]
        raise CheckpointError(f"--inst_model {path} is not a torchvision Mask R-CNN COCO state dict "
                              f"({' '.join(line.strip() for line in first)[:300]}); {MASKRCNN_HINT}") from err


class InstanceDetector:
    """torchvision Mask R-CNN with COCO weights, keeping the Cityscapes instance classes.

    Args:
        path: The state dict file (published layout).
        device: Where the network runs.
        threshold: Lowest detection score kept.
        mask_threshold: Mask probability above which a pixel belongs to the object.
    """

    def __init__(self, path: str, device: torch.device | str = "cpu", threshold: float = 0.5,
                 mask_threshold: float = 0.5) -> None:
        import torchvision.models.detection as detection

        state = load_file(path, what="--inst_model", hint=MASKRCNN_HINT)
        if not isinstance(state, dict):
            raise CheckpointError(f"--inst_model {path} holds a {type(state).__name__}, not a state dict; "
                                  + MASKRCNN_HINT)
        name = maskrcnn_builder(state)
        self.net = getattr(detection, name)(weights=None, weights_backbone=None, num_classes=COCO_CLASSES,
                                            min_size=MIN_SIZE, max_size=MAX_SIZE)
        load_published(self.net, state, path)
        self.device = torch.device(device)
        self.net.eval().to(self.device)
        self.threshold, self.mask_threshold = threshold, mask_threshold

    @torch.no_grad()
    def detect(self, rgb: np.ndarray, semantic: np.ndarray) -> list[Detection]:
        """Objects of the Cityscapes instance classes in one frame.

        Args:
            rgb: (H, W, 3) uint8 frame.
            semantic: (H, W) label ids of the frame (tells riders from persons).
        """
        image = torch.from_numpy(np.array(rgb, dtype=np.uint8)).to(self.device).permute(2, 0, 1).float().div(255.0)
        result = self.net([image])[0]
        found = []
        for label, score, prob in zip(result["labels"].tolist(), result["scores"].tolist(), result["masks"]):
            if score < self.threshold or int(label) not in COCO_TO_CITYSCAPES:
                continue
            mask = (prob[0] > self.mask_threshold).cpu().numpy()
            cls = cityscapes_class(label, mask, semantic)
            if cls is not None:
                found.append(Detection(cls, mask, float(score)))
        return found

    def __call__(self, rgb: np.ndarray, semantic: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 frame and its (H, W) label ids -> (H, W) uint16 instance map."""
        return instance_map(semantic, self.detect(rgb, semantic))
