"""The REST surface over raw HTTP: shapes, status codes, pagination, errors."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import Reply, call
from tako_gha.emulator.worldgen import commit_files

pytestmark = pytest.mark.timeout(60)


def _links(reply: Reply) -> dict[str, str]:
    out = {}
    for part in reply.headers.get("link", "").split(","):
        if part.strip():
            url, rel = part.split(";")
            out[rel.strip().split("=")[1].strip('"')] = url.strip()[1:-1]
    return out


def test_org_repos_paginate_with_link_headers(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({f"acme/r{i:02d}": {"f": "x"} for i in range(7)})
    emu = start_emulator(world)
    first = call(emu.base_url, "GET", "/orgs/acme/repos?per_page=3", token=emu.admin_token)
    assert first.status == 200
    assert [r["full_name"] for r in first.json()] == ["acme/r00", "acme/r01", "acme/r02"]
    links = _links(first)
    assert set(links) == {"next", "last"}
    assert links["next"].startswith(emu.base_url + "/orgs/acme/repos?")
    assert parse_qs(urlsplit(links["last"]).query)["page"] == ["3"]
    last = call(emu.base_url, "GET", urlsplit(links["last"]).path + "?"
                + urlsplit(links["last"]).query, token=emu.admin_token)
    assert [r["name"] for r in last.json()] == ["r06"]
    assert set(_links(last)) == {"prev", "first"}
    capped = call(emu.base_url, "GET", "/orgs/acme/repos?per_page=500", token=emu.admin_token)
    assert len(capped.json()) == 7 and "link" not in capped.headers


def test_repo_json_points_at_the_emulator(http: Callable[..., Reply], emu: Emulator) -> None:
    reply = http("GET", "/repos/acme/app")
    body = reply.json()
    assert reply.status == 200
    assert body["full_name"] == "acme/app" and body["default_branch"] == "main"
    assert body["url"] == f"{emu.base_url}/repos/acme/app"
    assert body["owner"]["login"] == "acme"
    assert body["archived"] is False and body["topics"] == []


def test_contents_file_dir_raw_and_missing(http: Callable[..., Reply], emu: Emulator) -> None:
    reply = http("GET", "/repos/acme/docs/contents/guide/intro.md")
    body = reply.json()
    assert body["type"] == "file" and body["encoding"] == "base64"
    assert base64.b64decode(body["content"]) == b"hello\n"
    listing = http("GET", "/repos/acme/docs/contents/guide").json()
    assert [(e["name"], e["type"]) for e in listing] == [("intro.md", "file")]
    root = {e["name"] for e in http("GET", "/repos/acme/docs/contents/").json()}
    assert root == {"README.md", "guide"}
    raw = http("GET", "/repos/acme/docs/contents/README.md",
               headers={"Accept": "application/vnd.github.raw+json"})
    assert raw.body == b"docs\n"
    downloaded = call(emu.base_url, "GET", body["download_url"].removeprefix(emu.base_url))
    assert downloaded.status == 200 and downloaded.body == b"hello\n"
    assert call(emu.base_url, "GET", "/_emulator/raw/acme/docs/main/nope").status == 404
    missing = http("GET", "/repos/acme/docs/contents/nope.yml")
    assert missing.status == 404 and missing.json()["message"] == "Not Found"
    assert "documentation_url" in missing.json()
    bad_ref = http("GET", "/repos/acme/docs/contents/README.md?ref=nope")
    assert bad_ref.status == 404 and "No commit found" in bad_ref.json()["message"]


def test_a_commit_is_seen_by_the_next_request(
    http: Callable[..., Reply], small_world: Path
) -> None:
    before = http("GET", "/repos/acme/core-lib/contents/tako.yml").json()
    commit_files(small_world / "acme" / "core-lib", {"tako.yml": "version: 2\n"})
    after = http("GET", "/repos/acme/core-lib/contents/tako.yml").json()
    assert base64.b64decode(after["content"]) == b"version: 2\n"
    assert after["sha"] != before["sha"]
    old = http("GET", "/repos/acme/core-lib/contents/tako.yml?ref=" + _head(small_world, 1))
    assert base64.b64decode(old.json()["content"]) == b"version: 1\n"


def _head(world: Path, back: int) -> str:
    import git

    return git.Repo(world / "acme" / "core-lib").commit(f"HEAD~{back}").hexsha


def test_auth_and_visibility(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world(
        {"acme/a": {"f": "1"}, "other/b": {"f": "2"}},
        settings={"tokens": {"t-admin": {"repos": ["*"]},
                             "t-read": {"repos": ["acme/*"], "dispatch": False}}},
    )
    emu = start_emulator(world)
    base = emu.base_url
    assert emu.admin_token == "t-admin"
    assert call(base, "GET", "/repos/acme/a").status == 401
    bad = call(base, "GET", "/repos/acme/a", token="t-wrong")
    assert bad.status == 401 and bad.json()["message"] == "Bad credentials"
    assert call(base, "GET", "/repos/acme/a", token="t-read").status == 200
    assert call(base, "GET", "/repos/other/b", token="t-read").status == 404
    assert call(base, "GET", "/repos/other/b", token="t-admin").status == 200
    refused = call(base, "POST", "/repos/acme/a/dispatches", token="t-read",
                   body={"event_type": "x"})
    assert refused.status == 403
    listed = call(base, "GET", "/user/repos", token="t-read").json()
    assert [r["full_name"] for r in listed] == ["acme/a"]
    assert call(base, "GET", "/orgs/nobody/repos", token="t-admin").status == 404


def test_unknown_route_is_github_404(http: Callable[..., Reply]) -> None:
    reply = http("GET", "/repos/acme/app/no/such/thing")
    assert reply.status == 404
    assert reply.json() == {"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}
    assert http("DELETE", "/repos/acme/app").status == 404


@pytest.mark.parametrize(
    ("raw", "status", "fragment"),
    [
        (b"{not json", 400, "Problems parsing JSON"),
        (b"[1, 2]", 422, "is not an object"),
        (b"{}", 422, "event_type"),
        (b'{"event_type": ""}', 422, "too short"),
        (b'{"event_type": 5}', 422, "is not a string"),
        (json.dumps({"event_type": "x" * 101}).encode(), 422, "too long"),
        (b'{"event_type": "e", "client_payload": [1]}', 422, "is not an object"),
        (json.dumps({"event_type": "e", "client_payload": {str(i): i for i in range(11)}})
         .encode(), 422, "No more than 10 properties are allowed; 11 were supplied."),
        (json.dumps({"event_type": "e", "client_payload": {"big": "x" * 70000}}).encode(),
         422, "client_payload is too large"),
    ],
)
def test_bad_dispatch_bodies(http: Callable[..., Reply], emu: Emulator, raw: bytes,
                             status: int, fragment: str) -> None:
    reply = http("POST", "/repos/acme/app/dispatches", raw=raw)
    assert reply.status == status
    assert fragment in reply.json()["message"]
    assert reply.json()["documentation_url"].startswith("https://docs.github.com/")
    assert emu.runs.all_runs() == []
    assert http("GET", "/repos/acme/app").status == 200  # the server lives on



def test_dispatch_limits_accept_up_to_the_boundary(http: Callable[..., Reply],
                                                   emu: Emulator) -> None:
    """GitHub's limits are inclusive maxima: 100 characters, 10 keys, under 64 KB."""
    def sent(body: dict) -> int:
        return http("POST", "/repos/acme/docs/dispatches", body=body).status

    assert sent({"event_type": "x" * 100}) == 204
    assert sent({"event_type": "e", "client_payload": {str(i): i for i in range(10)}}) == 204
    # compact JSON of {"k":"..."} is 8 bytes plus the value: 65,535 bytes in all
    assert sent({"event_type": "e", "client_payload": {"k": "x" * 65_527}}) == 204
    assert sent({"event_type": "e", "client_payload": {"k": "x" * 65_528}}) == 422

