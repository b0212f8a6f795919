"""util/cli.run: user errors are one ``error:`` block and exit code 2; bugs and --debug keep the traceback."""

from __future__ import annotations

import errno

import pytest

from data.check import DatasetError
from options import OptionError
from util.checkpoint import CheckpointError
from util.cli import run
from util.download import DownloadError


def _raising(err: BaseException):
    def main(argv=None):
        raise err
    return main


@pytest.mark.parametrize("err, text", [
    (OptionError("invalid options:\n  - --ngf must be >= 1"), "error: invalid options:\n  - --ngf must be >= 1"),
    (DatasetError("1 dataset problem(s): ..."), "error: 1 dataset problem(s): ..."),
    (CheckpointError("network G0: checkpoint not found: x.pth"), "error: network G0: checkpoint not found"),
    (DownloadError("downloading u failed"), "error: downloading u failed"),
    (OSError(errno.ENOSPC, "No space left on device", "/ckpt/latest_net_G0.pth"),
     "error: /ckpt/latest_net_G0.pth: the disk is full"),
    (PermissionError(errno.EACCES, "Permission denied", "/results"), "error: /results: permission denied"),
    (FileNotFoundError("VGG19 weights not found: /x.pth ... or train with --no_vgg"), "error: VGG19 weights"),
])
def test_user_errors_are_one_error_block_and_exit_2(capsys, err, text):
    assert run(_raising(err), []) == 2
    out = capsys.readouterr()
    assert out.err.startswith(text) and out.err.count("error:") == 1 and "Traceback" not in out.err


def test_bugs_and_debug_keep_the_traceback():
    with pytest.raises(ZeroDivisionError):
        run(_raising(ZeroDivisionError("bug")), [])
    with pytest.raises(OptionError):
        run(_raising(OptionError("x")), ["--debug"])


def test_exit_codes_of_success_and_interrupt(capsys):
    assert run(lambda argv=None: {"frames": 3}, []) == 0
    assert run(lambda argv=None: 1, [], returns_code=True) == 1
    assert run(_raising(KeyboardInterrupt()), []) == 130 and "interrupted" in capsys.readouterr().err
