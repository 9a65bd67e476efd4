"""``nodes(ids:)`` over workflow runs, and the per-minute points budgets (secondary
limits) for REST and GraphQL, with the world setting for 304s."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call
from tako_gha.emulator.worldgen import receiver_workflow

pytestmark = pytest.mark.timeout(60)

STATE = ("query($ids: [ID!]!) { nodes(ids: $ids) { __typename "
         "... on WorkflowRun { id databaseId runNumber event createdAt updatedAt url "
         "checkSuite { status conclusion } } } rateLimit { cost } }")


def gql(emu: Emulator, query: str, variables: dict, token: str = "") -> Reply:
    return call(emu.base_url, "POST", "/graphql", token or emu.admin_token,
                {"query": query, "variables": variables})


def _runs(emu: Emulator, repo: str, token: str = "") -> list[dict]:
    reply = call(emu.base_url, "GET", f"/repos/{repo}/actions/runs", token or emu.admin_token)
    return reply.json()["workflow_runs"]


@pytest.fixture
def world(make_world: Callable[..., Path]) -> Path:
    return make_world({
        "acme/a": {".github/workflows/w.yml": receiver_workflow("built", "exit 1")},
        "acme/secret": {".github/workflows/w.yml": receiver_workflow("built")},
    }, settings={"tokens": {"admin": {"repos": ["*"]}, "narrow": {"repos": ["acme/a"]}},
                 "admin_token": "admin"})


def test_nodes_reads_run_states_by_rest_node_id(
        world: Path, start_emulator: Callable[..., Emulator]) -> None:
    emu = start_emulator(world)
    for repo in ("acme/a", "acme/secret"):
        call(emu.base_url, "POST", f"/repos/{repo}/dispatches", "admin",
             {"event_type": "built", "client_payload": {}})
    assert emu.wait_idle(30)
    run, hidden = _runs(emu, "acme/a")[0], _runs(emu, "acme/secret")[0]
    reply = gql(emu, STATE, {"ids": [run["node_id"], "not-an-id", hidden["node_id"]]},
                "narrow")
    body = reply.json()
    first, missing, unseen = body["data"]["nodes"]
    assert first == {
        "__typename": "WorkflowRun", "id": run["node_id"], "databaseId": run["id"],
        "runNumber": run["run_number"], "event": "repository_dispatch",
        "createdAt": run["created_at"], "updatedAt": run["updated_at"],
        "url": run["html_url"], "checkSuite": {"status": "COMPLETED", "conclusion": "FAILURE"}}
    # an unknown id and a run the token cannot see are both null with NOT_FOUND
    assert missing is None and unseen is None
    assert [(e["type"], e["path"]) for e in body["errors"]] == [
        ("NOT_FOUND", ["nodes", 1]), ("NOT_FOUND", ["nodes", 2])]
    assert body["data"]["rateLimit"]["cost"] == 1  # nodes is not a connection


def test_nodes_limits_and_single_node(world: Path,
                                      start_emulator: Callable[..., Emulator]) -> None:
    emu = start_emulator(world)
    too_many = gql(emu, STATE, {"ids": [f"id{i}" for i in range(101)]}).json()
    assert too_many["data"]["nodes"] is None
    assert "more than 100 node ids" in too_many["errors"][0]["message"]
    bad_field = gql(emu, "{ nodes(ids: [\"x\"]) { ... on WorkflowRun { bogus } } }", {}).json()
    assert bad_field["errors"][0]["extensions"]["code"] == "undefinedField"
    repo_id = call(emu.base_url, "GET", "/repos/acme/a", "admin").json()["node_id"]
    one = gql(emu, "query($id: ID!) { node(id: $id) { id ... on Repository "
                   "{ nameWithOwner } } }", {"id": repo_id}).json()
    assert one["data"]["node"] == {"id": repo_id, "nameWithOwner": "acme/a"}


def _limited(make_world: Callable[..., Path], start_emulator: Callable[..., Emulator],
             **limits: object) -> Emulator:
    world = make_world({"acme/a": {"f": "1"}}, settings={"limits": limits})
    return start_emulator(world)


def test_rest_points_per_minute_refuses_with_retry_after(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    emu = _limited(make_world, start_emulator, rest_points_per_minute=7)
    replies = [call(emu.base_url, "GET", "/repos/acme/a", "t") for _ in range(8)]
    assert [r.status for r in replies] == [200] * 7 + [403]
    refused = replies[-1]
    assert "secondary rate limit" in refused.json()["message"]
    assert 1 <= int(refused.headers["retry-after"]) <= 61
    # GraphQL has its own minute; another token its own budget
    assert gql(emu, "{ viewer { login } }", {}, "t").status == 200
    assert call(emu.base_url, "GET", "/repos/acme/a", "u").status == 200
    assert emu.stats()["secondary_refusals"] == {"rest_points": 1}


def test_a_write_costs_five_points(make_world: Callable[..., Path],
                                   start_emulator: Callable[..., Emulator]) -> None:
    emu = _limited(make_world, start_emulator, rest_points_per_minute=9)
    body = {"event_type": "built", "client_payload": {}}
    assert call(emu.base_url, "POST", "/repos/acme/a/dispatches", "t", body).status == 204
    statuses = [call(emu.base_url, "GET", "/repos/acme/a", "t").status for _ in range(5)]
    assert statuses == [200] * 4 + [403]
    assert call(emu.base_url, "POST", "/repos/acme/a/dispatches", "u", body).status == 204
    assert call(emu.base_url, "POST", "/repos/acme/a/dispatches", "u", body).status == 403


@pytest.mark.parametrize(("counts", "expected"), [(True, 403), (False, 200)])
def test_whether_304s_count_is_a_world_setting(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator],
        counts: bool, expected: int) -> None:
    emu = _limited(make_world, start_emulator, rest_points_per_minute=3,
                   not_modified_counts=counts)
    etag = call(emu.base_url, "GET", "/repos/acme/a", "t").headers["etag"]
    again = [call(emu.base_url, "GET", "/repos/acme/a", "t",
                  headers={"If-None-Match": etag}).status for _ in range(2)]
    assert again == [304, 304]
    last = call(emu.base_url, "GET", "/repos/acme/a", "t", headers={"If-None-Match": etag})
    assert last.status == (304 if expected == 200 else 403)


def test_points_window_slides(make_world: Callable[..., Path],
                              start_emulator: Callable[..., Emulator],
                              monkeypatch: pytest.MonkeyPatch) -> None:
    emu = _limited(make_world, start_emulator, rest_points_per_minute=2)
    clock = [time.monotonic()]
    monkeypatch.setattr("tako_gha.emulator.ratelimit.time.monotonic", lambda: clock[0])
    assert [call(emu.base_url, "GET", "/repos/acme/a", "t").status for _ in range(3)] == [
        200, 200, 403]
    clock[0] += 61
    assert call(emu.base_url, "GET", "/repos/acme/a", "t").status == 200


def test_a_refusal_spends_no_points(make_world: Callable[..., Path],
                                    start_emulator: Callable[..., Emulator],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    emu = _limited(make_world, start_emulator, rest_points_per_minute=1)
    clock = [time.monotonic()]
    monkeypatch.setattr("tako_gha.emulator.ratelimit.time.monotonic", lambda: clock[0])
    first = call(emu.base_url, "GET", "/repos/acme/a", "t")
    assert first.status == 200
    clock[0] += 30
    refused = call(emu.base_url, "GET", "/repos/acme/a", "t")
    assert refused.status == 403
    # nor the primary budget: the request was not processed
    assert refused.headers["x-ratelimit-remaining"] == first.headers["x-ratelimit-remaining"]
    clock[0] += 31  # the answered request left the minute; the refused one never counted
    assert call(emu.base_url, "GET", "/repos/acme/a", "t").status == 200


def test_repository_ids_resolve_from_the_index_unknown_ones_are_null(
        world: Path, start_emulator: Callable[..., Emulator]) -> None:
    """Repository node ids are looked up in the world's id index (a query of many
    unknown ids used to scan every repository per id: 38 s of server CPU for one query
    on a 10,000-repository world; benchmarks/bench_hostile.py measures it)."""
    import base64

    emu = start_emulator(world)
    known = {name: emu.world.repo(name).id for name in ("acme/a", "acme/secret")}
    assert emu.world.repo_by_id(known["acme/a"]).full_name == "acme/a"
    assert emu.world.repo_by_id(10**12) is None
    ids = [base64.b64encode(f"R:{number}".encode()).decode()
           for number in (known["acme/a"], 10**12, known["acme/secret"], 10**12 + 1)]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Repository { nameWithOwner } } }"
    body = gql(emu, query, {"ids": ids}, "narrow").json()
    # acme/secret is as unknown to the narrow token as a made-up id
    assert body["data"]["nodes"] == [{"nameWithOwner": "acme/a"}, None, None, None]
    assert [e["path"] for e in body["errors"]] == [["nodes", 1], ["nodes", 2], ["nodes", 3]]
    assert gql(emu, query, {"ids": ids}).json()["data"]["nodes"][2] == {
        "nameWithOwner": "acme/secret"}


def test_unknown_repository_ids_never_walk_the_repositories(
        world: Path, start_emulator: Callable[..., Emulator]) -> None:
    """What makes 100 unknown ids under 300 aliases cheap on a world of any size: the
    list of repositories is walked the same number of times for one unknown id as for
    30,000 of them (a walk per id took 38 s of server CPU on 10,000 repositories)."""
    import base64

    emu = start_emulator(world)
    walks = [0]

    class Counted(list):  # the sorted repository list, counting every walk over it
        def __iter__(self):  # type: ignore[no-untyped-def]
            walks[0] += 1
            return super().__iter__()

    def walks_for(aliases: int, ids: int) -> int:
        emu.world._sorted = Counted(emu.world.all_repos())
        walks[0] = 0
        query = "query($ids: [ID!]!) { " + " ".join(
            f"a{i}: nodes(ids: $ids) {{ id }}" for i in range(aliases)) + " }"
        variables = {"ids": [base64.b64encode(f"R:{10**12 + i}".encode()).decode()
                             for i in range(ids)]}
        body = gql(emu, query, variables).json()
        assert body["data"]["a0"] == [None] * ids
        return walks[0]

    assert walks_for(300, 100) == walks_for(1, 1)


def test_requests_admitted_together_never_pass_the_minutes_points(
        make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]) -> None:
    # Points are held when a request is admitted, not when it is answered: twelve
    # requests that arrive together while each takes 300 ms cannot all slip under a
    # budget of 5 (they did: the check and the charge were 300 ms apart, and one
    # token's peak minute read 950 points against a limit of 900).
    import threading

    world = make_world({"acme/a": {"f": "1"}}, settings={"limits": {"rest_points_per_minute": 5}})
    emu = start_emulator(world, faults={"latency": {"repo": "300ms"}})
    statuses: list[int] = []
    threads = [threading.Thread(target=lambda: statuses.append(
        call(emu.base_url, "GET", "/repos/acme/a", "t").status)) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [200] * 5 + [403] * 7
    (token,) = emu.stats()["tokens"].values()
    assert token["peak_rest"] == 5 and token["refusals"] == 7