def test_dispatch_to_unknown_repo_is_404(http: Callable[..., Reply]) -> None:
    reply = http("POST", "/repos/acme/ghost/dispatches", body={"event_type": "x"})
    assert reply.status == 404


def test_dispatch_creates_runs_listed_newest_first(
    http: Callable[..., Reply], emu: Emulator
) -> None:
    for title in ("one", "two"):
        reply = http("POST", "/repos/acme/app/dispatches",
                     body={"event_type": "library_built", "client_payload": {"title": title}})
        assert reply.status == 204 and reply.body == b""
    assert http("POST", "/repos/acme/app/dispatches",
                body={"event_type": "unrelated"}).status == 204
    listing = http("GET", "/repos/acme/app/actions/runs").json()
    assert listing["total_count"] == 2
    runs = listing["workflow_runs"]
    assert [r["display_title"] for r in runs] == ["two", "one"]
    assert runs[0]["event"] == "repository_dispatch"
    assert runs[0]["path"] == ".github/workflows/build.yml"
    assert runs[0]["url"].startswith(emu.base_url)
    assert runs[0]["repository"]["full_name"] == "acme/app"
    assert emu.wait_idle(30)
    done = http("GET", f"/repos/acme/app/actions/runs/{runs[0]['id']}").json()
    assert (done["status"], done["conclusion"]) == ("completed", "success")
    jobs = http("GET", f"/repos/acme/app/actions/runs/{runs[0]['id']}/jobs").json()
    assert jobs["total_count"] == 1 and jobs["jobs"][0]["conclusion"] == "success"
    by_file = http("GET", "/repos/acme/app/actions/workflows/build.yml/runs").json()
    assert by_file["total_count"] == 2
    by_id = http("GET", f"/repos/acme/app/actions/workflows/{done['workflow_id']}/runs").json()
    assert by_id["total_count"] == 2
    assert http("GET", "/repos/acme/app/actions/workflows/nope.yml/runs").status == 404
    assert http("GET", "/repos/acme/app/actions/runs/999999").status == 404
    assert http("GET", f"/repos/acme/docs/actions/runs/{runs[0]['id']}").status == 404


