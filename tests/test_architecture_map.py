"""docs/architecture.md's file map stays true: every module under tako_gha/ is named in
it (a module itself, or the folder it lives in), and every file or folder it names
exists. A newcomer reads the map first; a moved or new module must move the map too."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "tako_gha"
MAP = ROOT / "docs" / "architecture.md"

# A layer's heading in the map, e.g. **`tako_gha/core`** — …
_HEADING = re.compile(r"^\*\*`tako_gha/(\w+)`\*\*")
# A file or folder named in a table row's first cell: `name.py` or `name/`.
_NAMED = re.compile(r"`([\w.]+(?:\.py|/))`")
# Package markers and the entry point say nothing about who owns what.
_UNMAPPED = {"__init__.py", "__main__.py"}


def _named(text: str) -> set[str]:
    """Paths under tako_gha/ the map names (``core/lint.py``, ``core/cel/``)."""
    named: set[str] = set()
    layer = None
    for line in text.splitlines():
        heading = _HEADING.match(line)
        if heading:
            layer = heading.group(1)
        elif line.startswith("## "):
            layer = None
        elif layer and line.startswith("| `"):
            first_cell = line.split("|")[1]
            named.update(f"{layer}/{name}" for name in _NAMED.findall(first_cell))
    return named


def _modules(package: Path) -> list[str]:
    return sorted(str(p.relative_to(package)) for p in package.rglob("*.py")
                  if p.name not in _UNMAPPED)


def _drift(package: Path, text: str) -> tuple[list[str], list[str]]:
    named = _named(text)
    unnamed = [m for m in _modules(package)
               if m not in named and not any(m.startswith(n) for n in named
                                             if n.endswith("/"))]
    missing = sorted(n for n in named if not (package / n).exists()
                     or (n.endswith("/") != (package / n).is_dir()))
    return unnamed, missing


def test_every_module_is_on_the_map_and_every_mapped_file_exists() -> None:
    unnamed, missing = _drift(PACKAGE, MAP.read_text(encoding="utf-8"))
    assert unnamed == [], "modules docs/architecture.md does not name"
    assert missing == [], "files docs/architecture.md names that do not exist"


def test_the_guard_sees_a_new_module_and_a_stale_name(tmp_path: Path) -> None:
    (tmp_path / "core" / "cel").mkdir(parents=True)
    for name in ("core/__init__.py", "core/a.py", "core/new.py", "core/cel/x.py"):
        (tmp_path / name).write_text("")
    text = ("**`tako_gha/core`** — pure\n\n| file | owns |\n|---|---|\n"
            "| `a.py`, `gone.py` | things |\n| `cel/` | filters |\n\n## Next\n"
            "| `new.py` | not a map row: outside the layer's section |\n")
    assert _drift(tmp_path, text) == (["core/new.py"], ["core/gone.py"])
