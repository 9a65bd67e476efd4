"""benchmarks/bench_hostile.py runs (quick mode): the benchmark cannot rot unnoticed."""

from __future__ import annotations

import sys
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_hostile_quick_runs(capsys, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("bench_hostile", None)
    import bench_hostile

    assert bench_hostile.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "refused at load" in out  # the filter
    assert "stopped: max_eval_steps" in out  # nested comprehensions
    assert "stopped: max_value_size" in out  # shared values
    assert '"hostile": 5' in out
