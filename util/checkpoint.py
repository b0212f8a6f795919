"""Checkpoint files: atomic writes, several files committed as one unit, weights-only loads, strict
state-dict loading with readable errors."""

from __future__ import annotations

import errno
import json
import os
import re
import tempfile
from typing import Any, BinaryIO, Callable, Mapping

import torch
from torch import nn


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or does not fit the network it is loaded into."""


JOURNAL = ".checkpoint_commit.json"
TMP_PREFIX = ".tmp_"
# The only files a checkpoint unit holds (see BaseModel.save): <label>_net_<network>.pth,
# <label>_train_state.pth and iter.txt. A journal naming anything else was not written by this program.
CHECKPOINT_NAME = re.compile(r"[A-Za-z0-9]+_net_[A-Za-z0-9_]+\.pth|[A-Za-z0-9]+_train_state\.pth|iter\.txt")
# tempfile.mkstemp's random part (between TMP_PREFIX and "_<final name>") uses letters, digits and "_".
TMP_RANDOM = re.compile(r"[A-Za-z0-9_]+")


def _fsync_folder(folder: str) -> None:
    """Make renames in ``folder`` durable (no-op where directories cannot be opened)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def _disk_error(err: OSError, folder: str) -> CheckpointError:
    """A readable error for a failed write (disk full named as such)."""
    if err.errno == errno.ENOSPC:
        return CheckpointError(f"disk full while saving in {folder}; the previous checkpoint is kept. "
                               "Free some space or pass another --checkpoints_dir")
    return CheckpointError(f"cannot write in {folder} ({err.strerror or err}); the previous checkpoint is kept")


def current_umask() -> int:
    """The process's file-creation mask (read from /proc where possible, so no other thread sees it change)."""
    try:
        with open("/proc/self/status") as stream:
            for line in stream:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_temp(folder: str, name: str, write: Callable[[BinaryIO], None]) -> str:
    """Write a new temporary file beside ``name`` in ``folder`` with ``write`` and fsync it; returns its path.

    The file gets the mode an ordinary ``open`` would give it (0666 less the umask), not the temporary-file
    default 0600, so results and checkpoints can be shared and served like any other file.
    """
    os.makedirs(folder, exist_ok=True)
    handle, tmp_path = tempfile.mkstemp(prefix=TMP_PREFIX, suffix="_" + name, dir=folder)
    try:
        os.fchmod(handle, 0o666 & ~current_umask())
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
    except BaseException as err:
        if os.path.exists(tmp_path):
            os.remove(tmp_path)
        cause = _os_error_behind(err)
        if cause is not None and cause is not err:
            raise cause from err  # torch's zip writer turns a failed write into a RuntimeError
        raise
    return tmp_path


