"""The token's budget handed down a cascade: a child spends only its part, hands parts
to its own children, gets them back as they finish, and halves its part on a
secondary-limit refusal (engine.governor, engine.fanout)."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from typing import Any

import pytest
from fakes import FakeClock, FakeWorkflow
from test_engine_fanout import Recorder, run, world

from tako_gha.core.budget import Budget, Slot
from tako_gha.core.tree import TreeStatus
from tako_gha.engine.api import CascadeContext
from tako_gha.engine.governor import Governor
from tako_gha.forge.base import CostLedger

ROOT = Budget.root(80, 500)


def _child(count: int, duration: float, part: Budget, slot: Slot | None = None
           ) -> tuple[list[str], Any, Any, CascadeContext]:
    """A fan-out inside a tree, handed ``part`` (and ``slot``), to ``count`` repos whose
    runs last ``duration`` seconds."""
    repos = [f"acme/k{i}" for i in range(count)]
    forge, clock = world(**{r.split("/")[1]: [FakeWorkflow(duration=duration)] for r in repos})
    ctx = CascadeContext(root="a" * 12, parent="b" * 12, depth=2, chain=("acme/o", "acme/p"),
                         deadline=datetime(2030, 1, 1, tzinfo=timezone.utc), budget=part,
                         slot=slot)
    return repos, forge, clock, ctx


def _governor() -> tuple[Governor, CostLedger, FakeClock]:
    clock = FakeClock()
    ledger = CostLedger(clock.monotonic)
    messages: list[str] = []
    governor = Governor(ledger, lambda: 1_000_000.0, budget=ROOT)
    governor.on_change = messages.append
    governor.messages = messages  # type: ignore[attr-defined]
    return governor, ledger, clock


def test_a_refusal_halves_the_share_at_once_and_says_so() -> None:
    governor, ledger, clock = _governor()
    assert governor.rest_per_minute == 720 and governor.graphql_per_minute == 1600
    ledger.secondary_refusals += 1  # what the forge counts on a 403/429 + retry-after
    assert governor.rest_per_minute == 360 and governor.graphql_per_minute == 800
    assert governor.halvings == 1 and governor.refusals_seen == 1
    assert "halved to 360 REST and 800 GraphQL" in governor.messages[0]  # type: ignore
    # more refusals in the same minute: the same excess draining, not halved again
    ledger.secondary_refusals += 3
    clock.t += 30
    assert governor.rest_per_minute == 360 and governor.refusals_seen == 4
    # a refusal a minute later halves again
    clock.t += 31
    ledger.secondary_refusals += 1
    assert governor.rest_per_minute == 180 and governor.halvings == 2
    report = governor.to_json()
    assert report["halvings"] == 2 and report["refusals_seen"] == 5


def test_a_quiet_minute_grows_the_share_back_never_past_what_was_granted() -> None:
    governor, ledger, clock = _governor()
    ledger.secondary_refusals += 1
    assert governor.rest_per_minute == 360
    clock.t += 30
    assert governor.rest_per_minute == 360  # not quiet for a minute yet
    clock.t += 31
    assert governor.rest_per_minute == 720
    clock.t += 120
    assert governor.rest_per_minute == 720  # never past the grant


def test_a_finished_child_gives_its_part_back() -> None:
    governor, _, _ = _governor()
    governor.budget = governor.granted = ROOT.scaled(0.25, 0.25)
    assert governor.rest_per_minute == 180
    governor.give_back(ROOT.scaled(0.5, 0.5))
    assert governor.rest_per_minute == 540 and governor.returned == 1


def test_dispatches_are_paced_by_the_rest_points_a_share_pays_for() -> None:
    governor, _, _ = _governor()
    governor.budget = Budget(rest=2.5, graphql=10, concurrent=1, per_minute=80,
                             per_hour=500)
    per_minute, _ = governor.dispatch_rates()
    assert per_minute == 0.5  # 2.5 points a minute pay for a 5-point write every 2 min


def test_children_are_handed_parts_by_the_shape_the_graph_predicts() -> None:
    forge, clock = world(b=[FakeWorkflow(duration=30)], c=[FakeWorkflow(duration=30)])
    subscribers = {"acme/b": {f"acme/b{i}" for i in range(20)}}
    report = run(forge, clock, ["acme/b", "acme/c"], subscribers=subscribers,
                 timeout=600)
    assert report.status is TreeStatus.SUCCESS
    handed = {repo: payload["tako"].get("budget") for repo, _, payload in forge.dispatches}
    # b fans out to 20: a part of the writes in proportion; c (a leaf) gets nothing
    assert handed["acme/b"]["rest"] > handed["acme/c"]["rest"] == 0
    assert Budget.from_json(handed["acme/b"]).rest == pytest.approx(720 * 20 / 22, abs=1e-3)
    share = report.cost["engine"]["share"]
    # both children finished: their parts came back to the origin
    assert share["children_returned"] == 2
    assert share["budget"]["rest"] == 720


def test_a_child_spends_only_its_part() -> None:
    part = Budget(rest=5.0, graphql=40, concurrent=2, per_minute=80, per_hour=500)
    repos, forge, clock, ctx = _child(6, 5, part)
    recorder = Recorder()
    report = run(forge, clock, repos, context=ctx, observer=recorder, timeout=3600,
                 concurrency_limit=6, dispatches_per_minute=80)
    assert report.status is TreeStatus.SUCCESS
    sent = sorted(r.created for r in forge.runs)
    # 5 REST points a minute: one 5-point dispatch a minute (the first waits its
    # turn too), against six in the first second with the whole token's budget
    gaps = [b - a for a, b in itertools.pairwise(sent)]
    assert sent[0] >= 55 and min(gaps) >= 55
    assert forge.ledger.peak_per_minute["rest"] <= 5 + 5  # a write and a listing's worth


def test_the_context_carries_the_budget_a_parent_handed_down() -> None:
    block = {"root": "a" * 12, "id": "b" * 12, "depth": 1, "chain": ["acme/o", "acme/p"],
             "budget": ROOT.halved().to_json()}
    ctx = CascadeContext.from_client_payload({"tako": block}, "acme/p")
    assert ctx is not None and ctx.budget == ROOT.halved()
    older = CascadeContext.from_client_payload(
        {"tako": {k: v for k, v in block.items() if k != "budget"}}, "acme/p")
    assert older is not None and older.budget is None  # governs itself alone
    with pytest.raises(ValueError, match=r"client_payload\.tako\.budget\.rest"):
        CascadeContext.from_client_payload(
            {"tako": {**block, "budget": {**ROOT.to_json(), "rest": "lots"}}}, "acme/p")


def test_a_rate_below_one_a_minute_spaces_dispatches_out() -> None:
    from fakes import FakeClock

    from tako_gha.engine.pacing import DispatchPacer, window_for

    assert window_for(60, 0.5) == (120.0, 1) and window_for(60, 80) == (60.0, 80)
    clock = FakeClock()
    pacer = DispatchPacer(clock, per_minute=0.5, per_hour=500)
    sent = []
    for _ in range(4):
        pacer.acquire()
        sent.append(clock.t)
    assert [b - a for a, b in itertools.pairwise(sent)] == [120.0, 120.0, 120.0]
    pacer.set_rates(2.5, 500)  # a child's part came back: faster from now on
    pacer.acquire()
    assert clock.t - sent[-1] <= 48.0 + 1e-9


def test_a_part_stays_with_the_parent_until_its_child_is_dispatched() -> None:
    from tako_gha.forge.base import ForgeError

    forge, clock = world(b=[FakeWorkflow(duration=30)], c=[FakeWorkflow(duration=30)])
    forge.refuse["acme/b"] = ForgeError("no", status=422)  # b is never dispatched
    subscribers = {"acme/b": {f"acme/b{i}" for i in range(20)}}
    recorder = Recorder()
    report = run(forge, clock, ["acme/b", "acme/c"], subscribers=subscribers,
                 observer=recorder, timeout=600)
    assert report.status is TreeStatus.FAILURE
    share = report.cost["engine"]["share"]
    # b's part (most of the REST points) was never handed over: nothing to return,
    # nothing lost — the origin ends with the whole budget
    assert share["children_returned"] == 1 and share["budget"]["rest"] == 720


def test_each_child_is_handed_its_own_arc_of_the_write_period() -> None:
    repos, forge, clock, ctx = _child(4, 5, ROOT, Slot(0.5, 0.5))
    report = run(forge, clock, repos, context=ctx, timeout=3600, concurrency_limit=6)
    assert report.status is TreeStatus.SUCCESS
    arcs = {repo: payload["tako"]["slot"] for repo, _, payload in forge.dispatches}
    # the parent's arc, cut in four in target order: the children's writes, and
    # their children's, fall at different instants of the period
    assert arcs == {f"acme/k{i}": [0.5 + 0.125 * i, 0.125] for i in range(4)}
    back = CascadeContext.from_client_payload(forge.dispatches[1][2], "acme/k1")
    assert back is not None and back.slot == Slot(0.625, 0.125)


def test_a_slotted_child_writes_only_at_its_instants() -> None:
    from fakes import EPOCH

    part = Budget(rest=2.5, graphql=40, concurrent=2, per_minute=80, per_hour=500)
    repos, forge, clock, ctx = _child(3, 5, part, Slot(0.25, 0.1))
    report = run(forge, clock, repos, context=ctx, timeout=3600, concurrency_limit=6)
    assert report.status is TreeStatus.SUCCESS
    # 2.5 points a minute: a write every 120 s, at the server-clock instants 30 s
    # into each 120 s (a quarter of the period), never between them
    sent = sorted(EPOCH.timestamp() + r.created for r in forge.runs)
    assert [round((t - 30) % 120, 3) for t in sent] == [0.0, 0.0, 0.0]
    assert [round(b - a) for a, b in itertools.pairwise(sent)] == [120, 120]


def test_a_dispatch_waits_until_the_minute_holds_no_more_than_the_parent_keeps() -> None:
    governor, ledger, clock = _governor()
    governor.budget = governor.granted = Budget(rest=72, graphql=100, concurrent=4,
                                                per_minute=80, per_hour=500)
    part = Budget(rest=30, graphql=0, concurrent=0, per_minute=0, per_hour=0)
    for _ in range(8):  # 40 points written in the last minute, within 72
        ledger.record("dispatch", points=5)
        clock.t += 1
    assert governor.write_wait() == 0  # a write that hands nothing over may go
    # one that hands 30 over leaves 42 here: the 40 spent plus its 5 do not fit until
    # the first write leaves the minute (the child would spend 30 on top of them)
    wait = governor.handover_wait(part)
    assert wait == pytest.approx(60 - 8)
    clock.t += wait
    assert governor.handover_wait(part) == 0


def test_the_last_parts_are_handed_over_as_the_parents_minute_empties() -> None:
    # Handed 120 points, the parent holds four children's parts (27.3 each: each will
    # fan out to 10) and keeps 10.9. Its first three dispatches fit beside what it
    # keeps; the fourth would leave it 10.9 with 15 points of writes still in its
    # minute — spent while the children's parts were its own — so it waits for them
    # to leave the minute (without the wait: all four in the first second, and the
    # children's first minute on top of the parent's).
    part = Budget(rest=120.0, graphql=400, concurrent=8, per_minute=80, per_hour=500)
    repos, forge, clock, ctx = _child(4, 300, part)
    subscribers = {r: {f"{r}-{j}" for j in range(10)} for r in repos}
    report = run(forge, clock, repos, context=ctx, subscribers=subscribers, timeout=3600,
                 concurrency_limit=6, max_children=50)
    assert report.status is TreeStatus.SUCCESS
    handed = [Budget.from_json(p["tako"]["budget"]).rest for _, _, p in forge.dispatches]
    assert handed == [pytest.approx(120 * 10 / 44, abs=1e-3)] * 4
    sent = sorted(r.created for r in forge.runs)
    assert sent[2] - sent[0] < 10
    assert sent[3] - sent[2] >= 55
