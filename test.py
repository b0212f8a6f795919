"""Generate videos with any model: ``python test.py --name label2city_1024_g1 --label_nc 35 --loadSize 1024 ...``.

Writes ``<results_dir>/<name>/test_<which_epoch>/<sequence>/`` (input and synthesized frames, named as the
reference), ``<sequence>.mp4`` (input | output side by side) and ``index.html``. With ``--keyframes published|interval``
the model generates only the key frames and the others are interpolated (:mod:`models.fast_vid2vid.keyframe_inference`).
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

from options import TestOptions
from options.validation import VID2VID_MODELS


def main(argv: Sequence[str] | None = None) -> dict:
    """Run inference over the test set; returns a summary (frames, seconds, folders)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opt = TestOptions().parse(argv, save=False)
    if opt.model in VID2VID_MODELS:
        from models.vid2vid.inference import require_first_frame_mode

        require_first_frame_mode(opt)
    if not opt.skip_check:
        from data.check import ensure_dataset_ok

        ensure_dataset_ok(opt)  # before the model is built: a bad dataset needs no checkpoint to be reported
    from tqdm import tqdm

    from data import create_test_loader
    from models import create_model
    from models.fast_vid2vid.keyframe_inference import with_keyframes
    from util.results_writer import ResultsWriter

    loader = create_test_loader(opt)
    frames = with_keyframes(opt, create_model(opt).make_inference())
    started = time.time()
    with ResultsWriter(opt) as writer, tqdm(total=len(loader), desc="input frames", unit="frame") as progress:
        for item in loader:
            writer.add_all(_first(frames.step(item), opt.how_many - writer.written))
            progress.update(1)
            progress.set_postfix(written=writer.written)
            if writer.written >= opt.how_many:
                break
        else:
            writer.add_all(_first(frames.flush(), opt.how_many - writer.written))
    seconds = time.time() - started
    fps = writer.written / seconds if seconds > 0 else 0.0
    print(f"generated {writer.written} frames in {seconds:.1f} s ({fps:.2f} frames/s); results: {writer.page_path}")
    return {"frames": writer.written, "seconds": seconds, "fps": fps, "folder": writer.folder,
            "page": writer.page_path, "videos": writer.videos}


def _first(frames: list, count: int) -> list:
    """The ``count`` earliest frames (by sequence order of appearance, then frame index)."""
    if len(frames) <= count:
        return frames
    order = {name: i for i, name in enumerate(dict.fromkeys(f.sequence for f in frames))}
    return sorted(frames, key=lambda f: (order[f.sequence], f.index))[:max(0, count)]


if __name__ == "__main__":
    import sys

    from util.cli import run

    sys.exit(run(main))
