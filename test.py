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
from options.validation import model_class


def main(argv: Sequence[str] | None = None) -> dict:
    """Run inference over the test set; returns a summary (frames, seconds, folders)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    opt = TestOptions().parse(argv, save=False)
    model_class(opt).check_test_options(opt)  # what only test.py needs (e.g. vid2vid's first-frame mode)
    if not opt.skip_check:
        from data.check import ensure_dataset_ok

        ensure_dataset_ok(opt)  # before the model is built: a bad dataset needs no checkpoint to be reported
    from data import create_test_loader
    from models import create_model
    from util.cpu_memory import keep_freed_memory
    from util.progress import progress as progress_bar
    from util.results_writer import ResultsWriter

    keep_freed_memory()  # feature maps reuse mapped pages instead of page-faulting each step (util/cpu_memory.py)
    loader = create_test_loader(opt)
    frames = create_model(opt).make_inference()
    if opt.keyframes != "off":  # the key-frame pipeline imports OpenCV: only when it runs
        from models.fast_vid2vid.keyframe_inference import with_keyframes

        frames = with_keyframes(opt, frames)
    started = time.time()
    with ResultsWriter(opt) as writer, progress_bar(total=len(loader), desc="input frames",
                                                unit="frame") as progress:
        for item in loader:
            writer.add_all(_first(frames.step(item), opt.how_many - writer.written))
            progress.update(1)
            progress.set_postfix(written=writer.written, refresh=False)
            if writer.written >= opt.how_many:
                break
        else:
            writer.add_all(_first(frames.flush(), opt.how_many - writer.written))
            progress.set_postfix(written=writer.written, refresh=False)  # frames held back until the end count too
    seconds = time.time() - started
    fps = writer.written / seconds if seconds > 0 else 0.0
    print(f"generated {writer.written} frames{_kinds(writer.page)} in {seconds:.1f} s ({fps:.2f} frames/s); "
          f"results: {writer.page_path}")
    return {"frames": writer.written, "seconds": seconds, "fps": fps, "folder": writer.folder,
            "page": writer.page_path, "videos": writer.videos}


def _kinds(page) -> str:
    """`` (K key frames, I interpolated)`` for a key-frame run, else nothing."""
    from util.results_page import kind_counts

    counts = kind_counts([frame for frames in page.frames.values() for frame in frames])
    if not counts.get("key") and not counts.get("interpolated"):
        return ""
    return f" ({counts.get('key', 0)} key frames, {counts.get('interpolated', 0)} interpolated)"


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
