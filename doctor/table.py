"""The doctor's rows: registry, context, runner and the printed / JSON table."""

from __future__ import annotations

import contextlib
import io
import json
import os
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable, TextIO

import torch

OK, SKIP, FAIL = "ok", "skip", "FAIL"
REPO = Path(__file__).resolve().parent.parent
SHARED_SAMPLE = Path(os.environ.get("VID2VID_SHARED", REPO.parent / "shared")) / "datasets" / "Cityscapes"


class Skip(Exception):
    """Raised by a check that cannot run here; the message is the reason shown in the table."""


class CheckFailed(Exception):
    """Raised by a check whose result is wrong; the message says what (shown as ``FAIL (what)``)."""


@dataclass(frozen=True)
class Context:
    """What every check may use.

    Attributes:
        device: cuda:0 when a GPU is visible, else the CPU.
        gpu_count: Visible CUDA devices.
        quick: Fewer sizes and frames (the CI run).
        workdir: A scratch folder, deleted after the run.
        dataroot: Cityscapes-format data (the shared sample, a given folder, or synthetic frames).
    """

    device: torch.device
    gpu_count: int
    quick: bool
    workdir: Path
    dataroot: Path

    def require_gpus(self, count: int = 1) -> None:
        """Skip the check unless ``count`` CUDA devices are visible."""
        if self.gpu_count == 0:
            raise Skip("no CUDA GPU (torch.cuda.is_available() is False)")
        if self.gpu_count < count:
            raise Skip(f"needs {count} GPUs, found {self.gpu_count}")


def resolve_dataroot(given: str, workdir: Path) -> Path:
    """The data the rows run on: ``given``, the shared Cityscapes sample, or a synthetic street dataset.

    Raises:
        FileNotFoundError: ``given`` is not a Cityscapes-format folder.
    """
    if given:
        if not Path(given, "train_A").is_dir() or not Path(given, "test_A").is_dir():
            raise FileNotFoundError(f"--dataroot {given}: needs train_A and test_A folders (Cityscapes format)")
        return Path(given)
    if (SHARED_SAMPLE / "train_A").is_dir() and (SHARED_SAMPLE / "test_A").is_dir():
        return SHARED_SAMPLE
    from scripts.make_toy_dataset import make_toy_dataset

    return Path(make_toy_dataset(workdir / "synthetic", n_seqs=1, n_frames=14, width=128, height=64, seed=0))


def make_context(*, quick: bool, workdir: Path, dataroot: str = "") -> Context:
    """The context of every row: cuda:0 when a GPU is visible (else the CPU), the GPU count, the data."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = torch.device("cuda", 0) if gpus else torch.device("cpu")
    return Context(device=device, gpu_count=gpus, quick=quick, workdir=workdir,
                   dataroot=resolve_dataroot(dataroot, workdir))


Check = Callable[[Context], str]


@dataclass(frozen=True)
class Row:
    """A registered check; ``gpu`` rows skip on a machine without CUDA."""

    name: str
    check: Check
    gpu: bool


ROWS: dict[str, Row] = {}


def row(name: str, *, gpu: bool) -> Callable[[Check], Check]:
    """Register ``check`` as the table row ``name`` (rows appear in registration order)."""
    def register(check: Check) -> Check:
        ROWS[name] = Row(name=name, check=check, gpu=gpu)
        return check
    return register


@dataclass(frozen=True)
class Outcome:
    """One line of the table: ``status`` is ok / skip / FAIL; ``detail`` the result, reason or failure."""

    name: str
    status: str
    detail: str
    seconds: float
    gpu: bool
    output_tail: str = ""

    def __str__(self) -> str:
        result = OK if self.status == OK else f"{self.status} ({self.detail})"
        line = f"{self.name:<18} {result:<8}" if self.status == OK else f"{self.name:<18} {result}"
        if self.status == OK:
            line += f" {self.detail}"
        line += f"  [{self.seconds:.1f} s]"
        if self.status == FAIL and self.output_tail:
            line += "\n" + "\n".join(f"    | {text}" for text in self.output_tail.splitlines())
        return line


def run_row(entry: Row, ctx: Context) -> Outcome:
    """Run one check; any exception other than :class:`Skip` is a failure named by its type and message.

    What the check prints (option listings, progress bars) is kept out of the table; the last lines of it are
    shown under a failed row. Logging keeps its handlers (warnings still show).
    """
    started = time.perf_counter()
    captured = io.StringIO()
    try:
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            status, detail = OK, entry.check(ctx)
    except Skip as reason:
        status, detail = SKIP, str(reason)
    except CheckFailed as what:
        status, detail = FAIL, str(what)
    except Exception as err:  # noqa: BLE001 - the table reports every failure and goes on with the next row
        last = traceback.extract_tb(err.__traceback__)[-1]
        where = f"{Path(last.filename).name}:{last.lineno}"
        status, detail = FAIL, f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''} at {where}"
    tail = "\n".join(captured.getvalue().replace("\r", "\n").splitlines()[-12:]) if status == FAIL else ""
    return Outcome(entry.name, status, detail, time.perf_counter() - started, entry.gpu, tail)


def select(names: Iterable[str]) -> list[Row]:
    """The rows named, or every row whose name starts with ``name.`` (``ops`` selects ``ops.build``, ...).

    Raises:
        ValueError: a name that matches no row, listing the rows.
    """
    chosen: dict[str, Row] = {}
    for name in names:
        found = [r for r in ROWS.values() if r.name == name or r.name.startswith(name + ".")]
        if not found:
            raise ValueError(f"--only {name}: no such row; rows: {', '.join(ROWS)}")
        chosen.update((r.name, r) for r in found)
    return [r for r in ROWS.values() if r.name in chosen]


def run_all(rows: list[Row], ctx: Context, out: TextIO) -> list[Outcome]:
    """Run ``rows`` in order, printing each line as it finishes."""
    outcomes = []
    for entry in rows:
        outcome = run_row(entry, ctx)
        print(outcome, file=out, flush=True)
        outcomes.append(outcome)
    return outcomes


def summary(outcomes: list[Outcome]) -> str:
    """``N ok, N skipped, N failed (names)``."""
    count = {s: sum(o.status == s for o in outcomes) for s in (OK, SKIP, FAIL)}
    failed = [o.name for o in outcomes if o.status == FAIL]
    tail = f" ({', '.join(failed)})" if failed else ""
    return f"{count[OK]} ok, {count[SKIP]} skipped, {count[FAIL]} failed{tail}"


def write_json(path: Path, outcomes: list[Outcome], environment: dict) -> None:
    """The table as JSON: ``{"environment": {...}, "rows": [{name, status, detail, seconds, gpu}, ...]}``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"environment": environment, "rows": [asdict(o) for o in outcomes]}, indent=2))
