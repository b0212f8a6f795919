"""Cityscapes semantic segmenters from local weights: one RGB frame -> a map of Cityscapes *label* ids.

``--seg_model PATH`` chooses the back-end by what PATH is (:data:`SEGMENTERS`, :func:`segmenter_kind`):

- a folder with ``config.json`` (a Hugging Face checkpoint): SegFormer through ``transformers``
  (``pip install -e .[street]``). The released Cityscapes ones are ``nvidia/segformer-b{0..5}-finetuned-
  cityscapes-1024-1024`` (download the folder with ``huggingface-cli download <name> --local-dir DIR``
  on a machine that has internet).
- a ``.pth`` / ``.pt`` file: a torchvision DeepLabV3 state dict (``deeplabv3_resnet50`` / ``_resnet101`` /
  ``_mobilenet_v3_large`` key names, as ``torchvision.models.segmentation`` saves them) whose head predicts the 19
  Cityscapes classes; torchvision publishes only COCO/VOC heads, so this is for a model you fine-tuned yourself.

Whichever it is, a head of 19 outputs predicts train ids, converted to label ids
(:func:`data.cityscapes_ids.train_to_label_ids`); a head of 34 or 35 outputs predicts label ids directly. The
written maps always hold **label ids** (what ``--label_nc 35`` reads).
"""

from __future__ import annotations

import os
from typing import Callable, Protocol

import numpy as np
import torch
from torch import nn

from data.cityscapes_ids import N_LABEL_IDS, N_TRAIN_IDS, train_to_label_ids
from util.checkpoint import CheckpointError, load_file, load_state_dict_strict

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SEGFORMER_HINT = ("download a SegFormer Cityscapes checkpoint folder (config.json + model.safetensors), e.g. "
                  "nvidia/segformer-b0-finetuned-cityscapes-1024-1024 from the Hugging Face hub, and pass the "
                  "folder with --seg_model")
DEEPLAB_HINT = ("pass a torchvision DeepLabV3 state dict with a 19-class Cityscapes head (.pth) or a SegFormer "
                "Cityscapes folder with --seg_model")


class Segmenter(Protocol):
    """A loaded segmenter: ``(H, W, 3)`` uint8 RGB -> ``(H, W)`` uint8 Cityscapes label ids."""

    def __call__(self, rgb: np.ndarray) -> np.ndarray: ...


def normalize_frame(rgb: np.ndarray, device: torch.device) -> torch.Tensor:
    """(H, W, 3) uint8 RGB -> (1, 3, H, W) float32, ImageNet mean/std normalised, on ``device``."""
    tensor = torch.from_numpy(np.array(rgb, dtype=np.uint8)).to(device).permute(2, 0, 1).float().div(255.0)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(3, 1, 1)
    return ((tensor - mean) / std).unsqueeze(0)


def logits_to_label_ids(logits: torch.Tensor, size: tuple[int, int], source: str) -> np.ndarray:
    """(1, C, h, w) class scores -> (H, W) uint8 label ids at ``size`` = (H, W) (bilinear upsampling, argmax).

    C = 19: train ids, converted; C = 34 or 35: label ids as they are.
    """
    if logits.shape[-2:] != size:
        logits = nn.functional.interpolate(logits, size=size, mode="bilinear", align_corners=False)
    ids = logits.argmax(1)[0].to("cpu", torch.uint8).numpy()
    classes = logits.shape[1]
    if classes == N_TRAIN_IDS:
        return train_to_label_ids(ids)
    if classes in (N_LABEL_IDS, N_LABEL_IDS + 1):
        return ids
    raise CheckpointError(f"{source}: the head predicts {classes} classes; a Cityscapes segmenter predicts 19 "
                          "(train ids) or 34/35 (label ids). " + DEEPLAB_HINT)


