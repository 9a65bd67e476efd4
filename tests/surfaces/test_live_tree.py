"""The live observer: plain progress lines off a terminal, a redrawn tree on one."""

from __future__ import annotations

import io

from report_samples import rerun_report, sample_report, wide_report
from rich.console import Console

from tako_gha.core.tree import NodeState
from tako_gha.engine.api import Observer
from tako_gha.surfaces.reports import LiveTree


def _plain() -> tuple[LiveTree, io.StringIO]:
    out = io.StringIO()
    return LiveTree(Console(file=out, force_terminal=False, width=200)), out


def test_live_tree_is_an_observer() -> None:
    live, _ = _plain()
    observer: Observer = live  # structural: the engine calls exactly these two
    assert callable(observer.on_update) and callable(observer.on_message)


def test_plain_lines_only_for_state_changes() -> None:
    live, out = _plain()
    report = sample_report()
    svc_a = report.origin.children[0]
    svc_a.state = NodeState.IN_PROGRESS
    live.on_update(report)
    first = out.getvalue().splitlines()
    assert len(first) == 5  # every node is new once
    assert any("acme/svc-a: in_progress (run 1001)" in line for line in first)
    assert all(line.endswith("[4/5 done, 2 failed]") for line in first)

    live.on_update(report)  # nothing changed: nothing printed
    assert out.getvalue().splitlines() == first

    svc_a.state = NodeState.SUCCESS
    live.on_update(report)
    added = out.getvalue().splitlines()[len(first):]
    assert len(added) == 1
    assert "acme/svc-a: in_progress → success (run 1001)  [5/5 done, 2 failed]" in added[0]


def test_plain_failure_line_carries_the_reason_and_messages_print() -> None:
    live, out = _plain()
    live.on_update(sample_report())
    live.on_message("dispatching to 4 repositories")
    text = out.getvalue()
    assert "acme/svc-c: failure (run 1003) — job build failed: exit 1" in text
    assert text.splitlines()[-1].endswith("dispatching to 4 repositories")
    live.close()  # no live display to stop: harmless


def test_terminal_draws_a_tree_with_progress_and_caps_its_size() -> None:
    out = io.StringIO()
    with LiveTree(Console(file=out, force_terminal=True, width=120), min_interval=0) as live:
        live.on_update(sample_report())
        live.on_message("hello")
        live.on_update(wide_report(100))
    text = out.getvalue()
    assert "acme/svc-c" in text and "failure" in text
    assert "5/5 done" in text and "2 failed" in text
    assert "100/100 done" in text
    assert "… 40 more nodes" in text
    assert "hello" in text


def test_terminal_redraws_are_throttled() -> None:
    out = io.StringIO()
    live = LiveTree(Console(file=out, force_terminal=True, width=120), min_interval=60)
    report = sample_report()
    live.on_update(report)
    size = len(out.getvalue())
    report.origin.children[0].repo = "acme/renamed"
    live.on_update(report)  # within min_interval: not drawn yet
    assert len(out.getvalue()) == size
    live.close()  # the final frame is always drawn
    assert "acme/renamed" in out.getvalue()


def test_plain_lines_cannot_smuggle_workflow_commands() -> None:
    live, out = _plain()
    report = sample_report()
    report.origin.children[0].children[0].reason = "boom\n::error::forged\r\n::add-mask::x"
    live.on_update(report)
    live.on_message("note\n::warning::forged")
    assert not any(line.startswith("::") for line in out.getvalue().splitlines())


def test_cancelled_children_are_not_counted_as_failed() -> None:
    # After fail_fast, healthy children end cancelled: "N failed" would blame them.
    live, out = _plain()
    report = sample_report()
    for child in report.origin.children:
        child.state = NodeState.CANCELLED
    report.origin.children[0].state = NodeState.FAILURE
    live.on_update(report)
    assert out.getvalue().splitlines()[-1].endswith(
        "[5/5 done, 2 failed, 3 cancelled or timed out]")  # was "5 failed"


def test_a_re_run_node_is_shown_by_its_attempt_in_lines_and_on_a_terminal() -> None:
    live, out = _plain()
    live.on_update(rerun_report())
    text = out.getvalue()
    assert "acme/svc-a: success (attempt 2 of run 1042 (attempt 1: failure))" in text
    assert "acme/svc-b: failure (attempt 3 of run 1043)" in text
    assert "acme/svc-c: success (run 1044)" in text
    drawn = io.StringIO()
    with LiveTree(Console(file=drawn, force_terminal=True, width=160), min_interval=0) as tty:
        tty.on_update(rerun_report())
    assert "attempt 2 of run 1042 (attempt 1: failure)" in drawn.getvalue()
