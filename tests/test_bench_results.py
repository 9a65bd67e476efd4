"""benchmarks/results.py, the one writer of RESULTS.md: a section is replaced whole,
headed by the command, commit and machine; the other sections stay byte for byte."""

from __future__ import annotations

import argparse
import os
import subprocess
from pathlib import Path

import pytest
from bench_check import results

FILE = """# Benchmark results

## Matching

old matching
| a | b |

## Hook

old hook, kept
"""


def test_a_section_is_replaced_whole_and_the_others_kept(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(FILE, encoding="utf-8")
    run = results.Run("bench_matching.py", ["--write", "--sizes", "1 2"])
    run.write("Matching", "new body\n\nReading: new.", path)
    text = path.read_text(encoding="utf-8")
    assert "old matching" not in text and "new body" in text
    assert text.endswith("## Hook\n\nold hook, kept\n")
    section = results.sections(path)["Matching"]
    assert section.splitlines()[2].startswith(
        "Written by `python benchmarks/bench_matching.py --write --sizes '1 2'` at commit ")
    assert section.splitlines()[3].startswith("Machine: ")
    assert f"{os.cpu_count()} cores" in section


def test_a_missing_section_goes_where_the_order_puts_it(tmp_path: Path) -> None:
    path = tmp_path / "RESULTS.md"
    path.write_text(FILE, encoding="utf-8")
    results.Run("bench_discovery.py", []).write("Discovery", "found", path)
    results.Run("bench_wait.py", []).write("Waiting at scale", "waited", path)
    assert list(results.sections(path)) == ["Matching", "Discovery", "Hook",
                                             "Waiting at scale"]
    assert results.sections(path)["Hook"] == "## Hook\n\nold hook, kept\n"


def test_unknown_sections_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown RESULTS\.md section"):
        results.Run("x.py", []).write("Made up", "body", tmp_path / "R.md")


def test_quick_runs_may_write_only_another_file(tmp_path: Path) -> None:
    def args(**kw: object) -> argparse.Namespace:
        return argparse.Namespace(**{"quick": True, "write": True,
                                     "results": results.RESULTS, **kw})

    with pytest.raises(SystemExit, match="--quick figures are not results"):
        results.check_quick(args())
    results.check_quick(args(results=tmp_path / "R.md"))
    results.check_quick(args(quick=False))


def test_the_commit_is_marked_when_the_tree_differs(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "benchmarks").mkdir()
    (tmp_path / "code.py").write_text("1\n")
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# r\n")
    git("add", ".")
    git("-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q", "-m", "c")
    monkeypatch.setattr(results, "ROOT", tmp_path)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, text=True,
                          capture_output=True, check=True).stdout.strip()
    assert results.commit() == head
    (tmp_path / "benchmarks" / "RESULTS.md").write_text("# r\nnew section\n")
    assert results.commit() == head  # writing sections does not make the tree dirty
    (tmp_path / "code.py").write_text("2\n")
    assert results.commit() == head + "+dirty"
