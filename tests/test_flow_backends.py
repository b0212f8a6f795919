"""Weights-free flow back-ends (OpenCV DIS / Farneback) on Cityscapes frames, and the flow cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from PIL import Image
from torchvision.transforms import functional as TF

from models.networks.flow import FlowCache, create_flow_estimator, pair_key
from models.networks.flow.estimator import FlowEstimator
from models.networks.warp import warp
from tests.conftest import DATASETS, require

SHIFT = (3, -2)  # (dx, dy) in pixels


def load_frame(path: Path) -> torch.Tensor:
    """(3, 256, 512) frame in [-1, 1]."""
    with Image.open(path) as image:
        return TF.to_tensor(image.convert("RGB").resize((512, 256), Image.BICUBIC)) * 2 - 1


@pytest.fixture(scope="module")
def frames() -> list[torch.Tensor]:
    folder = require(DATASETS / "Cityscapes" / "train_B" / "seq0000", "Cityscapes sample frames")
    return [load_frame(p) for p in sorted(folder.iterdir())[:2]]


def translated_pair(frame: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(current, previous) with current(p) = previous(p + SHIFT)."""
    dx, dy = SHIFT
    return torch.roll(frame, shifts=(-dy, -dx), dims=(1, 2))[None], frame[None]


def end_point_errors(flow: torch.Tensor, border: int = 16) -> torch.Tensor:
    inner = flow[0, :, border:-border, border:-border]
    return ((inner[0] - SHIFT[0]) ** 2 + (inner[1] - SHIFT[1]) ** 2).sqrt()


def test_dis_recovers_a_known_translation(frames):
    current, previous = translated_pair(frames[0])
    flow, conf = create_flow_estimator("dis", "", torch.device("cpu"))(current, previous)
    assert flow.shape == (1, 2, 256, 512) and conf.shape == (1, 1, 256, 512)
    assert end_point_errors(flow).mean() < 0.5
    assert conf[0, 0, 16:-16, 16:-16].mean() > 0.9


def test_farneback_recovers_a_known_translation_on_most_pixels(frames):
    # Farneback stays near zero on textureless road and sky, so its mean EPE is ~1.2 px here; its median is not.
    current, previous = translated_pair(frames[0])
    flow, _ = create_flow_estimator("farneback", "", torch.device("cpu"))(current, previous)
    assert end_point_errors(flow).median() < 0.5


@pytest.mark.parametrize("backend", ["dis", "farneback"])
def test_warping_with_flow_brings_the_previous_frame_closer(frames, backend):
    previous, current = frames[0][None], frames[1][None]
    flow, conf = create_flow_estimator(backend, "", torch.device("cpu"))(current, previous)
    before = (current - previous).abs().mean()
    after = (current - warp(previous, flow)).abs().mean()
    assert after < 0.5 * before
    assert 0.5 < conf.mean() <= 1.0


def test_five_dimensional_input_and_dtype(frames):
    clip = torch.stack(frames)[None, :, :, :64, :96].contiguous()  # (1, 2, 3, 64, 96)
    estimator = create_flow_estimator("dis", "", torch.device("cpu"))
    flow, conf = estimator(clip, torch.roll(clip, 1, dims=-1))
    assert flow.shape == (1, 2, 2, 64, 96) and conf.shape == (1, 2, 1, 64, 96)
    assert flow.dtype == clip.dtype and flow.device == clip.device
    with pytest.raises(ValueError, match="expected two"):
        estimator(clip, clip[:, :1])


class CountingEstimator(FlowEstimator):
    """Flow = the frame difference's first two channels; counts computed pairs."""

    name = "counting"

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.computed = 0

    def compute(self, current, previous):
        self.computed += current.shape[0]
        return (current - previous)[:, :2], torch.ones_like(current[:, :1])


