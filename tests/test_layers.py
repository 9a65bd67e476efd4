"""The layering rules a newcomer can rely on (see tako_gha/__init__.py).

Checked statically from the import statements of every module, so a violation is
named with file and line instead of surfacing as a subtle runtime coupling.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "tako_gha"

# layer -> module prefixes it must never import
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "core": ("tako_gha.engine", "tako_gha.forge", "tako_gha.surfaces", "tako_gha.emulator",
             "github", "requests", "urllib", "http", "socket", "subprocess", "git"),
    "engine": ("github", "tako_gha.surfaces", "tako_gha.emulator", "tako_gha.forge.github"),
    "forge": ("tako_gha.engine", "tako_gha.surfaces", "tako_gha.emulator"),
    "emulator": ("tako_gha.engine", "tako_gha.forge", "tako_gha.surfaces", "github"),
}


def _imports(path: Path, root: Path = PACKAGE.parent) -> list[tuple[int, str]]:
    """Every module ``path`` imports, relative imports (``from ..engine import x``)
    resolved against its own package, so they cannot slip past the rule."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = list(path.relative_to(root).parts[:-1])  # the package ``path`` is in
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1]
            if node.module:
                found.append((node.lineno, ".".join([*base, node.module])))
            else:  # ``from .. import engine``: each name may be a module
                found.extend((node.lineno, ".".join([*base, alias.name]))
                             for alias in node.names)
    return found


def _violations(layer: str) -> list[str]:
    bad: list[str] = []
    for path in sorted((PACKAGE / layer).rglob("*.py")):
        for line, module in _imports(path):
            for prefix in FORBIDDEN[layer]:
                if module == prefix or module.startswith(prefix + "."):
                    bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_only_downwards(layer: str) -> None:
    assert _violations(layer) == []


def test_the_rule_catches_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "x.py"
    sample.write_text("import github\nfrom tako_gha.engine import api\n")
    assert [m for _, m in _imports(sample, tmp_path)] == ["github", "tako_gha.engine"]


def test_a_relative_import_is_resolved_to_the_module_it_names(tmp_path: Path) -> None:
    (tmp_path / "tako_gha" / "emulator").mkdir(parents=True)
    sample = tmp_path / "tako_gha" / "emulator" / "x.py"
    sample.write_text("from ..engine import api\nfrom .. import forge\nfrom . import rest\n")
    assert [m for _, m in _imports(sample, tmp_path)] == [
        "tako_gha.engine", "tako_gha.forge", "tako_gha.emulator.rest"]
