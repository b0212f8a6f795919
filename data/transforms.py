"""Frame transforms: one set of scale / crop / flip parameters per clip, applied to every frame and modality.

:func:`get_params` follows the reference's ``get_img_params`` for every ``--resize_or_crop`` mode
(vid2vid.md section 2.3):

1. new size, first matching (case-sensitive) substring rule wins: ``resize`` -> ``loadSize`` square;
   ``scaleWidth`` / ``scaleHeight`` -> that side is ``loadSize``; ``randomScaleWidth`` / ``randomScaleHeight``
   -> that side uniform in ``[fineSize, loadSize + 1]``; otherwise the size is kept. Both sides are then
   rounded to multiples of 4.
2. crop when the mode contains ``crop`` (``fineSize`` square) or ``scaledCrop`` (``fineSize`` along the
   side named by ``Width`` / height otherwise, aspect ratio kept); the crop sides are rounded to the nearest
   multiple of 32 (:func:`make_power_2`); x is Gaussian around the centre, y limited to the top eighth.
   Without a crop the new size itself is rounded to multiples of 32, as the generators need.
3. flip with probability 1/2, only in training, never with ``--no_flip`` or in pose mode.

:func:`transform_image` and :func:`transform_label` apply those parameters to one PIL frame.
"""

from __future__ import annotations

import argparse
import random
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

BICUBIC = Image.BICUBIC
BILINEAR = Image.BILINEAR
NEAREST = Image.NEAREST

# Single-channel PIL modes that hold integer ids (labels, instances).
ID_MODES = ("L", "P", "I", "I;16", "I;16B", "I;16L")


@dataclass(frozen=True)
class TransformParams:
    """Scale, crop and flip shared by every frame of a clip.

    Attributes:
        new_size: (width, height) the frame is resized to, in pixels.
        crop_pos: (x, y) of the crop's top-left corner in the resized frame, in pixels.
        crop_size: (width, height) of the crop, or None when the mode does not crop.
        flip: whether frames are mirrored left-right.
    """

    new_size: tuple[int, int]
    crop_pos: tuple[int, int] = (0, 0)
    crop_size: tuple[int, int] | None = None
    flip: bool = False

    @property
    def out_size(self) -> tuple[int, int]:
        """(width, height) of a transformed frame (the crop is clipped to the resized frame)."""
        if self.crop_size is None:
            return self.new_size
        (w, h), (x, y), (cw, ch) = self.new_size, self.crop_pos, self.crop_size
        if w <= cw and h <= ch:
            return self.new_size
        return min(w, x + cw) - x, min(h, y + ch) - y


def make_power_2(n: float, base: int = 32) -> int:
    """Round ``n`` to the nearest multiple of ``base`` (the reference's misnamed helper)."""
    return int(round(n / base) * base)


def _round4(n: float) -> int:
    return int(round(n / 4)) * 4


def scaled_size(mode: str, size: tuple[int, int], load_size: int, fine_size: int,
                rng: random.Random) -> tuple[int, int]:
    """(new_w, new_h) after the resize rule of ``mode``, rounded to multiples of 4 (before any crop)."""
    w, h = size
    new_w, new_h = w, h
    if "resize" in mode:
        new_w = new_h = load_size
    elif "scaleWidth" in mode:
        new_w, new_h = load_size, load_size * h // w
    elif "scaleHeight" in mode:
        new_w, new_h = load_size * w // h, load_size
    elif "randomScaleWidth" in mode:
        new_w = rng.randint(fine_size, load_size + 1)
        new_h = new_w * h // w
    elif "randomScaleHeight" in mode:
        new_h = rng.randint(fine_size, load_size + 1)
        new_w = new_h * w // h
    return _round4(new_w), _round4(new_h)


def crop_size_for(mode: str, size: tuple[int, int], fine_size: int) -> tuple[int, int] | None:
    """(crop_w, crop_h) of ``mode`` (multiples of 32) for an original ``size`` (w, h); None without a crop."""
    if "crop" not in mode and "scaledCrop" not in mode:
        return None
    w, h = size
    if "crop" in mode:
        crop_w = crop_h = fine_size
    elif "Width" in mode:
        crop_w, crop_h = fine_size, fine_size * h // w
    else:
        crop_w, crop_h = fine_size * w // h, fine_size
    return make_power_2(crop_w), make_power_2(crop_h)


