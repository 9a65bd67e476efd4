"""``run_states``: many known runs in one GraphQL ``nodes(ids:)`` query; and the
ledger's per-minute points (every request counted, 304s included)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from fakehub import FakeHub

from tako_gha.forge.base import (
    AuthError,
    CallKind,
    CostLedger,
    ForgeError,
    RunState,
    request_points,
)
from tako_gha.forge.runstate import RUN_STATES_QUERY


def _node(ident: str, run_id: int, status: str, conclusion: str | None) -> dict:
    return {"id": ident, "databaseId": run_id, "updatedAt": "2026-11-25T10:00:05Z",
            "checkSuite": {"status": status, "conclusion": conclusion}}


def test_run_states_is_one_query_for_many_runs(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/graphql", (200, {"x-ratelimit-resource": "graphql"}, {
        "data": {"nodes": [_node("A", 1, "COMPLETED", "FAILURE"), None,
                           _node("C", 3, "IN_PROGRESS", None)]},
        "errors": [{"type": "NOT_FOUND", "path": ["nodes", 1],
                    "message": "Could not resolve to a node with the global id of 'B'"}]}))
    forge = make_forge()
    states = forge.run_states(["A", "B", "C"])
    when = datetime(2026, 11, 25, 10, 0, 5, tzinfo=timezone.utc)
    assert states == {"A": RunState("A", 1, "completed", "failure", when),
                      "C": RunState("C", 3, "in_progress", None, when)}
    (call,) = hub.log
    assert call["body"] == {"query": RUN_STATES_QUERY, "variables": {"ids": ["A", "B", "C"]}}
    ledger = forge.ledger.to_json()
    assert ledger["calls"] == {"poll": 1} and ledger["points"] == {"graphql": 1}
    assert forge.ledger.budgets["graphql"][1] == 5000


def test_run_states_bounds_and_failures(hub: FakeHub, make_forge) -> None:
    forge = make_forge()
    assert forge.run_states([]) == {} and hub.log == []  # nothing asked, nothing sent
    with pytest.raises(ValueError, match="at most 100"):
        forge.run_states([str(i) for i in range(101)])
    hub.add("POST", "/graphql", (200, {}, {"errors": [{"message": "Something went wrong"}]}))
    with pytest.raises(ForgeError, match="Something went wrong"):
        forge.run_states(["A"])
    hub.add("POST", "/graphql", (401, {}, {"message": "Bad credentials"}))
    with pytest.raises(AuthError) as info:
        forge.run_states(["A"])
    assert info.value.status == 401


def test_points_per_minute_count_every_request() -> None:
    now = [0.0]
    ledger = CostLedger(lambda: now[0])
    ledger.record(CallKind.POLL, not_modified=True)  # a 304 still counts here
    ledger.record(CallKind.DISPATCH)  # a write: 5
    ledger.record(CallKind.POLL, resource="graphql")
    assert ledger.points_last_minute("rest") == 6
    assert ledger.points_last_minute("graphql") == 1
    assert ledger.frees_in("rest", 1, budget=6) == 60.0
    now[0] = 30.0
    ledger.record(CallKind.POLL)
    assert ledger.frees_in("rest", 2, budget=7) == pytest.approx(30.0)
    now[0] = 60.0  # the first two left the window
    assert ledger.points_last_minute("rest") == 1
    assert ledger.frees_in("rest", 2, budget=7) == 0.0
    assert ledger.peak_per_minute["rest"] == 7
    assert ledger.to_json()["peak_points_per_minute"] == {"rest": 7, "graphql": 1}
    assert (request_points("get", "rest"), request_points("POST", "rest"),
            request_points("POST", "graphql")) == (1, 5, 1)
