"""A results folder always holds one complete run of test.py: a rerun replaces it as a whole, a kill or a full disk
during a rerun leaves the previous run as it was, and scripts/evaluate.py never scores an unfinished run."""

from __future__ import annotations

import errno
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import test as test_script
from scripts.make_toy_dataset import make_toy_dataset
from tests.test_test_script import TOY, save_random_checkpoints
from util.cli import run
from util.folder_swap import StagedFolder, recover_folder

RUNNER = Path(__file__).with_name("kill_runner.py")


@pytest.fixture(scope="module")
def toy(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("toy")
    make_toy_dataset(root, n_seqs=1, n_frames=6, width=64, height=32, seed=0, n_test_seqs=2)
    return root


@pytest.fixture
def full_run(toy, tmp_path) -> tuple[list[str], Path]:
    """test.py's flags and the results folder of one complete run (2 sequences of 4 frames)."""
    save_random_checkpoints(tmp_path / "ckpt", "tiny", TOY)
    argv = ["--dataroot", str(toy), "--name", "tiny", "--checkpoints_dir", str(tmp_path / "ckpt"),
            "--results_dir", str(tmp_path / "results"), *TOY, "--use_real_img"]
    summary = test_script.main(argv)
    assert summary["frames"] == 8
    return argv, Path(summary["folder"])


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.parent.iterdir() if p.name != folder.name)


def test_rerun_with_fewer_frames_leaves_only_the_new_run(full_run):
    argv, folder = full_run
    summary = test_script.main(argv + ["--how_many", "1"])
    assert Path(summary["folder"]) == folder
    sequence = next(iter(summary["videos"]))
    assert len(summary["videos"]) == 1 and Path(summary["videos"][sequence]).is_file()
    files = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    thumbs = [f for f in files if "/thumbs/" in f]
    assert len(thumbs) == 2, files  # the page's thumbnails of the one input and the one output
    files = [f for f in files if f not in thumbs]
    assert len(files) == 4, files  # the page, one input, one output, one mp4
    assert "index.html" in files and f"{sequence}/{sequence}.mp4" in files
    assert len([f for f in files if "/fake_B_" in f]) == len([f for f in files if "/real_A_" in f]) == 1
    page = (folder / "index.html").read_text()
    assert len(re.findall(r"<img", page)) == 2
    assert _leftovers(folder) == []


def test_kill_during_a_rerun_keeps_the_previous_run(full_run):
    argv, folder = full_run
    before = _snapshot(folder)
    process = subprocess.run([sys.executable, str(RUNNER), "frame:3", *argv], cwd=RUNNER.parent.parent,
                             capture_output=True, timeout=600)
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-2000:]
    assert _snapshot(folder) == before
    assert [name for name in _leftovers(folder) if ".writing_" in name]  # the unfinished run, hidden aside
    from data.evaluation_pairs import generated_sequences

    scored = generated_sequences(str(folder.parent))  # even pointed at the parent, the unfinished run is skipped
    assert all(name.startswith(folder.name + "/") for name, _ in scored)
    test_script.main(argv + ["--how_many", "1"])  # the next run tidies up
    assert _leftovers(folder) == []
    assert len(list(folder.rglob("fake_B_*"))) == 1


@pytest.mark.parametrize("where", ["frames", "page"])
def test_full_disk_during_a_rerun_keeps_the_previous_run(full_run, monkeypatch, capsys, where):
    argv, folder = full_run
    before = _snapshot(folder)
    full = OSError(errno.ENOSPC, "No space left on device")
    if where == "frames":
        from util import results_writer

        calls = {"n": 0}
        original = results_writer.save_test_images

        def filling_save(*args, **kwargs):
            calls["n"] += 1
            if calls["n"] == 3:
                raise full
            return original(*args, **kwargs)

        monkeypatch.setattr(results_writer, "save_test_images", filling_save)
    else:
        from util import html

        monkeypatch.setattr(html, "atomic_write_text", _raise_wrapped(full))
    code = run(test_script.main, argv)
    err = [line for line in re.split(r"[\r\n]", capsys.readouterr().err) if "error" in line]
    assert code == 2 and len(err) == 1, err
    assert err[0].startswith("error: disk full while writing the results in ") and str(folder) in err[0]
    assert "checkpoint" not in err[0] and "--results_dir" in err[0]
    assert _snapshot(folder) == before
    assert _leftovers(folder) == []


def _raise_wrapped(cause: OSError):
    """An ``atomic_write_text`` stand-in failing as the real one does on a full disk (CheckpointError from OSError)."""
    from util.checkpoint import _disk_error

    def write(text: str, path: str) -> None:
        raise _disk_error(cause, str(Path(path).parent)) from cause

    return write


def test_a_kill_between_the_two_renames_puts_the_previous_run_back(tmp_path):
    final = tmp_path / "test_latest"
    final.mkdir()
    (final / "old.txt").write_text("previous run")
    dead_writer = tmp_path / ".test_latest.writing_999999999_abcdefgh"  # no process has this id
    dead_writer.mkdir()
    (dead_writer / "new.txt").write_text("new run")
    retired = tmp_path / ".test_latest.old_abcdefgh"
    final.rename(retired)  # the first rename of commit(), then the kill
    recover_folder(str(final))
    assert (final / "old.txt").read_text() == "previous run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_latest"]  # the dead writer's folder removed too


def test_a_complete_new_version_replaces_the_folder_as_a_whole(tmp_path):
    final = tmp_path / "test_latest"
    (final / "seq_a").mkdir(parents=True)
    (final / "seq_a" / "fake_B_0.jpg").write_text("old")
    staged = StagedFolder(str(final))
    assert not (final / "seq_b").exists()
    (Path(staged.path) / "seq_b").mkdir()
    staged.commit()
    assert sorted(p.name for p in final.iterdir()) == ["seq_b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_latest"]
    staged.discard()  # after commit: nothing happens
    assert (final / "seq_b").is_dir()


def test_an_error_while_reading_discards_the_run_and_keeps_its_own_message(tmp_path):
    """Only the writer's own failures name the results folder; a failed read keeps its error (and the old run)."""
    from options import TestOptions
    from util.results_writer import ResultsWriter

    opt = TestOptions().parse(["--results_dir", str(tmp_path), "--gpu_ids", "-1", "--no_video"], save=False)
    folder = tmp_path / opt.name / f"{opt.phase}_{opt.which_epoch}"
    folder.mkdir(parents=True)
    (folder / "index.html").write_text("previous run")
    with pytest.raises(FileNotFoundError, match="frame_0007.png"), ResultsWriter(opt):
        raise FileNotFoundError(errno.ENOENT, "No such file or directory", "frame_0007.png")
    assert _snapshot(folder) == {"index.html": b"previous run"} and _leftovers(folder) == []
