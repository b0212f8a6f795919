"""Runs ``train.main`` (or ``test.main``) and SIGKILLs itself at a planned moment, for tests/test_kill_resume.py
and tests/test_results_folder.py.

Usage: ``python tests/kill_runner.py PLAN [train.py or test.py flags]`` where PLAN is

- ``none``: run to the end;
- ``write:<file name>:<n>``: die half-way through writing the n-th copy of that checkpoint file;
- ``rename:<k>:<n>``: die in the n-th checkpoint commit after k of its files were renamed into place;
- ``random:<n>:<seconds>``: die ``seconds`` after the n-th training step ended (a random moment of the next
  step or save, as the test draws it);
- ``frame:<n>``: run test.py and die once its n-th result frame is written.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _plan_write(name: str, nth: int) -> None:
    from util import checkpoint

    original, seen = checkpoint._write_temp, {"n": 0}

    def dying_write(folder, file_name, write):
        if file_name == name:
            seen["n"] += 1
            if seen["n"] == nth:
                def half_then_die(stream):
                    stream.write(b"PK\x03\x04 half of " + name.encode())
                    stream.flush()
                    _die()
                return original(folder, file_name, half_then_die)
        return original(folder, file_name, write)

    checkpoint._write_temp = dying_write


def _plan_rename(after: int, nth: int) -> None:
    from util import checkpoint

    original, commits = checkpoint._roll_forward, {"n": 0}

    def dying_roll_forward(folder, journal):
        commits["n"] += 1
        if commits["n"] == nth:
            for tmp_name, final_name in journal["files"][:after]:
                tmp_path = os.path.join(folder, tmp_name)
                if os.path.exists(tmp_path):  # moved already when an earlier run died in its roll-forward
                    os.replace(tmp_path, os.path.join(folder, final_name))
            _die()
        original(folder, journal)

    checkpoint._roll_forward = dying_roll_forward


def _plan_timer(nth: int, seconds: float) -> None:
    from training.trainer import Trainer

    original, steps = Trainer.after_step, {"n": 0}

    def timed_after_step(self, epoch, result):
        steps["n"] += 1
        if steps["n"] == nth:
            timer = threading.Timer(seconds, _die)
            timer.daemon = True
            timer.start()
        original(self, epoch, result)

    Trainer.after_step = timed_after_step


def _plan_frame(nth: int) -> None:
    from util import results_writer

    original, frames = results_writer.ResultsWriter._write, {"n": 0}

    def dying_write(self, frame, visuals):
        original(self, frame, visuals)
        frames["n"] += 1
        if frames["n"] == nth:
            _die()

    results_writer.ResultsWriter._write = dying_write


def main(plan: str, flags: list[str]) -> None:
    kind, *args = plan.split(":")
    if kind == "frame":
        _plan_frame(int(args[0]))
        import test

        test.main(flags)
        return
    if kind == "write":
        _plan_write(args[0], int(args[1]))
    elif kind == "rename":
        _plan_rename(int(args[0]), int(args[1]))
    elif kind == "random":
        _plan_timer(int(args[0]), float(args[1]))
    import train

    train.main(flags)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
