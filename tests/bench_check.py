"""Shared by the benchmarks' smoke tests: run a script's --quick mode against a copy of
RESULTS.md and check the section it wrote (benchmarks/results.py's header)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))

import results  # noqa: E402

SCRIPT_OF = {script: name for name, script in results.SECTIONS.items()}


def results_copy(where: Path) -> Path:
    """A copy of RESULTS.md for a quick run to write its section into."""
    copy = where / "RESULTS.md"
    copy.write_bytes(results.RESULTS.read_bytes())
    return copy


def env() -> dict[str, str]:
    """This checkout first (also for the benchmarks' own subprocesses)."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "TAKO_"))}
    out["PYTHONPATH"] = os.pathsep.join([str(ROOT), out.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    return out


def check_section(path: Path, script: str, argv: list[str]) -> str:
    """The section the script wrote: headed by its exact command and the commit."""
    name = SCRIPT_OF[script]
    section = results.sections(path)[name]
    command = " ".join(["python", f"benchmarks/{script}", *argv])
    header = section.splitlines()[2]
    assert header.startswith(f"Written by `{command}` at commit "), header
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, text=True,
                          capture_output=True, check=True).stdout.strip()
    assert re.search(rf"at commit {head}(\+dirty)?, \d{{4}}-\d\d-\d\d \d\d:\d\d", header)
    machine = section.splitlines()[3]
    assert re.match(rf"Machine: .* on .*, {os.cpu_count()} cores \(.+\), .*load average "
                    r"\d+\.\d at the start, \d+\.\d at the end\.$", machine), machine
    assert "Reading" in section
    return section