# ---------------------------------------------------------------- torchvision DeepLabV3
def deeplab_architecture(state: dict[str, torch.Tensor]) -> tuple[str, int, bool]:
    """(torchvision builder name, number of classes, aux head present) from a DeepLabV3 state dict's keys."""
    if not isinstance(state, dict) or "classifier.4.weight" not in state:
        raise CheckpointError("not a torchvision DeepLabV3 state dict (no classifier.4.weight). " + DEEPLAB_HINT)
    classes = int(state["classifier.4.weight"].shape[0])
    aux = any(key.startswith("aux_classifier.") for key in state)
    if "backbone.layer4.0.conv1.weight" in state:
        name = "deeplabv3_resnet101" if "backbone.layer3.22.conv1.weight" in state else "deeplabv3_resnet50"
    else:
        name = "deeplabv3_mobilenet_v3_large"
    return name, classes, aux


class DeepLabSegmenter:
    """A torchvision DeepLabV3 with a Cityscapes head, from a local state dict.

    Args:
        path: The ``.pth`` state dict (optionally wrapped as ``{"model": ...}`` / ``{"state_dict": ...}``).
        device: Where the network runs.
    """

    def __init__(self, path: str, device: torch.device) -> None:
        import torchvision.models.segmentation as seg

        state = load_file(path, what="--seg_model", hint=DEEPLAB_HINT)
        for wrapper in ("model", "state_dict", "model_state"):
            if isinstance(state, dict) and isinstance(state.get(wrapper), dict):
                state = state[wrapper]
        name, classes, aux = deeplab_architecture(state)
        self.net = getattr(seg, name)(weights=None, weights_backbone=None, num_classes=classes, aux_loss=aux)
        load_state_dict_strict(self.net, state, source=f"--seg_model {path}", advice="")
        self.net.eval().to(device)
        self.device, self.source = device, path

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 label ids."""
        logits = self.net(normalize_frame(rgb, self.device))["out"]
        return logits_to_label_ids(logits, rgb.shape[:2], self.source)


# ---------------------------------------------------------------- SegFormer (transformers)
class SegFormerSegmenter:
    """A SegFormer from a local Hugging Face folder (``config.json`` + ``model.safetensors`` / ``.bin``).

    Args:
        path: The checkpoint folder.
        device: Where the network runs.
    """

    def __init__(self, path: str, device: torch.device) -> None:
        try:
            from transformers import SegformerForSemanticSegmentation
        except ImportError as err:
            raise CheckpointError(f"--seg_model {path} is a SegFormer folder, which needs the transformers "
                                  "package: pip install -e .[street]") from err
        try:
            self.net = SegformerForSemanticSegmentation.from_pretrained(path, local_files_only=True,
                                                                        use_safetensors=None)
        except (OSError, ValueError) as err:
            raise CheckpointError(f"--seg_model {path}: cannot load a SegFormer from this folder ({err}). "
                                  + SEGFORMER_HINT) from err
        self.net.eval().to(device)
        self.device, self.source = device, path

    @torch.no_grad()
    def __call__(self, rgb: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 label ids (SegFormer's logits are at 1/4 size, upsampled)."""
        logits = self.net(pixel_values=normalize_frame(rgb, self.device)).logits
        return logits_to_label_ids(logits, rgb.shape[:2], self.source)


SEGMENTERS: dict[str, Callable[[str, torch.device], Segmenter]] = {
    "segformer": SegFormerSegmenter,
    "deeplabv3": DeepLabSegmenter,
}


def segmenter_kind(path: str) -> str:
    """The :data:`SEGMENTERS` key for ``path``: a folder with config.json is SegFormer, a file DeepLabV3.

    Raises:
        CheckpointError: nothing usable at ``path`` (the message says where to get a model).
    """
    if os.path.isdir(path) and os.path.isfile(os.path.join(path, "config.json")):
        return "segformer"
    if os.path.isfile(path):
        return "deeplabv3"
    what = "folder without config.json" if os.path.isdir(path) else "file not found"
    raise CheckpointError(f"--seg_model {path}: {what}. {SEGFORMER_HINT}; or {DEEPLAB_HINT}")


def load_segmenter(path: str, device: torch.device | str = "cpu") -> Segmenter:
    """The segmenter stored at ``path`` (see the module docstring), ready on ``device``."""
    return SEGMENTERS[segmenter_kind(path)](path, torch.device(device))
