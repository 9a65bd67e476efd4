"""benchmarks/bench_hostile.py runs (quick mode): the benchmark cannot rot unnoticed."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from bench_check import check_section, results_copy

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_hostile_quick_runs(capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("bench_hostile", None)
    import bench_hostile

    copy = results_copy(tmp_path)
    argv = ["--quick", "--write", "--results", str(copy)]
    assert bench_hostile.main(argv) == 0
    out = capsys.readouterr().out
    assert "refused at load" in out  # the filter
    assert "stopped: max_eval_steps" in out  # nested comprehensions
    assert "stopped: max_value_size" in out  # shared values
    assert '"hostile": 5' in out
    section = check_section(copy, "bench_hostile.py", argv)
    # the reading is computed from the figures: goals checked (in wall time: met on a
    # quiet machine, said to be missed, naming the filters, beside a busy one), each
    # org plan judged
    assert re.search(r"Per evaluation \(goal ≤ [\d.]+ s and ≤ [\d.]+ MB\): (met by every "
                     r"hostile filter|NOT met by \d+ of \d+: )", section), section
    assert len(re.findall(r"the ≤ 3 s plan goal is (met|NOT met)", section)) == len(
        bench_hostile.ORG_MIXES)
