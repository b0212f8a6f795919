"""Tensor -> image conversion for display and saving: images, label maps, flows and input visuals.

Conventions follow the reference's ``util/util.py``: a 5-D tensor ``(B, T, C, H, W)`` shows batch 0's last
frame, a 4-D tensor ``(B, C, H, W)`` shows batch 0, and only the first three channels are kept. Every function
returns a NumPy ``uint8`` array, ``(H, W, 3)`` for colour and ``(H, W)`` for a single channel.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from typing import Optional, Tuple

import numpy as np
import torch
from PIL import Image
from torch import Tensor

# Cityscapes label ids 0..34 (the 35-class "train" label maps used by the street scripts).
CITYSCAPES_35_PALETTE = np.array(
    [(0, 0, 0)] * 5 + [
        (111, 74, 0), (81, 0, 81), (128, 64, 128), (244, 35, 232), (250, 170, 160), (230, 150, 140),
        (70, 70, 70), (102, 102, 156), (190, 153, 153), (180, 165, 180), (150, 100, 100), (150, 120, 90),
        (153, 153, 153), (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152),
        (70, 130, 180), (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90),
        (0, 0, 110), (0, 80, 100), (0, 0, 230), (119, 11, 32), (0, 0, 142),
    ],
    dtype=np.uint8,
)

# Cityscapes train ids 0..18 plus 19 = ignore (black).
CITYSCAPES_20_PALETTE = np.array(
    [
        (128, 64, 128), (244, 35, 232), (70, 70, 70), (102, 102, 156), (190, 153, 153), (153, 153, 153),
        (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180), (220, 20, 60),
        (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 80, 100), (0, 0, 230), (119, 11, 32),
        (0, 0, 0),
    ],
    dtype=np.uint8,
)

FaceBox = Tuple[int, int, int, int]


def _select_frame(tensor: Tensor) -> Tensor:
    """(B, T, C, H, W) -> batch 0, last frame; (B, C, H, W) -> batch 0; (C, H, W) and (H, W) unchanged."""
    tensor = tensor.detach()
    if tensor.dim() == 5:
        tensor = tensor[0, -1]
    if tensor.dim() == 4:
        tensor = tensor[0]
    if tensor.dim() == 2:
        tensor = tensor.unsqueeze(0)
    return tensor.to("cpu", torch.float32)


def tensor2im(image: Tensor, normalize: bool = True) -> np.ndarray:
    """Convert an image tensor to a displayable uint8 array.

    Args:
        image: (B, T, C, H, W), (B, C, H, W), (C, H, W) or (H, W); only the first 3 channels are used.
        normalize: True maps [-1, 1] to [0, 255]; False maps [0, 1] to [0, 255]. Values outside clip.

    Returns:
        (H, W, 3) uint8, or (H, W) uint8 for a single-channel input.
    """
    array = _select_frame(image)[:3].numpy().transpose(1, 2, 0)
    array = (array + 1.0) / 2.0 * 255.0 if normalize else array * 255.0
    array = np.clip(array, 0, 255).astype(np.uint8)
    return array[:, :, 0] if array.shape[2] == 1 else array


def label_colormap(n_labels: int) -> np.ndarray:
    """The palette used for ``n_labels`` classes: Cityscapes 35, Cityscapes 20, else PASCAL-style.

    The PASCAL-style map spreads the bits of the class index over the colour channels: in round ``j``
    (0..6) the lowest three remaining bits go to bit ``7 - j`` of red, green and blue.

    Returns:
        (n_labels, 3) uint8 RGB colours.
    """
    if n_labels == 35:
        return CITYSCAPES_35_PALETTE.copy()
    if n_labels == 20:
        return CITYSCAPES_20_PALETTE.copy()
    cmap = np.zeros((n_labels, 3), dtype=np.uint8)
    for index in range(n_labels):
        rgb = [0, 0, 0]
        rest = index
        for j in range(7):
            for channel in range(3):
                rgb[channel] |= ((rest >> channel) & 1) << (7 - j)
            rest >>= 3
        cmap[index] = rgb
    return cmap


def colorize_labels(label_ids: np.ndarray, n_labels: int) -> np.ndarray:
    """Colour an integer label map; ids outside ``[0, n_labels)`` stay black.

    Args:
        label_ids: (H, W) integer class ids.
        n_labels: Number of classes (selects the palette, see ``label_colormap``).

    Returns:
        (H, W, 3) uint8.
    """
    cmap = label_colormap(n_labels)
    ids = label_ids.astype(np.int64)
    valid = (ids >= 0) & (ids < n_labels)
    out = np.zeros(ids.shape + (3,), dtype=np.uint8)
    out[valid] = cmap[ids[valid]]
    return out


def tensor2label(label: Tensor, n_labels: int) -> np.ndarray:
    """Colour a label tensor: argmax over channels when there are several (one-hot), else the ids.

    Args:
        label: (B, T, C, H, W), (B, C, H, W), (C, H, W) or (H, W); C == 1 holds class ids, C > 1 scores.
        n_labels: Number of classes (``--label_nc``).

    Returns:
        (H, W, 3) uint8.
    """
    frame = _select_frame(label)
    ids = frame.argmax(dim=0) if frame.shape[0] > 1 else frame[0].round()
    return colorize_labels(ids.numpy().astype(np.int64), n_labels)


def tensor2flow(flow: Tensor) -> np.ndarray:
    """Colour a flow field: hue = direction, value = magnitude min-max normalised per image.

    Args:
        flow: (B, T, 2, H, W), (B, 2, H, W) or (2, H, W) in pixels; channel 0 is x, channel 1 is y.

    Returns:
        (H, W, 3) uint8 RGB (OpenCV HSV convention: hue in [0, 180), saturation 255).
    """
    import cv2  # here, not at the top: test.py's start-up does not need OpenCV

    frame = _select_frame(flow).numpy()
    magnitude, angle = cv2.cartToPolar(np.ascontiguousarray(frame[0]), np.ascontiguousarray(frame[1]))
    hsv = np.zeros(frame.shape[1:] + (3,), dtype=np.uint8)
    hsv[..., 0] = (angle * 180.0 / np.pi / 2.0).astype(np.uint8)
    hsv[..., 1] = 255
    hsv[..., 2] = cv2.normalize(magnitude, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)


def resize_for_aspect_ratio(image: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Stretch an image for ``--aspect_ratio`` (width / height of the output relative to the input).

    A ratio above 1 widens the image, below 1 makes it taller; 1 returns it unchanged (bicubic).

    Args:
        image: (H, W, 3) or (H, W) uint8.
        aspect_ratio: The requested change of width/height.
    """
    if aspect_ratio == 1.0:
        return image
    height, width = image.shape[:2]
    if aspect_ratio > 1.0:
        size = (int(round(width * aspect_ratio)), height)
    else:
        size = (width, int(round(height / aspect_ratio)))
    return np.asarray(Image.fromarray(image).resize(size, Image.BICUBIC))