def _os_error_behind(err: BaseException) -> OSError | None:
    """The OSError ``err`` is or was raised from (a full disk under torch.save's RuntimeError), else None."""
    seen: BaseException | None = err
    for _ in range(8):
        if seen is None or isinstance(seen, OSError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def atomic_save(obj: Any, path: str) -> None:
    """``torch.save`` to a temporary file in the same folder, then rename it over ``path``.

    A kill at any moment leaves either the old file or the complete new one, never a truncated file.

    Raises:
        CheckpointError: the write failed (disk full, permissions); the old file is untouched.
    """
    folder = os.path.dirname(os.path.abspath(path))
    try:
        tmp_path = _write_temp(folder, os.path.basename(path), lambda stream: torch.save(obj, stream))
        os.replace(tmp_path, path)
    except OSError as err:
        raise _disk_error(err, folder) from err


def atomic_write_text(text: str, path: str) -> None:
    """Write a small text file atomically (temporary file, then rename)."""
    folder = os.path.dirname(os.path.abspath(path))
    try:
        tmp_path = _write_temp(folder, os.path.basename(path), lambda stream: stream.write(text.encode()))
        os.replace(tmp_path, path)
    except OSError as err:
        raise _disk_error(err, folder) from err


class CheckpointSet:
    """Several checkpoint files written as one unit.

    Every file is first written in full to a temporary file; then a journal listing (temporary, final) pairs
    is written atomically; then the temporaries are renamed over the final names and the journal removed.
    :func:`recover_checkpoints` finishes an interrupted commit (journal present: roll forward) or discards an
    unfinished one (no journal: the old files were never touched), so whoever reads the folder afterwards sees
    either every new file or every old one. File names stay the reference's (``latest_net_G0.pth``, ...).

    Args:
        folder: The checkpoint folder.
    """

    def __init__(self, folder: str) -> None:
        self.folder = os.path.abspath(folder)
        self._entries: list[tuple[str, str]] = []

    def add_tensors(self, name: str, obj: Any) -> None:
        """Write ``obj`` (a state dict, or plain containers of tensors and numbers) as ``name``."""
        self._add(name, lambda stream: torch.save(obj, stream))

    def add_text(self, name: str, text: str) -> None:
        """Write a text file ``name``."""
        self._add(name, lambda stream: stream.write(text.encode()))

    def _add(self, name: str, write: Callable[[BinaryIO], None]) -> None:
        try:
            self._entries.append((_write_temp(self.folder, name, write), os.path.join(self.folder, name)))
        except OSError as err:
            self.discard()
            raise _disk_error(err, self.folder) from err

    def discard(self) -> None:
        """Remove the temporaries written so far (nothing final was touched)."""
        for tmp_path, _ in self._entries:
            if os.path.exists(tmp_path):
                os.remove(tmp_path)
        self._entries = []

    def commit(self) -> None:
        """Make every added file final, as one unit."""
        journal = {"files": [[os.path.basename(t), os.path.basename(f)] for t, f in self._entries]}
        try:
            atomic_write_text(json.dumps(journal), os.path.join(self.folder, JOURNAL))
        except CheckpointError:
            self.discard()
            raise
        _fsync_folder(self.folder)
        _roll_forward(self.folder, journal)
        self._entries = []


def _roll_forward(folder: str, journal: dict) -> None:
    """Rename the journal's temporaries over their final names, then drop the journal."""
    for tmp_name, final_name in journal["files"]:
        tmp_path = os.path.join(folder, tmp_name)
        if os.path.exists(tmp_path):
            os.replace(tmp_path, os.path.join(folder, final_name))
    _fsync_folder(folder)
    os.remove(os.path.join(folder, JOURNAL))


def _journal_refused(journal_path: str, problem: str) -> CheckpointError:
    """The error for a journal this program did not write (nothing has been moved or deleted)."""
    return CheckpointError(
        f"checkpoint journal {journal_path} {problem}, so it was not written by this program (the run folder "
        f"may have been tampered with); nothing was moved or deleted. Inspect the folder, then delete {JOURNAL} "
        f"and the {TMP_PREFIX}* files beside it to keep the previous checkpoint")


def _entry_problem(folder: str, entry: object) -> str | None:
    """Why one journal entry ``[temporary, final]`` is not a pair of this program's checkpoint files, or None."""
    if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(name, str) for name in entry)):
        return f"holds the entry {entry!r} instead of a [temporary, final] pair of file names"
    tmp_name, final_name = entry
    if not CHECKPOINT_NAME.fullmatch(final_name):
        return f"names {final_name!r}, which is not a checkpoint file name (<epoch>_net_<net>.pth, " \
               "<epoch>_train_state.pth, iter.txt) inside the folder"
    random_part = tmp_name[len(TMP_PREFIX):-len(final_name) - 1]
    if not (tmp_name.startswith(TMP_PREFIX) and tmp_name.endswith("_" + final_name)
            and TMP_RANDOM.fullmatch(random_part)):
        return f"names {tmp_name!r}, which is not a temporary file of {final_name!r} inside the folder"
    for name in (tmp_name, final_name):
        path = os.path.join(folder, name)
        if os.path.islink(path):
            return f"names {name!r}, which is a symbolic link"
        if os.path.lexists(path) and not os.path.isfile(path):
            return f"names {name!r}, which is not a regular file"
    return None


def read_journal(folder: str) -> dict | None:
    """The checkpoint journal of ``folder`` after checking every name in it, or None when there is none.

    Only plain names of the files a checkpoint unit holds (and their temporaries) are accepted, all regular
    files inside ``folder``: a journal from elsewhere can neither move files out of the folder nor into it.

    Raises:
        CheckpointError: the journal is unreadable or names anything else (nothing has been touched).
    """
    journal_path = os.path.join(folder, JOURNAL)
    if not os.path.lexists(journal_path):
        return None
    if os.path.islink(journal_path) or not os.path.isfile(journal_path):
        raise _journal_refused(journal_path, "is not a regular file")
    try:
        with open(journal_path) as stream:
            journal = json.load(stream)
    except (OSError, ValueError) as err:
        raise CheckpointError(f"unreadable checkpoint journal {journal_path} ({err}); remove it and the "
                              f"{TMP_PREFIX}* files beside it to keep the previous checkpoint") from err
    files = journal.get("files") if isinstance(journal, dict) else None
    if not isinstance(files, list):
        raise _journal_refused(journal_path, 'has no "files" list')
    for entry in files:
        problem = _entry_problem(folder, entry)
        if problem is not None:
            raise _journal_refused(journal_path, problem)
    return journal


