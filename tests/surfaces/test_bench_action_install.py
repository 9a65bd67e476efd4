"""benchmarks/bench_action_install.py in its small mode: action.yml's venv, install and
entry steps run in bash on a venv restored as the cache would restore it, up to the
entry's first request to a loopback API (no network, nothing installed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from bench_check import check_section, env, results_copy

ROOT = Path(__file__).resolve().parents[2]


def test_warm_path_reaches_the_first_api_call(tmp_path: Path) -> None:
    copy = results_copy(tmp_path)
    argv = ["--quick", "--write", "--results", str(copy)]
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_action_install.py"),
                           *argv], capture_output=True, text=True, timeout=300, check=False,
                          env=env())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    found = re.search(r"first API call: (\d+\.\d+) s \(cpu (\d+\.\d+) s\)", proc.stdout)
    assert found, proc.stdout
    # a generous bound: the figure itself is for benchmarks/RESULTS.md, not for a test
    assert 0 < float(found.group(1)) < 120
    section = check_section(copy, "bench_action_install.py", argv)
    assert f"{float(found.group(1)):.2f} s from step start to the first API call" in section
