"""Fault injection (world file, Python API, admin endpoint) and the admin surface."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tako_gha.emulator import Emulator, WorldError
from tako_gha.emulator.faults import FaultError, Faults
from tako_gha.emulator.testing import call

pytestmark = pytest.mark.timeout(60)


def _dispatch(emu: Emulator, title: str = "t") -> int:
    return call(emu.base_url, "POST", "/repos/acme/app/dispatches", emu.admin_token,
                {"event_type": "library_built", "client_payload": {"title": title}}).status


def test_errors_next_n_then_recover(emu: Emulator) -> None:
    emu.set_faults({"errors": [{"kind": "repo", "status": 502, "next": 2}]})
    statuses = [call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token).status
                for _ in range(3)]
    assert statuses == [502, 502, 200]
    assert call(emu.base_url, "GET", "/orgs/acme/repos", emu.admin_token).status == 200


def test_error_rates_are_deterministic_with_a_seed(emu: Emulator) -> None:
    def sequence() -> list[int]:
        emu.set_faults({"seed": 42, "errors": [{"kind": "*", "status": 503, "rate": 0.5}]})
        return [call(emu.base_url, "GET", "/rate_limit", emu.admin_token).status
                for _ in range(20)]

    first, second = sequence(), sequence()
    assert first == second
    assert 503 in first and 200 in first


def test_latency_per_endpoint_kind(emu: Emulator) -> None:
    emu.set_faults({"latency": {"repo": "300ms"}})
    started = time.monotonic()
    call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token)
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    call(emu.base_url, "GET", "/rate_limit", emu.admin_token)
    assert time.monotonic() - started < 0.3


def test_dropped_dispatch_is_accepted_but_starts_nothing(emu: Emulator) -> None:
    emu.set_faults({"dispatch": {"drop": {"next": 1}}})
    assert _dispatch(emu) == 204
    assert emu.runs.all_runs() == []
    assert _dispatch(emu) == 204
    assert len(emu.runs.all_runs()) == 1
    assert emu.wait_idle(20)


def test_ambiguous_failure_creates_the_run_then_answers_5xx(emu: Emulator) -> None:
    emu.set_faults({"dispatch": {"fail_after_create": {"status": 504, "next": 1}}})
    assert _dispatch(emu, "ambiguous") == 504
    runs = call(emu.base_url, "GET", "/repos/acme/app/actions/runs", emu.admin_token).json()
    assert [r["display_title"] for r in runs["workflow_runs"]] == ["ambiguous"]
    assert emu.wait_idle(20)


def test_delayed_run_appearance(emu: Emulator) -> None:
    emu.set_faults({"run_delay": "700ms"})
    assert _dispatch(emu, "late") == 204
    path = "/repos/acme/app/actions/runs"
    assert call(emu.base_url, "GET", path, emu.admin_token).json()["total_count"] == 0
    run_id = emu.runs.all_runs()[0].id
    assert call(emu.base_url, "GET", f"{path}/{run_id}", emu.admin_token).status == 404
    time.sleep(0.8)
    assert call(emu.base_url, "GET", path, emu.admin_token).json()["total_count"] == 1
    assert emu.wait_idle(20)


def test_secondary_storm(emu: Emulator) -> None:
    emu.set_faults({"secondary": {"kind": "runs_list", "next": 1, "retry_after": 3}})
    storm = call(emu.base_url, "GET", "/repos/acme/app/actions/runs", emu.admin_token)
    assert storm.status == 429 and storm.headers["retry-after"] == "3"
    assert "secondary rate limit" in storm.json()["message"]
    assert call(emu.base_url, "GET", "/repos/acme/app/actions/runs",
                emu.admin_token).status == 200


def test_clock_skew_shifts_date_and_timestamps(emu: Emulator) -> None:
    emu.set_faults({"clock_skew": "-1h"})
    reply = call(emu.base_url, "GET", "/rate_limit", emu.admin_token)
    served = email.utils.parsedate_to_datetime(reply.headers["date"])
    assert abs((datetime.now(timezone.utc) - served).total_seconds() - 3600) < 60
    assert _dispatch(emu) == 204
    run = call(emu.base_url, "GET", "/repos/acme/app/actions/runs",
               emu.admin_token).json()["workflow_runs"][0]
    created = datetime.fromisoformat(run["created_at"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - created).total_seconds() - 3600) < 60
    # the created filter speaks the server's (skewed) clock
    query = f"/repos/acme/app/actions/runs?created=>={run['created_at']}"
    assert call(emu.base_url, "GET", query, emu.admin_token).json()["total_count"] == 1
    assert emu.wait_idle(20)


def test_budget_fault_and_admin_endpoint(emu: Emulator) -> None:
    reply = call(emu.base_url, "POST", "/_emulator/faults", None, {"budgets": {"core": 7}})
    assert reply.status == 200
    assert call(emu.base_url, "GET", "/_emulator/faults", None).json() == {"budgets": {"core": 7}}
    limited = call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token)
    assert limited.headers["x-ratelimit-limit"] == "7"
    bad = call(emu.base_url, "POST", "/_emulator/faults", None, {"errors": [{"status": 500}]})
    assert bad.status == 400 and "rate" in bad.json()["message"]
    assert call(emu.base_url, "POST", "/_emulator/faults", None, ["x"]).status == 400
    assert call(emu.base_url, "POST", "/_emulator/faults", None, raw=b"{").status == 400
    cleared = call(emu.base_url, "POST", "/_emulator/faults", None, raw=b"")
    assert cleared.status == 200 and cleared.json() == {}


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ({"surprise": 1}, "unknown key 'surprise'"),
        ({"errors": [{"kind": "teapot", "status": 500, "rate": 1}]}, "not an endpoint kind"),
        ({"errors": [{"status": 500, "rate": 2}]}, "between 0 and 1"),
        ({"errors": [{"status": 99, "next": 1}]}, "HTTP status"),
        ({"latency": {"repo": "soon"}}, "cannot read duration"),
        ({"run_delay": "3s..1s"}, "backwards"),
        ({"budgets": {"cpu": 1}}, "unknown resource"),
        ({"seed": "x"}, "seed"),
        ({"dispatch": {"explode": {}}}, "drop / fail_after_create"),
        (["ab"], "expected a mapping"),
        ({"errors": "all"}, "expected a list of rules"),
        ({"errors": ["x"]}, "expected a mapping {kind"),
        ({"errors": [{"status": 500, "next": 1, "color": 1}]}, "unknown key 'color'"),
        ({"errors": [{"status": 500, "next": -1}]}, "non-negative integer"),
        ({"secondary": {"next": 1, "retry_after": "soon"}}, "whole seconds"),
        ({"latency": {"teapot": "1s"}}, "not an endpoint kind"),
        ({"clock_skew": "sideways"}, "clock_skew"),
        ({"budgets": [1]}, "expected a mapping {core"),
        ({"budgets": {"core": -1}}, "non-negative integer"),
    ],
)
def test_bad_fault_specs_name_the_key(spec: object, fragment: str) -> None:
    with pytest.raises(FaultError) as err:
        Faults(spec)
    assert fragment in str(err.value)


def test_faults_from_the_world_file(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({"acme/a": {"f": "1"}},
                       settings={"faults": {"errors": [{"kind": "repo", "status": 500,
                                                        "next": 1}]}})
    emu = start_emulator(world)
    assert call(emu.base_url, "GET", "/repos/acme/a", emu.admin_token).status == 500
    assert call(emu.base_url, "GET", "/repos/acme/a", emu.admin_token).status == 200
    broken = make_world({"acme/a": {"f": "1"}}, settings={"faults": {"latency": "fast"}},
                        name="broken")
    with pytest.raises(WorldError) as err:
        Emulator(broken)
    assert "emulator.yml" in str(err.value) and "latency" in str(err.value)


def test_admin_log_and_stats(emu: Emulator) -> None:
    call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token)
    call(emu.base_url, "GET", "/repos/acme/ghost", emu.admin_token)
    call(emu.base_url, "GET", "/nowhere", emu.admin_token)
    call(emu.base_url, "GET", "/repos/acme/app", None)
    entries = call(emu.base_url, "GET", "/_emulator/requests", None).json()
    assert [(e["method"], e["path"], e["status"], e["kind"]) for e in entries] == [
        ("GET", "/repos/acme/app", 200, "repo"),
        ("GET", "/repos/acme/ghost", 404, "repo"),
        ("GET", "/nowhere", 404, "unknown"),
        ("GET", "/repos/acme/app", 401, "repo"),
    ]
    assert entries[0]["token_id"].startswith("tok-") and entries[3]["token_id"] == "-"
    assert all(emu.admin_token not in str(e) for e in entries)
    stats = call(emu.base_url, "GET", "/_emulator/stats", None).json()
    assert stats["by_kind"]["repo"] == {"total": 3, "200": 1, "404": 1, "401": 1}
    assert stats == emu.stats() and stats["total"] == 4
    assert call(emu.base_url, "POST", "/_emulator/reset-stats", None).status == 204
    assert emu.stats()["total"] == 0 and emu.requests() == []
    assert call(emu.base_url, "GET", "/_emulator/nope", None).status == 404
    assert call(emu.base_url, "GET", "/_emulator/requests?since=soon", None).status == 400
    later = call(emu.base_url, "GET", f"/_emulator/requests?since={time.time() + 60}", None)
    assert later.json() == []
    assert call(emu.base_url, "GET", "/_emulator/health", None).json()["repos"] == 3


def test_stats_count_file_contents_served(emu: Emulator) -> None:
    """``blobs`` tells a listing that carried file text from one that carried oids only
    (how tests and benchmarks check that a warm rediscovery fetched no blob)."""
    def graphql(blob_fields: str) -> None:
        query = ('{ organization(login: "acme") { repositories(first: 10) { nodes { '
                 f'object(expression: "HEAD:tako.yml") {{ ... on Blob {{ {blob_fields} }} }} '
                 '} } } }')
        body = call(emu.base_url, "POST", "/graphql", emu.admin_token, {"query": query}).json()
        assert "errors" not in body

    graphql("oid")
    assert emu.stats()["blobs"] == {"total": 0}
    graphql("oid text")  # acme/core-lib and acme/app have a tako.yml, acme/docs none
    assert emu.stats()["blobs"] == {"total": 2, "graphql": 2}
    path = "/repos/acme/app/contents/tako.yml"
    first = call(emu.base_url, "GET", path, emu.admin_token)
    call(emu.base_url, "GET", path, emu.admin_token,
         headers={"Accept": "application/vnd.github.raw"})
    again = call(emu.base_url, "GET", path, emu.admin_token,
                 headers={"If-None-Match": first.headers["etag"]})
    assert again.status == 304  # nothing crossed the wire: not counted
    call(emu.base_url, "GET", "/repos/acme/app/contents/.github", emu.admin_token)  # a dir
    assert emu.stats()["blobs"] == {"total": 4, "contents": 2, "graphql": 2}
    assert [e["blobs"] for e in emu.requests()] == [0, 2, 1, 1, 0, 0]
    emu.reset_stats()
    assert emu.stats()["blobs"] == {"total": 0}
