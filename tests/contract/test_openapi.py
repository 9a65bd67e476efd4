"""Every emulator endpoint's responses, and the requests PyGithub sends, validate
against GitHub's OpenAPI description (``@octokit/openapi`` 23.0.2)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from github import Auth, Github
from openapi_core.templating.responses.exceptions import ResponseNotFound
from openapi_core.testing import MockRequest, MockResponse
from openapi_core.validation.response.exceptions import InvalidData
from openapi_schema_validator import OAS30Validator

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call
from tako_gha.emulator.worldgen import write_world

pytestmark = pytest.mark.timeout(180)

HOST = "https://api.github.com"
WORKFLOW = """name: build
run-name: ${{ github.event.client_payload.title || github.workflow }}
on:
  repository_dispatch:
    types: [built]
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - run: echo "::warning title=Heads up::from the step"; sleep "${SLEEP:-0}"
        env:
          SLEEP: ${{ github.event.client_payload.sleep }}
"""


BROKEN = """name: broken
on:
  repository_dispatch:
    types: [broken]
jobs:
  build:
    steps:
      - run: echo "why it broke"; exit 3
"""


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    world = write_world(
        tmp_path_factory.mktemp("contract") / "world",
        {
            "acme/app": {"tako.yml": "version: 1\n", ".github/workflows/build.yml": WORKFLOW,
                         ".github/workflows/broken.yml": BROKEN},
            "acme/lib": {"tako.yml": "version: 1\n", "docs/a.md": "a\n"},
        },
        settings={"repos": {"acme/lib": {"topics": ["tako"], "description": "the lib"}}},
    )
    with Emulator(world) as emulator:
        yield emulator


def to_openapi(method: str, path_qs: str, reply: Reply | None = None,
               body: bytes | None = None, headers: dict[str, str] | None = None
               ) -> tuple[MockRequest, MockResponse | None]:
    parts = urlsplit(path_qs)
    args = {k: v[0] for k, v in parse_qs(parts.query).items()}
    request = MockRequest(HOST, method.lower(), parts.path, args=args, data=body,
                          headers=headers or {},
                          content_type="application/json" if body else "")
    if reply is None:
        return request, None
    content_type = reply.headers.get("content-type", "application/json").split(";")[0]
    response = MockResponse(reply.body, status_code=reply.status,
                            headers=reply.headers, content_type=content_type)
    return request, response


def check(openapi: Any, emu: Emulator, method: str, path: str, status: int,
          body: Any = None, token: str | None = "admin", schema: dict | None = None,
          **kwargs: Any) -> Reply:
    raw = json.dumps(body).encode() if body is not None else None
    reply = call(emu.base_url, method, path, emu.admin_token if token == "admin" else token,
                 raw=raw, **kwargs)
    assert reply.status == status, (path, reply.status, reply.body[:300])
    request, response = to_openapi(method, path, reply, raw)
    if raw is not None and status < 400:
        openapi.validate_request(request)
    if schema is not None:
        OAS30Validator(schema, format_checker=OAS30Validator.FORMAT_CHECKER).validate(reply.json())
        return reply
    try:
        openapi.validate_response(request, response)
    except ResponseNotFound:
        # A status the description leaves out (e.g. 404 on a run): GitHub answers those
        # with its basic error object; hold the emulator to that.
        assert status >= 400
        OAS30Validator(BASIC_ERROR).validate(reply.json())
        assert set(reply.json()) >= {"message", "documentation_url"}
    return reply


BASIC_ERROR: dict[str, Any] = {}


@pytest.fixture(autouse=True)
def _basic_error(github_spec: dict[str, Any]) -> None:
    BASIC_ERROR.update(github_spec["components"]["schemas"]["basic-error"])


def test_repository_endpoints_match_the_description(
    openapi: Any, emu: Emulator, github_spec: dict[str, Any]
) -> None:
    # The contents 200 is a oneOf with a discriminator on `type`, which an array (a
    # directory listing) cannot carry: validate listings against content-directory itself.
    directory = github_spec["components"]["schemas"]["content-directory"]
    check(openapi, emu, "GET", "/rate_limit", 200)
    check(openapi, emu, "GET", "/orgs/acme", 200)
    check(openapi, emu, "GET", "/orgs/nobody", 404)
    check(openapi, emu, "GET", "/orgs/acme/repos?per_page=1", 200)
    check(openapi, emu, "GET", "/users/acme/repos", 200)
    check(openapi, emu, "GET", "/user/repos", 200)
    check(openapi, emu, "GET", "/repos/acme/lib", 200)
    check(openapi, emu, "GET", "/repos/acme/ghost", 404)
    check(openapi, emu, "GET", "/repos/acme/lib/contents/tako.yml", 200)
    check(openapi, emu, "GET", "/repos/acme/lib/contents/docs", 200, schema=directory)
    check(openapi, emu, "GET", "/repos/acme/lib/contents/", 200, schema=directory)
    check(openapi, emu, "GET", "/repos/acme/lib/contents/nope.yml", 404)
    check(openapi, emu, "GET", "/repos/acme/app/actions/workflows", 200)


def test_dispatch_and_run_endpoints_match_the_description(openapi: Any, emu: Emulator) -> None:
    check(openapi, emu, "POST", "/repos/acme/app/dispatches", 204,
          {"event_type": "built", "client_payload": {"title": "quick"}})
    check(openapi, emu, "POST", "/repos/acme/app/dispatches", 422, {"event_type": "x" * 101})
    check(openapi, emu, "POST", "/repos/acme/app/dispatches", 422,
          {"event_type": "e", "client_payload": {str(i): i for i in range(11)}})
    check(openapi, emu, "POST", "/repos/acme/ghost/dispatches", 404, {"event_type": "e"})
    assert emu.wait_idle(30)
    runs = check(openapi, emu, "GET", "/repos/acme/app/actions/runs?per_page=5", 200).json()
    run_id = runs["workflow_runs"][0]["id"]
    workflow_id = runs["workflow_runs"][0]["workflow_id"]
    check(openapi, emu, "GET", "/repos/acme/app/actions/runs?event=repository_dispatch"
          "&status=success&created=%3E%3D2020-01-01", 200)
    check(openapi, emu, "GET", "/repos/acme/app/actions/workflows/build.yml/runs", 200)
    check(openapi, emu, "GET", f"/repos/acme/app/actions/workflows/{workflow_id}/runs", 200)
    check(openapi, emu, "GET", f"/repos/acme/app/actions/workflows/{workflow_id}", 200)
    check(openapi, emu, "GET", "/repos/acme/app/actions/workflows/build.yml", 200)
    check(openapi, emu, "GET", "/repos/acme/app/actions/workflows/nope.yml", 404)
    check(openapi, emu, "GET", f"/repos/acme/app/actions/runs/{run_id}", 200)
    check(openapi, emu, "GET", "/repos/acme/app/actions/runs/1", 404)
    jobs = check(openapi, emu, "GET", f"/repos/acme/app/actions/runs/{run_id}/jobs", 200).json()
    job_id = jobs["jobs"][0]["id"]
    check(openapi, emu, "GET", f"/repos/acme/app/actions/jobs/{job_id}", 200)
    check(openapi, emu, "GET", "/repos/acme/app/actions/jobs/1", 404)
    notes = check(openapi, emu, "GET", f"/repos/acme/app/check-runs/{job_id}/annotations", 200)
    assert notes.json()[0]["annotation_level"] == "warning"
    for logs in (f"/repos/acme/app/actions/jobs/{job_id}/logs",
                 f"/repos/acme/app/actions/runs/{run_id}/logs"):
        reply = check(openapi, emu, "GET", logs, 302, follow_redirects=False)
        assert reply.headers["location"].startswith(emu.base_url + "/_emulator/logs/")
    check(openapi, emu, "GET", "/repos/acme/app/actions/jobs/1/logs", 404)
    check(openapi, emu, "GET", "/repos/acme/app/actions/runs/1/logs", 404)
    check(openapi, emu, "POST", f"/repos/acme/app/actions/runs/{run_id}/cancel", 409)
    check(openapi, emu, "POST", f"/repos/acme/app/actions/runs/{run_id}/rerun", 201)
    assert emu.wait_idle(30)

    check(openapi, emu, "POST", "/repos/acme/app/dispatches", 204,
          {"event_type": "built", "client_payload": {"title": "slow", "sleep": "20"}})
    slow = next(r for r in emu.runs.all_runs() if r.display_title == "slow")
    deadline = time.monotonic() + 10
    while slow.status != "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
    check(openapi, emu, "POST", f"/repos/acme/app/actions/runs/{slow.id}/cancel", 202)
    check(openapi, emu, "GET", f"/repos/acme/app/actions/runs/{slow.id}", 200)
    assert emu.wait_idle(30)


Sent = list[tuple[str, str, dict[str, str], bytes]]


def record_requests(emu: Emulator, monkeypatch: pytest.MonkeyPatch) -> Sent:
    """Every request the emulator handles from now on: (method, path, headers, body)."""
    app = emu._app
    sent: Sent = []
    original = app.handle

    def recording(method: str, path: str, headers: dict[str, str], body: bytes) -> Any:
        sent.append((method, path, headers, body))
        return original(method, path, headers, body)

    monkeypatch.setattr(app, "handle", recording)
    return sent


def test_requests_pygithub_sends_match_the_description(
    openapi: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = record_requests(emu, monkeypatch)
    gh = Github(auth=Auth.Token(emu.admin_token), base_url=emu.base_url, retry=None,
                seconds_between_requests=0, seconds_between_writes=0)
    repos = list(gh.get_organization("acme").get_repos())
    repo = gh.get_repo("acme/app")
    repo.get_contents("tako.yml")
    assert repo.create_repository_dispatch("built", {"title": "from pygithub"})
    assert emu.wait_idle(30)
    run = repo.get_workflow_runs(event="repository_dispatch", branch="main")[0]
    run.jobs()[0]
    assert len(repos) == 2
    checked = 0
    for method, path, headers, body in sent:
        request, _ = to_openapi(method, path, body=body or None, headers=headers)
        openapi.validate_request(request)
        checked += 1
    assert checked >= 6


def test_validation_rejects_an_incomplete_run(openapi: Any, emu: Emulator) -> None:
    """The check above can fail: drop one required field of a real answer."""
    emu.runs.all_runs()  # runs exist from the dispatch test or not: make one
    call(emu.base_url, "POST", "/repos/acme/app/dispatches", emu.admin_token,
         {"event_type": "built"})
    reply = call(emu.base_url, "GET", "/repos/acme/app/actions/runs?per_page=1",
                 emu.admin_token)
    body = reply.json()
    del body["workflow_runs"][0]["repository"]["owner"]
    reply.body = json.dumps(body).encode()
    request, response = to_openapi("GET", "/repos/acme/app/actions/runs?per_page=1", reply)
    with pytest.raises(InvalidData):
        openapi.validate_response(request, response)
    assert emu.wait_idle(30)


def test_spec_cache_is_reused(github_spec: dict[str, Any]) -> None:
    from openapi_spec import cache_dir

    assert github_spec["info"]["version"] == "23.0.2"
    assert "/repos/{owner}/{repo}/dispatches" in github_spec["paths"]
    assert any(p.name.startswith("api.github.com") for p in Path(cache_dir()).iterdir())


def test_requests_the_forge_sends_match_the_description(
    openapi: Any, emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The project's own client (GitHubForge) asks only what GitHub's description allows:
    every REST request it sends in discovery (REST path), preflight, dispatch and polling."""
    from datetime import datetime, timedelta, timezone

    from tako_gha.forge.base import RepoSelection
    from tako_gha.forge.github import GitHubForge

    sent = record_requests(emu, monkeypatch)
    forge = GitHubForge(emu.base_url, token=emu.admin_token, write_interval=0.0,
                        prefer_rest=True)
    try:
        assert len(forge.discover(RepoSelection(org="acme")).repos) == 2
        forge.discover(RepoSelection(org="acme", repos=["acme/lib"]))
        forge.preflight("acme", ["acme/app"], dispatch=True)
        since = forge.now() - timedelta(seconds=5)
        forge.dispatch("acme/app", "built", {"title": "from the forge", "sleep": "20"})
        deadline = time.monotonic() + 10
        run = None
        while run is None and time.monotonic() < deadline:
            listed = forge.list_runs("acme/app", created_after=since).runs
            run = next((r for r in listed if r.display_title == "from the forge"), None)
        assert run is not None
        forge.list_runs("acme/app", workflow="build.yml",
                        created_after=datetime.now(timezone.utc) - timedelta(hours=1))
        forge.get_run("acme/app", run.id)
        forge.get_run("acme/app", run.id)  # conditional: If-None-Match
        forge.run_annotations("acme/app", run.id)
        assert forge.cancel_run("acme/app", run.id) is True
        forge.dispatch("acme/app", "broken", {})
        assert emu.wait_idle(30)
        broken = next(r for r in forge.list_runs("acme/app", created_after=since).runs
                      if r.display_title == "broken")
        assert forge.job_log_tail("acme/app", broken.id) == ["why it broke"]
    finally:
        forge.close()
    assert emu.wait_idle(30)
    kinds = set()
    for method, path, headers, body in sent:
        if path.startswith(("/graphql", "/_emulator/")):
            continue  # GraphQL is not part of the REST description, nor is log storage
        request, _ = to_openapi(method, date_part_of_created(path), body=body or None,
                                headers=headers)
        openapi.validate_request(request)
        kinds.add((method, urlsplit(path).path.split("/")[-1]))
    # discovery listing + contents, preflight, dispatch, runs, jobs, annotations, cancel
    assert {("GET", "repos"), ("GET", "tako.yml"), ("POST", "dispatches"), ("GET", "runs"),
            ("GET", "jobs"), ("GET", "annotations"), ("POST", "cancel"),
            ("GET", "logs")} <= kinds


