"""util/progress.py: a progress bar captured to a file writes whole lines (no carriage returns), so log lines
written between its updates stay on their own lines."""

from __future__ import annotations

import io
import logging

from util.progress import progress


def test_bar_to_a_file_writes_whole_lines_between_log_lines() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    log = logging.getLogger("progress-test")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    try:
        with progress(total=4, desc="input frames", file=stream, mininterval=0) as bar:
            for done in range(4):
                bar.update(1)
                bar.set_postfix(written=done + 1, refresh=False)
                log.info("(epoch: 1, iters: %d) G_GAN: 1.000", done)
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line for line in lines if line.startswith("(epoch")] == [f"(epoch: 1, iters: {i}) G_GAN: 1.000"
                                                                     for i in range(4)]
    assert all(line.startswith("input frames") for line in lines if not line.startswith("(epoch"))
    assert lines[-1].startswith("input frames: 100%") and "written=4" in lines[-1]
