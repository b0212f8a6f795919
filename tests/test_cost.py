"""util/cost.py (MAC counting with the analytic additions, the timer) and the cost targets of bench/fast.py."""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from util.cost import analytic_part, count_macs, time_calls

REPO = Path(__file__).resolve().parent.parent


def test_convolution_macs_are_exact() -> None:
    x, w = torch.randn(1, 3, 8, 10), torch.randn(4, 3, 3, 3)
    total, by_op = count_macs(F.conv2d, x, w, padding=1)
    assert total == 4 * 3 * 9 * 8 * 10 and analytic_part(by_op) == 0


def test_uncounted_ops_are_added_analytically() -> None:
    image, grid = torch.randn(2, 3, 5, 6), torch.rand(2, 5, 6, 2) * 2 - 1
    total, by_op = count_macs(lambda: F.grid_sample(image, grid, align_corners=True) * 2.0 + image)
    values = 2 * 3 * 5 * 6
    assert by_op["aten.grid_sampler_2d"] == 4 * values
    assert by_op["aten.mul"] == values and by_op["aten.add"] == values
    assert total == analytic_part(by_op) == 6 * values


def test_meta_tensors_count_without_computing() -> None:
    x, w = torch.empty(1, 64, 256, 512, device="meta"), torch.empty(64, 64, 3, 3, device="meta")
    assert count_macs(F.conv2d, x, w, padding=1)[0] == 64 * 64 * 9 * 256 * 512


def test_timer_interleaves_after_warm_up() -> None:
    calls = []
    timings = time_calls([lambda: calls.append("a"), lambda: calls.append("b")], runs=3, warmup=2)
    assert calls == ["a", "a", "b", "b"] + ["a", "b"] * 3
    assert all(len(t.runs_ms) == 3 and t.median_ms >= 0 and t.fps > 0 for t in timings)


def test_util_cost_imports_neither_models_nor_data() -> None:
    source = (REPO / "util" / "cost.py").read_text()
    assert not re.search(r"^\s*(from|import) (models|data)\b", source, re.MULTILINE)


def _bench():
    spec = importlib.util.spec_from_file_location("bench_fast", REPO / "bench" / "fast.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_student_is_at_least_twice_cheaper_than_the_composite() -> None:
    """The issue's target, at the published Cityscapes and face settings, MACs per generated frame."""
    bench = _bench()
    for setting in bench.SETTINGS.values():
        macs = {}
        for title, net_g, student in bench.GENERATORS:
            net = bench.build(setting, net_g, student, "meta")
            macs[title] = count_macs(bench.step(net, *bench.inputs(setting, "meta")))[0]
        composite, teacher, student = macs.values()
        assert composite / student >= 2 and student < teacher < composite, (setting.title, macs)


def test_keyframe_section_runs_quick(cityscapes_root) -> None:
    """The key-frame speed section on a tiny network at 64x32: three rows, the key row generates a fraction."""
    lines = _bench().keyframe_section(argparse.Namespace(quick=True, key_frames=12))
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [row[0].strip() for row in rows] == ["vid2vid every frame", "student every frame",
                                                "student key frames + interpolation"]
    fractions = [float(row[1].split()[0]) for row in rows]
    assert fractions[:2] == [1.0, 1.0] and 0 < fractions[2] < 1
    macs = [float(row[2]) for row in rows]
    assert macs[0] > macs[1] > macs[2] > 0  # the student is cheaper; key frames cheaper still
    assert all(float(row[4]) > 0 for row in rows) and rows[2][7].strip() != "-"


def test_overlap_section_runs_quick(cityscapes_root) -> None:
    """The overlap section on a tiny network: both rows, and the overlapped pass made the same frames."""
    lines = _bench().overlap_section(argparse.Namespace(quick=True, key_frames=8, runs=1, overlap_width=64))
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [row[0].strip() for row in rows] == ["in line (previous)", "on a worker thread (test.py now)"]
    assert all(float(row[1]) > 0 for row in rows) and rows[1][3].strip() == "yes"


@pytest.mark.slow
def test_exactness_section_compares_the_paths(cityscapes_root) -> None:
    """The exactness section at 256x128 (the fast paths taken): both rows; once trained, the paths differ by float
    rounding only over the whole fed-back sequence (untrained, the random BatchNorms amplify it without bound)."""
    lines = _bench().exactness_section(argparse.Namespace(toy_steps=40))
    rows = [line.split("|")[1:-1] for line in lines if line.startswith("| ") and "---" not in line][1:]
    assert [row[0].split()[0] for row in rows] == ["random", "trained"]
    first, worst = float(rows[1][1]), float(rows[1][2])
    assert 0 < first and worst < 1e-3, (first, worst)  # another summation order: different, slightly
