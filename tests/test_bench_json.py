"""benchmarks/bench_json.py runs (quick mode): the benchmark cannot rot unnoticed."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_json_quick_runs(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("bench_json", None)
    import bench_json

    assert bench_json.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "| payload reader (strictjson) | 1" in out  # the whole payload corpus
    assert "| emulator body reader (confine) | 3" in out  # the hostile bodies
