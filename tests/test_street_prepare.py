"""Street preparation: Cityscapes train ids -> label ids, segmenters and Mask R-CNN from random weights saved
in the published layouts, the instance-id format, and a written sequence that the dataset checker accepts."""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from data.cityscapes_ids import (
    INSTANCE_LABELS,
    TRAIN_TO_LABEL,
    looks_like_train_ids,
    train_to_label_ids,
    train_to_label_lut,
)
from data.prepare.instances import Detection, InstanceDetector, cityscapes_class, instance_map
from data.prepare.segmenters import load_segmenter
from data.prepare.street import StreetWriter
from tests.conftest import DATASETS, require
from util.checkpoint import CheckpointError

H, W = 32, 64


def label_to_train_ids(labels: np.ndarray) -> np.ndarray:
    """Inverse mapping for the tests: label ids -> train ids (255 for classes without one)."""
    lut = np.full(256, 255, dtype=np.uint8)
    lut[list(TRAIN_TO_LABEL)] = np.arange(len(TRAIN_TO_LABEL))
    return lut[labels]


def test_train_ids_map_to_cityscapes_label_ids():
    train = np.array([[0, 1, 2, 10, 11, 13, 18, 255]], dtype=np.uint8)
    # road 7, sidewalk 8, building 11, sky 23, person 24, car 26, bicycle 33, ignored -> unlabeled 0
    assert train_to_label_ids(train).tolist() == [[7, 8, 11, 23, 24, 26, 33, 0]]
    assert train_to_label_lut()[:19].tolist() == list(TRAIN_TO_LABEL)
    with pytest.raises(ValueError, match="not Cityscapes train ids"):
        train_to_label_ids(np.array([[19]]))


def test_train_id_maps_are_told_from_label_id_maps(cityscapes_root):
    for path in sorted((cityscapes_root / "train_A" / "seq0000").iterdir())[:3]:
        labels = np.asarray(Image.open(path))
        assert not looks_like_train_ids(labels), path
        assert looks_like_train_ids(label_to_train_ids(labels)), path
        assert looks_like_train_ids(np.where(labels == 7, 0, label_to_train_ids(labels) % 255))


def save_deeplab(path, classes: int) -> str:
    """A random-weight torchvision DeepLabV3 (MobileNetV3 backbone, aux head), saved as its state dict."""
    import torchvision.models.segmentation as seg

    torch.manual_seed(0)
    net = seg.deeplabv3_mobilenet_v3_large(weights=None, weights_backbone=None, num_classes=classes, aux_loss=True)
    torch.save(net.state_dict(), path)
    return str(path)


@pytest.mark.parametrize("classes", [19, 35])
def test_deeplab_segmenter_writes_label_ids(tmp_path, classes):
    segmenter = load_segmenter(save_deeplab(tmp_path / "deeplab.pth", classes))
    labels = segmenter(np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8))
    assert labels.shape == (H, W) and labels.dtype == np.uint8
    allowed = set(TRAIN_TO_LABEL) if classes == 19 else set(range(35))
    assert set(np.unique(labels).tolist()) <= allowed


def save_segformer(folder) -> str:
    """A tiny random SegFormer with a 19-class head, saved as a Hugging Face folder (config.json + safetensors)."""
    transformers = pytest.importorskip("transformers", reason="SegFormer back-end needs pip install -e .[street]")
    config = transformers.SegformerConfig(num_labels=19, hidden_sizes=[8, 16, 24, 32], num_attention_heads=[1, 1, 1, 1],
                                          depths=[1, 1, 1, 1], decoder_hidden_size=16)
    torch.manual_seed(0)
    transformers.SegformerForSemanticSegmentation(config).save_pretrained(folder)
    return str(folder)


def test_segformer_segmenter_writes_label_ids(tmp_path):
    folder = save_segformer(tmp_path / "segformer")
    assert os.path.isfile(os.path.join(folder, "config.json"))
    labels = load_segmenter(folder)(np.random.default_rng(1).integers(0, 256, (H, W, 3), dtype=np.uint8))
    assert labels.shape == (H, W) and set(np.unique(labels).tolist()) <= set(TRAIN_TO_LABEL)


