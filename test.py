"""Generate videos: ``python test.py --name label2city_1024_g1 --label_nc 35 --loadSize 1024 ... --use_single_G``.

Writes ``<results_dir>/<name>/test_<which_epoch>/<sequence>/`` (input and synthesized frames, as the
reference), ``<sequence>.mp4`` (input | output side by side) and ``index.html``.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

from options import TestOptions
from util.inference_writer import ResultsWriter, make_test_loader


def main(argv: Sequence[str] | None = None) -> dict:
    """Run inference over the test set; returns a summary (frames, seconds, folders)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opt = TestOptions().parse(argv, save=False)
    from tqdm import tqdm

    from models import create_model

    loader = make_test_loader(opt)
    model = create_model(opt)
    writer = ResultsWriter(opt)
    n_frames, started = 0, time.time()
    with writer, tqdm(total=min(opt.how_many, len(loader)), desc="generating", unit="frame") as progress:
        for data in loader:
            result = model.inference.step(data)
            if result is None:
                continue
            writer.add(data, result)
            n_frames += 1
            progress.update(1)
            if n_frames >= opt.how_many:
                break
    seconds = time.time() - started
    fps = n_frames / seconds if seconds > 0 else 0.0
    print(f"generated {n_frames} frames in {seconds:.1f} s ({fps:.2f} frames/s); results: {writer.page_path}")
    return {"frames": n_frames, "seconds": seconds, "fps": fps, "folder": writer.folder, "page": writer.page_path,
            "videos": writer.videos}


if __name__ == "__main__":
    main()
