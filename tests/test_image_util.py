"""util/image.py: tensor -> image conversions, palettes, flow colouring, saving and input visuals."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from util.image import (
    CITYSCAPES_20_PALETTE,
    CITYSCAPES_35_PALETTE,
    colorize_labels,
    input_visual,
    label_colormap,
    resize_for_aspect_ratio,
    save_image,
    tensor2flow,
    tensor2im,
    tensor2label,
    training_visuals,
)


def test_tensor2im_normalize_and_range() -> None:
    image = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 1, 4).expand(1, 3, 1, 4).contiguous()
    out = tensor2im(image)
    assert out.dtype == np.uint8 and out.shape == (1, 4, 3)
    np.testing.assert_array_equal(out[0, :, 0], [0, 127, 255, 255])
    raw = tensor2im(torch.tensor([[[-0.5, 0.5, 1.0]]]), normalize=False)
    assert raw.shape == (1, 3)  # single channel -> (H, W)
    np.testing.assert_array_equal(raw[0], [0, 127, 255])


def test_tensor2im_takes_batch0_last_frame_first_three_channels() -> None:
    video = torch.rand(2, 3, 4, 5, 6) * 2 - 1  # (B, T, C, H, W) with 4 channels
    expected = np.clip((video[0, -1, :3].permute(1, 2, 0).numpy() + 1) / 2 * 255, 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(tensor2im(video), expected)
    np.testing.assert_array_equal(tensor2im(video[:, -1]), expected)
    np.testing.assert_array_equal(tensor2im(video[0, -1]), expected)


def test_cityscapes_palettes_match_reference_values() -> None:
    cmap = label_colormap(35)
    assert cmap.shape == (35, 3)
    assert (cmap[:5] == 0).all()
    assert tuple(cmap[7]) == (128, 64, 128)
    assert tuple(cmap[26]) == (0, 0, 142) and tuple(cmap[34]) == (0, 0, 142)
    assert tuple(cmap[33]) == (119, 11, 32)
    np.testing.assert_array_equal(label_colormap(20), CITYSCAPES_20_PALETTE)
    assert tuple(CITYSCAPES_20_PALETTE[-1]) == (0, 0, 0) and tuple(CITYSCAPES_20_PALETTE[13]) == (0, 0, 142)
    assert CITYSCAPES_35_PALETTE.dtype == np.uint8


def test_pascal_colormap_bit_interleaving() -> None:
    cmap = label_colormap(8)
    # index 1 -> red top bit; 2 -> green; 4 -> blue; 7 -> all three; 8 would go to bit 6 of red.
    assert tuple(cmap[0]) == (0, 0, 0)
    assert tuple(cmap[1]) == (128, 0, 0)
    assert tuple(cmap[2]) == (0, 128, 0)
    assert tuple(cmap[4]) == (0, 0, 128)
    assert tuple(cmap[7]) == (128, 128, 128)
    assert tuple(label_colormap(9)[8]) == (64, 0, 0)
    assert len({tuple(c) for c in label_colormap(4)}) == 4


def test_tensor2label_argmax_and_ids_agree() -> None:
    ids = torch.randint(0, 35, (1, 1, 6, 8))
    one_hot = torch.zeros(1, 35, 6, 8).scatter_(1, ids, 1.0)
    from_ids = tensor2label(ids.float(), 35)
    from_one_hot = tensor2label(one_hot, 35)
    np.testing.assert_array_equal(from_ids, from_one_hot)
    np.testing.assert_array_equal(from_ids, CITYSCAPES_35_PALETTE[ids[0, 0].numpy()])


def test_colorize_out_of_range_is_black() -> None:
    out = colorize_labels(np.array([[0, 3, 99, -1]]), 4)
    assert (out[0, 2] == 0).all() and (out[0, 3] == 0).all()
    assert tuple(out[0, 3 - 2]) == tuple(label_colormap(4)[3])


def test_tensor2flow_direction_and_magnitude() -> None:
    flow = torch.zeros(1, 2, 2, 2)
    flow[0, 0, 0, 0] = 4.0  # pointing right, largest magnitude
    flow[0, 1, 1, 1] = 2.0  # pointing down, half magnitude
    rgb = tensor2flow(flow)
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (255, 0, 0)  # hue 0 = red, full value
    assert tuple(rgb[0, 1]) == (0, 0, 0)  # zero flow -> black
    # 90 degrees -> OpenCV hue 45 (yellow-green); value is half of the maximum.
    assert rgb[1, 1].max() in (127, 128) and rgb[1, 1, 2] == 0 and rgb[1, 1, 1] > rgb[1, 1, 0]


def test_save_image_format_and_aspect_ratio(tmp_path) -> None:
    image = np.random.default_rng(0).integers(0, 256, (8, 10, 3), dtype=np.uint8)
    save_image(image, tmp_path / "a" / "x.png")
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "a" / "x.png")), image)
    save_image(image, tmp_path / "x.jpg", aspect_ratio=2.0)
    with Image.open(tmp_path / "x.jpg") as saved:
        assert saved.format == "JPEG" and saved.size == (20, 8)
    assert resize_for_aspect_ratio(image, 0.5).shape == (16, 10, 3)


@pytest.mark.parametrize("use_instance", [False, True])
def test_input_visual_label_map_with_edges(use_instance: bool) -> None:
    ids = torch.randint(0, 4, (1, 1, 6, 8))
    one_hot = torch.zeros(1, 4, 6, 8).scatter_(1, ids, 1.0)
    edges = torch.zeros(1, 1, 6, 8)
    edges[..., 2, :] = 1.0
    frames = torch.cat([one_hot, edges], 1) if use_instance else one_hot
    out = input_visual(frames.unsqueeze(1), label_nc=4, use_instance=use_instance)
    colours = label_colormap(4)[ids[0, 0].numpy()]
    np.testing.assert_array_equal(out[0], colours[0])
    if use_instance:
        assert (out[2] == 255).all()  # saturates instead of wrapping around
    else:
        np.testing.assert_array_equal(out[2], colours[2])


def test_input_visual_rgb_face_and_pose() -> None:
    rgb = torch.rand(1, 3, 4, 5)
    np.testing.assert_array_equal(input_visual(rgb, label_nc=0), tensor2im(rgb, normalize=False))
    face = torch.rand(1, 15, 4, 5)
    out = input_visual(face, label_nc=0, dataset_mode="face")
    assert out.shape == (4, 5, 3)
    np.testing.assert_array_equal(out[..., 1], tensor2im(face[:, :1], normalize=False))
    pose = -torch.ones(1, 6, 4, 5)
    pose[:, 0:3] = 0.0  # DensePose mid grey
    pose[:, 3, 1, 1] = 1.0  # one red OpenPose pixel
    out = input_visual(pose, label_nc=0, dataset_mode="pose")
    assert tuple(out[1, 1]) == (255, 0, 0)
    assert tuple(out[0, 0]) == (127, 127, 127)


def test_input_visual_face_box() -> None:
    out = input_visual(torch.zeros(1, 3, 10, 10), label_nc=0, face_box=(2, 6, 3, 7))
    assert (out[2, 3:8] == 255).all() and (out[6, 3:8] == 255).all()
    assert (out[2:7, 3] == 255).all() and (out[2:7, 7] == 255).all()
    assert (out[4, 5] == 0).all()


@pytest.mark.parametrize("with_flow", [False, True])
def test_training_visuals_order_and_shapes(with_flow: bool) -> None:
    video = torch.rand(1, 2, 3, 4, 5) * 2 - 1
    flow = torch.randn(1, 2, 2, 4, 5)
    conf = torch.rand(1, 2, 1, 4, 5)
    visuals = training_visuals(np.zeros((4, 5, 3), np.uint8), fake_image=video, fake_first_image=video[:, 0],
                               fake_raw_image=video, real_image=video, flow_ref=flow, conf_ref=conf,
                               flow=flow if with_flow else None, weight=conf if with_flow else None)
    names = ["input_image", "fake_image", "fake_first_image", "fake_raw_image", "real_image", "flow_ref", "conf_ref"]
    assert list(visuals) == names + (["flow", "weight"] if with_flow else [])
    np.testing.assert_array_equal(visuals["fake_image"], tensor2im(video[0, -1]))
    np.testing.assert_array_equal(visuals["fake_first_image"], tensor2im(video[0, 0]))
    assert visuals["conf_ref"].shape == (4, 5) and visuals["flow_ref"].shape == (4, 5, 3)