def prepare_video_script():
    import importlib.util

    from tests.conftest import REPO

    spec = importlib.util.spec_from_file_location("prepare_video_script", REPO / "scripts" / "prepare_video.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def photo_folder(tmp_path, count: int = 4):
    """The first Cityscapes sample photos at 64x32 in a frame folder."""
    photos = require(DATASETS / "Cityscapes" / "train_B" / "seq0000", "Cityscapes sample photos")
    folder = tmp_path / "drive"
    folder.mkdir()
    for i, path in enumerate(sorted(photos.iterdir())[:count]):
        Image.open(path).convert("RGB").resize((W, H)).save(folder / f"{i:03d}.png")
    return folder


@pytest.mark.parametrize("flags, named", [(["--seg_model", "nope/seg.pth"], "nope/seg.pth"), ([], "--seg_model")])
def test_missing_weights_is_one_error_line(tmp_path, capsys, flags, named):
    from util.cli import run

    frames = tmp_path / "frames"
    frames.mkdir()
    Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(frames / "0.png")
    code = run(prepare_video_script().main, ["--mode", "street", "--input", str(frames), "--dataroot",
                                             str(tmp_path / "out"), *flags])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and named in err[0]
    assert "segformer" in err[0].lower()
    assert not (tmp_path / "out").exists()
    with pytest.raises(CheckpointError, match="inst.pth.*maskrcnn_resnet50_fpn_coco"):
        InstanceDetector(str(tmp_path / "inst.pth"))


def test_instance_map_uses_cityscapes_instance_ids():
    semantic = np.full((H, W), 7, np.uint8)  # road
    semantic[2:10, 2:20] = 26
    semantic[2:10, 30:50] = 26
    semantic[20:30, 5:15] = 24
    semantic[12:16, 40:60] = 26  # a car nobody detected: plain label id
    masks = [np.zeros((H, W), bool) for _ in range(4)]
    masks[0][2:10, 2:20] = True
    masks[1][2:10, 30:52] = True     # spills over the road: those pixels stay road
    masks[2][20:30, 5:15] = True
    masks[3][0:4, 0:4] = True        # a "truck" where the segmenter sees no truck: no pixels
    dets = [Detection(26, masks[0], 0.7), Detection(26, masks[1], 0.9), Detection(24, masks[2], 0.8),
            Detection(27, masks[3], 0.95)]
    inst = instance_map(semantic, dets)
    assert inst.dtype == np.uint16
    assert set(np.unique(inst).tolist()) == {7, 26, 24000, 26000, 26001}
    assert (inst[2:10, 30:50] == 26000).all() and (inst[2:10, 2:20] == 26001).all()  # highest score first
    objects = inst >= 1000
    assert ((inst[objects] // 1000) == semantic[objects]).all()
    assert (inst[~objects] == semantic[~objects]).all()


def test_person_on_rider_pixels_becomes_rider():
    semantic = np.full((H, W), 25, np.uint8)
    mask = np.zeros((H, W), bool)
    mask[:10, :10] = True
    assert cityscapes_class(1, mask, semantic) == 25
    assert cityscapes_class(1, mask, np.full((H, W), 24, np.uint8)) == 24
    assert cityscapes_class(3, mask, semantic) == 26 and cityscapes_class(5, mask, semantic) is None


def published_v1_layout(state: dict) -> OrderedDict:
    """The key names of torchvision's released maskrcnn_resnet50_fpn_coco-bf2d0c1e.pth (before the v2 renames)."""
    renamed = OrderedDict()
    for key, value in state.items():
        key = key.replace("rpn.head.conv.0.0.", "rpn.head.conv.")
        for block in ("inner_blocks", "layer_blocks"):
            for i in range(4):
                key = key.replace(f"fpn.{block}.{i}.0.", f"fpn.{block}.{i}.")
        for i in range(4):
            key = key.replace(f"mask_head.{i}.0.", f"mask_head.mask_fcn{i + 1}.")
        renamed[key] = value
    return renamed


@pytest.fixture(scope="module")
def maskrcnn_file(tmp_path_factory) -> str:
    import torchvision.models.detection as detection

    torch.manual_seed(0)
    net = detection.maskrcnn_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    state = published_v1_layout(net.state_dict())
    assert "rpn.head.conv.weight" in state and "roi_heads.mask_head.mask_fcn1.weight" in state
    path = tmp_path_factory.mktemp("maskrcnn") / "maskrcnn_resnet50_fpn_coco.pth"
    torch.save(state, path)
    return str(path)


def test_street_sequence_is_accepted_by_the_checker_and_resumes(tmp_path, maskrcnn_file):
    from argparse import Namespace

    from data.prepare.frames import open_source
    from data.prepare.pipeline import prepare_sequence

    options = Namespace(seg_model=save_deeplab(tmp_path / "deeplab.pth", 19), inst_model=maskrcnn_file,
                        inst_threshold=0.0, device="cpu")
    writer = StreetWriter("segmenter", options)
    transform = writer.labeler.detector.net.transform  # Mask R-CNN at the tiny size, not 800 px (speed only)
    transform.min_size, transform.max_size = (H,), W
    root, source = tmp_path / "data", open_source(photo_folder(tmp_path))
    report = prepare_sequence(source, writer, root=root, phase="train", seq="clip", progress=False)
    assert report.frames == report.detected == 4 and not report.dropped
    labels = [np.asarray(Image.open(p)) for p in sorted((root / "train_A" / "clip").iterdir())]
    insts = [Image.open(p) for p in sorted((root / "train_inst" / "clip").iterdir())]
    assert len(labels) == len(insts) == len(list((root / "train_B" / "clip").glob("*.jpg"))) == 4
    assert all(set(np.unique(a).tolist()) <= set(TRAIN_TO_LABEL) for a in labels)
    assert all(i.mode.startswith("I") for i in insts)  # 16-bit ids
    for label, inst in zip(labels, (np.asarray(i).astype(np.int64) for i in insts)):
        ids = np.where(inst >= 1000, inst // 1000, inst)
        assert (ids == label).all() and set(np.unique(ids[inst >= 1000]).tolist()) <= set(INSTANCE_LABELS)
    assert prepare_video_script().run_checker(writer, str(root), "train") == []
    again = prepare_sequence(source, writer, root=root, phase="train", seq="clip", progress=False)
    assert again.resumed == 4
    maps = writer.read({key: root / f"train_{key}" / "clip" / "00001.png" for key in ("A", "inst")})
    assert np.array_equal(maps.labels, labels[1]) and maps.instances is not None


def test_street_video_prepares_checks_trains_and_tests(tmp_path, capsys):
    """prepare_video --mode street from an mp4 (segmenter only), a tiny training step on what it wrote, then
    test.py on the written label folder."""
    from tests.test_face_pose_runs import _load
    from tests.test_prepare_video import TINY, TINY_TRAIN, write_video

    folder = photo_folder(tmp_path, count=5)
    video = write_video([np.asarray(Image.open(p)) for p in sorted(folder.iterdir())], tmp_path / "drive.mp4")
    root = tmp_path / "ds"
    seg = save_deeplab(tmp_path / "deeplab.pth", 19)
    script = prepare_video_script()
    assert script.main(["--mode", "street", "--input", str(video), "--dataroot", str(root), "--seg_model", seg,
                        "--no_progress"]) == 0
    assert "no problems found" in capsys.readouterr().out
    assert len(list((root / "train_A" / "drive").glob("*.png"))) == 5 and not (root / "train_inst").exists()
    common = TINY + ["--n_frames_G", "2", "--name", "street", "--checkpoints_dir", str(tmp_path / "ckpt"),
                     "--label_nc", "35"]
    _load("train").main(common + TINY_TRAIN + ["--dataroot", str(root)])
    assert (tmp_path / "ckpt" / "street" / "latest_net_G0.pth").is_file()
    summary = _load("test").main(common + ["--input_video", str(root / "train_A" / "drive"), "--no_first_img",
                                           "--results_dir", str(tmp_path / "results")])
    assert Path(summary["videos"]["drive"]).stat().st_size > 0


def small_street_root(root, source_seq, to_train_ids: bool, frames: int = 3):
    """<root>/train_A (shared label maps, optionally as train ids) and train_B (photos), 64x32."""
    for path in sorted(source_seq.iterdir())[:frames]:
        labels = np.asarray(Image.open(path).resize((W, H), Image.NEAREST))
        a = root / "train_A" / "s0" / path.name
        b = root / "train_B" / "s0" / path.name.replace(".png", ".jpg")
        a.parent.mkdir(parents=True, exist_ok=True)
        b.parent.mkdir(parents=True, exist_ok=True)
        if to_train_ids:
            labels = label_to_train_ids(labels)
            labels[:2, :2] = 255  # an ignored patch, as segmentation ground truth has
        Image.fromarray(labels).save(a)
        Image.fromarray(np.zeros((H, W, 3), np.uint8)).save(b)


CHECK_FLAGS = ["--label_nc", "35", "--n_frames_G", "2", "--loadSize", "64", "--fineSize", "64",
               "--n_downsample_G", "2", "--gpu_ids", "-1"]


def test_checker_catches_a_label_folder_of_train_ids(tmp_path, cityscapes_root):
    from data.check import DatasetError, check_dataset, ensure_dataset_ok, parse_args

    small_street_root(tmp_path, cityscapes_root / "train_A" / "seq0000", to_train_ids=True)
    opt = parse_args(["--dataroot", str(tmp_path)] + CHECK_FLAGS)
    everything = check_dataset(opt)
    problems = [p for p in everything if "train ids" in p.message]
    assert len(problems) == 1 and "label ids" in problems[0].message
    assert not any("--label_nc 256" in p.fix for p in everything)  # 255 is the ignore id, not a class
    assert "python -m data.cityscapes_ids" in problems[0].fix
    with pytest.raises(DatasetError, match="train ids"):
        ensure_dataset_ok(opt)
    # the fix the message gives works
    from data.cityscapes_ids import main as convert_main

    assert convert_main([str(tmp_path / "train_A"), str(tmp_path / "label_ids")]) == 0
    os.rename(tmp_path / "train_A", tmp_path / "train_ids")
    os.rename(tmp_path / "label_ids", tmp_path / "train_A")
    assert check_dataset(opt) == []


def test_checker_accepts_real_label_ids(tmp_path, cityscapes_root):
    from data.check import check_dataset, parse_args

    small_street_root(tmp_path, cityscapes_root / "train_A" / "seq0001", to_train_ids=False)
    assert check_dataset(parse_args(["--dataroot", str(tmp_path)] + CHECK_FLAGS)) == []
