"""The checkpoint journal is checked before any rename: a run folder someone hands you cannot move files out of
it or into it. Every planted journal stops train.py with one ``error:`` line and nothing is moved or deleted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import train
from scripts.make_toy_dataset import make_toy_dataset
from util.checkpoint import JOURNAL, CheckpointError, CheckpointSet, recover_checkpoints
from util.cli import run

TINY = ["--label_nc", "35", "--loadSize", "64", "--ngf", "8", "--ndf", "8", "--n_downsample_G", "2",
        "--n_blocks", "1", "--num_D", "1", "--n_frames_D", "2", "--no_vgg", "--flow_backend", "dis",
        "--n_frames_total", "3", "--max_frames_per_gpu", "2", "--gpu_ids", "-1", "--nThreads", "0",
        "--niter", "1", "--niter_decay", "0", "--name", "run"]


def _snapshot(folder: Path) -> dict[str, bytes | str]:
    """Every entry under ``folder`` (links as their target, files as their bytes)."""
    out: dict[str, bytes | str] = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = f"-> {os.readlink(path)}" if path.is_symlink() else path.read_bytes() if path.is_file() else "dir"
    return out


def _plant(tmp_path: Path, entries_for) -> tuple[Path, Path]:
    """A run folder holding a previous checkpoint and a journal (entries from ``entries_for(run, victim)``), and
    a sibling folder of the user's files."""
    victim = tmp_path / "victim"
    (victim / "site-packages").mkdir(parents=True)
    (victim / "notes.txt").write_text("the user's notes")
    (victim / ".tmp_x_latest_net_G0.pth").write_text("a file outside the run folder")
    run_dir = tmp_path / "ckpt" / "run"
    run_dir.mkdir(parents=True)
    (run_dir / "latest_net_G0.pth").write_bytes(b"previous checkpoint")
    (run_dir / "iter.txt").write_text("1\n0\n")
    (run_dir / ".tmp_abc123_latest_net_G0.pth").write_text("import os  # a .pth line runs at Python's start")
    (run_dir / JOURNAL).write_text(json.dumps({"files": entries_for(run_dir, victim)}))
    return run_dir, victim


PLANTED = {
    "absolute temporary": lambda run_dir, victim: [[str(victim / "notes.txt"), "latest_net_G0.pth"]],
    "absolute final": lambda run_dir, victim: [[".tmp_abc123_latest_net_G0.pth",
                                                str(victim / "site-packages" / "evil.pth")]],
    "dot-dot final": lambda run_dir, victim: [[".tmp_abc123_latest_net_G0.pth",
                                               "../../victim/site-packages/evil.pth"]],
    "dot-dot temporary": lambda run_dir, victim: [["../../victim/.tmp_x_latest_net_G0.pth", "latest_net_G0.pth"]],
    "separator in a name": lambda run_dir, victim: [[".tmp_abc123_latest_net_G0.pth", "sub/latest_net_G0.pth"]],
    "unknown name": lambda run_dir, victim: [[".tmp_abc123_latest_net_G0.pth", "sitecustomize.py"]],
    "mismatched pair": lambda run_dir, victim: [[".tmp_abc123_latest_net_G0.pth", "latest_net_D.pth"]],
    "not a pair": lambda run_dir, victim: ["latest_net_G0.pth"],
    "good then absolute": lambda run_dir, victim: [[".tmp_abc123_latest_net_G0.pth", "latest_net_G0.pth"],
                                                   [str(victim / "notes.txt"), "iter.txt"]],
}


@pytest.fixture(scope="module")
def toy_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=4, width=64, height=32, seed=0)
    return root


@pytest.mark.parametrize("case", list(PLANTED))
def test_planted_journal_moves_nothing(tmp_path, case):
    run_dir, victim = _plant(tmp_path, PLANTED[case])
    before = _snapshot(tmp_path)
    with pytest.raises(CheckpointError, match=f"checkpoint journal {run_dir / JOURNAL} .*nothing was moved"):
        recover_checkpoints(str(run_dir))
    assert _snapshot(tmp_path) == before


def test_symlink_in_the_journal_is_refused(tmp_path):
    run_dir, victim = _plant(tmp_path, lambda r, v: [[".tmp_abc123_latest_net_D.pth", "latest_net_D.pth"]])
    (run_dir / ".tmp_abc123_latest_net_D.pth").symlink_to(victim / "notes.txt")
    before = _snapshot(tmp_path)
    with pytest.raises(CheckpointError, match="symbolic link"):
        recover_checkpoints(str(run_dir))
    assert _snapshot(tmp_path) == before


def test_train_stops_with_one_error_line_and_touches_nothing(tmp_path, toy_root, capsys):
    def entries(run_dir: Path, victim: Path) -> list:
        return [[".tmp_abc123_latest_net_G0.pth", str(victim / "site-packages" / "evil.pth")],
                ["../../victim/notes.txt", "latest_net_G0.pth"]]

    run_dir, victim = _plant(tmp_path, entries)
    before = _snapshot(tmp_path)
    code = run(train.main, ["--dataroot", str(toy_root), "--checkpoints_dir", str(tmp_path / "ckpt"), *TINY])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert len(err) == 1 and err[0].startswith("error: checkpoint journal") and str(run_dir / JOURNAL) in err[0]
    assert f"delete {JOURNAL}" in err[0]
    assert _snapshot(tmp_path) == before  # no opt.txt, loss_log.txt or web/ either


def test_a_real_commit_still_rolls_forward(tmp_path):
    """The program's own journal passes the check: an interrupted commit is finished."""
    unit = CheckpointSet(str(tmp_path))
    unit.add_text("iter.txt", "3\n0\n")
    unit.add_tensors("latest_net_G0.pth", {})
    unit.add_tensors("latest_train_state.pth", {})
    journal = {"files": [[os.path.basename(t), os.path.basename(f)] for t, f in unit._entries]}
    (tmp_path / JOURNAL).write_text(json.dumps(journal))
    recover_checkpoints(str(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["iter.txt", "latest_net_G0.pth", "latest_train_state.pth"]
    assert (tmp_path / "iter.txt").read_text() == "3\n0\n"
