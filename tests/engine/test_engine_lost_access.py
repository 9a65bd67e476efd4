"""Access lost mid-run, on the in-memory forge: a token GitHub stops accepting (401)
ends the fan-out or wait at once with a clear error; a repo or run that was read
before and then keeps answering 404 makes its nodes ``error``; passing trouble
(5xx, one 404) is asked again. Nothing is dispatched twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from fakes import FakeClock, FakeForge, FakeWorkflow
from test_engine_fanout import Recorder, run, world
from test_engine_watch import OPTS as WATCH
from test_engine_watch import _start as start_watched

from tako_gha.core.tree import NodeState, TreeStatus
from tako_gha.engine.api import CascadeContext, FanOutOptions
from tako_gha.engine.errors import CredentialsLostError
from tako_gha.engine.poller import LOST_AFTER
from tako_gha.engine.watch import watch
from tako_gha.forge.base import AuthError, ForgeError, NotFoundError, RunListing, RunState

SOURCE = "acme/a"
REVOKED = AuthError("GitHub rejected the token (401 Bad credentials)", status=401,
                    hint="set GITHUB_TOKEN or GH_TOKEN to a valid, unexpired token")


def gone(repo: str) -> NotFoundError:
    return NotFoundError(f"cannot list runs of {repo}: not found", status=404)


def test_a_token_revoked_while_polling_stops_the_wait_at_once() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=300)], c=[FakeWorkflow(duration=300)])
    forge.at(10, lambda: forge.faults.update({("list_runs", "*"): REVOKED}))
    with pytest.raises(CredentialsLostError) as info:
        run(forge, clock, ["acme/b", "acme/c"], timeout=600)
    error = info.value
    # Stopped at the first refused round, not at the 600 s timeout.
    assert clock.t < 20
    root = error.report.root
    assert error.status == 401
    assert error.message == (f"stopped waiting on cascade {root}: GitHub rejected the token "
                             "(401 Bad credentials); 2 node(s) still running could not be "
                             "followed")
    assert error.hint.startswith("set GITHUB_TOKEN or GH_TOKEN to a valid, unexpired token")
    assert f"tako-gha status {root} --org acme --wait" in error.hint
    # The partial tree keeps what was seen: nothing is marked timed out.
    states = {n.repo: n.state for n in error.report.origin.children}
    assert states == {"acme/b": NodeState.IN_PROGRESS, "acme/c": NodeState.IN_PROGRESS}
    assert len(forge.dispatches) == 2
    assert forge.deadlines[-1] is None  # the forge's wait bound is lifted on the way out


def test_a_token_revoked_while_dispatching_stops_and_resume_sends_the_rest() -> None:
    forge, clock = world(b=[FakeWorkflow()], c=[FakeWorkflow()], d=[FakeWorkflow()])
    targets = ["acme/b", "acme/c", "acme/d"]
    forge.at(1, lambda: forge.faults.update({("dispatch", "*"): REVOKED}))
    with pytest.raises(CredentialsLostError) as info:
        run(forge, clock, targets, dispatches_per_minute=1)
    root = info.value.report.root
    assert [r for r, _, _ in forge.dispatches] == ["acme/b"]
    assert "2 planned dispatch(es) were not sent" in info.value.message
    assert f"run the same fan-out with --resume {root}" in info.value.hint
    states = [n.state for n in info.value.report.origin.children]
    assert states == [NodeState.SUCCESS, NodeState.PLANNED, NodeState.PLANNED]
    # A valid token again: the resumed fan-out adopts b and sends only c and d.
    forge.faults.clear()
    ctx = CascadeContext(root=root, parent=None, depth=1, chain=(SOURCE,), deadline=None)
    again = run(forge, clock, targets, context=ctx)
    assert again.status is TreeStatus.SUCCESS
    assert sorted(r for r, _, _ in forge.dispatches) == targets


def test_server_errors_while_polling_are_asked_again() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=60)])
    bad_gateway = ForgeError("could not list runs: HTTP 502", status=502)
    forge.at(5, lambda: forge.faults.update({("list_runs", "*"): bad_gateway}))
    forge.at(40, forge.faults.clear)
    recorder = Recorder()
    report = run(forge, clock, ["acme/b"], observer=recorder)
    assert report.status is TreeStatus.SUCCESS
    assert any("HTTP 502" in m for m in recorder.messages)
    assert len(forge.dispatches) == 1


def test_a_repo_that_keeps_answering_404_is_an_error_the_rest_goes_on() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=300)], c=[FakeWorkflow(duration=60)])
    forge.at(10, lambda: forge.faults.update({("list_runs", "acme/b"): gone("acme/b")}))
    recorder = Recorder()
    report = run(forge, clock, ["acme/b", "acme/c"], timeout=600, observer=recorder)
    b, c = report.origin.children
    assert c.state is NodeState.SUCCESS  # the rest of the tree went on to its end
    assert b.state is NodeState.ERROR
    # its run is known, so it is read in batches: the batch stops finding it
    assert b.reason is not None and b.reason.startswith(
        f"run {b.runs[0].run_id} of acme/b was seen, then 3 reads in a row did not find it")
    assert "token lost access" in b.reason
    assert b.reason.endswith("(it was in_progress)")
    assert b.hint is not None and "acme/b still exists" in b.hint
    assert report.status is TreeStatus.FAILURE and report.status.exit_code == 1
    assert clock.t < 120  # c's end, not the 600 s timeout
    assert len(forge.dispatches) == 2


def test_a_repo_listed_then_404_while_its_run_is_awaited_is_lost() -> None:
    # A dispatch still waiting for its run is found through listings: a repo that
    # then keeps answering 404 is lost, and the rest goes on.
    forge, clock = world(b=[FakeWorkflow(duration=300)], c=[FakeWorkflow(duration=60)])
    forge.appear_delay["acme/b"] = 30  # b's run shows up late
    forge.at(10, lambda: forge.faults.update({("list_runs", "acme/b"): gone("acme/b")}))
    recorder = Recorder()
    report = run(forge, clock, ["acme/b", "acme/c"], timeout=600, observer=recorder)
    b, c = report.origin.children
    assert c.state is NodeState.SUCCESS and b.state is NodeState.ERROR
    assert b.reason is not None and "acme/b can no longer be listed" in b.reason
    assert "deleted or renamed" in b.reason
    assert any(m.startswith("stopped following acme/b") for m in recorder.messages)
    assert clock.t < 120


def test_a_404_or_two_is_a_blip_not_a_lost_repo() -> None:
    class Flaky(FakeForge):
        refusals = 0

        def list_runs(self, repo: str, **kw: Any) -> RunListing:
            if self.clock.t >= 10 and self.refusals < LOST_AFTER - 1:
                self.refusals += 1
                raise gone(repo)
            return super().list_runs(repo, **kw)

        def run_states(self, node_ids: Sequence[str]) -> dict[str, RunState]:
            found = super().run_states(node_ids)
            if self.clock.t >= 10 and self.refusals < LOST_AFTER - 1:
                self.refusals += 1
                return {}  # not found, this time
            return found

    clock = FakeClock()
    forge = Flaky(clock, {"acme/b": [FakeWorkflow(duration=60)]})
    report = run(forge, clock, ["acme/b"])
    assert forge.refusals == LOST_AFTER - 1
    assert report.status is TreeStatus.SUCCESS
    assert report.origin.children[0].state is NodeState.SUCCESS


def test_a_404_on_a_repo_never_listed_is_not_a_lost_repo() -> None:
    # Listing fails from the start (the token never could read it): the discovery
    # deadline decides, as before, with its own reason.
    forge, clock = world(b=[FakeWorkflow()])
    forge.faults[("list_runs", "acme/b")] = gone("acme/b")
    report = run(forge, clock, ["acme/b"], discovery_timeout=20)
    node = report.origin.children[0]
    assert node.state is NodeState.ERROR
    assert node.reason is not None and node.reason.startswith("its runs could not be listed")


def test_a_run_seen_then_gone_is_an_error() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=300)], c=[FakeWorkflow(duration=60)])
    forge.at(10, lambda: forge.delete_run(forge.runs[0].id))
    report = run(forge, clock, ["acme/b", "acme/c"], timeout=600)
    b, c = report.origin.children
    assert c.state is NodeState.SUCCESS
    assert b.state is NodeState.ERROR
    assert b.reason is not None and b.reason.startswith(f"run {b.runs[0].run_id} of acme/b "
                                                        "was seen, then 3 reads in a row")
    assert clock.t < 120
    assert forge.calls["get_run"] == 0  # its state came in batches
    asked = forge.calls["run_states"]
    assert asked <= 120 / 8 + 2  # one batch a status round, not one read per run


def test_status_wait_stops_on_a_revoked_token() -> None:
    forge, clock, root = start_watched(hang=True)
    forge.at(clock.t + 5, lambda: forge.faults.update({("list_runs", "*"): REVOKED}))
    started = clock.t
    with pytest.raises(CredentialsLostError) as info:
        watch(forge, root, "acme", FanOutOptions(wait=True, timeout=600, **WATCH), clock=clock)
    assert clock.t - started < 20
    assert f"tako-gha status {root} --org acme --wait" in info.value.hint
    assert "send the rest" not in info.value.hint  # a wait sends nothing
    assert NodeState.TIMED_OUT not in {n.state for n in info.value.report.origin.walk()}
    assert len(forge.runs) == 3  # b, c, and d that b fanned out to; none sent again


def test_status_wait_marks_a_lost_repo_and_follows_the_rest() -> None:
    forge, clock, root = start_watched(hang=True)
    forge.at(clock.t + 5, lambda: forge.faults.update({("list_runs", "acme/c"): gone("acme/c")}))
    report = watch(forge, root, "acme", FanOutOptions(wait=True, timeout=600, **WATCH),
                   clock=clock)
    states = {n.repo: n.state for n in report.origin.walk() if n is not report.origin}
    assert states == {"acme/b": NodeState.SUCCESS, "acme/d": NodeState.SUCCESS,
                      "acme/c": NodeState.ERROR}
    assert report.status is TreeStatus.FAILURE
