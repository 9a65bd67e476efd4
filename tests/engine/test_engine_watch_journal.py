"""status, wait and cancel where the fan-out ran: its journal makes children without
the run-name tag part of the tree; elsewhere they are counted, not silently missed."""

from __future__ import annotations

from pathlib import Path

from fakes import FakeClock, FakeWorkflow
from test_verdict_table import TreeForge

from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, TreeReport
from tako_gha.engine.api import FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.journal import Journal, read
from tako_gha.engine.planning import StaticPlanner, Target
from tako_gha.engine.watch import cancel_tree, watch

OPTS = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}
REPOS = ["acme/b", "acme/c"]


class Notes:
    def __init__(self) -> None:
        self.messages: list[str] = []

    def on_update(self, report: TreeReport) -> None:
        pass

    def on_message(self, text: str) -> None:
        self.messages.append(text)


def _sent(tmp_path: Path) -> tuple[TreeForge, FakeClock, str, Path]:
    clock = FakeClock()
    forge = TreeForge(clock, {r: [FakeWorkflow(run_name=False, duration=300)] for r in REPOS},
                      {"acme/a": set(REPOS)})
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    report = fan_out(forge, FanOutRequest(event=Event("built", "acme/a"), org="acme"),
                     FanOutOptions(**{**OPTS, "wait": False}), clock=clock, journal=journal,
                     planner=StaticPlanner([Target(r) for r in REPOS], {"acme/a": set(REPOS)}))
    journal.close()
    clock.t += 10
    return forge, clock, report.root, path


def test_with_the_journal_untagged_children_are_in_the_tree_and_cancelled(
        tmp_path: Path) -> None:
    forge, clock, root, path = _sent(tmp_path)
    local = read(path, root)
    now = watch(forge, root, "acme", FanOutOptions(**{**OPTS, "wait": False}), clock=clock,
                journal=local)
    assert {n.repo: n.state for n in now.origin.children} == {
        "acme/b": NodeState.IN_PROGRESS, "acme/c": NodeState.IN_PROGRESS}
    assert all(n.correlation == "heuristic" for n in now.origin.children)
    cancelled = cancel_tree(forge, root, "acme", clock=clock, journal=local)
    assert sorted(repo for repo, _ in cancelled) == REPOS


def test_without_it_the_untagged_runs_are_counted(tmp_path: Path) -> None:
    """A tagged child and an untagged one: elsewhere, status shows the first and says
    that one target has untagged runs it cannot place (it used to say success)."""
    clock = FakeClock()
    forge = TreeForge(clock, {"acme/b": [FakeWorkflow(duration=5)],
                              "acme/c": [FakeWorkflow(run_name=False, conclusion="failure")]},
                      {"acme/a": set(REPOS)})
    report = fan_out(forge, FanOutRequest(event=Event("built", "acme/a"), org="acme"),
                     FanOutOptions(**OPTS), clock=clock,
                     planner=StaticPlanner([Target(r) for r in REPOS], {"acme/a": set(REPOS)}))
    assert report.status.value == "failure"
    notes = Notes()
    later = watch(forge, report.root, "acme", FanOutOptions(**{**OPTS, "wait": False}),
                  notes, clock=clock)
    assert [n.repo for n in later.origin.children] == ["acme/b"]
    note = next(m for m in notes.messages if "without the tako tag" in m)
    assert note.startswith("1 target(s) have runs started by a dispatch (repository_dispatch "
                           "or workflow_dispatch) without the tako tag")
    assert note.endswith("a run-name with the tako title in their workflows shows them "
                         "anywhere)")
    assert "(acme/c)" in note