def test_run_filters(http: Callable[..., Reply], emu: Emulator) -> None:
    http("POST", "/repos/acme/app/dispatches", body={"event_type": "library_built"})
    assert emu.wait_idle(30)
    run = http("GET", "/repos/acme/app/actions/runs").json()["workflow_runs"][0]
    created = run["created_at"]

    def count(query: str) -> int:
        reply = http("GET", "/repos/acme/app/actions/runs?" + query)
        assert reply.status == 200, reply.body
        return reply.json()["total_count"]

    assert count("event=repository_dispatch") == 1
    assert count("event=push") == 0
    assert count("status=completed") == 1 and count("status=success") == 1
    assert count("status=in_progress") == 0
    assert count("branch=main") == 1 and count("branch=dev") == 0
    assert count(f"created=>={created}") == 1
    assert count(f"created=>{created}") == 0
    assert count(f"created=<={created}") == 1
    assert count(f"created=2020-01-01..{created}") == 1
    assert count("created=2020-01-01..2020-01-02") == 0
    assert count(f"created={created[:10]}") == 1
    assert http("GET", "/repos/acme/app/actions/runs?created=yesterday").status == 422
    assert http("GET", "/repos/acme/app/actions/runs?status=weird").status == 422


SLEEPY = """name: sleepy
on: repository_dispatch
jobs:
  wait:
    runs-on: ubuntu-latest
    steps:
      - run: sleep 30
"""

FAILING = """name: failing
on: repository_dispatch
jobs:
  fail:
    runs-on: ubuntu-latest
    steps:
      - run: |
          echo "::error title=Broken::payload $(grep -o '"v": *[0-9]*' "$GITHUB_EVENT_PATH")"
          exit 3
"""


def test_cancel_rerun_and_annotations(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({"acme/slow": {".github/workflows/s.yml": SLEEPY},
                        "acme/bad": {".github/workflows/f.yml": FAILING}})
    emu = start_emulator(world)
    base, tok = emu.base_url, emu.admin_token
    go = call(base, "POST", "/repos/acme/slow/dispatches", tok, {"event_type": "go"})
    assert go.status == 204
    run_id = emu.runs.all_runs()[-1].id
    deadline = time.monotonic() + 10
    while emu.runs.get(run_id).status != "in_progress" and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelled = call(base, "POST", f"/repos/acme/slow/actions/runs/{run_id}/cancel", tok)
    assert cancelled.status == 202
    assert emu.wait_idle(15)
    assert emu.runs.get(run_id).conclusion == "cancelled"
    again = call(base, "POST", f"/repos/acme/slow/actions/runs/{run_id}/cancel", tok)
    assert again.status == 409 and "completed" in again.json()["message"]

    assert call(base, "POST", "/repos/acme/bad/dispatches", tok, {"event_type": "x"}).status == 204
    assert emu.wait_idle(15)
    bad = call(base, "GET", "/repos/acme/bad/actions/runs", tok).json()["workflow_runs"][0]
    assert bad["conclusion"] == "failure"
    job = call(base, "GET", f"/repos/acme/bad/actions/runs/{bad['id']}/jobs", tok).json()["jobs"][0]
    notes = call(base, "GET", f"/repos/acme/bad/check-runs/{job['id']}/annotations", tok)
    assert notes.status == 200
    levels = [(n["annotation_level"], n["title"]) for n in notes.json()]
    assert ("failure", "Broken") in levels
    assert call(base, "GET", f"/repos/acme/slow/check-runs/{job['id']}/annotations",
                tok).status == 404
    rerun = call(base, "POST", f"/repos/acme/bad/actions/runs/{bad['id']}/rerun", tok)
    assert rerun.status == 201
    assert emu.wait_idle(15)
    assert emu.runs.get(bad["id"]).run_attempt == 2


def test_workflow_listing(http: Callable[..., Reply]) -> None:
    body = http("GET", "/repos/acme/app/actions/workflows").json()
    assert body["total_count"] == 1
    assert body["workflows"][0]["path"] == ".github/workflows/build.yml"
    assert body["workflows"][0]["name"] == "build"
