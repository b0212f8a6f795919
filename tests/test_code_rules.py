"""Project-wide rules of STYLE.md section 6: nothing CUDA-only in library code."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FORBIDDEN = [r"\.cuda\(", r"torch\.cuda\.\w+Tensor", r"\bVariable\(", r"device\s*=\s*[\"']cuda"]
ALLOWED = {"util/device.py"}


def _python_files():
    for path in REPO.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith((".venv", "tests/", "build/")) or "/." in rel:
            continue
        yield rel, path


def test_no_cuda_only_patterns():
    offenders = []
    for rel, path in _python_files():
        if rel in ALLOWED:
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("#"):
                continue
            if any(re.search(pattern, line) for pattern in FORBIDDEN):
                offenders.append(f"{rel}:{number}: {line.strip()}")
    assert not offenders, "\n".join(offenders)


def test_every_package_init_has_a_docstring():
    for init in ["options", "data", "models", "models/networks", "util", "doctor"]:
        text = (REPO / init / "__init__.py").read_text().lstrip()
        assert text.startswith('"""'), f"{init}/__init__.py needs a docstring"


def test_ruff_is_clean():
    import shutil
    import subprocess
    import sys

    import pytest

    ruff = shutil.which("ruff") or str(Path(sys.executable).with_name("ruff"))
    if not Path(ruff).exists():
        pytest.skip("ruff is not installed (pip install -e .[test])")
    result = subprocess.run([ruff, "check", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_util_holds_utilities_only():
    """util/ imports neither models/ nor data/ (orchestration lives in models/ and data/)."""
    pattern = re.compile(r"^\s*(from|import)\s+(models|data)(\.|\s|$)")
    offenders = [f"{rel}:{n}: {line.strip()}" for rel, path in _python_files() if rel.startswith("util/")
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.match(line)]
    assert not offenders, "\n".join(offenders)
