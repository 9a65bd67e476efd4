"""benchmarks/bench_graphql.py runs (quick mode): the benchmark cannot rot unnoticed."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_graphql_quick_runs(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("bench_graphql", None)
    import bench_graphql

    assert bench_graphql.main(["--quick"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| 1")]
    assert rows, out  # the whole corpus: more than 100 queries, most of them refused
    assert "fragment-bomb" in out or "tokens" in out  # the slowest are named