def date_part_of_created(path_qs: str) -> str:
    """The description types ``created`` as a date-time while its own text (and GitHub)
    take search syntax (``>=2026-01-01T00:00:00Z``): keep the operator out of the check,
    so the date-time itself is still validated."""
    parts = urlsplit(path_qs)
    query = parse_qs(parts.query, keep_blank_values=True)
    if "created" in query:
        value = query["created"][0]
        date = value.lstrip("<>=")
        assert value[: len(value) - len(date)] in ("", ">=", ">", "<=", "<"), value
        query["created"] = [date]
    return parts.path + ("?" + urlencode(query, doseq=True) if query else "")


RELEASE_PATH = ".github/workflows/release.yml"
RELEASE = """name: release
on:
  workflow_dispatch:
    inputs:
      version: {required: true}
jobs:
  go:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


def test_workflow_dispatch_answers_match_the_description(
    openapi: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = write_world(tmp_path / "world", {
        "acme/rel": {".github/workflows/release.yml": RELEASE}})
    path = "/repos/acme/rel/actions/workflows/release.yml/dispatches"
    with Emulator(world) as emu:
        body = check(openapi, emu, "POST", path, 200,
                     {"ref": "main", "inputs": {"version": "1"},
                      "return_run_details": True}).json()
        assert isinstance(body["workflow_run_id"], int)
        check(openapi, emu, "POST", path, 204, {"ref": "main", "inputs": {"version": "2"}})
        check(openapi, emu, "POST", path, 422, {"ref": "main", "inputs": {"nope": "x"}})
        # what the forge sends for it is what the description allows
        from tako_gha.forge.github import GitHubForge

        sent = record_requests(emu, monkeypatch)
        with GitHubForge(emu.base_url, token=emu.admin_token, write_interval=0.0) as forge:
            assert forge.dispatch_workflow("acme/rel", "release.yml", "main",
                                           {"version": "3"}).run_id is not None
            assert "workflow_dispatch" in (forge.read_file("acme/rel", RELEASE_PATH) or "")
        rest = [(m, p, h, b) for m, p, h, b in sent if not p.startswith("/graphql")]
        assert [(m, p) for m, p, *_ in rest] == [
            ("POST", path), ("GET", f"/repos/acme/rel/contents/{RELEASE_PATH}")]
        # (the description's {path} is one segment: the file read is checked by shape)
        method, sent_path, headers, body = rest[0]
        request, _ = to_openapi(method, sent_path, body=body or None, headers=headers)
        openapi.validate_request(request)
        assert emu.wait_idle(30)


def test_rerun_failed_jobs_matches_the_description(openapi: Any, emu: Emulator) -> None:
    """A failed run re-run (failed jobs only) is the next attempt of the same run id:
    run_attempt 2, previous_attempt_url set, in GitHub's workflow-run shape."""
    check(openapi, emu, "POST", "/repos/acme/app/dispatches", 204, {"event_type": "broken"})
    assert emu.wait_idle(30)
    broken = next(r for r in emu.runs.all_runs() if r.workflow_path.endswith("broken.yml"))
    path = f"/repos/acme/app/actions/runs/{broken.id}"
    assert check(openapi, emu, "GET", path, 200).json()["conclusion"] == "failure"
    attempt = broken.run_attempt
    check(openapi, emu, "POST", f"{path}/rerun-failed-jobs", 201)
    assert emu.wait_idle(30)
    run = check(openapi, emu, "GET", path, 200).json()
    assert run["id"] == broken.id and run["run_attempt"] == attempt + 1
    assert run["previous_attempt_url"].endswith(f"/attempts/{attempt}")
    good = next(r for r in emu.runs.all_runs() if r.conclusion == "success")
    check(openapi, emu, "POST", f"/repos/acme/app/actions/runs/{good.id}/rerun-failed-jobs",
          403)
