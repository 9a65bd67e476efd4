"""The house's size rules, checked statically: no module in tako_gha/ over 800 lines and
no function (or method) over 60, so a reviewer can read any room top to bottom. A
violation is named with file, line and size."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "tako_gha"
MAX_MODULE_LINES = 800
MAX_FUNCTION_LINES = 60


def _oversized(path: Path, package: Path = PACKAGE) -> list[str]:
    text = path.read_text(encoding="utf-8")
    name = path.relative_to(package.parent)
    found: list[str] = []
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        found.append(f"{name}: {lines} lines")
    for node in ast.walk(ast.parse(text, filename=str(path))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            size = (node.end_lineno or node.lineno) - node.lineno + 1
            if size > MAX_FUNCTION_LINES:
                found.append(f"{name}:{node.lineno} {node.name}: {size} lines")
    return found


def test_no_module_or_function_is_over_its_size() -> None:
    assert [v for p in sorted(PACKAGE.rglob("*.py")) for v in _oversized(p)] == []


def test_the_rule_catches_an_oversized_function_and_module(tmp_path: Path) -> None:
    pkg = tmp_path / "tako_gha"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(MAX_FUNCTION_LINES))
    (pkg / "long.py").write_text(f"def f() -> None:\n{body}\n")
    (pkg / "big.py").write_text("X = 1\n" * (MAX_MODULE_LINES + 1))
    assert _oversized(pkg / "long.py", pkg) == [
        f"tako_gha/long.py:1 f: {MAX_FUNCTION_LINES + 1} lines"]
    assert _oversized(pkg / "big.py", pkg) == [f"tako_gha/big.py: {MAX_MODULE_LINES + 1} lines"]
