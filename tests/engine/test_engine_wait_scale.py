"""Waiting at scale: known runs read in batches, listings only where a run can still
appear, the budget governor, and rounds on several threads."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import pytest
from fakes import FakeClock, FakeForge, FakeWorkflow
from test_engine_fanout import Recorder, run, world

from tako_gha.core.tree import Node, NodeState, RunRef, TreeStatus
from tako_gha.engine.correlate import TreeTracker
from tako_gha.engine.governor import Governor
from tako_gha.engine.poller import FleetPoller
from tako_gha.forge.base import CallKind, CostLedger, RateLimitError, RunListing


def _fleet(n: int, duration: float) -> tuple[FakeForge, FakeClock, list[str]]:
    forge, clock = world(**{f"c{i:03d}": [FakeWorkflow(duration=duration)] for i in range(n)})
    return forge, clock, [f"acme/c{i:03d}" for i in range(n)]


def test_known_runs_cost_one_request_per_hundred_a_round_whatever_the_wait() -> None:
    forge, clock, repos = _fleet(250, duration=600)
    report = run(forge, clock, repos, concurrency_limit=250, max_children=250,
                 dispatches_per_minute=10_000, dispatches_per_hour=100_000,
                 poll_max_interval=30, timeout=3600)
    assert report.status is TreeStatus.SUCCESS
    engine = report.cost["engine"]
    rounds = engine["status_rounds"]
    # 3 queries a round for 250 runs (the last rounds may have fewer left), a round
    # every 12 s (8 s, stretched for 3 queries: Governor.status_floor)
    assert engine["status_calls"] <= 3 * rounds and rounds >= 600 / 12 * 0.8
    # each repo is listed until its run is matched (and within the sibling grace),
    # then never again: its run's state comes in the batches
    assert forge.calls["list_runs"] <= 3 * len(repos)
    assert forge.calls["get_run"] == 0
    minutes = clock.t / 60
    waiting = forge.calls["list_runs"] + forge.calls["run_states"]
    assert waiting <= len(repos) * (3 + 0.1 * minutes)
    # the end of the last run is seen within one status interval
    last_end = max(r.end() or 0.0 for r in forge.runs)
    assert clock.t - last_end <= 8 + 2


def test_a_subscriber_is_listed_only_until_its_child_is_found() -> None:
    forge, clock = world(
        b=[FakeWorkflow(duration=200, fan_out=[("acme/c", "built"), ("acme/d", "built")])],
        c=[FakeWorkflow(duration=20)], d=[FakeWorkflow(duration=20)],
        e=[FakeWorkflow(duration=20)])
    subscribers = {"acme/b": {"acme/c", "acme/d", "acme/e"}}
    report = run(forge, clock, ["acme/b"], subscribers=subscribers, poll_max_interval=30,
                 timeout=900)
    assert report.status is TreeStatus.SUCCESS
    assert {n.repo for n in report.origin.walk()} >= {"acme/b", "acme/c", "acme/d"}
    listed = forge.list_calls_by_repo
    # c and d: until their run appeared, then once after b ended; e (no run): while
    # b ran, at the listing pace that grows when quiet
    assert listed["acme/c"] <= 4 and listed["acme/d"] <= 4
    assert listed["acme/e"] > listed["acme/c"]
    assert listed["acme/e"] <= 200 / 5 + 5


def test_governor_defers_listings_past_the_per_minute_budget_and_says_why() -> None:
    forge, clock, repos = _fleet(30, duration=60)
    for _ in range(700):  # someone spent most of this minute's REST points already
        forge.ledger.record(CallKind.OTHER)
    recorder = Recorder()
    report = run(forge, clock, repos, concurrency_limit=30, max_children=30,
                 dispatches_per_minute=10_000, observer=recorder, timeout=900)
    assert report.status is TreeStatus.SUCCESS
    slowed = [m for m in recorder.messages if m.startswith("polling slowed")]
    assert slowed and "REST points a minute" in " ".join(slowed)
    assert forge.ledger.peak_per_minute["rest"] <= 720 + 5
    assert report.cost["engine"]["governor_slowed"] >= 1


def test_governor_stretches_run_state_rounds_on_a_low_graphql_budget() -> None:
    clock = FakeClock()
    ledger = CostLedger(clock.monotonic)
    reset = 1_000_000 + 3600
    ledger.budget(600, 5000, "graphql", reset)  # 100 above the 10 % reserve, an hour left
    governor = Governor(ledger, lambda: 1_000_000.0)
    assert governor.status_interval(10, 8.0, horizon=7200) > 8.0
    assert governor.kind == "status" and "GraphQL points left" in governor.reason
    governor.begin_round()
    assert governor.status_interval(0, 8.0, horizon=7200) == 8.0 and governor.kind == ""
    ledger.budget(5000, 5000, "graphql", reset)
    assert governor.status_interval(10, 8.0, horizon=7200) == 8.0  # 75 a minute fits


def test_dispatches_wait_for_write_room() -> None:
    forge, clock, repos = _fleet(10, duration=5)
    for _ in range(710):
        forge.ledger.record(CallKind.OTHER)
    report = run(forge, clock, repos, concurrency_limit=10, max_children=10,
                 dispatches_per_minute=10_000)
    assert report.status is TreeStatus.SUCCESS
    # 720 points a minute: 2 dispatches (5 points each) fit, the rest waited
    first_ten = sorted(r.created for r in forge.runs)
    assert first_ten[-1] >= 55


class ThreadedForge(FakeForge):
    """Listings answered from any thread; records which forge ran on which thread."""

    def __init__(self, clock: FakeClock, workflows: dict, parent: Any = None) -> None:
        super().__init__(clock, workflows)
        self.parent = parent
        self.threads: set[int] = set()
        self.lock = parent.lock if parent else threading.Lock()

    def worker(self) -> ThreadedForge:
        return ThreadedForge(self.clock, {}, parent=self)

    def list_runs(self, repo: str, **kw: Any) -> RunListing:
        with self.lock:
            self.threads.add(threading.get_ident())
        time.sleep(0.005)  # an answer takes a moment: the slices overlap
        return RunListing([])


def test_a_round_runs_on_workers_each_with_its_own_forge() -> None:
    clock = FakeClock()
    forge = ThreadedForge(clock, {})
    tracker = TreeTracker("r" * 12, Node(repo="acme/a", id="r" * 12), {})
    poller = FleetPoller(forge, tracker, datetime.now(timezone.utc), workers=4)
    repos = [f"acme/x{i}" for i in range(40)]
    poller.poll_round(repos, 1.0)
    pool = poller._pool or []
    assert len(pool) == 4 and all(isinstance(f, ThreadedForge) for f in pool)
    # every worker forge was used by one thread only (never two at once), and the
    # round spread over several threads, not the caller's
    assert all(len(f.threads) == 1 for f in pool)
    assert len({t for f in pool for t in f.threads}) >= 2
    assert forge.threads == set()
    assert poller.stats.list_calls == 40 and set(tracker.last_polled) == set(repos)


def test_batches_are_capped_and_rotate(monkeypatch: pytest.MonkeyPatch) -> None:
    """250 known runs need 3 queries a round (100 ids each); the GraphQL budget has room
    for one a round, so each round sends one query, and the next round starts where
    the last one stopped: three rounds in a row read every run once."""
    forge, clock, repos = _fleet(250, duration=200)
    monkeypatch.setattr(Governor, "graphql_room", lambda self: 1)
    recorded: list[list[str]] = []
    real = forge.run_states

    def spy(ids: Sequence[str]) -> Any:
        recorded.append(list(ids))
        return real(ids)

    forge.run_states = spy  # type: ignore[method-assign]
    recorder = Recorder()
    report = run(forge, clock, repos, status_interval=8.0, concurrency_limit=250,
                 max_children=250, dispatches_per_minute=10_000,
                 dispatches_per_hour=100_000, observer=recorder, timeout=3600)
    assert report.status is TreeStatus.SUCCESS
    assert all(c.state is NodeState.SUCCESS for c in report.origin.children)
    # capped: never more than 100 ids a query, never more than one query a round
    assert recorded and all(len(ids) <= 100 for ids in recorded)
    engine = report.cost["engine"]
    assert engine["status_calls"] == engine["status_rounds"] == len(recorded)
    assert any("run-state queries wait for the next round" in m for m in recorder.messages)
    # rotating: while all 250 runs are pending (3 chunks: 100, 100, 50), each round
    # starts where the last one stopped, so any three rounds in a row read every run
    # exactly once; always sending the first chunk would leave 150 runs unread
    every = {f"WFR_{r.id}" for r in forge.runs}
    assert len(every) == 250 and set().union(*recorded) == every
    full = [k for k in range(len(recorded) - 2)
            if sorted(map(len, recorded[k:k + 3])) == [50, 100, 100]]
    assert len(full) >= 6  # two whole rotations at least
    for k in full:
        assert sorted(recorded[k] + recorded[k + 1] + recorded[k + 2]) == sorted(every)
    # and with two chunks left (the 190 runs known first), rounds alternate between them
    pairs = [recorded[k:k + 2] for k in range(len(recorded) - 1)
             if sorted(map(len, recorded[k:k + 2])) == [90, 100]]
    assert pairs and all(not set(a) & set(b) for a, b in pairs)


class RefusingForge(ThreadedForge):
    """Every listing is refused by a rate limit that will not end soon."""

    def worker(self) -> RefusingForge:
        return RefusingForge(self.clock, {}, parent=self)

    def list_runs(self, repo: str, **kw: Any) -> RunListing:
        root = self.parent or self
        with self.lock:
            root.sent = getattr(root, "sent", 0) + 1
        time.sleep(0.005)
        raise RateLimitError("GitHub API rate limit exhausted", reset_at=None)


def test_a_rate_limit_stops_the_round_instead_of_sending_the_rest() -> None:
    clock = FakeClock()
    forge = RefusingForge(clock, {})
    tracker = TreeTracker("r" * 12, Node(repo="acme/a", id="r" * 12), {})
    poller = FleetPoller(forge, tracker, datetime.now(timezone.utc), workers=4)
    with pytest.raises(RateLimitError):
        poller.poll_round([f"acme/x{i}" for i in range(40)], 1.0)
    assert forge.sent <= 4  # one refusal per worker at most, not 40


def test_a_finished_node_rescans_only_subscribers_without_a_child() -> None:
    tracker = TreeTracker("r" * 12, Node(repo="acme/a", id="r" * 12),
                          {"acme/b": {"acme/c", "acme/d"}})
    parent = Node(repo="acme/b", id="b" * 12, state=NodeState.SUCCESS)
    track = tracker.add(tracker.origin, parent, own=False)
    parent.runs.append(RunRef(1, "u", "w", "completed", "success", "strict"))
    found = Node(repo="acme/c", id="c" * 12, state=NodeState.SUCCESS)
    tracker.add(parent, found, own=False)
    found.runs.append(RunRef(2, "u", "w", "completed", "success", "strict"))
    track.done_at = 10.0
    tracker.refresh(10.5)  # the found child is seen done too
    # c's child was found: only d gets the last look after b ended
    assert tracker.repos_to_poll(11.0, batched={1, 2}) == {"acme/d"}
    tracker.last_polled["acme/d"] = 12.0
    assert tracker.repos_to_poll(13.0, batched={1, 2}) == set()
    assert tracker.complete(13.0)