def recover_checkpoints(folder: str) -> None:
    """Finish or discard an interrupted :meth:`CheckpointSet.commit` in ``folder``; remove stale temporaries.

    Safe to call on a folder that does not exist or holds no checkpoint.

    Raises:
        CheckpointError: the journal is unreadable or names files this program does not write (see
            :func:`read_journal`); nothing is moved or deleted then.
    """
    if not os.path.isdir(folder):
        return
    journal = read_journal(folder)
    if journal is not None:
        _roll_forward(folder, journal)
    for name in os.listdir(folder):
        path = os.path.join(folder, name)
        if name.startswith(TMP_PREFIX) and (os.path.islink(path) or os.path.isfile(path)):
            os.remove(path)


def load_file(path: str, map_location: torch.device | str = "cpu", what: str = "checkpoint",
              hint: str = "") -> Any:
    """``torch.load(path, weights_only=True)`` with an error that names the file and what to do.

    Args:
        path: The checkpoint file.
        map_location: Where tensors are loaded.
        what: What the file is, for the message (e.g. "generator scale 0").
        hint: How to obtain the file or which flag to change.
    """
    if not os.path.isfile(path):
        raise CheckpointError(f"{what}: file not found: {path}" + (f". {hint}" if hint else ""))
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling error means an unusable file
        raise CheckpointError(f"{what}: cannot read {path} ({type(err).__name__}: {_one_line(err)}); the file may "
                              "be truncated or not a PyTorch checkpoint" + (f". {hint}" if hint else "")) from err


def _one_line(err: BaseException) -> str:
    """A load error in one line: for a refused weights-only load, the reason (e.g. "Trying to load unsupported
    GLOBAL posix.system ..."), not torch's advice to load the file unsafely."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    reasons = [line for line in lines[1:] if not line.startswith("Check the documentation")]
    if reasons and "Weights only load failed" in lines[0]:
        return "refused, it would run code: " + reasons[0]
    return " ".join(lines)


def cpu_state_dict(module: nn.Module) -> dict[str, torch.Tensor]:
    """The state dict of the unwrapped module with every tensor copied to the CPU (the live model stays put)."""
    module = getattr(module, "module", module)
    return {key: value.detach().to("cpu", copy=True) for key, value in module.state_dict().items()}


FLAGS_ADVICE = ("Check that the flags (--ngf, --n_downsample_G, --n_blocks, --fg, --use_instance, --label_nc, "
                "--n_frames_G, ...) are the ones the checkpoint was trained with.")


def load_state_dict_strict(module: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint",
                           advice: str = FLAGS_ADVICE) -> None:
    """Load ``state`` into ``module`` requiring identical keys and shapes.

    ``num_batches_tracked`` buffers missing from torch<=0.4 checkpoints are filled from the module (zeros for a
    module built on the ``meta`` device). ``advice`` ends the error message (by default: check the network flags).
    A module built on ``meta`` (no memory, no initialisation: see :func:`is_meta`) takes the checkpoint's tensors
    themselves (``assign``), cast to the module's floating dtype, so the result is the copy-load's.

    Raises:
        CheckpointError: listing the first missing, unexpected and mis-shaped keys.
    """
    own = module.state_dict()
    state = dict(state)
    for key, value in own.items():
        if key.endswith("num_batches_tracked") and key not in state:
            state[key] = torch.zeros_like(value, device="cpu") if value.is_meta else value
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    mis_shaped = [f"{k}: checkpoint {tuple(state[k].shape)} vs network {tuple(own[k].shape)}"
                  for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or unexpected or mis_shaped:
        raise CheckpointError(
            f"{source} does not match the network layout ({type(module).__name__}):\n"
            + _key_report("missing keys", missing) + _key_report("unexpected keys", unexpected)
            + _key_report("shape mismatches", mis_shaped) + advice)
    if is_meta(module):
        state = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(state, strict=True, assign=is_meta(module))


def is_meta(module: nn.Module) -> bool:
    """Whether ``module`` holds tensors on the ``meta`` device (built without memory, waiting for its weights)."""
    return any(t.is_meta for t in module.state_dict().values())


def _key_report(title: str, keys: list[str], limit: int = 8) -> str:
    if not keys:
        return ""
    more = f" (+{len(keys) - limit} more)" if len(keys) > limit else ""
    return f"  {title} ({len(keys)}): {', '.join(keys[:limit])}{more}\n"


def read_iter_txt(path: str) -> tuple[int, int]:
    """(epoch, iteration) from the reference's ``iter.txt`` (two numbers, one per line; floats accepted)."""
    try:
        with open(path) as stream:
            values = [int(float(v)) for v in stream.read().split()]
        return values[0], values[1]
    except (OSError, ValueError, IndexError) as err:
        raise CheckpointError(f"cannot read {path} ({err}); it should hold the epoch and the iteration, one per "
                              "line. Fix or delete it") from err

