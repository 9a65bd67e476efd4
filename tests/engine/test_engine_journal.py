"""The dispatch journal and resume on the in-memory forge: nothing sent twice after a
crash, for tagged and untagged receivers alike."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
from fakes import FakeClock, FakeForge, FakeWorkflow

from tako_gha.core.events import Event
from tako_gha.core.ids import dispatch_id
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.engine.fanout import fan_out
from tako_gha.engine.journal import (
    NOT_SENT,
    SENT,
    UNKNOWN,
    Interrupted,
    Journal,
    JournalError,
    SignalGuard,
    crash_point,
    default_path,
    read,
)
from tako_gha.engine.planning import StaticPlanner, Target
from tako_gha.forge.base import AmbiguousDispatchError, NotFoundError

SOURCE = "acme/a"
ROOT = "0123456789ab"
FAST = {"poll_min_interval": 1.0, "poll_max_interval": 5.0, "discovery_timeout": 30.0,
        "sibling_grace": 2.0, "timeout": 600.0}


class Crash(BaseException):
    """The process dying inside a dispatch (kill -9): nothing after it runs."""


class CrashingForge(FakeForge):
    """Dies inside the dispatch to ``crash_repo``: after GitHub created the run
    (``after_create``) or before the request left."""

    def __init__(self, clock: FakeClock, workflows: dict[str, list[FakeWorkflow]],
                 crash_repo: str, *, after_create: bool) -> None:
        super().__init__(clock, workflows)
        self.crash_repo, self.after_create = crash_repo, after_create

    def dispatch(self, repo: str, event_type: str, client_payload: dict[str, Any]) -> None:
        if repo == self.crash_repo:
            self.crash_repo = ""  # once
            if self.after_create:
                super().dispatch(repo, event_type, client_payload)
            raise Crash
        super().dispatch(repo, event_type, client_payload)


def _world(forge_cls: Any = FakeForge, run_name: bool = True, n: int = 3,
           **kw: Any) -> tuple[FakeForge, FakeClock, list[str]]:
    clock = FakeClock()
    repos = [f"acme/r{i}" for i in range(n)]
    forge = forge_cls(clock, {r: [FakeWorkflow(run_name=run_name)] for r in repos}, **kw)
    return forge, clock, repos


def _fan_out(forge: FakeForge, clock: FakeClock, repos: list[str], journal: Journal | None,
             *, resume: bool = False, **opts: Any) -> TreeReport:
    ctx = CascadeContext(root=ROOT, parent=None, depth=1, chain=(SOURCE,), deadline=None)
    request = FanOutRequest(event=Event("built", SOURCE, {}), org="acme",
                            context=ctx if resume else None, root=None if resume else ROOT)
    planner = StaticPlanner([Target(r) for r in repos], {})
    messages: list[str] = []

    class Notes:
        def on_update(self, report: TreeReport) -> None:
            pass

        def on_message(self, text: str) -> None:
            messages.append(text)

    report = fan_out(forge, request, FanOutOptions(**{**FAST, **opts}), Notes(),
                     planner=planner, clock=clock, journal=journal)
    report.cost["messages"] = messages
    return report


def _runs_per_repo(forge: FakeForge, repos: list[str]) -> list[int]:
    return [sum(1 for r in forge.runs if r.repo == repo) for repo in repos]


@pytest.mark.parametrize("run_name", [True, False], ids=["strict", "heuristic"])
@pytest.mark.parametrize("after_create", [True, False], ids=["run-created", "never-left"])
def test_a_crash_mid_dispatch_never_sends_twice(tmp_path: Path, run_name: bool,
                                                after_create: bool) -> None:
    forge, clock, repos = _world(CrashingForge, run_name, crash_repo="acme/r1",
                                 after_create=after_create)
    path = tmp_path / "journal.jsonl"
    with pytest.raises(Crash):
        _fan_out(forge, clock, repos, Journal(path))
    state = read(path, ROOT)
    ids = {e.repo: e for e in state.entries.values()}
    assert ids["acme/r0"].status == SENT and ids["acme/r1"].status == UNKNOWN
    assert "acme/r2" not in ids
    clock.t += 20  # the resume comes a little later
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    by_repo = {n.repo: n for n in report.origin.children}
    # r0, r2, and r1 once if its request left before the crash: none twice.
    assert forge.calls["dispatch"] == (3 if after_create else 2)
    assert _runs_per_repo(forge, ["acme/r0", "acme/r2"]) == [1, 1]
    assert by_repo["acme/r0"].state is NodeState.SUCCESS
    assert by_repo["acme/r2"].state is NodeState.SUCCESS
    r1 = by_repo["acme/r1"]
    if after_create:  # its run exists: adopted, whatever the correlation
        assert _runs_per_repo(forge, ["acme/r1"]) == [1]
        assert r1.state is NodeState.SUCCESS and r1.runs
        assert report.status is TreeStatus.SUCCESS
    else:  # it never left: not sent again (it might have), and said so
        assert _runs_per_repo(forge, ["acme/r1"]) == [0]
        assert r1.state is NodeState.NOT_STARTED
        assert "not sent again" in (r1.reason or "") and "journal" in (r1.reason or "")
        assert report.status is TreeStatus.FAILURE
    correlation = "strict" if run_name else "heuristic"
    assert {n.correlation for n in report.origin.children if n.runs} == {correlation}
    assert any("the journal records 2 dispatch(es) sent before" in m
               for m in report.cost["messages"])


def test_without_a_journal_untagged_receivers_are_sent_again_and_it_says_so(
        tmp_path: Path) -> None:
    forge, clock, repos = _world(run_name=False, n=2)
    _fan_out(forge, clock, repos, None, wait=False)
    clock.t += 20
    report = _fan_out(forge, clock, repos, Journal(tmp_path / "elsewhere.jsonl"),
                      resume=True)
    assert _runs_per_repo(forge, repos) == [2, 2]  # what the journal exists to prevent
    note = next(m for m in report.cost["messages"] if m.startswith(f"resuming {ROOT}"))
    assert "without a journal of it on this machine (no record in" in note
    assert "2 target(s) have runs without it (acme/r0, acme/r1)" in note


def test_with_the_journal_untagged_receivers_are_adopted(tmp_path: Path) -> None:
    forge, clock, repos = _world(run_name=False, n=4)
    path = tmp_path / "j.jsonl"
    first = _fan_out(forge, clock, repos, Journal(path), wait=False)
    assert first.status is TreeStatus.RUNNING
    clock.t += 200  # long after: its runs are older than any fresh listing window
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert forge.calls["dispatch"] == 4 and _runs_per_repo(forge, repos) == [1] * 4
    assert report.status is TreeStatus.SUCCESS
    assert all(n.correlation == "heuristic" for n in report.origin.children)
    assert report.cost["engine"]["adopted"] == 4


def test_resume_adopts_the_run_the_journal_matched_not_a_newer_one(tmp_path: Path) -> None:
    """Two untagged runs in a resumed dispatch's window: the journal's (matched before
    the crash) is the one; an unrelated run is left alone."""
    forge, clock, repos = _world(run_name=False, n=1)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos, Journal(path), timeout=3)  # matched its run, then stopped
    ours = forge.runs[0].id
    assert ours in read(path, ROOT).entries[next(iter(read(path, ROOT).entries))].runs
    forge.dispatch("acme/r0", "built", {})  # someone else's untagged run, same window
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    (node,) = report.origin.children
    assert [r.run_id for r in node.runs] == [ours] and forge.calls["dispatch"] == 2


def test_a_refused_dispatch_is_sent_again_on_resume(tmp_path: Path) -> None:
    forge, clock, repos = _world(n=1)
    forge.refuse["acme/r0"] = NotFoundError("404 Not Found", status=404)
    path = tmp_path / "j.jsonl"
    first = _fan_out(forge, clock, repos, Journal(path))
    assert first.origin.children[0].state is NodeState.ERROR
    assert next(iter(read(path, ROOT).entries.values())).status == NOT_SENT
    del forge.refuse["acme/r0"]
    again = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert again.status is TreeStatus.SUCCESS and _runs_per_repo(forge, repos) == [1]


def test_a_lost_answer_is_unknown_and_never_resent_after_a_crash(tmp_path: Path) -> None:
    forge, clock, repos = _world(n=1)
    forge.ambiguous_after_create.add("acme/r0")
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    _fan_out(forge, clock, repos, journal, wait=False)
    assert next(iter(read(path, ROOT).entries.values())).status == UNKNOWN
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    assert report.status is TreeStatus.SUCCESS and forge.calls["dispatch"] == 1


def test_the_reader_skips_a_torn_line_and_other_roots(tmp_path: Path) -> None:
    path = tmp_path / "j.jsonl"
    journal = Journal(path)
    journal.start(ROOT, source=SOURCE, event_type="e", at=_at(0), resumed=False)
    journal.intent(ROOT, "a" * 12, "acme/x", "e", _at(1))
    journal.outcome(ROOT, "a" * 12, "sent")
    journal.intent("f" * 12, "b" * 12, "acme/y", "e", _at(2))
    journal.run(ROOT, "a" * 12, 7)
    journal.close()
    with path.open("a") as handle:
        handle.write('{"k": "intent", "root": "' + ROOT + '", "id": "cc')  # torn
    state = read(path, ROOT)
    assert list(state.entries) == ["a" * 12] and state.skipped_lines == 1
    entry = state.entries["a" * 12]
    assert (entry.status, entry.runs, entry.sends) == (SENT, {7}, 1)
    assert state.started_at == _at(0)
    assert read(tmp_path / "missing.jsonl", ROOT).known is False
    with pytest.raises(JournalError, match="closed"):
        journal.run(ROOT, "a" * 12, 8)


def test_the_journal_file_is_private_and_its_default_place(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "j.jsonl"
    Journal(path).close()
    assert path.stat().st_mode & 0o777 == 0o600
    assert default_path(ROOT, {"TAKO_STATE_DIR": "/s", "RUNNER_TEMP": "/r"}) == \
        Path(f"/s/tako-journal-{ROOT}.jsonl")
    assert default_path(ROOT, {"RUNNER_TEMP": "/r"}).parent == Path("/r")
    assert default_path(ROOT, {"HOME": "/h"}).parent == Path("/h/.local/state/tako-gha")
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal(blocker / "j.jsonl")


def test_crash_point_reads_the_test_seam() -> None:
    assert crash_point({}) is None
    assert crash_point({"TAKO_JOURNAL_CRASH": "5"}) == (5, signal.SIGKILL)
    assert crash_point({"TAKO_JOURNAL_CRASH": "2:sigterm"}) == (2, signal.SIGTERM)
    with pytest.raises(JournalError, match="expected N"):
        crash_point({"TAKO_JOURNAL_CRASH": "x:SIGFOO"})


def test_the_signal_guard_holds_a_signal_until_the_dispatch_is_recorded(
        tmp_path: Path) -> None:
    guard = SignalGuard()
    with guard.installed():
        with pytest.raises(Interrupted) as info, guard.hold():
            os.kill(os.getpid(), signal.SIGTERM)
            done = True  # still runs: the signal waits for the end of the hold
        assert done and info.value.signum == signal.SIGTERM
        with pytest.raises(Interrupted):
            os.kill(os.getpid(), signal.SIGINT)
            for _ in range(1000):  # delivered at the next bytecode boundary
                pass
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_a_sigterm_at_a_dispatch_still_records_its_answer(tmp_path: Path) -> None:
    """The seam sends SIGTERM just before the outcome record: the guard lets the
    dispatch finish and record "sent", then stops the fan-out."""
    forge, clock, repos = _world(n=3)
    path = tmp_path / "j.jsonl"
    journal = Journal(path, crash_before=(3, int(signal.SIGTERM)))  # start, intent, *outcome*
    guard = SignalGuard()
    request = FanOutRequest(event=Event("built", SOURCE, {}), org="acme", root=ROOT)
    with guard.installed(), pytest.raises(Interrupted):
        fan_out(forge, request, FanOutOptions(**FAST), planner=StaticPlanner(
            [Target(r) for r in repos], {}), clock=clock, journal=journal, guard=guard)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["k"] for x in lines] == ["start", "intent", "outcome"]
    assert lines[-1]["result"] == "sent" and forge.calls["dispatch"] == 1


def test_an_ambiguous_answer_is_journaled_as_lost(tmp_path: Path) -> None:
    forge, clock, repos = _world(n=1)
    forge.faults[("dispatch", "acme/r0")] = AmbiguousDispatchError("502", status=502)
    path = tmp_path / "j.jsonl"
    _fan_out(forge, clock, repos, Journal(path), redispatch_grace=5)
    results = [json.loads(x).get("result") for x in path.read_text().splitlines()]
    assert results.count("lost") == 2  # sent, answer lost, re-sent once, lost again


def _at(seconds: int) -> Any:
    from datetime import timedelta

    from fakes import EPOCH

    return EPOCH + timedelta(seconds=seconds)


def test_two_untagged_runs_in_a_resumed_window_are_reported_ambiguous(tmp_path: Path) -> None:
    """Killed before any run was matched; two untagged runs of the receiver's one
    workflow appear in the dispatch's window: both kept, the reason says ambiguous,
    and nothing is sent again."""
    forge, clock, repos = _world(run_name=False, n=1)
    path = tmp_path / "j.jsonl"
    node_id = dispatch_id(ROOT, None, "acme/r0", "built")
    journal = Journal(path)
    journal.start(ROOT, source=SOURCE, event_type="built", at=_at(0), resumed=False)
    journal.intent(ROOT, node_id, "acme/r0", "built", _at(0))
    journal.close()  # no outcome: killed mid-request
    forge.dispatch("acme/r0", "built", {})  # ours (its request had left) ...
    forge.dispatch("acme/r0", "built", {})  # ... and someone else's, same window
    clock.t += 5
    report = _fan_out(forge, clock, repos, Journal(path), resume=True)
    (node,) = report.origin.children
    assert len(node.runs) == 2 and forge.calls["dispatch"] == 2
    assert (node.reason or "").startswith("ambiguous heuristic match: runs 101 and 102")


def test_a_run_record_that_cannot_be_written_is_said_not_fatal(tmp_path: Path) -> None:
    class FullDisk(Journal):
        def run(self, root: str, node_id: str, run_id: int) -> None:
            raise JournalError("cannot write the journal j.jsonl: No space left on device")

    forge, clock, repos = _world(n=2)
    report = _fan_out(forge, clock, repos, FullDisk(tmp_path / "j.jsonl"))
    assert report.status is TreeStatus.SUCCESS
    notes = [m for m in report.cost["messages"] if m.startswith("cannot record matched runs")]
    assert len(notes) == 1 and "No space left" in notes[0]
