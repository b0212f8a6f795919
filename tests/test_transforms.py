"""Transform parameters of every --resize_or_crop mode (reference formulas) and the frame transforms."""

from __future__ import annotations

import argparse
import random

import numpy as np
import pytest
import torch
from PIL import Image

from data.transforms import (
    NEAREST,
    TransformParams,
    get_params,
    make_power_2,
    transform_image,
    transform_label,
)


def transform_opt(mode: str, load: int = 256, fine: int = 192, **overrides) -> argparse.Namespace:
    values = dict(resize_or_crop=mode, loadSize=load, fineSize=fine, isTrain=True, no_flip=False,
                  dataset_mode="temporal")
    values.update(overrides)
    return argparse.Namespace(**values)


# mode, raw (w, h), loadSize, fineSize -> new_size, crop_size, out_size. Worked out by hand from the
# reference's get_img_params (vid2vid.md section 2.3).
DETERMINISTIC = [
    ("scaleWidth", (2048, 1024), 256, 192, (256, 128), None, (256, 128)),
    ("scaleWidth", (1000, 500), 300, 192, (288, 160), None, (288, 160)),  # 300x152 -> 32-multiples
    ("scaleHeight", (2048, 1024), 256, 192, (512, 256), None, (512, 256)),
    ("none", (1000, 500), 256, 192, (992, 512), None, (992, 512)),
    ("none", (2048, 1024), 256, 192, (2048, 1024), None, (2048, 1024)),
    ("crop", (2048, 1024), 256, 192, (2048, 1024), (192, 192), (192, 192)),
    ("crop", (2048, 1024), 256, 200, (2048, 1024), (192, 192), (192, 192)),  # make_power_2(200) = 192
    ("scaledCrop", (2048, 1024), 256, 192, (2048, 1024), (384, 192), (384, 192)),
    ("resize_and_crop", (2048, 1024), 256, 192, (256, 256), (192, 192), (192, 192)),
    ("scaleWidth_and_crop", (2048, 1024), 256, 192, (256, 128), (192, 192), (192, 128)),
    ("scaleWidth_and_scaledCrop", (2048, 1024), 256, 192, (256, 128), (192, 96), (192, 96)),
    ("scaleHeight_and_scaledCrop", (2048, 1024), 256, 192, (512, 256), (384, 192), (384, 192)),
    ("ScaleHeight_and_scaledCrop", (1920, 1080), 512, 256, (1920, 1080), (448, 256), (448, 256)),  # no rule
]


@pytest.mark.parametrize("mode,size,load,fine,new_size,crop_size,out_size", DETERMINISTIC)
def test_sizes_follow_reference_formulas(mode, size, load, fine, new_size, crop_size, out_size):
    for seed in range(5):
        params = get_params(transform_opt(mode, load, fine), size, rng=random.Random(seed))
        assert params.new_size == new_size
        assert params.crop_size == crop_size
        assert params.out_size == out_size


# mode, raw (w, h), loadSize, fineSize -> the side drawn at random and its crop, if any.
RANDOM = [
    ("randomScaleWidth", (2048, 1024), 256, 192, None),
    ("randomScaleHeight", (2048, 1024), 256, 192, None),
    ("randomScaleHeight_and_scaledCrop", (1920, 1080), 512, 256, (448, 256)),
]