def save_image(image: np.ndarray, path: str | os.PathLike, aspect_ratio: float = 1.0) -> None:
    """Save a uint8 array with PIL; the format follows the extension (``.png``, ``.jpg``...).

    Args:
        image: (H, W, 3) or (H, W) uint8.
        path: Output file; its folder is created if missing.
        aspect_ratio: See ``resize_for_aspect_ratio``.
    """
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    Image.fromarray(resize_for_aspect_ratio(image, aspect_ratio)).save(path)


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """(H, W) -> (H, W, 3) by repetition; (H, W, 3) unchanged (copied)."""
    return np.repeat(image[:, :, None], 3, axis=2) if image.ndim == 2 else image.copy()


def _pose_visual(frame: Tensor) -> np.ndarray:
    """(6, H, W) DensePose + OpenPose in [-1, 1] -> DensePose RGB with non-black OpenPose pixels on top.

    Whole pixels are pasted (the reference pastes channel by channel, tinting the DensePose colours).
    """
    densepose = tensor2im(frame[:3])
    openpose = tensor2im(frame[3:6])
    drawn = openpose.any(axis=2)
    densepose[drawn] = openpose[drawn]
    return densepose


def _draw_box(image: np.ndarray, box: FaceBox) -> None:
    """Draw a white 1-pixel rectangle ``(y_start, y_end, x_start, x_end)`` in place, clipped to the image."""
    height, width = image.shape[:2]
    ys, ye, xs, xe = (int(v) for v in box)
    ye, xe = min(ye, height - 1), min(xe, width - 1)
    image[ys, xs:xe + 1] = image[ye, xs:xe + 1] = 255
    image[ys:ye + 1, xs] = image[ys:ye + 1, xe] = 255


