"""scripts/colors_to_ids.py: colour label maps back to lossless id PNGs that the dataset check accepts."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from PIL import Image

from scripts.colors_to_ids import convert, main
from scripts.make_toy_dataset import make_toy_dataset
from util.cli import run
from util.image import colorize_labels, label_colormap


def lowest_id_of_colour(ids: np.ndarray, label_nc: int) -> np.ndarray:
    """The id a colour map can give back: the lowest id sharing each id's palette colour."""
    palette = label_colormap(label_nc)
    lowest = np.array([next(j for j in range(label_nc) if (palette[j] == palette[i]).all())
                       for i in range(label_nc)])
    return lowest[ids]


def test_colour_maps_convert_back_to_the_ids_and_pass_the_check(tmp_path):
    from data.check import check_dataset
    from options import TrainOptions

    root = Path(make_toy_dataset(tmp_path / "data", n_seqs=2, n_frames=3, width=64, height=32, seed=0))
    colours = tmp_path / "colours"
    originals = {}
    for path in sorted((root / "train_A").rglob("*.png")):
        ids = np.asarray(Image.open(path))
        originals[path.relative_to(root / "train_A")] = ids
        target = colours / path.relative_to(root / "train_A")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(colorize_labels(ids, 35)).save(target)
    assert len(np.unique(np.concatenate([i.ravel() for i in originals.values()]))) > 5
    shutil.rmtree(root / "train_A")

    report = convert(colours, root / "train_A", 35)

    assert report == {"files": len(originals), "off_palette_pixels": 0, "off_palette_files": []}
    for relative, ids in originals.items():
        back = Image.open(root / "train_A" / relative)
        assert back.mode == "L" and back.format == "PNG"
        np.testing.assert_array_equal(np.asarray(back), lowest_id_of_colour(ids, 35))
    opt = TrainOptions().parse(["--dataroot", str(root), "--label_nc", "35", "--use_instance", "--gpu_ids", "-1",
                                "--n_frames_G", "2", "--loadSize", "64", "--n_downsample_G", "2"], save=False)
    assert check_dataset(opt) == []


def test_off_palette_colours_are_counted_and_mapped_to_the_nearest(tmp_path):
    colours = np.zeros((4, 8, 3), np.uint8)
    colours[:, :4] = label_colormap(35)[26]  # car
    colours[:, 4:] = label_colormap(35)[7] + np.array([3, -2, 1])  # road, a little off
    Image.fromarray(colours).save(tmp_path / "map.png")
    report = main([str(tmp_path / "map.png"), str(tmp_path / "out")])
    assert report["off_palette_pixels"] == 16 and report["off_palette_files"] == ["map.png"]
    ids = np.asarray(Image.open(tmp_path / "out" / "map.png"))
    assert (ids[:, :4] == 26).all() and (ids[:, 4:] == 7).all()


def test_missing_source_is_one_error(tmp_path, capsys):
    assert run(main, [str(tmp_path / "nothing"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and str(tmp_path / "nothing") in err
    assert not (tmp_path / "out").exists()
