"""benchmarks/bench_json.py runs (quick mode): the benchmark cannot rot unnoticed."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from bench_check import check_section, results_copy

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_bench_json_quick_runs(capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    sys.modules.pop("bench_json", None)
    import bench_json

    copy = results_copy(tmp_path)
    argv = ["--quick", "--write", "--results", str(copy)]
    assert bench_json.main(argv) == 0
    out = capsys.readouterr().out
    assert "| payload reader (strictjson) | 1" in out  # the whole payload corpus
    assert "| emulator body reader (confine) | 3" in out  # the hostile bodies
    section = check_section(copy, "bench_json.py", argv)
    assert "| payload reader (strictjson) | 1" in section
    assert "emulator body reader (confine) read its 3" in section  # the computed reading
