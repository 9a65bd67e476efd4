"""ETags and 304s, primary budgets, secondary limits, run tokens."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from github import Auth, Github, RateLimitExceededException

from tako_gha.emulator import Emulator
from tako_gha.emulator.testing import call
from tako_gha.emulator.worldgen import commit_files

pytestmark = pytest.mark.timeout(60)

WORKFLOW = """on: repository_dispatch
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: "true"
"""


def test_etag_304_is_free_and_changes_with_content(
    emu: Emulator, small_world: Path
) -> None:
    path = "/repos/acme/core-lib/contents/tako.yml"
    first = call(emu.base_url, "GET", path, emu.admin_token)
    etag = first.headers["etag"]
    remaining = int(first.headers["x-ratelimit-remaining"])
    again = call(emu.base_url, "GET", path, emu.admin_token, headers={"If-None-Match": etag})
    assert again.status == 304 and again.body == b""
    assert int(again.headers["x-ratelimit-remaining"]) == remaining  # not charged
    commit_files(small_world / "acme" / "core-lib", {"tako.yml": "version: 3\n"})
    changed = call(emu.base_url, "GET", path, emu.admin_token, headers={"If-None-Match": etag})
    assert changed.status == 200 and changed.headers["etag"] != etag
    assert int(changed.headers["x-ratelimit-remaining"]) == remaining - 1
    for route in ("/repos/acme/app", "/orgs/acme/repos", "/repos/acme/app/actions/runs",
                  "/rate_limit"):
        assert call(emu.base_url, "GET", route, emu.admin_token).headers.get("etag")


def test_primary_budget_exhaustion(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({"acme/a": {"f": "1"}}, settings={"limits": {"core": 3}})
    emu = start_emulator(world)
    replies = [call(emu.base_url, "GET", "/repos/acme/a", "t1") for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 403]
    last = replies[-1]
    assert last.headers["x-ratelimit-remaining"] == "0"
    assert last.headers["x-ratelimit-limit"] == "3"
    assert int(last.headers["x-ratelimit-reset"]) > time.time()
    assert last.headers["x-ratelimit-resource"] == "core"
    assert last.json()["message"].startswith("API rate limit exceeded")
    # budgets are per token; /rate_limit stays free and tells the truth
    assert call(emu.base_url, "GET", "/repos/acme/a", "t2").status == 200
    overview = call(emu.base_url, "GET", "/rate_limit", "t1").json()
    assert overview["resources"]["core"]["remaining"] == 0
    assert overview["rate"] == overview["resources"]["core"]
    gh = Github(auth=Auth.Token("t1"), base_url=emu.base_url, retry=None)
    with pytest.raises(RateLimitExceededException):
        gh.get_repo("acme/a")


def test_rate_limit_endpoint_reports_the_budget_in_headers_too(emu: Emulator) -> None:
    """PyGithub's ``Github.rate_limiting`` asks GET /rate_limit and reads only the
    ``x-ratelimit-*`` headers of the answer, as GitHub sends them there too."""
    assert call(emu.base_url, "GET", "/repos/acme/app", emu.admin_token).status == 200
    gh = Github(auth=Auth.Token(emu.admin_token), base_url=emu.base_url, retry=None)
    remaining, limit = gh.rate_limiting  # a fresh client: no header seen yet
    assert (remaining, limit) == (4999, 5000)
    assert gh.rate_limiting_resettime > time.time()
    reply = call(emu.base_url, "GET", "/rate_limit", emu.admin_token)
    assert reply.headers["x-ratelimit-remaining"] == "4999"  # still free
    assert reply.headers["x-ratelimit-resource"] == "core"
    anonymous = call(emu.base_url, "GET", "/rate_limit")
    assert anonymous.status == 200 and anonymous.headers["x-ratelimit-limit"] == "60"


def test_content_creation_limit_answers_403_with_retry_after(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({"acme/a": {"f": "1"}}, settings={"limits": {"content_per_minute": 2}})
    emu = start_emulator(world)
    statuses = [call(emu.base_url, "POST", "/repos/acme/a/dispatches", "t",
                     {"event_type": "e"}) for _ in range(3)]
    assert [r.status for r in statuses] == [204, 204, 403]
    assert int(statuses[-1].headers["retry-after"]) >= 1
    assert "secondary rate limit" in statuses[-1].json()["message"]


def test_concurrency_cap_answers_429(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world({"acme/a": {"f": "1"}}, settings={"limits": {"concurrency": 1}})
    emu = start_emulator(world, faults={"latency": {"repo": "400ms"}})
    slow: list[int] = []
    thread = threading.Thread(
        target=lambda: slow.append(call(emu.base_url, "GET", "/repos/acme/a", "t").status))
    thread.start()
    time.sleep(0.15)
    second = call(emu.base_url, "GET", "/rate_limit", "t")
    thread.join()
    assert slow == [200]
    assert second.status == 429 and second.headers["retry-after"] == "1"
    assert call(emu.base_url, "GET", "/rate_limit", "other-token").status == 200


def test_run_token_reaches_its_repo_only(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world(
        {"acme/a": {".github/workflows/w.yml": WORKFLOW}, "acme/b": {"f": "1"},
         "acme/secret": {"f": "1"}},
        settings={"repos": {"acme/secret": {"private": True}}, "limits": {"run_token_core": 3}},
    )
    emu = start_emulator(world)
    token = emu.issue_run_token("acme/a")
    base = emu.base_url
    assert call(base, "POST", "/repos/acme/a/dispatches", token, {"event_type": "x"}).status == 204
    other = call(base, "POST", "/repos/acme/b/dispatches", token, {"event_type": "x"})
    assert other.status == 403
    assert other.json()["message"] == "Resource not accessible by integration"
    assert call(base, "GET", "/repos/acme/secret", token).status == 404
    assert call(base, "GET", "/repos/acme/secret", emu.admin_token).status == 200
    log = [e for e in emu.requests() if e["token_id"].startswith("run:")]
    assert log and all(token not in str(e) for e in emu.requests())
    # GITHUB_TOKEN budget: per repository, 3 here (all three calls above counted)
    assert call(base, "GET", "/repos/acme/a", token).status == 403
    assert emu.wait_idle(20)


def test_classic_token_scopes(
    make_world: Callable[..., Path], start_emulator: Callable[..., Emulator]
) -> None:
    world = make_world(
        {"acme/pub": {"f": "1"}, "acme/priv": {"f": "1"}},
        settings={"repos": {"acme/priv": {"private": True}},
                  "tokens": {"t-admin": {}, "t-public": {"scopes": "public_repo, workflow"},
                             "t-read": {"scopes": ["read:org"]}}},
    )
    emu = start_emulator(world)
    base = emu.base_url
    read = call(base, "GET", "/repos/acme/pub", "t-public")
    assert read.headers["x-oauth-scopes"] == "public_repo, workflow"
    assert "x-oauth-scopes" not in call(base, "GET", "/repos/acme/pub", "t-admin").headers
    ok = call(base, "POST", "/repos/acme/pub/dispatches", "t-public", {"event_type": "e"})
    assert ok.status == 204 and ok.headers["x-accepted-oauth-scopes"] == "repo"
    assert call(base, "POST", "/repos/acme/priv/dispatches", "t-public",
                {"event_type": "e"}).status == 403
    assert call(base, "POST", "/repos/acme/pub/dispatches", "t-read",
                {"event_type": "e"}).status == 403
