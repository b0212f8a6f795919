"""The model contract: train.py and test.py drive any model; frames emitted late or out of order are saved in order."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import test as test_script
import train
from models.base_model import FrameGenerator, output_frame
from models.template_model import TemplateFrames, TemplateModel
from util.results_writer import OutputFrame, ResultsWriter
from util.video import count_video_frames

CITY = ["--label_nc", "35", "--use_instance", "--loadSize", "64", "--gpu_ids", "-1", "--nThreads", "0"]


def _fake_names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("fake_B_*.jpg"))


def test_template_model_trains_and_tests_end_to_end(cityscapes_root, tmp_path):
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    common = ["--model", "template", "--name", "tpl", "--checkpoints_dir", str(ckpt), *CITY]
    train.main(["--dataroot", str(cityscapes_root), *common, "--niter", "2", "--niter_decay", "0",
                "--n_frames_total", "2", "--max_dataset_size", "2", "--seed", "0", "--print_freq", "1"])
    run = ckpt / "tpl"
    for name in ("latest_net_G0.pth", "1_net_G0.pth", "2_net_G0.pth", "latest_train_state.pth", "iter.txt"):
        assert (run / name).is_file(), name
    assert (run / "iter.txt").read_text().split() == ["3", "0"]
    assert "G_L1" in (run / "loss_log.txt").read_text()
    summary = test_script.main(["--dataroot", str(cityscapes_root), *common, "--results_dir", str(results),
                                "--how_many", "4"])
    folder = Path(summary["folder"]) / "stuttgart_00"
    assert summary["frames"] == 4 and len(_fake_names(folder)) == 4
    assert count_video_frames(str(folder / "stuttgart_00.mp4")) == 4


class LateFrames(FrameGenerator):
    """Emits nothing for the first item, then each pair of frames one step late, the later frame first."""

    def __init__(self, inner: FrameGenerator) -> None:
        self.inner, self.held = inner, []

    def step(self, item: dict) -> list[OutputFrame]:
        self.held += self.inner.step(item)
        if len(self.held) < 3:
            return []
        out, self.held = self.held[:2], self.held[2:]
        return out[::-1]

    def flush(self) -> list[OutputFrame]:
        out, self.held = self.held[::-1], []
        return out


def test_frames_emitted_late_two_at_a_time_out_of_order_are_saved_in_order(cityscapes_root, tmp_path,
                                                                           monkeypatch):
    ckpt, results = tmp_path / "ckpt", tmp_path / "results"
    common = ["--model", "template", "--name", "tpl", "--checkpoints_dir", str(ckpt), *CITY]
    train.main(["--dataroot", str(cityscapes_root), *common, "--niter", "1", "--niter_decay", "0",
                "--n_frames_total", "1", "--max_dataset_size", "1", "--seed", "0"])
    flags = ["--dataroot", str(cityscapes_root), *common, "--how_many", "7"]
    in_order = test_script.main(flags + ["--results_dir", str(results / "plain")])
    monkeypatch.setattr(TemplateModel, "make_inference", lambda self: LateFrames(TemplateFrames(self)))
    late = test_script.main(flags + ["--results_dir", str(results / "late")])
    assert late["frames"] == in_order["frames"] == 7
    plain_dir, late_dir = Path(in_order["folder"]) / "stuttgart_00", Path(late["folder"]) / "stuttgart_00"
    assert _fake_names(late_dir) == _fake_names(plain_dir)
    page = Path(late["page"]).read_text()
    shown = re.findall(r'href="stuttgart_00/(fake_B_[^"]+)"', page)  # each thumbnail opens its full frame
    assert shown == _fake_names(late_dir)  # the page lists frames in frame order
    assert count_video_frames(str(late_dir / "stuttgart_00.mp4")) == 7
    for name in _fake_names(late_dir):  # same frame content under the same name
        a = np.asarray(Image.open(plain_dir / name), dtype=float)
        b = np.asarray(Image.open(late_dir / name), dtype=float)
        assert np.abs(a - b).mean() < 1.0, name


def _frame(sequence: str, index: int) -> OutputFrame:
    image = torch.full((3, 8, 8), index / 10.0 - 0.5)
    return OutputFrame(sequence, index, f"f{index:03d}", image, np.zeros((8, 8, 3), np.uint8))


def test_writer_orders_frames_and_refuses_frames_going_backwards(tmp_path):
    from options import TestOptions

    opt = TestOptions().parse(["--results_dir", str(tmp_path), "--gpu_ids", "-1", "--no_video"], save=False)
    with ResultsWriter(opt) as writer:
        assert writer.add_all([_frame("a", 3), _frame("a", 2)]) == 2
        assert writer.add_all([_frame("a", 5)]) == 0  # waits for 4
        assert writer.add_all([_frame("a", 4)]) == 2
        with pytest.raises(RuntimeError, match="frame 1 emitted after frame 5"):
            writer.add_all([_frame("a", 1)])
        writer.add_all([_frame("b", 0), _frame("a", 7)])  # a's 7 is written before b starts (a gap at 6)
    titles = list(writer.page.frames)
    assert titles == ["a", "b"]
    assert [Path(f.input_file).name for f in writer.page.frames["a"]] == [f"real_A_f{i:03d}.jpg" for i in (2, 3, 4, 5, 7)]


def test_output_frame_names_follow_the_input_file():
    from options import TestOptions

    opt = TestOptions().parse(["--gpu_ids", "-1", "--label_nc", "4"], save=False)
    item = {"A_path": ["/data/test_A/seq_x/frame_0042.png"], "frame_index": torch.tensor([42])}
    frame = output_frame(opt, item, torch.zeros(3, 4, 4), torch.zeros(4, 4, 4))
    assert (frame.sequence, frame.index, frame.stem) == ("seq_x", 42, "frame_0042")
    assert frame.input_visual.shape == (4, 4, 3) and frame.input_visual.dtype == np.uint8