@pytest.mark.parametrize("mode,size,load,fine,crop_size", RANDOM)
def test_random_scales_stay_in_reference_range(mode, size, load, fine, crop_size):
    w, h = size
    seen = set()
    for seed in range(200):
        params = get_params(transform_opt(mode, load, fine), size, rng=random.Random(seed))
        assert params.crop_size == crop_size
        new_w, new_h = params.new_size
        if "Width" in mode:
            drawn = random.Random(seed).randint(fine, load + 1)
            expected = (int(round(drawn / 4)) * 4, int(round(drawn * h // w / 4)) * 4)
        else:
            drawn = random.Random(seed).randint(fine, load + 1)
            expected = (int(round(drawn * w // h / 4)) * 4, int(round(drawn / 4)) * 4)
        if crop_size is None:
            expected = (make_power_2(expected[0]), make_power_2(expected[1]))
        assert params.new_size == expected
        seen.add(params.new_size)
    assert len(seen) > 2


def test_crop_position_is_centred_gaussian_and_top_eighth():
    xs, ys = [], []
    for seed in range(400):
        params = get_params(transform_opt("crop", fine=192), (2048, 1024), rng=random.Random(seed))
        x, y = params.crop_pos
        assert 0 <= x <= 2 * ((2048 - 192) // 2)
        assert 0 <= y <= min(1024 - 192, 1024 // 8)
        xs.append(x)
        ys.append(y)
    span = (2048 - 192) // 2
    assert abs(np.mean(xs) - span) < span / 10  # centred
    assert np.std(xs) == pytest.approx(span / 3, rel=0.2)
    assert max(ys) > 100  # uses the whole top eighth (128 pixels)


def test_make_power_2_rounds_to_nearest_multiple_of_32():
    assert [make_power_2(n) for n in (15, 17, 47, 49, 96, 200)] == [0, 32, 32, 64, 96, 192]


@pytest.mark.parametrize("is_train,no_flip,mode,can_flip", [
    (True, False, "temporal", True), (True, True, "temporal", False), (False, False, "test", False),
    (True, False, "pose", False),
])
def test_flip_only_in_training_without_no_flip_and_never_in_pose(is_train, no_flip, mode, can_flip):
    opt = transform_opt("scaleWidth", isTrain=is_train, no_flip=no_flip, dataset_mode=mode)
    flips = [get_params(opt, (2048, 1024), rng=random.Random(seed)).flip for seed in range(50)]
    assert any(flips) == can_flip
    if can_flip:
        assert not all(flips)


def test_params_are_frozen_and_reproducible():
    opt = transform_opt("scaleWidth_and_crop")
    first = get_params(opt, (2048, 1024), rng=random.Random(3))
    assert first == get_params(opt, (2048, 1024), rng=random.Random(3))
    with pytest.raises(AttributeError):
        first.flip = True  # type: ignore[misc]


def _aligned_pair(w: int = 96, h: int = 64) -> tuple[Image.Image, Image.Image]:
    """A label map of ids and an RGB image whose red channel is 7 x id at every pixel."""
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 35, size=(h // 8, w // 8)).repeat(8, 0).repeat(8, 1).astype(np.uint8)
    ids[:, : w // 3] = np.arange(h, dtype=np.uint8)[:, None] % 35  # asymmetric, so flips show
    rgb = np.stack([ids * 7, np.full_like(ids, 100), ids], axis=-1).astype(np.uint8)
    return Image.fromarray(ids, "L"), Image.fromarray(rgb, "RGB")


@pytest.mark.parametrize("params", [
    TransformParams(new_size=(48, 32)),
    TransformParams(new_size=(96, 64), crop_pos=(10, 5), crop_size=(64, 32), flip=True),
    TransformParams(new_size=(48, 32), crop_pos=(3, 2), crop_size=(32, 32), flip=True),
])
def test_label_and_image_get_the_same_geometry(params):
    label_img, rgb_img = _aligned_pair()
    label = transform_label(label_img, params)
    image = transform_image(rgb_img, params, method=NEAREST, normalize=False)
    out_w, out_h = params.out_size
    assert label.shape == (1, out_h, out_w) and label.dtype == torch.float32
    assert image.shape == (3, out_h, out_w)
    torch.testing.assert_close(torch.round(image[0] * 255), label[0] * 7)


def test_flip_and_crop_match_manual_geometry():
    label_img, _ = _aligned_pair()
    full = transform_label(label_img, TransformParams(new_size=(96, 64)))
    cropped = transform_label(label_img, TransformParams((96, 64), (10, 5), (64, 32), flip=True))
    torch.testing.assert_close(cropped, full[:, 5:37, 10:74].flip(-1))


def test_label_ids_are_exact_integers_after_downscale():
    label_img, _ = _aligned_pair()
    label = transform_label(label_img, TransformParams(new_size=(48, 32)))
    values = torch.unique(label)
    torch.testing.assert_close(values, torch.round(values))
    assert set(values.tolist()) <= set(np.unique(np.asarray(label_img)).tolist())


def test_transform_label_keeps_16_bit_ids_and_rejects_rgb():
    ids = np.array([[26001, 7], [26002, 11]], dtype=np.uint16)
    out = transform_label(Image.fromarray(ids), TransformParams(new_size=(2, 2)))
    torch.testing.assert_close(out[0], torch.tensor(ids.astype(np.float32)))
    with pytest.raises(ValueError, match="one channel"):
        transform_label(Image.new("RGB", (4, 4)), TransformParams(new_size=(4, 4)))


def test_transform_image_ranges():
    _, rgb_img = _aligned_pair()
    params = TransformParams(new_size=(48, 32))
    normalized = transform_image(rgb_img, params)
    plain = transform_image(rgb_img, params, normalize=False)
    assert normalized.shape == (3, 32, 48)
    assert normalized.min() >= -1 and normalized.max() <= 1
    assert plain.min() >= 0 and plain.max() <= 1
    torch.testing.assert_close(normalized, plain * 2 - 1)
    gray = transform_image(rgb_img.convert("L"), params)
    assert gray.shape == (1, 32, 48)


@pytest.mark.parametrize("mode", ["RGB", "L", "1", "RGBA", "P", "I", "F"])
def test_to_tensor_is_torchvisions(mode):
    from torchvision.transforms import functional as TF

    from data.transforms import to_tensor

    pixels = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = Image.fromarray(pixels).convert(mode)
    ours, theirs = to_tensor(img), TF.to_tensor(img)
    assert ours.dtype == theirs.dtype and torch.equal(ours, theirs)
