"""Runs, ETags, cancel, annotations, clock and secrecy of the GitHub forge."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from fakehub import FakeHub

from tako_gha.forge.base import (
    AmbiguousDispatchError,
    AuthError,
    ForgeError,
    NotFoundError,
    RepoSelection,
)
from tako_gha.forge.github import GitHubForge
from tako_gha.forge.transport import RetryPolicy

TOKEN = "ghp_" + "s3cret" * 6


def run(run_id: int, created: str = "2026-11-25T10:00:00Z", **kw) -> dict:
    data = {"id": run_id, "name": "rebuild", "display_title": f"title {run_id}",
            "event": "repository_dispatch", "status": "queued", "conclusion": None,
            "path": ".github/workflows/rebuild.yml", "created_at": created,
            "html_url": f"http://x/runs/{run_id}", "head_branch": "main",
            "repository": {"full_name": "acme/a"}}
    data.update(kw)
    return data


def test_list_runs_asks_newest_first_with_filters(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/repos/acme/a/actions/workflows/rebuild.yml/runs",
            (200, {}, {"total_count": 2, "workflow_runs": [
                run(5, "2026-11-25T10:00:00Z"), run(6, "2026-11-25T10:00:05Z")]}))
    forge = make_forge()
    since = datetime(2026, 11, 25, 9, 58, tzinfo=timezone.utc)
    listing = forge.list_runs("acme/a", created_after=since,
                              workflow=".github/workflows/rebuild.yml")
    assert [r.id for r in listing.runs] == [6, 5]
    (call,) = hub.log
    assert call["query"] == {"per_page": "100", "event": "repository_dispatch",
                             "created": ">=2026-11-25T09:58:00Z"}
    first = listing.runs[0]
    assert first.display_title == "title 6" and first.workflow_path.endswith("rebuild.yml")
    assert first.created_at == datetime(2026, 11, 25, 10, 0, 5, tzinfo=timezone.utc)


def test_list_runs_is_conditional_and_304_returns_the_cached_runs(hub: FakeHub,
                                                                  make_forge) -> None:
    def answer(entry: dict):
        if entry["headers"].get("if-none-match") == '"v1"':
            return (304, {"etag": '"v1"'}, None)
        return (200, {"etag": '"v1"'}, {"total_count": 1, "workflow_runs": [run(9)]})

    hub.handle("GET", "/repos/acme/a/actions/runs", answer)
    forge = make_forge()
    first = forge.list_runs("acme/a")
    second = forge.list_runs("acme/a")
    assert not first.not_modified and second.not_modified
    assert second.runs == first.runs
    assert "if-none-match" not in hub.log[0]["headers"]
    assert hub.log[1]["headers"]["if-none-match"] == '"v1"'
    assert forge.ledger.not_modified["poll"] == 1 and forge.ledger.calls["poll"] == 2
    # another query is another cache entry: no If-None-Match borrowed from the first
    forge.list_runs("acme/a", event=None)
    assert "if-none-match" not in hub.log[2]["headers"]


def test_list_runs_reads_every_page_of_a_busy_repo(hub: FakeHub, make_forge) -> None:
    # 130 dispatch runs in the window: the 30 oldest (a child's run among them, maybe)
    # are on page 2, and the listing must not stop at page 1.
    runs = [run(i, f"2026-11-25T10:{i // 60:02d}:{i % 60:02d}Z") for i in range(1, 131)]
    newest_first = runs[::-1]

    def answer(entry: dict):
        page = int(entry["query"].get("page", 1))
        body = {"total_count": 130, "workflow_runs": newest_first[(page - 1) * 100:page * 100]}
        return (200, {"etag": f'"p{page}"'}, body)

    hub.handle("GET", "/repos/acme/a/actions/runs", answer)
    listing = make_forge().list_runs("acme/a")
    assert [r.id for r in listing.runs] == list(range(130, 0, -1))
    assert [c["query"].get("page") for c in hub.log] == [None, "2"]


def test_a_run_shifting_pages_between_requests_is_listed_once(hub: FakeHub,
                                                              make_forge) -> None:
    # A new run lands between the two page requests: the page boundary moves and
    # run 101 is on both pages.
    def answer(entry: dict):
        if entry["query"].get("page") == "2":
            return (200, {}, {"total_count": 102, "workflow_runs": [run(2), run(1)]})
        return (200, {}, {"total_count": 101,
                          "workflow_runs": [run(i) for i in range(101, 1, -1)]})

    hub.handle("GET", "/repos/acme/a/actions/runs", answer)
    ids = [r.id for r in make_forge().list_runs("acme/a").runs]
    assert sorted(ids) == list(range(1, 102)) and len(ids) == len(set(ids))


def test_etag_cache_is_bounded(hub: FakeHub, make_forge) -> None:
    for rid in (1, 2, 3):
        hub.add("GET", f"/repos/acme/a/actions/runs/{rid}", (200, {"etag": f'"e{rid}"'}, run(rid)))
    forge = make_forge(etag_entries=2)
    for rid in (1, 2, 3, 1):
        forge.get_run("acme/a", rid)
    sent = [c["headers"].get("if-none-match") for c in hub.log]
    assert sent == [None, None, None, None]  # run 1 was evicted when run 3 came in
    forge.get_run("acme/a", 1)
    assert hub.log[-1]["headers"].get("if-none-match") == '"e1"'


def test_get_run_and_missing_run(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/repos/acme/a/actions/runs/7",
            (200, {}, run(7, status="completed", conclusion="failure", run_attempt=2)))
    forge = make_forge()
    info = forge.get_run("acme/a", 7)
    assert (info.status, info.conclusion, info.run_attempt) == ("completed", "failure", 2)
    with pytest.raises(NotFoundError):
        forge.get_run("acme/a", 8)


def test_malformed_run_data_is_a_clear_error(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/repos/acme/a/actions/runs", (200, {}, {"workflow_runs": [{"id": "x"}]}))
    hub.add("GET", "/repos/acme/b/actions/runs", (200, {}, ["not", "an", "object"]))
    forge = make_forge()
    with pytest.raises(ForgeError, match="unexpected workflow run data"):
        forge.list_runs("acme/a")
    with pytest.raises(ForgeError, match="unexpected workflow runs data"):
        forge.list_runs("acme/b")


def test_cancel_accepted_or_already_finished(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/repos/acme/a/actions/runs/1/cancel", (202, {}, {}))
    hub.add("POST", "/repos/acme/a/actions/runs/2/cancel",
            (409, {}, {"message": "Cannot cancel a workflow run that is completed."}))
    forge = make_forge()
    assert forge.cancel_run("acme/a", 1) is True
    assert forge.cancel_run("acme/a", 2) is False
    assert forge.ledger.calls["cancel"] == 2


def test_run_annotations_reads_each_jobs_check_run(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/repos/acme/a/actions/runs/7/jobs",
            (200, {}, {"total_count": 2, "jobs": [{"id": 70}, {"id": 71}]}))
    hub.add("GET", "/repos/acme/a/check-runs/70/annotations", (200, {}, [
        {"annotation_level": "failure", "message": "tests failed", "title": "pytest"}]))
    hub.add("GET", "/repos/acme/a/check-runs/71/annotations", (200, {}, [
        {"annotation_level": "warning", "message": "slow"}]))
    forge = make_forge()
    notes = forge.run_annotations("acme/a", 7)
    assert [(a.level, a.message, a.title) for a in notes] == [
        ("failure", "tests failed", "pytest"), ("warning", "slow", "")]
    assert forge.ledger.calls["poll"] == 3


@pytest.mark.parametrize("jobs_body", [[1, 2], '"text"', {"jobs": "x"}, {"jobs": 3}])
def test_run_annotations_with_a_jobs_answer_of_the_wrong_shape(hub: FakeHub, make_forge,
                                                               jobs_body: object) -> None:
    """Used to raise AttributeError/TypeError (the engine only catches ForgeError)."""
    hub.add("GET", "/repos/acme/a/actions/runs/7/jobs", (200, {}, jobs_body))
    with pytest.raises(ForgeError, match="unexpected jobs data"):
        make_forge().run_annotations("acme/a", 7)


def test_run_annotations_skip_jobs_and_items_of_the_wrong_shape(hub: FakeHub,
                                                                make_forge) -> None:
    hub.add("GET", "/repos/acme/a/actions/runs/7/jobs", (200, {}, {"jobs": [
        {"id": "x"}, {"id": [1]}, {"id": 1.5}, "job", {"id": 70}, {"id": 71}]}))
    hub.add("GET", "/repos/acme/a/check-runs/70/annotations",
            (200, {}, {"message": "not a list"}))
    hub.add("GET", "/repos/acme/a/check-runs/71/annotations",
            (200, {}, ["junk", {"annotation_level": "failure", "message": "boom"}]))
    forge = make_forge()
    assert [a.message for a in forge.run_annotations("acme/a", 7)] == ["boom"]
    assert len(hub.calls("GET")) == 3  # the jobs listing and the two integer ids


@pytest.mark.parametrize("field,value", [("status", {"a": 1}), ("conclusion", ["failure"]),
                                         ("name", 3), ("head_branch", True)])
def test_a_run_field_of_the_wrong_type_is_a_forge_error(hub: FakeHub, make_forge,
                                                       field: str, value: object) -> None:
    """An unhashable conclusion used to pass through and raise TypeError in the
    conclusion -> state lookup of the tree."""
    run = {"id": 5, "created_at": "2024-01-01T00:00:00Z", "status": "completed",
           "conclusion": "success", field: value}
    hub.add("GET", "/repos/acme/a/actions/runs", (200, {}, {"workflow_runs": [run]}))
    hub.add("GET", "/repos/acme/a/actions/runs/5", (200, {}, run))
    forge = make_forge()
    with pytest.raises(ForgeError, match=f"unexpected workflow run data .*{field}"):
        forge.list_runs("acme/a")
    with pytest.raises(ForgeError, match=f"unexpected workflow run data .*{field}"):
        forge.get_run("acme/a", 5)


def test_now_follows_the_server_clock(hub: FakeHub, make_forge) -> None:
    skewed = datetime.now(timezone.utc) - timedelta(seconds=90)
    hub.add("GET", "/repos/acme/a/actions/runs",
            (200, {"Date": format_datetime(skewed, usegmt=True)},
             {"total_count": 0, "workflow_runs": []}))
    forge = make_forge()
    before = forge.now()
    assert abs((before - datetime.now(timezone.utc)).total_seconds()) < 2
    forge.list_runs("acme/a")
    assert abs((forge.now() - skewed).total_seconds()) < 3


def test_token_never_appears_in_repr_errors_or_logs(hub: FakeHub, make_forge,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    hub.add("GET", "/repos/acme/a/actions/runs", (401, {}, {"message": "Bad credentials"}))
    hub.add("POST", "/repos/acme/a/dispatches", (503, {}, {"message": "down"}))
    forge = make_forge()
    assert TOKEN not in repr(forge)
    with pytest.raises(AuthError) as auth:
        forge.list_runs("acme/a")
    with pytest.raises(ForgeError) as ambiguous:
        forge.dispatch("acme/a", "e", {})
    for exc in (auth.value, ambiguous.value):
        assert TOKEN not in str(exc) and TOKEN not in repr(exc) and TOKEN not in exc.hint
    assert TOKEN not in caplog.text
    assert hub.log[0]["headers"]["authorization"].endswith(TOKEN)  # it was sent, though


def test_bad_api_url_is_a_clear_error() -> None:
    with pytest.raises(ForgeError, match="not an http"):
        GitHubForge("ftp://example.com", token="t")


def test_ghes_base_url_shares_the_code_path(hub: FakeHub, make_forge) -> None:
    hub.add("GET", "/api/v3/repos/acme/a/actions/runs",
            (200, {}, {"total_count": 1, "workflow_runs": [run(1)]}))
    forge = GitHubForge(hub.base_url + "/api/v3", token="t", write_interval=0)
    assert [r.id for r in forge.list_runs("acme/a").runs] == [1]
    assert forge.graphql_url == hub.base_url + "/api/graphql"
    forge.close()


@pytest.mark.parametrize("location", ["http://elsewhere.invalid/x", "/repos/acme/svc/actions/runs",
                                      "https://127.0.0.1/x"])
def test_redirect_away_is_a_forge_error_and_a_dispatch_is_sent_once(hub, make_forge,
                                                                    location) -> None:
    """A 301 to another host, to https or to itself: PyGithub raises RuntimeError;
    the forge says what happened instead, and never re-sends the dispatch."""
    for method, path in (("GET", "/repos/acme/svc/actions/runs"),
                         ("POST", "/repos/acme/svc/dispatches")):
        hub.add(method, path, (301, {"Location": location}, ""))
    forge = make_forge()
    with pytest.raises(ForgeError, match="redirected GET /repos/acme/svc/actions/runs") as err:
        forge.list_runs("acme/svc")
    assert "--api-url" in err.value.hint
    with pytest.raises(ForgeError, match="redirected POST") as err:
        forge.dispatch("acme/svc", "built", {"a": 1})
    assert not isinstance(err.value, AmbiguousDispatchError)
    assert len(hub.calls("POST", "/repos/acme/svc/dispatches")) == 1


def test_an_html_error_page_is_named_by_its_status_once(hub: FakeHub, make_forge) -> None:
    page = (502, {"Content-Type": "text/html"}, "<html><h1>502 Bad Gateway</h1></html>")
    hub.add("GET", "/repos/acme/a/actions/runs/7", page)
    hub.add("GET", "/orgs/acme/repos", page)
    forge = make_forge(policy=RetryPolicy(jitter=False, max_retries=0), prefer_rest=True)
    with pytest.raises(ForgeError) as err:
        forge.get_run("acme/a", 7)
    assert err.value.message == "could not read run 7 of acme/a: HTTP 502"
    with pytest.raises(ForgeError) as err:
        forge.discover(RepoSelection(org="acme"))
    assert err.value.message == "GitHub answered HTTP 502 for /orgs/acme/repos"
