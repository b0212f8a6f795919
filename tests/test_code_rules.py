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
    """Every package of the project says what lives there (options, data, models and its sub-packages, ...)."""
    inits = [rel for rel, _ in _python_files() if rel.endswith("__init__.py") and rel.split("/")[0] in PACKAGES]
    assert len(inits) >= 9
    for init in inits:
        text = (REPO / init).read_text().lstrip()
        assert text.startswith('"""'), f"{init} needs a docstring"


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


PACKAGES = ("options", "data", "models", "training", "util", "doctor")


def _module_name(rel: str) -> str:
    """``models/vid2vid/criterion.py`` -> ``models.vid2vid.criterion``; a package's ``__init__`` -> the package."""
    parts = rel[:-3].split("/")
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    """Every module of the project's packages (and the entry points) by dotted name."""
    return {_module_name(rel): path for rel, path in _python_files()
            if rel.split("/")[0] in PACKAGES or rel in ("train.py", "test.py")}


def _imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules ``path`` imports anywhere (top level or inside functions); ``from pkg import sub``
    counts as an import of ``pkg.sub`` when ``sub`` is a module, else of ``pkg``."""
    import ast

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.update(f"{node.module}.{alias.name}" if f"{node.module}.{alias.name}" in modules
                         else node.module for alias in node.names)
    return {name for name in found if name in modules}


def import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    modules = _project_modules()
    return {name: _imports(path, modules) for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), or a module importing itself."""
    index, low, stack, on_stack, cycles = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles():
    cycles = import_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(group) for group in cycles)


def test_import_cycle_finder_finds_a_planted_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert sorted(import_cycles(graph)) == [["a", "b", "c"], ["e"]]


def test_models_import_no_data():
    """models/ is below data/ and training/: the trainer joins them, a model never reads a dataset module."""
    offenders = [f"{name} imports {target}" for name, targets in import_graph().items()
                 if name.split(".")[0] == "models"
                 for target in sorted(targets) if target.split(".")[0] in ("data", "training")]
    assert not offenders, "\n".join(offenders)
