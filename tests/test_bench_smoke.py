"""The benchmarks under bench/ still run against today's code: each is run in a tiny setting and must print
its table with a row per measured entry. Their figures are not checked here (targets are read off the tables,
never asserted by timed tests); what is checked is that the scripts use the current APIs and produce rows."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def _run_bench(script: str, *args: str, timeout: float = 600) -> str:
    """Run ``bench/<script>`` with ``args``; returns what it printed."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(REPO / "bench" / script), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"bench/{script} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def _table_rows(printed: str) -> list[str]:
    """The body rows of the markdown tables in ``printed`` (header and rule lines left out)."""
    lines = [line for line in printed.splitlines() if line.startswith("|")]
    return [line for line, below in zip(lines, lines[1:] + [""]) if not below.startswith("|---")
            and not line.startswith("|---")]


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def test_inference_bench_prints_a_row_per_precision() -> None:
    rows = _table_rows(_run_bench("inference.py", "--sections", "throughput", "--sizes", "64", "--frames", "3", "--ngf", "8", "--threads", "1"))
    assert [_cells(row)[:2] for row in rows] == [["64x32", "float32"], ["64x32", "bf16"]]
    for row in rows:
        frames_per_second = float(_cells(row)[2])
        assert frames_per_second > 0


def test_flow_bench_times_the_opencv_backends_and_every_operator() -> None:
    printed = _run_bench("flow.py", "--width", "64", "--height", "32", "--repeats", "1", "--threads", "1",
                         "--skip_flownet2")
    timed = {line.split()[0]: float(line.split()[-1]) for line in printed.splitlines()[2:] if line.strip()}
    assert {"dis", "farneback", "Correlation", "Resample2d", "ChannelNorm"} <= set(timed), printed
    assert all(ms > 0 for ms in timed.values()), printed
