"""A resumed cascade with ``rerun_failed`` (a re-run of the producer's job): children
that succeeded are kept, failed runs get their next attempt (same run id, same node),
children never sent are dispatched; nothing is dispatched twice."""

from __future__ import annotations

from typing import Any

from fakes import FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.events import Event
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.planning import StaticPlanner, Target
from tako_gha.forge.base import ForgeError

ROOT = "0123456789ab"
OPTS = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}


def _run(forge: FakeForge, clock: FakeClock, repos: list[str], *, resume: bool,
         **opts: Any) -> TreeReport:
    ctx = CascadeContext(root=ROOT, parent=None, depth=1, chain=("acme/a",), deadline=None)
    request = FanOutRequest(event=Event("built", "acme/a"), org="acme",
                            context=ctx if resume else None, root=None if resume else ROOT)
    return fan_out(forge, request, FanOutOptions(**{**OPTS, **opts}),
                   planner=StaticPlanner([Target(r) for r in repos], {}), clock=clock)


def _world() -> tuple[FakeForge, FakeClock]:
    clock = FakeClock()
    return FakeForge(clock, {"acme/ok": [FakeWorkflow()],
                             "acme/flaky": [FakeWorkflow(conclusion="failure")],
                             "acme/late": [FakeWorkflow()]}), clock


def test_a_rerun_keeps_successes_reruns_failures_and_sends_the_rest() -> None:
    forge, clock = _world()
    first = _run(forge, clock, ["acme/ok", "acme/flaky"], resume=False)
    assert first.status is TreeStatus.FAILURE
    forge.rerun_conclusion["acme/flaky"] = "success"
    clock.t += 60
    again = _run(forge, clock, ["acme/ok", "acme/flaky", "acme/late"], resume=True,
                 rerun_failed=True)
    assert again.status is TreeStatus.SUCCESS
    nodes = {n.repo: n for n in again.origin.children}
    assert {r: n.state for r, n in nodes.items()} == {r: NodeState.SUCCESS for r in nodes}
    assert [r.attempt for r in nodes["acme/flaky"].runs] == [2]
    assert [r.earlier for r in nodes["acme/flaky"].runs] == [["failure"]]  # shown in reports
    assert [r.attempt for r in nodes["acme/ok"].runs] == [1]
    assert forge.calls["rerun_run"] == 1 and forge.calls["dispatch"] == 3
    per_repo = {repo: sum(1 for r in forge.runs if r.repo == repo) for repo in nodes}
    assert per_repo == {"acme/ok": 1, "acme/flaky": 1, "acme/late": 1}
    assert "re-running its failed jobs: run" in (nodes["acme/flaky"].reason or "")


def test_without_rerun_failed_a_resume_reports_the_failure_as_it_is() -> None:
    forge, clock = _world()
    _run(forge, clock, ["acme/ok", "acme/flaky"], resume=False)
    again = _run(forge, clock, ["acme/ok", "acme/flaky"], resume=True)
    assert again.status is TreeStatus.FAILURE and forge.calls["rerun_run"] == 0


def test_a_refused_rerun_leaves_the_node_failed_and_says_why() -> None:
    class Refusing(FakeForge):
        def rerun_run(self, repo: str, run_id: int, *, failed_only: bool = True) -> None:
            raise ForgeError("Resource not accessible by integration", status=403)

    clock = FakeClock()
    forge = Refusing(clock, {"acme/flaky": [FakeWorkflow(conclusion="failure")]})
    _run(forge, clock, ["acme/flaky"], resume=False)
    messages: list[str] = []

    class Notes:
        def on_update(self, report: TreeReport) -> None:
            pass

        def on_message(self, text: str) -> None:
            messages.append(text)

    ctx = CascadeContext(root=ROOT, parent=None, depth=1, chain=("acme/a",), deadline=None)
    again = fan_out(forge, FanOutRequest(event=Event("built", "acme/a"), org="acme",
                                         context=ctx),
                    FanOutOptions(**OPTS, rerun_failed=True), Notes(),
                    planner=StaticPlanner([Target("acme/flaky")], {}), clock=clock)
    assert again.status is TreeStatus.FAILURE
    assert any("cannot re-run run" in m and "not accessible" in m for m in messages)

