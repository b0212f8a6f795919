"""The synthetic street dataset: layout, label / instance conventions, motion, determinism, speed."""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.check import check_dataset
from options import options_at_defaults

REPO = Path(__file__).resolve().parent.parent


def load_toy_module():
    spec = importlib.util.spec_from_file_location("make_toy_dataset", REPO / "scripts" / "make_toy_dataset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve string annotations through sys.modules
    spec.loader.exec_module(module)
    return module


toy = load_toy_module()


def read(path: Path) -> np.ndarray:
    with Image.open(path) as img:
        return np.asarray(img).copy()


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    start = time.perf_counter()
    root = Path(toy.make_toy_dataset(tmp_path_factory.mktemp("toy") / "toy", n_seqs=2, n_frames=6, width=128,
                                     height=64, seed=0))
    assert time.perf_counter() - start < 20  # a few seconds even on a loaded 2-core machine
    return root


def test_layout(toy_root):
    for phase, names in (("train", ["seq0000", "seq0001"]), ("test", ["test0000"])):
        for key in ("A", "inst", "B"):
            folder = toy_root / f"{phase}_{key}"
            assert sorted(p.name for p in folder.iterdir()) == names
            for name in names:
                assert len(list((folder / name).glob("*.png"))) == 6


def test_labels_instances_and_photos(toy_root):
    label = read(toy_root / "train_A" / "seq0000" / "frame_0003.png")
    inst = read(toy_root / "train_inst" / "seq0000" / "frame_0003.png")
    photo = read(toy_root / "train_B" / "seq0000" / "frame_0003.png")
    assert label.shape == inst.shape == (64, 128) and label.dtype == inst.dtype == np.uint8
    assert photo.shape == (64, 128, 3)
    assert label.max() < 35
    assert {toy.ROAD, toy.SKY, toy.BUILDING, toy.CAR} <= set(np.unique(label).tolist())
    stuff = inst < toy.FIRST_OBJECT_ID
    np.testing.assert_array_equal(inst[stuff], label[stuff])  # background: instance id = label id
    objects = np.unique(inst[~stuff])
    assert len(objects) >= 2
    for obj in objects:
        assert len(np.unique(label[inst == obj])) == 1  # one class per instance
        assert label[inst == obj][0] in (toy.CAR, toy.PERSON)
    sky = label == toy.SKY
    assert photo[sky][:, 2].mean() > photo[sky][:, 0].mean() + 30  # the sky is blue in the photo


def test_objects_move(toy_root):
    first = read(toy_root / "train_inst" / "seq0000" / "frame_0000.png")
    last = read(toy_root / "train_inst" / "seq0000" / "frame_0005.png")
    car_id = np.unique(first[first >= toy.FIRST_OBJECT_ID])[0]
    assert not np.array_equal(first == car_id, last == car_id)


def test_deterministic_for_a_seed(tmp_path):
    a = toy.make_toy_dataset(tmp_path / "a", n_seqs=1, n_frames=2, width=64, height=32, seed=5)
    b = toy.make_toy_dataset(tmp_path / "b", n_seqs=1, n_frames=2, width=64, height=32, seed=5)
    c = toy.make_toy_dataset(tmp_path / "c", n_seqs=1, n_frames=2, width=64, height=32, seed=6)
    for key in ("train_A", "train_inst", "train_B", "test_B"):
        seq = "seq0000" if key.startswith("train") else "test0000"
        for frame in ("frame_0000.png", "frame_0001.png"):
            np.testing.assert_array_equal(read(Path(a, key, seq, frame)), read(Path(b, key, seq, frame)))
    assert not np.array_equal(read(Path(a, "train_B/seq0000/frame_0000.png")),
                              read(Path(c, "train_B/seq0000/frame_0000.png")))


def test_passes_the_dataset_checker(toy_root):
    opt = options_at_defaults(True, dataroot=str(toy_root), label_nc=35, use_instance=True, loadSize=256,
                              fineSize=256)
    assert check_dataset(opt) == []


def test_cli_writes_the_dataset(tmp_path):
    toy.main(["--out", str(tmp_path / "cli"), "--n_seqs", "1", "--n_frames", "2", "--width", "64",
              "--height", "32", "--seed", "1"])
    assert len(list((tmp_path / "cli" / "train_B" / "seq0000").glob("*.png"))) == 2


def test_rejects_impossible_sizes(tmp_path):
    with pytest.raises(ValueError, match="at least 32x32"):
        toy.make_toy_dataset(tmp_path / "bad", n_seqs=1, n_frames=2, width=16, height=16, seed=0)
