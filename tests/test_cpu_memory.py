"""util/cpu_memory.py: glibc's malloc keeps freed blocks (test.py's setting), and the defaults come back."""

from __future__ import annotations

import sys

import pytest
import torch

from util.cpu_memory import _glibc, keep_freed_memory


@pytest.mark.skipif(_glibc() is None, reason="glibc only (mallopt)")
def test_keep_freed_memory_applies_and_restores() -> None:
    try:
        assert keep_freed_memory(True)
        x = torch.ones(64, 1024, 1024)  # 256 MiB: above glibc's largest mmap threshold, now from the heap
        assert float(x[-1, -1, -1]) == 1.0
        del x
    finally:
        assert keep_freed_memory(False)


def test_no_op_without_glibc(monkeypatch) -> None:
    monkeypatch.setattr(sys, "platform", "darwin")
    _glibc.cache_clear()
    try:
        assert keep_freed_memory(True) is False
    finally:
        monkeypatch.undo()
        _glibc.cache_clear()