def crop_position(new_size: tuple[int, int], crop_size: tuple[int, int], rng: random.Random) -> tuple[int, int]:
    """Reference crop corner: x ~ N(centre, span/3) clipped to [0, 2 span]; y uniform in the top eighth."""
    (new_w, new_h), (crop_w, crop_h) = new_size, crop_size
    x_span = (new_w - crop_w) // 2
    crop_x = max(0, min(2 * x_span, int(rng.gauss(0.0, 1.0) * x_span / 3 + x_span)))
    crop_y = rng.randint(0, min(max(0, new_h - crop_h), new_h // 8))
    return crop_x, crop_y


def get_params(opt: argparse.Namespace, size: tuple[int, int], rng: random.Random | None = None) -> TransformParams:
    """Draw the transform parameters of one clip from the size of its first frame.

    Args:
        opt: Options with ``resize_or_crop``, ``loadSize``, ``fineSize``, ``isTrain``, ``no_flip`` and
            ``dataset_mode``.
        size: (width, height) of the raw frames, in pixels.
        rng: Random source; the module-level ``random`` when None.

    Returns:
        The parameters; ``flip`` is already False where flipping does not apply.
    """
    rng = rng if rng is not None else random.Random(random.getrandbits(64))
    mode = opt.resize_or_crop
    new_size = scaled_size(mode, size, opt.loadSize, opt.fineSize, rng)
    crop = crop_size_for(mode, size, opt.fineSize)
    crop_pos = (0, 0)
    if crop is None:
        new_size = (make_power_2(new_size[0]), make_power_2(new_size[1]))
    else:
        crop_pos = crop_position(new_size, crop, rng)
        if "resize" in mode:
            # The reference resizes to exactly loadSize x loadSize here; only the crop span used the rounding.
            new_size = (opt.loadSize, opt.loadSize)
    flip = rng.random() > 0.5
    flip_allowed = opt.isTrain and not opt.no_flip and opt.dataset_mode != "pose"
    return TransformParams(new_size=new_size, crop_pos=crop_pos, crop_size=crop, flip=flip and flip_allowed)


def apply_geometry(img: Image.Image, params: TransformParams, method: int = BICUBIC) -> Image.Image:
    """Resize with ``method``, crop (only when the frame is larger than the crop) and flip a PIL frame."""
    if img.size != params.new_size:
        img = img.resize(params.new_size, method)
    if params.crop_size is not None:
        (w, h), (x, y), (cw, ch) = img.size, params.crop_pos, params.crop_size
        if w > cw or h > ch:
            img = img.crop((x, y, min(w, x + cw), min(h, y + ch)))
    if params.flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return img


def transform_image(img: Image.Image, params: TransformParams, method: int = BICUBIC,
                    normalize: bool = True) -> torch.Tensor:
    """Transform a photo-like frame.

    Args:
        img: PIL image with C channels (convert it to ``RGB`` / ``L`` first as needed).
        params: The clip's parameters.
        method: PIL resampling filter (BICUBIC for photos, BILINEAR for drawn edges, NEAREST for ids).
        normalize: map to [-1, 1] when True, keep [0, 1] otherwise.

    Returns:
        (C, H, W) float32 tensor, H x W = ``params.out_size`` reversed.
    """
    tensor = to_tensor(apply_geometry(img, params, method))
    return tensor.sub(0.5).div(0.5) if normalize else tensor


def to_tensor(img: Image.Image) -> torch.Tensor:
    """torchvision's ``to_tensor`` without importing torchvision (seconds of start-up): (H, W[, C]) -> (C, H, W).

    8-bit images become float32 in [0, 1] (``/ 255``), 1-bit images 0.0 / 1.0; other modes (``I``, ``F``) keep
    their numbers and dtype.
    """
    array = np.array(img, copy=True)
    tensor = torch.from_numpy(array[:, :, None] if array.ndim == 2 else array).permute(2, 0, 1).contiguous()
    if array.dtype == np.uint8:
        return tensor.float().div(255)
    return tensor.float() if array.dtype == np.bool_ else tensor


def transform_label(img: Image.Image, params: TransformParams) -> torch.Tensor:
    """Transform a label or instance map, keeping its integer ids (NEAREST resampling).

    Args:
        img: single-channel PIL image of ids (modes ``L``, ``P``, ``I``, ``I;16``).
        params: The clip's parameters.

    Returns:
        (1, H, W) float32 tensor of integer ids (the reference's ToTensor x 255).

    Raises:
        ValueError: the image has more than one channel.
    """
    if img.mode not in ID_MODES:
        raise ValueError(f"label/instance map {getattr(img, 'filename', '')!r} has mode {img.mode} "
                         f"({len(img.getbands())} channels); expected one channel of integer ids")
    if img.mode.startswith("I;16"):
        img = img.convert("I")
    array = np.asarray(apply_geometry(img, params, NEAREST))
    return torch.from_numpy(array.astype(np.float32)).unsqueeze(0)