def input_visual(input_frames: Tensor, *, label_nc: int, dataset_mode: str = "", use_instance: bool = False,
                 face_box: Optional[FaceBox] = None) -> np.ndarray:
    """A displayable picture of the generator input (the ``input_image`` visual of training).

    - label maps (``label_nc > 0``): colourised argmax of the one-hot channels;
    - pose with 6 channels: DensePose RGB with the OpenPose rendering pasted over it;
    - 3-channel inputs: the RGB channels, [0, 1] scaling as the reference (no [-1, 1] normalisation);
    - anything else (e.g. the 15-channel face input): the first channel as grey.
      (The reference shows the first three face channels as RGB, which mixes unrelated maps.)
    With ``use_instance`` the last channel (instance edges) is added on top, saturating at 255 (the
    reference adds in uint8 and wraps around). ``face_box`` draws the face-discriminator crop in white.

    Args:
        input_frames: (B, T, C, H, W), (B, C, H, W) or (C, H, W) encoded input (one-hot labels + edge, ...).
        label_nc: ``--label_nc``.
        dataset_mode: ``--dataset_mode`` (``pose`` enables the DensePose/OpenPose composite).
        use_instance: Whether the last channel is the instance-edge map in [0, 1].
        face_box: Optional ``(y_start, y_end, x_start, x_end)`` in pixels.

    Returns:
        (H, W, 3) uint8.
    """
    frame = _select_frame(input_frames)
    n_channels = frame.shape[0] - (1 if use_instance else 0)
    if label_nc > 0:
        image = tensor2label(frame[:n_channels], label_nc)
    elif dataset_mode == "pose" and n_channels == 6:
        image = _pose_visual(frame)
    elif n_channels == 3:
        image = tensor2im(frame[:3], normalize=False)
    else:
        image = _as_rgb(tensor2im(frame[:1], normalize=False))
    image = _as_rgb(image)
    if use_instance:
        edges = tensor2im(frame[-1:], normalize=False)
        image = np.clip(image.astype(np.int16) + edges[:, :, None], 0, 255).astype(np.uint8)
    if face_box is not None:
        _draw_box(image, face_box)
    return image


def training_visuals(input_image: np.ndarray, *, fake_image: Tensor, fake_first_image: Tensor,
                     fake_raw_image: Tensor, real_image: Tensor, flow_ref: Tensor, conf_ref: Tensor,
                     flow: Optional[Tensor] = None, weight: Optional[Tensor] = None) -> "OrderedDict[str, np.ndarray]":
    """The training display set, in the reference's order (batch 0, last frame of each tensor).

    Args:
        input_image: (H, W, 3) uint8 from ``input_visual``.
        fake_image, fake_first_image, fake_raw_image, real_image: (B, T, 3, H, W) or (B, 3, H, W) in [-1, 1].
        flow_ref: (B, T, 2, H, W) reference flow in pixels; conf_ref: (B, T, 1, H, W) in [0, 1].
        flow, weight: The generator's flow (pixels) and occlusion weight ([0, 1]); None without flow heads.

    Returns:
        ``input_image, fake_image, fake_first_image, fake_raw_image, real_image, flow_ref, conf_ref``
        and, with flow heads, ``flow, weight``: label -> uint8 image.
    """
    visuals = OrderedDict(input_image=input_image, fake_image=tensor2im(fake_image),
                          fake_first_image=tensor2im(fake_first_image), fake_raw_image=tensor2im(fake_raw_image),
                          real_image=tensor2im(real_image), flow_ref=tensor2flow(flow_ref),
                          conf_ref=tensor2im(conf_ref, normalize=False))
    if flow is not None:
        visuals["flow"] = tensor2flow(flow)
        visuals["weight"] = tensor2im(weight, normalize=False)
    return visuals
