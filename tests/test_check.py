"""The dataset checker finds every planted fault at once, with its path and the fixing flag."""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from data.check import Problem, check_dataset, ensure_dataset_ok, main
from options import options_at_defaults

REPO = Path(__file__).resolve().parent.parent


def make_toy(root: Path, **kwargs) -> Path:
    spec = importlib.util.spec_from_file_location("make_toy_dataset", REPO / "scripts" / "make_toy_dataset.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return Path(module.make_toy_dataset(root, **kwargs))


def check_opt(root: Path, train: bool = True, **overrides) -> argparse.Namespace:
    """train.py's (or test.py's) options at their defaults with the toy street data's settings."""
    values = dict(dataroot=str(root), label_nc=35, use_instance=True, loadSize=64, fineSize=64, ngf=8,
                  **(dict(n_frames_total=3) if train else dict(phase="test")))
    values.update(overrides)
    return options_at_defaults(train, **values)


@pytest.fixture
def clean_root(tmp_path) -> Path:
    return make_toy(tmp_path / "toy", n_seqs=6, n_frames=5, width=64, height=32, seed=0)


def plant_faults(root: Path) -> dict[str, Path]:
    """Break a clean toy dataset in every way the checker knows; return the expected problem paths."""
    frame = "frame_0001.png"
    a, b, inst = root / "train_A", root / "train_B", root / "train_inst"
    (b / "seq0000" / frame).unlink()                                  # frame counts differ
    ids = np.asarray(Image.open(a / "seq0001" / frame)).copy()
    ids[0, 0] = 40
    Image.fromarray(ids).save(a / "seq0001" / frame)                  # label id >= --label_nc
    Image.open(a / "seq0002" / frame).convert("RGB").save(a / "seq0002" / frame)  # 3-channel label map
    data = (b / "seq0003" / frame).read_bytes()
    (b / "seq0003" / frame).write_bytes(data[: len(data) // 2])       # truncated photo
    Image.open(b / "seq0004" / frame).convert("L").save(b / "seq0004" / frame)    # 1-channel photo
    for folder in (a, b, inst):                                       # too short for --n_frames_G 3
        for extra in sorted((folder / "seq0005").iterdir())[2:]:
            extra.unlink()
    shutil.copytree(a / "seq0000", a / "seq0099")                     # sequence without photos
    Image.open(inst / "seq0000" / frame).convert("RGB").save(inst / "seq0000" / frame)  # 3-channel instances
    return {
        "count": b / "seq0000", "label_id": a / "seq0001" / frame, "label_channels": a / "seq0002" / frame,
        "unreadable": b / "seq0003" / frame, "photo_channels": b / "seq0004" / frame, "short": a / "seq0005",
        "unpaired": a / "seq0099", "inst_channels": inst / "seq0000" / frame,
    }


def test_clean_dataset_has_no_problems(clean_root):
    start = time.perf_counter()
    assert check_dataset(check_opt(clean_root)) == []
    assert check_dataset(check_opt(clean_root, train=False, use_real_img=True)) == []
    assert time.perf_counter() - start < 10
    ensure_dataset_ok(check_opt(clean_root))


def test_every_planted_fault_is_reported_at_once(clean_root):
    expected = plant_faults(clean_root)
    problems = check_dataset(check_opt(clean_root))
    by_path = {Path(p.path): p for p in problems}
    assert set(by_path) == set(expected.values()), "\n".join(map(str, problems))
    assert by_path[expected["label_id"]].fix == "--label_nc 41"
    assert "scripts/colors_to_ids.py" in by_path[expected["label_channels"]].fix
    assert "unreadable" in by_path[expected["unreadable"]].message
    assert "RGB" in by_path[expected["photo_channels"]].message
    assert "--n_frames_G" in by_path[expected["short"]].fix
    assert "4 frames" in by_path[expected["count"]].message
    assert str(clean_root / "train_B") in by_path[expected["unpaired"]].message
    with pytest.raises(ValueError) as info:
        ensure_dataset_ok(check_opt(clean_root))
    assert len(problems) == len(expected) + 1  # seq0099 lacks both photos and instances
    assert f"{len(problems)} dataset problem(s)" in str(info.value)
    assert all(str(path) in str(info.value) for path in expected.values())


def test_missing_folders_and_root(clean_root, tmp_path):
    shutil.rmtree(clean_root / "train_inst")
    problems = check_dataset(check_opt(clean_root))
    assert problems == [Problem(str(clean_root / "train_inst"), "missing folder",
                                "check --dataroot and --phase, or drop --use_instance")]
    shutil.rmtree(clean_root / "test_B")
    test_problems = check_dataset(check_opt(clean_root, train=False, use_real_img=True, use_instance=False))
    assert [p.path for p in test_problems] == [str(clean_root / "test_B")]
    assert "--use_real_img" in test_problems[0].fix
    assert check_dataset(check_opt(clean_root, train=False, use_instance=False)) == []
    missing = check_dataset(check_opt(tmp_path / "nowhere"))
    assert len(missing) == 1 and "--dataroot" in missing[0].fix


def test_cli_exit_codes(clean_root, capsys):
    flags = ["--dataroot", str(clean_root), "--label_nc", "35", "--use_instance"]
    assert main(flags) == 0
    assert main(flags[:-1] + ["--label_nc", "20"]) == 1  # toy labels go up to 26
    assert "--label_nc 27" in capsys.readouterr().out
    assert main(flags + ["--test", "--use_real_img"]) == 0


def test_cityscapes_sample_is_clean_and_fast(cityscapes_root):
    start = time.perf_counter()
    problems = check_dataset(check_opt(cityscapes_root))
    assert problems == []
    assert time.perf_counter() - start < 30  # about 3 s of CPU for 450 full-size frames
    low = check_dataset(check_opt(cityscapes_root, train=False, label_nc=30))
    assert low and all(p.fix == "--label_nc 34" for p in low)
