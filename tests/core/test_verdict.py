"""core.verdict on hand-built trees: what counts as time, what as failure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tako_gha.core.ids import TitleTag, make_title, parse_title
from tako_gha.core.tree import Node, NodeState, RunRef, TreeStatus
from tako_gha.core.verdict import root_causes, run_state, tree_status

DEADLINE = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)


def _run(conclusion: str | None, ended: timedelta | None = None, *,
         deadline: datetime | None = DEADLINE) -> RunRef:
    status = "completed" if conclusion else "in_progress"
    return RunRef(1, "u", "w.yml", status, conclusion, "strict",
                  updated_at=DEADLINE + ended if ended is not None else None,
                  deadline=deadline)


def _tree(*children: Node) -> Node:
    return Node("acme/a", "a" * 12, NodeState.IN_PROGRESS, children=list(children))


def test_a_run_cancelled_at_or_after_its_deadline_timed_out() -> None:
    assert run_state(_run("cancelled", timedelta(seconds=3))) is NodeState.TIMED_OUT
    assert run_state(_run("cancelled", timedelta(seconds=-1))) is NodeState.TIMED_OUT  # slack
    assert run_state(_run("cancelled", timedelta(minutes=-5))) is NodeState.CANCELLED
    assert run_state(_run("cancelled", timedelta(seconds=3), deadline=None)) \
        is NodeState.CANCELLED  # no deadline known: a cancel is a cancel
    assert run_state(_run("failure", timedelta(seconds=3))) is NodeState.FAILURE


def test_failure_outranks_time_and_github_timeouts_are_failures() -> None:
    slow = Node("acme/s", "s" * 12, NodeState.TIMED_OUT)
    failed = Node("acme/f", "f" * 12, NodeState.FAILURE)
    assert tree_status(_tree(slow), timed_out=True) is TreeStatus.TIMED_OUT
    assert tree_status(_tree(slow, failed), timed_out=True) is TreeStatus.FAILURE
    assert tree_status(_tree(slow, failed)) is TreeStatus.FAILURE
    assert tree_status(_tree(slow)) is TreeStatus.TIMED_OUT
    # timeout-minutes on GitHub's side: that run failed, the cascade had time left.
    job = Node("acme/j", "j" * 12, NodeState.TIMED_OUT, runs=[_run("timed_out")])
    assert tree_status(_tree(job)) is TreeStatus.FAILURE
    going = Node("acme/g", "g" * 12, NodeState.IN_PROGRESS)
    assert tree_status(_tree(going, failed)) is TreeStatus.RUNNING
    done = Node("acme/d", "d" * 12, NodeState.SUCCESS)
    assert tree_status(_tree(done), timed_out=True) is TreeStatus.SUCCESS  # last look


def test_the_root_cause_is_named_once() -> None:
    leaf = Node("acme/g", "g" * 12, NodeState.FAILURE)
    middle = Node("acme/m", "m" * 12, NodeState.FAILURE, children=[leaf])
    other = Node("acme/x", "x" * 12, NodeState.NOT_STARTED)
    slow = Node("acme/s", "s" * 12, NodeState.TIMED_OUT)
    assert [n.repo for n in root_causes(_tree(middle, other, slow))] == ["acme/g", "acme/x"]


def test_the_tag_carries_the_deadline_and_old_tags_still_read() -> None:
    tag = TitleTag("0" * 12, None, "1" * 12, int(DEADLINE.timestamp()))
    title = make_title("built", "acme/a", tag)
    assert title.endswith(f":{int(DEADLINE.timestamp()):08x}]") and parse_title(title) == tag
    old = parse_title(f"built from acme/a [tako:{'0' * 12}:-:{'1' * 12}]")
    assert old is not None and old.deadline is None and old.id == "1" * 12
