"""The waiting benchmark's quick mode runs end to end (benchmarks/bench_wait.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
from bench_check import check_section, results_copy

pytestmark = pytest.mark.timeout(240)

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_wait.py"


def test_quick_mode_measures_both_strategies_and_the_tree(capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_wait", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    sys.modules["bench_wait"] = bench  # dataclasses look their module up
    try:
        spec.loader.exec_module(bench)
        copy = results_copy(tmp_path)
        argv = ["--quick", "--write", "--results", str(copy)]
        rows = bench.main(argv)
    finally:
        sys.modules.pop("bench_wait", None)
    by = {f.scenario: f for f in rows}
    assert set(by) == {"tako-4", "anchors-4", "exact-4", "tree", "tree-alone"}
    assert all(f.status == "success" for f in rows)
    figures = by["tako-4"]
    assert figures.refusals == 0 and figures.lag is not None and figures.dispatches == 4
    assert all(ok for text, ok in bench.goals(figures)
               if not text.startswith(("peak RSS", "requests per child"))), bench.goals(figures)
    # the honest trees: every intermediate level played by the real engine, on the
    # tree's token; the figures are the token's over all its processes
    for name in ("tree", "tree-alone"):
        tree = by[name]
        assert tree.children == 2 + 4 + 8 and tree.runs_seen == 14
        assert tree.dispatches == 2  # the root's own; the levels below sent the rest
        workers = tree.tree["workers"]
        assert workers["intermediates"] == workers["finished"] == 2 + 4
        assert not workers["errors"]
        assert tree.tree["requests"] > tree.requests  # the levels' requests counted too
        assert tree.tree["refusals"] == 0 and tree.lag is not None
        goals = dict((text.split(" ")[0] + " " + text.split(" ")[1], ok)
                     for text, ok in bench.goals(tree))
        assert len(goals) == 6  # none exempt
    # handed down, the levels below the root read reports instead of listing: no
    # repository is listed and no run's annotations read, by the root or any level
    assert by["tree"].tree["requests"] < by["tree-alone"].tree["requests"]
    kinds = by["tree"].tree["kinds"]
    assert kinds["dispatch"] == 14 and kinds["artifacts"] == 2 * (2 + 4)
    assert not {"runs_list", "annotations", "jobs"} & set(kinds), kinds
    assert {"runs_list", "annotations"} <= set(by["tree-alone"].tree["kinds"])
    # exact mode beside repository_dispatch: its runs come in the dispatch answers
    exact, rd = by["exact-4"], by["tako-4"]
    assert exact.dispatches == 4 and exact.refusals == 0 and exact.runs_seen == 4
    assert exact.extra["engine"]["list_calls"] == 0 < rd.extra["engine"]["list_calls"]
    assert exact.start_per_child < rd.start_per_child and exact.requests < rd.requests
    assert [ok for text, ok in bench.goals(exact) if text.startswith(("run listings", "lag"))] \
        == [True, True]
    out = capsys.readouterr().out
    assert "| tako-4 |" in out and "Reading" in out
    section = check_section(copy, "bench_wait.py", argv)
    assert "| tako-4 | 4 | success |" in section and "| anchors-4 | 4 | success |" in section
    assert "- tree: met: secondary refusals over all processes 0 = 0" in section
    assert "| tree-alone | 14 | success | 7 |" in section and "- Where tako loses: " in section
    assert "| exact-4 | 4 | success |" in section and "run listings 0 = 0" in section
