"""benchmarks/bench_graphql.py runs (quick mode): the benchmark cannot rot unnoticed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench_check import check_section, results_copy

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_graphql_quick_runs(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("bench_graphql", None)
    import bench_graphql

    copy = results_copy(tmp_path)
    argv = ["--quick", "--write", "--results", str(copy)]
    assert bench_graphql.main(argv) == 0
    out = capsys.readouterr().out
    assert "| 1" in out and "refused" in out  # the whole corpus (over 100 queries)
    section = check_section(copy, "bench_graphql.py", argv)
    assert "slowest: " in section and "Reading (computed from the table)" in section
