"""Every benchmark runs in its ``--quick`` mode and writes its RESULTS.md section through
benchmarks/results.py (to a temporary copy): a benchmark that no longer runs, or a
section that stops naming the command and commit that wrote it, fails the suite.

bench_hostile, bench_wait, bench_json, bench_graphql and bench_action_install have their
own smoke tests (tests/test_bench_hostile.py, tests/test_bench_wait.py,
tests/test_bench_json.py, tests/test_bench_graphql.py,
tests/surfaces/test_bench_action_install.py) that go through the same checks."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from bench_check import BENCHMARKS, ROOT, SCRIPT_OF, check_section, env, results, results_copy

# script -> a line its --quick run must print (a figure of the real measurement)
QUICK = {
    "bench_matching.py": r"targets[\s|]+60 of 200 \(both strategies agree\)",
    "bench_discovery.py": r"\| 200 \| naive REST \(PyGithub list \+ contents\) \| 199 \|",
    "bench_emulator.py": r"\| GraphQL discovery, cold object cache \| 3 pages, 300 repos",
    "bench_hook.py": r"\| hook process, push changes tako\.yml \| \d+ ms",
    "bench_fanout.py": r"\| tako \| success \| 4 \| 2 \|",  # the tree: 4 nodes, 2 dispatches
    "crash_matrix.py": (r"5 cells \(1 receiver kinds x 1 signals x 2 kill points, plus 3 "
                        r"two-sender and disk-full cells\), 5 passed"),
}
ELSEWHERE = {"bench_hostile.py", "bench_wait.py", "bench_action_install.py", "bench_json.py",
             "bench_graphql.py"}


def test_every_benchmark_has_a_quick_smoke_test_and_a_section() -> None:
    # a benchmark is a script (run as __main__); results.py and helpers such as
    # bench_tree.py (bench_wait's workers) are imported by them
    scripts = {p.name for p in BENCHMARKS.glob("*.py")
               if 'if __name__ == "__main__":' in p.read_text(encoding="utf-8")}
    assert "results.py" not in scripts and "bench_wait.py" in scripts
    assert scripts == set(QUICK) | ELSEWHERE
    assert set(results.SECTIONS.values()) == scripts


@pytest.mark.parametrize("script", sorted(QUICK))
def test_quick_mode_runs_and_writes_its_section_to_a_copy(script: str, tmp_path: Path) -> None:
    copy = results_copy(tmp_path)
    real_before = results.RESULTS.read_bytes()
    argv = ["--quick", "--write", "--results", str(copy)]
    proc = subprocess.run([sys.executable, str(BENCHMARKS / script), *argv], cwd=ROOT,
                          env=env(), capture_output=True, text=True, timeout=240, check=False)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(QUICK[script], proc.stdout), proc.stdout[-3000:]
    section = check_section(copy, script, argv)
    assert re.search(QUICK[script], section)
    assert results.RESULTS.read_bytes() == real_before  # quick never writes the real file
    # every other section of the copy is left byte for byte
    others = {k: v for k, v in results.sections(copy).items() if k != SCRIPT_OF[script]}
    assert others == {k: v for k, v in results.sections(results.RESULTS).items()
                      if k != SCRIPT_OF[script]}


def test_quick_figures_never_go_into_results_md() -> None:
    before = results.RESULTS.read_bytes()
    proc = subprocess.run([sys.executable, str(BENCHMARKS / "bench_matching.py"), "--quick",
                           "--write"], cwd=ROOT, env=env(), capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode != 0
    assert "--quick figures are not results" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert results.RESULTS.read_bytes() == before
