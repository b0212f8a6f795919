"""python -m doctor on CPU: GPU rows skip with their reason, CPU rows pass; a planted faulty compiled operator
makes its row FAIL and the first-use check sends the operator to the pure-PyTorch fallback."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest
import torch
from torch.testing import assert_close

from doctor import rows  # noqa: F401 - registers every row
from doctor.__main__ import main as doctor_main
from doctor.table import FAIL, OK, ROWS, SKIP, Context, run_row
from models.networks.flow import ops, ops_check

REPO = Path(__file__).resolve().parent.parent
CPU = torch.device("cpu")


def _wrong_resample2d(image: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """A "compiled" Resample2d returning wrong values: the right warp plus 0.1."""
    return ops.resample2d_pytorch(image, flow) + 0.1


def _failing_channel_norm(input1: torch.Tensor) -> torch.Tensor:
    raise RuntimeError("CUDA error: no kernel image is available for execution on the device")


@pytest.fixture
def pretend_compiled(monkeypatch):
    """CPU tensors count as compiled-capable; the "compiled" operators are the PyTorch ones but Resample2d,
    which is wrong, and ChannelNorm, which raises; first-use verdicts start empty."""
    monkeypatch.setattr(ops, "compiled_available", lambda device: True)
    monkeypatch.setitem(ops.COMPILED, "Correlation", ops.correlation_pytorch)
    monkeypatch.setitem(ops.COMPILED, "Resample2d", _wrong_resample2d)
    monkeypatch.setitem(ops.COMPILED, "ChannelNorm", _failing_channel_norm)
    monkeypatch.setattr(ops_check, "_verdicts", {})
    monkeypatch.setattr(ops, "_announced", set())


def _context(tmp_path: Path) -> Context:
    return Context(device=CPU, gpu_count=0, quick=True, workdir=tmp_path, dataroot=tmp_path)


def test_planted_fault_fails_its_row_and_a_correct_operator_passes(pretend_compiled, tmp_path):
    wrong = run_row(ROWS["ops.Resample2d"], _context(tmp_path))
    assert wrong.status == FAIL
    assert "Resample2d beyond tolerance" in wrong.detail and "max |diff| 0.1" in wrong.detail
    assert "float32" in wrong.detail and "float16" in wrong.detail
    raising = run_row(ROWS["ops.ChannelNorm"], _context(tmp_path))
    assert raising.status == FAIL and "no kernel image" in raising.detail
    correct = run_row(ROWS["ops.Correlation"], _context(tmp_path))
    assert correct.status == OK and "% of the tolerance" in correct.detail, correct


def test_planted_fault_engages_the_fallback_once(pretend_compiled, tmp_path, caplog):
    generator = torch.Generator().manual_seed(0)
    image, flow = torch.randn(1, 3, 6, 7, generator=generator), torch.randn(1, 2, 6, 7, generator=generator)
    with caplog.at_level(logging.WARNING, logger="models.networks.flow.ops_check"):
        first = ops.resample2d(image, flow)
        second = ops.resample2d(image, flow)
        norm = ops.channel_norm(image)
    assert_close(first, ops.resample2d_pytorch(image, flow), rtol=0, atol=0)  # the fallback, not +0.1
    assert_close(second, first, rtol=0, atol=0)
    assert_close(norm, ops.channel_norm_pytorch(image), rtol=0, atol=0)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # once per faulty operator, however often it is called
    assert "compiled FlowNet2 Resample2d" in warnings[0] and "differs from the pure-PyTorch operator by up " \
        "to 0.1" in warnings[0] and "pure-PyTorch Resample2d for the rest of this run" in warnings[0]
    assert "ChannelNorm" in warnings[1] and "RuntimeError: CUDA error: no kernel image" in warnings[1]
    assert ops._resolve("Correlation", "auto", image) == "cuda"  # the correct operator stays compiled
    row = run_row(ROWS["ops.first_use"], _context(tmp_path))
    assert row.status == FAIL and "Resample2d, ChannelNorm" in row.detail


def test_first_use_check_leaves_the_global_random_state_alone(pretend_compiled):
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    ops.correlation(torch.ones(1, 2, 8, 8), torch.ones(1, 2, 8, 8), pad_size=2, max_displacement=2)
    assert_close(torch.rand(4), expected)


def test_without_a_gpu_every_gpu_row_skips_with_its_reason(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible: the GPU rows run (tests/test_gpu_paths.py)")
    for entry in ROWS.values():
        if entry.gpu:
            outcome = run_row(entry, _context(tmp_path))
            assert outcome.status == SKIP and "GPU" in outcome.detail, outcome


def test_only_selects_rows_and_writes_json(tmp_path, capsys):
    out = tmp_path / "table.json"
    assert doctor_main(["--only", "versions", "--only", "ops", "--json", str(out)]) == 0
    table = json.loads(out.read_text())
    assert [r["name"] for r in table["rows"]] == ["versions", "ops.build", "ops.Correlation", "ops.Resample2d",
                                                  "ops.ChannelNorm", "ops.first_use"]
    assert table["rows"][0]["status"] == OK and table["environment"]["torch"] == torch.__version__
    assert "versions" in capsys.readouterr().out


def test_unknown_row_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        doctor_main(["--only", "nope"])
    assert exit_info.value.code == 2
    assert "--only nope: no such row" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_doctor_in_ci(tmp_path):
    """The whole quick table in a fresh process: exit 0; without a GPU each GPU row skips with a reason and
    every CPU row passes (the ONNX row needs the export extra, which the test extra includes)."""
    out = tmp_path / "doctor.json"
    result = subprocess.run([sys.executable, "-m", "doctor", "--quick", "--json", str(out)], cwd=REPO,
                            capture_output=True, text=True, timeout=1200)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    table = json.loads(out.read_text())["rows"]
    assert [r["name"] for r in table] == list(ROWS)
    for entry in table:
        if entry["gpu"] and not torch.cuda.is_available():
            assert entry["status"] == SKIP and entry["detail"], entry
        elif entry["name"] == "onnx.cpu" and find_spec("onnxruntime") is None:
            assert entry["status"] == SKIP and "pip install" in entry["detail"]
        elif not entry["gpu"]:
            assert entry["status"] == OK, entry
    assert f"{sum(r['status'] == OK for r in table)} ok" in result.stdout


def test_bad_dataroot_is_one_error_line(tmp_path, capsys):
    from util.cli import run

    assert run(doctor_main, ["--only", "versions", "--dataroot", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: --dataroot {tmp_path}: needs train_A and test_A") and "Traceback" not in err
