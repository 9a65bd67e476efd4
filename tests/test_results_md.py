"""benchmarks/RESULTS.md holds only what the scripts wrote: every section is headed by
the command of the script that owns it and the commit it ran at (benchmarks/results.py
writes that header; a hand-edited section has none)."""

from __future__ import annotations

import re
import subprocess

from bench_check import ROOT, results

HEADER = re.compile(r"^Written by `python benchmarks/(?P<script>[\w.]+\.py)(?P<args>[^`]*)` "
                    r"at commit (?P<commit>[0-9a-f]{7,40})(?P<dirty>\+dirty)?, "
                    r"\d{4}-\d\d-\d\d \d\d:\d\d")



def test_every_section_names_the_command_and_commit_that_wrote_it() -> None:
    found = results.sections()
    assert set(found) == set(results.SECTIONS)  # every benchmark's section, no other
    for name, section in found.items():
        lines = section.splitlines()
        header = HEADER.match(lines[2]) if len(lines) > 3 else None
        assert header, f"{name}: no header written by results.py: {lines[2:3]}"
        assert header["script"] == results.SECTIONS[name], name
        assert "--quick" not in header["args"] and "--results" not in header["args"], name
        assert header["dirty"] is None, f"{name} was written from an uncommitted tree"
        assert lines[3].startswith("Machine: "), name
        known = subprocess.run(["git", "cat-file", "-e", f"{header['commit']}^{{commit}}"],
                               cwd=ROOT, capture_output=True, check=False)
        assert known.returncode == 0, f"{name}: commit {header['commit']} is not in history"
