"""Every ``python train.py`` / ``python test.py`` line of scripts/**/*.sh parses with our options.

The published scripts were written for 8-GPU machines. ``--gpu_ids 0,...,7`` on a machine without those
GPUs falls back to the CPU, where ``--n_gpus_gen 6`` no longer fits; so each line is parsed as on the
machine it was written for, with the device list standing in for the GPUs it names (no CUDA is touched).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parent.parent
SCRIPT_FILES = sorted((REPO / "scripts").rglob("*.sh"))
STREET_SCRIPTS = {
    "train_512.sh", "train_512_bs.sh", "train_512_no_fg.sh", "train_1024.sh", "train_2048.sh",
    "train_2048_crop.sh", "train_g1_256.sh", "train_g1_512.sh", "train_g1_1024.sh", "test_2048.sh",
    "test_g1_1024.sh",
}


def shell_commands(path: Path) -> list[list[str]]:
    """The commands of a simple shell script: comments dropped, ``\\`` continuations joined, split by shlex."""
    text = path.read_text().replace("\\\n", " ")
    commands = []
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            commands.append(words)
    return commands


def entry_commands(path: Path) -> list[tuple[str, list[str]]]:
    """``(entry point, argv)`` of each ``python train.py ...`` / ``python test.py ...`` command.

    A forwarded ``"$@"`` (extra flags from the caller) is dropped: it expands to nothing here.
    """
    found = []
    for words in shell_commands(path):
        if len(words) >= 2 and words[0].startswith("python") and Path(words[1]).name in ("train.py", "test.py"):
            found.append((Path(words[1]).name, [w for w in words[2:] if w not in ("$@", "${@}", "$*")]))
    return found


CASES = [(path, index) for path in SCRIPT_FILES for index in range(len(entry_commands(path)))]


def test_every_street_setting_exists() -> None:
    street = {p.name for p in (REPO / "scripts" / "street").glob("*.sh")}
    assert STREET_SCRIPTS <= street, f"missing: {sorted(STREET_SCRIPTS - street)}"
    for name in STREET_SCRIPTS:
        entries = entry_commands(REPO / "scripts" / "street" / name)
        assert len(entries) == 1 and entries[0][0] == ("train.py" if name.startswith("train") else "test.py")


def test_shell_parsing_joins_continuations(tmp_path) -> None:
    script = tmp_path / "s.sh"
    script.write_text("# comment\npython train.py --name a \\\n--label_nc 35 \"$@\"  # trailing\nls\n")
    assert entry_commands(script) == [("train.py", ["--name", "a", "--label_nc", "35"])]


def test_g1_chain_names_match() -> None:
    """Each g1 stage loads the run the previous stage writes (the reference's 256 name did not match)."""
    def flag(name: str, key: str) -> str:
        argv = entry_commands(REPO / "scripts" / "street" / name)[0][1]
        return argv[argv.index(key) + 1]

    assert flag("train_g1_512.sh", "--load_pretrain") == f"checkpoints/{flag('train_g1_256.sh', '--name')}"
    assert flag("train_g1_1024.sh", "--load_pretrain") == f"checkpoints/{flag('train_g1_512.sh', '--name')}"
    assert flag("train_1024.sh", "--load_pretrain") == f"checkpoints/{flag('train_512.sh', '--name')}"
    assert flag("train_2048.sh", "--load_pretrain") == f"checkpoints/{flag('train_1024.sh', '--name')}"


#: Flags of the distillation recipes naming an earlier stage's files: (kind, the stand-in's name).
STAND_INS = {"--teacher_dir": ("dir", "teacher"), "--student_dir": ("dir", "student"), "--i3d_weights": ("file", "i3d.pt")}


def with_stand_ins(argv: list[str], folder: Path) -> list[str]:
    """``argv`` with the earlier stages' checkpoints it names (``--teacher_dir`` ...) replaced by empty stand-ins
    under ``folder`` (parsing checks that they exist; these tests load nothing)."""
    out = list(argv)
    for i, word in enumerate(out[:-1]):
        if word not in STAND_INS:
            continue
        kind, name = STAND_INS[word]
        path = folder / name
        if kind == "dir":
            path.mkdir(parents=True, exist_ok=True)
            (path / "latest_net_G0.pth").touch()
        else:
            path.touch()
        out[i + 1] = str(path)
    return out


def test_distillation_chain_names_match() -> None:
    """Each Fast-Vid2Vid stage reads the run folders the previous stages write."""
    for task in ("street", "face", "pose"):
        def flag(stage: str, key: str) -> str:
            argv = entry_commands(REPO / "scripts" / task / f"train_{stage}.sh")[0][1]
            return argv[argv.index(key) + 1]

        teacher = f"checkpoints/{flag('teacher', '--name')}"
        assert flag("skd", "--teacher_dir") == flag("tkd", "--teacher_dir") == teacher, task
        assert flag("tkd", "--student_dir") == f"checkpoints/{flag('skd', '--name')}", task
        assert flag("skd", "--model") == "skd" and flag("tkd", "--model") == "tkd", task


def _fake_devices(gpu_ids) -> list[torch.device]:
    """The devices the script's machine would have: one CUDA device per id (objects only, no CUDA calls)."""
    return [torch.device("cuda", i) for i in gpu_ids] or [torch.device("cpu")]


@pytest.mark.parametrize("path, index", CASES, ids=[f"{p.relative_to(REPO / 'scripts')}:{i}" for p, i in CASES])
def test_script_line_parses(path: Path, index: int, monkeypatch, tmp_path) -> None:
    try:
        import options.base_options as base_options
        from options import TestOptions, TrainOptions
        TrainOptions().gather(["--gpu_ids", "-1"])  # imports the model and dataset registries
    except ImportError as err:
        pytest.skip(f"option parsing is not importable yet: {err}")
    monkeypatch.setattr(base_options, "resolve_devices", _fake_devices)
    entry, argv = entry_commands(path)[index]
    options = TrainOptions() if entry == "train.py" else TestOptions()
    opt = options.parse(with_stand_ins(argv, tmp_path / "stand_ins") + ["--checkpoints_dir", str(tmp_path)],
                        save=False)
    pairs = dict(zip(argv[:-1], argv[1:]))
    assert opt.name == pairs["--name"]
    for key in ("--label_nc", "--loadSize", "--n_scales_spatial", "--batchSize", "--num_D", "--n_frames_total"):
        if key in pairs and hasattr(opt, key[2:]):
            assert str(getattr(opt, key[2:])) == pairs[key], key
    for flag in ("--use_instance", "--fg", "--use_single_G", "--no_first_img"):
        assert getattr(opt, flag[2:]) is (flag in argv)
    assert opt.isTrain is (entry == "train.py")
