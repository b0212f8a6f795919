"""Convert colour label maps (Cityscapes ``*_color.png`` style) back to label ids, as lossless 1-channel PNGs.

Usage::

    python scripts/colors_to_ids.py datasets/mine/train_A_color datasets/mine/train_A --label_nc 35

Every image under ``SOURCE`` (a folder, walked recursively, or one file) is written to the same relative place
under ``OUTPUT`` as ``<stem>.png`` holding one id per pixel: the id whose palette colour (the colours of
``util.image.label_colormap``, the Cityscapes palette for ``--label_nc 35`` / ``20``, the ones ``test.py
--input_video`` maps) is the pixel's colour. Palette colours map exactly; where several ids share a colour
(Cityscapes ids 0-4 are all black) the lowest id is written. A colour that is not in the palette (a resized or
JPEG-compressed map) is mapped to the nearest palette colour and counted in a warning: such ids are guesses, so
convert the original PNGs where you can.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path
from typing import Sequence

import numpy as np

logger = logging.getLogger("colors_to_ids")


def image_to_ids(rgb: np.ndarray, label_nc: int) -> tuple[np.ndarray, int]:
    """(H, W, 3) uint8 colour map -> ((H, W) uint8 ids, number of pixels whose colour is not in the palette).

    Each distinct colour is looked up once, so a full-size frame costs about as much as one ``np.unique``.
    """
    from data.video_dataset import palette_ids
    from util.image import label_colormap

    packed = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    colours, inverse = np.unique(packed.ravel(), return_inverse=True)
    unique_rgb = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], axis=-1).astype(np.uint8)
    ids = palette_ids(unique_rgb[None], label_nc)[0]
    palette = label_colormap(label_nc)
    exact = (palette[ids] == unique_rgb).all(axis=1)
    off_palette = int(np.bincount(inverse.ravel(), minlength=len(colours))[~exact].sum())
    return ids[inverse.ravel()].reshape(rgb.shape[:2]), off_palette


def colour_maps(source: Path) -> list[Path]:
    """The image files of ``source`` (one file, or every image under a folder), sorted."""
    from util.video import IMAGE_EXTENSIONS

    if source.is_file():
        return [source]
    return sorted(p for p in source.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file())


def convert(source: str | os.PathLike, output: str | os.PathLike, label_nc: int) -> dict:
    """Convert every colour map of ``source`` into an id PNG under ``output``.

    Returns:
        ``{"files": written, "off_palette_pixels": total, "off_palette_files": [relative paths]}``.

    Raises:
        OptionError: ``source`` missing or empty, ``output`` is ``source``, ``label_nc`` outside 1..256.
    """
    from PIL import Image
    from tqdm import tqdm

    from options.validation import OptionError

    source, output = Path(source), Path(output)
    if not 1 <= label_nc <= 256:
        raise OptionError(f"--label_nc {label_nc}: ids are written as 8-bit PNGs, so 1..256 labels are supported")
    if not source.exists():
        raise OptionError(f"{source}: no such file or folder (fix: the folder of colour label maps)")
    if source.resolve() == output.resolve():
        raise OptionError(f"{output}: the output must differ from the source (fix: another output folder)")
    files = colour_maps(source)
    if not files:
        raise OptionError(f"{source}: no image files found (fix: the folder of colour label maps)")
    report = {"files": 0, "off_palette_pixels": 0, "off_palette_files": []}
    for path in tqdm(files, desc="colour maps", unit="file"):
        relative = path.relative_to(source) if source.is_dir() else Path(path.name)
        with Image.open(path) as image:
            ids, off = image_to_ids(np.asarray(image.convert("RGB")), label_nc)
        target = (output / relative).with_suffix(".png")
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ids, mode="L").save(target, format="PNG")
        report["files"] += 1
        if off:
            report["off_palette_pixels"] += off
            report["off_palette_files"].append(str(relative))
    return report


def main(argv: Sequence[str] | None = None) -> dict:
    """Command-line entry point; returns the report of :func:`convert`."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", help="a colour label map, or a folder of them (walked recursively)")
    parser.add_argument("output", help="folder for the id PNGs (same relative paths, .png)")
    parser.add_argument("--label_nc", type=int, default=35, help="number of labels: picks the palette (35: "
                        "Cityscapes)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    report = convert(args.source, args.output, args.label_nc)
    logger.info("wrote %d id maps to %s", report["files"], args.output)
    if report["off_palette_pixels"]:
        examples = ", ".join(report["off_palette_files"][:3])
        logger.warning("%d pixels in %d file(s) (e.g. %s) have colours outside the --label_nc %d palette; they got "
                       "the nearest palette colour's id", report["off_palette_pixels"],
                       len(report["off_palette_files"]), examples, args.label_nc)
    return report


if __name__ == "__main__":
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from util.cli import run

    sys.exit(run(main))