def test_cache_reuses_flow_and_never_mixes_keys_sizes_or_backends(tmp_path):
    estimator = CountingEstimator(cache=FlowCache(str(tmp_path), "counting|v1"))
    current, previous = torch.randn(2, 3, 3, 8, 12), torch.randn(2, 3, 3, 8, 12)
    keys = [[pair_key(f"s{b}/f{t + 1}.png", f"s{b}/f{t}.png") for t in range(3)] for b in range(2)]
    flow, conf = estimator(current, previous, keys)
    assert estimator.computed == 6
    again, _ = estimator(current * 0, previous * 0, keys)  # content ignored: served from the cache
    assert estimator.computed == 6
    torch.testing.assert_close(again, flow)
    flat = [k for row in keys for k in row]
    estimator(current[:, :1], previous[:, :1], [flat[0], flat[3]])  # hits, given flat
    assert estimator.computed == 6
    flipped = [pair_key(f"s0/f{t + 1}.png", f"s0/f{t}.png", flip=True) for t in range(3)]
    estimator(current[:1], previous[:1], flipped)
    assert estimator.computed == 9
    estimator(current[:1, :, :, :4], previous[:1, :, :, :4], flipped)  # other size
    assert estimator.computed == 12
    other = CountingEstimator(cache=FlowCache(str(tmp_path), "counting|v2"))
    other(current, previous, keys)
    assert other.computed == 6
    with pytest.raises(ValueError, match="cache keys"):
        estimator(current, previous, flat[:5])


def test_cache_recomputes_a_damaged_file(tmp_path):
    cache = FlowCache(str(tmp_path), "counting")
    estimator = CountingEstimator(cache=cache)
    current, previous = torch.randn(1, 3, 4, 5), torch.randn(1, 3, 4, 5)
    estimator(current, previous, ["a|b|0|"])
    cache.path("a|b|0|", (4, 5)).write_bytes(b"not a checkpoint")
    flow, _ = estimator(current, previous, ["a|b|0|"])
    assert estimator.computed == 2
    torch.testing.assert_close(flow, (current - previous)[:, :2])


def test_create_flow_estimator_with_cache_dir(tmp_path, frames):
    estimator = create_flow_estimator("dis", "", torch.device("cpu"), cache_dir=str(tmp_path))
    current, previous = frames[1][None, :, :64, :128], frames[0][None, :, :64, :128]
    first, _ = estimator(current, previous, ["f1|f0|0|"])
    assert len(list(tmp_path.rglob("*.pt"))) == 1
    second, _ = estimator(current, previous, ["f1|f0|0|"])
    torch.testing.assert_close(second, first, rtol=0, atol=0)


def test_precompute_script_fills_the_cache_training_reads(tmp_path, monkeypatch):
    import dataclasses
    import random

    from data import create_dataset
    from models.networks.flow.cache import content_keys
    from models.networks.flow.opencv_flow import OpenCVFlowEstimator
    from options import TrainOptions
    from scripts.precompute_flow import main

    root = require(DATASETS / "Cityscapes", "Cityscapes sample data")
    flags = ["--dataroot", str(root), "--flow_backend", "dis", "--loadSize", "128", "--gpu_ids", "-1"]
    main(flags + ["--flow_cache", str(tmp_path), "--max_sequences", "1", "--max_frames", "4", "--with_flip"])
    # the consecutive pairs and those --n_frames_D 3 apart (second temporal scale), unflipped and mirrored
    assert len(list(tmp_path.rglob("*.pt"))) == 2 * (3 + 1)
    dataset = create_dataset(TrainOptions().parse(flags, save=False))
    params = dataclasses.replace(dataset.make_params(0, random.Random(0)), flip=True)
    real = dataset.load_frames(0, [0, 1], params)["B"]  # the training dataset's tensors, keyed by content
    monkeypatch.setattr(OpenCVFlowEstimator, "compute", lambda *args: pytest.fail("pair not precomputed"))
    estimator = create_flow_estimator("dis", "", torch.device("cpu"), cache_dir=str(tmp_path))
    flow, _ = estimator(real[1:], real[:1], content_keys(real[1:], real[:1]))
    assert flow.shape == (1, 2, 64, 128) and flow.abs().max() > 0.1
