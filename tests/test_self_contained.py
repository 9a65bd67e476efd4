"""The repository stands on its own: no file points at documents that are not in it.

What the code needs from the product's design and from GitHub's documentation is
written in docs/ (architecture.md, protocol.md, limits.md with GitHub's public URLs,
...), so a reference to an outside contract or notes file would leave a reader with
nothing to open."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Spelled in pieces so that this file does not match itself.
OUTSIDE = re.compile("|".join([
    r"\bSPEC" + r"\s*§",
    r"\bSPEC" + r"\s+section\b",
    r"GITHUB" + r"-FACTS",
    r"shared/" + r"(SPEC|GITHUB)",
]))


def _tracked_text_files() -> list[Path]:
    try:
        listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                                check=True, timeout=60).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):  # not a git checkout (an sdist)
        return [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts]
    return [ROOT / name for name in listed if name]


def _outside_references(paths: list[Path], base: Path = ROOT) -> list[str]:
    found = []
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue  # binary files, files removed from the work tree
        for number, line in enumerate(text.splitlines(), 1):
            if OUTSIDE.search(line):
                found.append(f"{path.relative_to(base)}:{number}: {line.strip()}")
    return found


def test_no_reference_to_documents_outside_the_repository() -> None:
    paths = _tracked_text_files()
    assert len(paths) > 100
    assert _outside_references(paths) == [], (
        "describe what is needed in docs/ in the project's own words instead")


@pytest.mark.parametrize("line", [
    "see SPEC" + " §9 for the shape",
    "(GITHUB" + "-FACTS §3)",
    "tako-gha, SPEC" + " section 2",
    "read /work/shared/" + "SPEC.md",
])
def test_the_scan_catches_each_form(tmp_path: Path, line: str) -> None:
    sample = tmp_path / "notes.md"
    sample.write_text(f"ok\n{line}\n", encoding="utf-8")
    assert _outside_references([sample], tmp_path) == [f"notes.md:2: {line}"]


def test_ordinary_words_pass() -> None:
    sample_lines = ["SPEC_NAME = 'api.github.com.json'", "the OpenAPI spec §-free", "specs"]
    assert not any(OUTSIDE.search(x) for x in sample_lines)
