"""The GitHub forge against the embedded emulator: discovery (GraphQL and REST)
equal to the workspace reading of the same world, preflight, dispatch and runs, and
behaviour under injected faults."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.worldgen import write_world
from tako_gha.forge.base import (
    AmbiguousDispatchError,
    AuthError,
    Discovery,
    NotFoundError,
    RepoSelection,
)
from tako_gha.forge.github import GitHubForge
from tako_gha.forge.transport import RetryPolicy
from tako_gha.forge.workspace import WorkspaceForge

BUILD = """name: build
run-name: ${{ github.event.client_payload.tako.title || github.workflow }}
on:
  repository_dispatch:
    types: [library_built]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "::error title=boom::it failed"; exit 1
"""
SUBSCRIBER = """version: 1
events:
  subscriptions:
    - artifact: acme/core-lib
      events: [library_built]
      schema_version: "^1.0.0"
"""
PRODUCER = """version: 1
events:
  produces:
    - type: library_built
      schema_version: 1.2.0
"""
WORLD: dict[str, dict[str, str]] = {
    "acme/core-lib": {"tako.yml": PRODUCER},
    "acme/app": {"tako.yml": SUBSCRIBER, ".github/workflows/build.yml": BUILD},
    "acme/docs": {"README.md": "docs\n"},
    "acme/broken": {"tako.yml": "version: 1\nevents: [\n"},
    "acme/typo": {"tako.yml": "version: 1\nevnets: {}\n"},
}
SETTINGS = {
    "tokens": {"t-admin": {"repos": ["*"]},
               "t-reader": {"repos": ["acme/*"], "dispatch": False},
               "t-other": {"repos": ["other/*"]}},
    "admin_token": "t-admin",
}
FAST = RetryPolicy(backoff_base=0.05, backoff_cap=0.2, secondary_min_wait=0.1)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    return write_world(tmp_path / "world", WORLD, SETTINGS)


@pytest.fixture
def emu(world: Path) -> Iterator[Emulator]:
    with Emulator(world) as running:
        yield running


@pytest.fixture
def forges() -> Iterator[list[GitHubForge]]:
    made: list[GitHubForge] = []
    yield made
    for forge in made:
        forge.close()


def connect(emu: Emulator, forges: list[GitHubForge], token: str | None = "t-admin",
            **kw: Any) -> GitHubForge:
    kw.setdefault("policy", FAST)
    forge = GitHubForge(emu.base_url, token=token, write_interval=0.0, **kw)
    forges.append(forge)
    return forge


def summary(d: Discovery) -> list[tuple]:
    """What a user relies on from discovery, independent of where files were read."""
    out = []
    for r in d.repos:
        c = r.config
        subs = [(s.producer, s.artifact, tuple(s.events)) for s in c.config.subscriptions] \
            if c and c.config else None
        diags = [(x.severity.value, x.code, x.line) for x in c.diagnostics] if c else None
        out.append((r.full_name, r.config_oid, c.missing if c else None, subs, diags))
    return out


@pytest.mark.parametrize("prefer_rest", [False, True], ids=["graphql", "rest"])
def test_discovery_equals_the_workspace_reading(emu: Emulator, world: Path,
                                                forges: list[GitHubForge],
                                                prefer_rest: bool) -> None:
    forge = connect(emu, forges, prefer_rest=prefer_rest)
    got = forge.discover(RepoSelection(org="acme"))
    assert forge.used_rest is prefer_rest
    expected = WorkspaceForge(world).discover(RepoSelection(org="acme"))
    assert summary(got) == summary(expected)
    broken = next(r for r in got.repos if r.full_name == "acme/broken")
    assert not broken.config.ok  # a diagnostic on that repo, not a failed discovery


def test_rest_fallback_when_graphql_is_disabled(emu: Emulator, world: Path,
                                                forges: list[GitHubForge],
                                                tmp_path: Path) -> None:
    emu.set_faults({"errors": [{"kind": "graphql", "status": 501, "rate": 1.0}]})
    forge = connect(emu, forges, cache_dir=tmp_path / "cache")
    got = forge.discover(RepoSelection(org="acme"))
    assert forge.used_rest
    assert summary(got) == summary(WorkspaceForge(world).discover(RepoSelection(org="acme")))
    assert emu.stats()["blobs"] == {"total": 4, "contents": 4}  # 4 of 5 repos have one
    emu.reset_stats()
    warm = connect(emu, forges, cache_dir=tmp_path / "cache")
    assert summary(warm.discover(RepoSelection(org="acme"))) == summary(got)
    assert emu.stats()["blobs"] == {"total": 0}  # every contents answer was a 304
    assert emu.stats()["by_kind"]["contents"] == {"total": 5, "304": 4, "404": 1}


def test_preflight_no_token(emu: Emulator, forges: list[GitHubForge]) -> None:
    with pytest.raises(AuthError) as info:
        connect(emu, forges, token=None).preflight("acme", ["acme/app"], dispatch=True)
    assert "GITHUB_TOKEN" in info.value.hint


def test_preflight_token_without_org_access(emu: Emulator, forges: list[GitHubForge]) -> None:
    with pytest.raises(NotFoundError) as info:
        connect(emu, forges, token="t-other").preflight("acme", ["acme/app"], dispatch=True)
    assert "acme" in str(info.value) and "token that can read acme" in info.value.hint


def test_preflight_bad_token(emu: Emulator, forges: list[GitHubForge]) -> None:
    with pytest.raises(AuthError, match="401"):
        connect(emu, forges, token="t-unknown").preflight("acme", ["acme/app"], dispatch=True)


def test_preflight_missing_target(emu: Emulator, forges: list[GitHubForge]) -> None:
    with pytest.raises(NotFoundError, match="cannot read acme/nope"):
        connect(emu, forges).preflight("acme", ["acme/app", "acme/nope"], dispatch=True)


def test_reader_token_cannot_dispatch(emu: Emulator, forges: list[GitHubForge]) -> None:
    forge = connect(emu, forges, token="t-reader")
    forge.preflight("acme", ["acme/app"], dispatch=False)
    with pytest.raises(AuthError) as info:
        forge.preflight("acme", ["acme/app"], dispatch=True)
    assert "can read acme/app but cannot dispatch" in str(info.value)
    assert "Contents: write" in info.value.hint
    assert forge.ledger.calls.get("dispatch", 0) == 0  # told before any dispatch
    with pytest.raises(AuthError):  # and GitHub's own refusal maps the same way
        forge.dispatch("acme/app", "library_built", {})


def test_reader_is_known_from_discovery_without_extra_calls(
        emu: Emulator, forges: list[GitHubForge]) -> None:
    forge = connect(emu, forges, token="t-reader")
    forge.discover(RepoSelection(org="acme"))
    before = forge.ledger.total
    with pytest.raises(AuthError,
                       match="can read acme/app and 1 other target but cannot dispatch to them"):
        forge.preflight("acme", ["acme/app", "acme/core-lib"], dispatch=True)
    assert forge.ledger.total == before  # the org and both targets were known


def big_world(n: int) -> dict[str, dict[str, str]]:
    return {f"acme/svc-{i:04d}": ({"tako.yml": SUBSCRIBER + f"# {i}\n"} if i % 3 == 0
                                  else {"README.md": "x\n"}) for i in range(n)}


def test_large_world_costs_one_query_per_100_repos_and_warm_fetches_no_blob(
        tmp_path: Path, forges: list[GitHubForge]) -> None:
    from tako_gha.emulator.worldgen import build_bare_world
    world = build_bare_world(tmp_path / "big", big_world(1000), SETTINGS)
    cache = tmp_path / "cache"
    with Emulator(world) as emu:
        cold = connect(emu, forges, cache_dir=cache)
        first = cold.discover(RepoSelection(org="acme"))
        assert emu.stats()["total"] == 10 and cold.ledger.calls["discovery"] == 10
        assert len([r for r in first.repos if r.config_oid]) == 334
        assert emu.stats()["blobs"] == {"total": 334, "graphql": 334}  # texts in the listing
        emu.reset_stats()
        since = time.time()
        warm = connect(emu, forges, cache_dir=cache)
        second = warm.discover(RepoSelection(org="acme"))
        assert emu.stats()["total"] == 10
        assert all(e.get("kind") == "graphql" for e in emu.requests(since))
        assert summary(second) == summary(first)
        # the warm listing asked for oids only: no blob text crossed the wire
        assert emu.stats()["blobs"] == {"total": 0}
        assert warm.ledger.calls == {"discovery": 10}


def test_graphql_budget_exhaustion_waits_for_the_reset(tmp_path: Path,
                                                       forges: list[GitHubForge]) -> None:
    from tako_gha.emulator.worldgen import build_bare_world
    world = build_bare_world(tmp_path / "mid", big_world(300), SETTINGS)
    with Emulator(world, limits={"graphql": 2, "window": 1.0}) as emu:
        forge = connect(emu, forges)
        waits = []
        forge.transport.on_wait = waits.append
        got = forge.discover(RepoSelection(org="acme"))
        assert len(got.repos) == 300 and not forge.used_rest
        assert [w.reason for w in waits] == ["primary-limit"]
        assert forge.ledger.retries["discovery"] == 1 and forge.ledger.waited_seconds > 0


def wait_for_runs(forge: GitHubForge, repo: str, count: int = 1, timeout: float = 20) -> list:
    end = time.time() + timeout
    while time.time() < end:
        runs = forge.list_runs(repo).runs
        if len(runs) >= count:
            return runs
        time.sleep(0.1)
    raise AssertionError(f"no run in {repo}")


def test_dispatch_runs_etags_and_annotations(emu: Emulator, forges: list[GitHubForge]) -> None:
    forge = connect(emu, forges)
    forge.dispatch("acme/app", "library_built", {"tako": {"title": "tako:r1:d1"}})
    (run,) = wait_for_runs(forge, "acme/app")
    assert run.display_title == "tako:r1:d1" and run.event == "repository_dispatch"
    assert run.workflow_path == ".github/workflows/build.yml"
    emu.wait_idle(20)
    done = forge.get_run("acme/app", run.id)
    assert (done.status, done.conclusion) == ("completed", "failure")
    again = forge.get_run("acme/app", run.id)
    assert again == done and forge.ledger.not_modified["poll"] >= 1
    notes = forge.run_annotations("acme/app", run.id)
    assert any(n.level == "failure" and "it failed" in n.message for n in notes)
    states = forge.run_states([run.node_id])  # the same state, through GraphQL
    assert [(s.run_id, s.status, s.conclusion) for s in states.values()] == [
        (run.id, "completed", "failure")]
    assert forge.cancel_run("acme/app", run.id) is False  # already finished
    assert forge.ledger.calls["dispatch"] == 1 and forge.ledger.calls["cancel"] == 1
    skew = abs((forge.now() - done.created_at).total_seconds())
    assert skew < 60


def test_dispatch_5xx_is_ambiguous_and_never_resent(emu: Emulator,
                                                    forges: list[GitHubForge]) -> None:
    emu.set_faults({"dispatch": {"fail_after_create": {"status": 502, "next": 1}}})
    forge = connect(emu, forges)
    with pytest.raises(AmbiguousDispatchError):
        forge.dispatch("acme/app", "library_built", {"tako": {"title": "t"}})
    dispatches = [r for r in emu.requests() if r.get("kind") == "dispatch"]
    assert len(dispatches) == 1
    assert len(wait_for_runs(forge, "acme/app")) == 1  # delivered once; the engine looks


def test_polling_and_discovery_survive_faults(emu: Emulator, world: Path,
                                              forges: list[GitHubForge]) -> None:
    emu.set_faults({
        "seed": 3,
        "latency": {"*": "5ms..20ms"},
        "errors": [{"kind": "runs_list", "status": 502, "next": 2},
                   {"kind": "contents", "status": 503, "rate": 0.3},
                   {"kind": "graphql", "status": 502, "next": 1}],
        "secondary": {"kind": "run", "status": 403, "retry_after": 1, "next": 1},
    })
    expected = summary(WorkspaceForge(world).discover(RepoSelection(org="acme")))
    forge = connect(emu, forges)
    assert summary(forge.discover(RepoSelection(org="acme"))) == expected
    assert forge.ledger.retries["discovery"] == 1  # the GraphQL 502
    rest = connect(emu, forges, prefer_rest=True)
    assert summary(rest.discover(RepoSelection(org="acme"))) == expected
    assert rest.ledger.retries["discovery"] >= 1  # contents 503s
    forge.dispatch("acme/app", "library_built", {"tako": {"title": "t"}})
    (run,) = wait_for_runs(forge, "acme/app")  # after two 502s
    waits = []
    forge.transport.on_wait = waits.append
    assert forge.get_run("acme/app", run.id).id == run.id  # after a secondary limit
    assert [w.reason for w in waits] == ["secondary-limit"] and waits[0].seconds == 1
    assert forge.ledger.retries["poll"] == 3
    assert forge.ledger.calls["dispatch"] == 1
    assert len([r for r in emu.requests() if r.get("kind") == "dispatch"]) == 1


def test_a_slow_answer_times_out_and_the_poll_is_retried(emu: Emulator,
                                                         forges: list[GitHubForge]) -> None:
    # seed 15 draws 1.93 s then 0.02 s: the first listing outlives the 1 s timeout
    emu.set_faults({"seed": 15, "latency": {"runs_list": "0ms..2s"}})
    forge = connect(emu, forges, timeout=1)
    assert forge.list_runs("acme/app").runs == []
    assert forge.ledger.calls["poll"] == 2 and forge.ledger.retries["poll"] == 1


def test_now_follows_a_skewed_server_clock(emu: Emulator, forges: list[GitHubForge]) -> None:
    from datetime import datetime, timezone
    emu.set_faults({"clock_skew": "-90s"})
    forge = connect(emu, forges)
    forge.list_runs("acme/app")
    behind = (datetime.now(timezone.utc) - forge.now()).total_seconds()
    assert 85 <= behind <= 95  # watermarks are taken on the server's clock


def test_primary_exhaustion_waits_for_a_reset_soon(world: Path,
                                                   forges: list[GitHubForge]) -> None:
    with Emulator(world, limits={"core": 3, "window": 1.5}) as emu:
        forge = connect(emu, forges)
        waits = []
        forge.transport.on_wait = waits.append
        for _ in range(5):
            forge.list_runs("acme/app", event=None, created_after=None)
            forge._etags.clear()  # no 304s: every call is charged
        assert any(w.reason == "primary-limit" for w in waits)
        assert forge.ledger.retries["poll"] >= 1


@pytest.mark.parametrize("prefer_rest", [False, True], ids=["graphql", "rest"])
def test_discovery_through_429_storms_5xx_and_a_spent_budget(world: Path, tmp_path: Path,
                                                             forges: list[GitHubForge],
                                                             prefer_rest: bool) -> None:
    """Issue 5's fault list against the emulator, on both discovery paths: 429s with
    retry-after, a 5xx burst, slow answers and a budget that runs out and resets soon.
    The result is the workspace reading's; every retry is in the ledger."""
    expected = summary(WorkspaceForge(world).discover(RepoSelection(org="acme")))
    limits = {"core": 4, "graphql": 1, "window": 1.5}
    with Emulator(world, limits=limits) as emu:
        emu.set_faults({
            "seed": 5,
            "latency": {"*": "1ms..30ms"},
            "secondary": {"kind": "*", "status": 429, "retry_after": 1, "next": 2},
            "errors": [{"kind": "contents" if prefer_rest else "graphql", "status": 503,
                        "next": 2}],
        })
        forge = connect(emu, forges, prefer_rest=prefer_rest, cache_dir=tmp_path / "c")
        waits = []
        forge.transport.on_wait = waits.append
        assert summary(forge.discover(RepoSelection(org="acme"))) == expected
        assert forge.used_rest is prefer_rest
        answered = [e["status"] for e in emu.requests()]
        assert answered.count(429) == 2 and answered.count(503) == 2
        reasons = [w.reason for w in waits]
        assert "server-error" in reasons and "primary-limit" in reasons
        # With one GraphQL point a 429 may also say x-ratelimit-remaining: 0; it is then
        # waited out until the reset (as GitHub asks), so only REST names it secondary.
        if prefer_rest:
            assert "secondary-limit" in reasons
        assert forge.ledger.retries["discovery"] == len(waits) >= 5
        assert forge.ledger.waited_seconds >= 2  # at least the two retry-after: 1
