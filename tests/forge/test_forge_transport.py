"""Retry, rate-limit and dispatch-safety policy of the GitHub forge, against a
scripted loopback server (tests/forge/fakehub.py)."""

from __future__ import annotations

import time

import pytest
from fakehub import FakeHub

from tako_gha.forge.base import (
    AmbiguousDispatchError,
    AuthError,
    NotFoundError,
    RateLimitError,
    ValidationError,
)
from tako_gha.forge.transport import RetryPolicy, WaitEvent

RUN = {
    "id": 7, "name": "rebuild", "display_title": "tako r1 d2", "event": "repository_dispatch",
    "status": "completed", "conclusion": "success", "path": ".github/workflows/rebuild.yml",
    "created_at": "2026-11-25T10:00:00Z", "html_url": "http://x/acme/a/actions/runs/7",
    "head_branch": "main", "run_attempt": 1, "repository": {"full_name": "acme/a"},
}
RUNS = {"total_count": 1, "workflow_runs": [RUN]}
RUNS_PATH = "/repos/acme/a/actions/runs"


def test_get_is_retried_on_5xx_and_retries_are_in_the_ledger(hub: FakeHub, make_forge,
                                                              sleeps) -> None:
    hub.add("GET", RUNS_PATH, (502, {}, {"message": "bad gateway"}),
            (503, {}, {"message": "unavailable"}), (200, {}, RUNS))
    forge = make_forge()
    listing = forge.list_runs("acme/a")
    assert [r.id for r in listing.runs] == [7]
    assert len(hub.calls("GET", RUNS_PATH)) == 3
    assert forge.ledger.calls["poll"] == 3
    assert forge.ledger.retries["poll"] == 2
    assert sleeps == [1.0, 2.0]  # exponential, jitter off
    assert forge.ledger.waited_seconds == pytest.approx(3.0)


def test_get_gives_up_after_the_bounded_retries(hub: FakeHub, make_forge) -> None:
    hub.add("GET", RUNS_PATH, (500, {}, {"message": "boom"}))
    forge = make_forge(policy=RetryPolicy(max_retries=2, jitter=False))
    with pytest.raises(Exception) as info:
        forge.list_runs("acme/a")
    assert "HTTP 500" in str(info.value)
    assert len(hub.calls("GET", RUNS_PATH)) == 3


def test_dispatch_post_is_never_retried_on_5xx(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/repos/acme/a/dispatches", (502, {}, {"message": "bad gateway"}),
            (204, {}, None))
    forge = make_forge()
    with pytest.raises(AmbiguousDispatchError) as info:
        forge.dispatch("acme/a", "built", {"tako": {}})
    assert len(hub.calls("POST", "/repos/acme/a/dispatches")) == 1
    assert "look for its run" in info.value.hint
    assert forge.ledger.calls["dispatch"] == 1 and not forge.ledger.retries


def test_dispatch_connection_drop_is_ambiguous_and_sent_once(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/repos/acme/a/dispatches", "drop", (204, {}, None))
    forge = make_forge()
    with pytest.raises(AmbiguousDispatchError):
        forge.dispatch("acme/a", "built", {"tako": {}})
    assert len(hub.calls("POST", "/repos/acme/a/dispatches")) == 1


def test_dispatch_timeout_is_ambiguous(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/repos/acme/a/dispatches", ("sleep", 1.5, (204, {}, None)))
    forge = make_forge(timeout=1)
    with pytest.raises(AmbiguousDispatchError):
        forge.dispatch("acme/a", "built", {"tako": {}})
    assert len(hub.calls("POST", "/repos/acme/a/dispatches")) == 1


def test_slow_get_times_out_and_is_retried(hub: FakeHub, make_forge, sleeps) -> None:
    hub.add("GET", RUNS_PATH, ("sleep", 1.5, (200, {}, RUNS)), (200, {}, RUNS))
    forge = make_forge(timeout=1)
    assert [r.id for r in forge.list_runs("acme/a").runs] == [7]
    assert len(hub.calls("GET", RUNS_PATH)) == 2
    assert forge.ledger.retries["poll"] == 1 and len(sleeps) == 1


def test_dispatch_sends_the_documented_body_and_user_agent(hub: FakeHub, make_forge) -> None:
    hub.add("POST", "/repos/acme/a/dispatches", (204, {}, None))
    forge = make_forge()
    forge.dispatch("acme/a", "built", {"tako": {"id": "d1"}})
    (call,) = hub.calls("POST", "/repos/acme/a/dispatches")
    assert call["body"] == {"event_type": "built", "client_payload": {"tako": {"id": "d1"}}}
    assert call["headers"]["user-agent"].startswith("tako-gha/")
    assert call["headers"]["authorization"] == "token " + "ghp_" + "s3cret" * 6


@pytest.mark.parametrize("status,exc", [(404, NotFoundError), (403, AuthError),
                                        (422, ValidationError), (401, AuthError)])
def test_dispatch_refusals_map_to_errors_with_hints(hub: FakeHub, make_forge, status: int,
                                                    exc: type) -> None:
    hub.add("POST", "/repos/acme/a/dispatches", (status, {}, {"message": "nope"}))
    with pytest.raises(exc) as info:
        make_forge().dispatch("acme/a", "built", {})
    assert info.value.hint
    if status == 403:
        assert "Contents: write" in info.value.hint
    assert len(hub.calls("POST", "/repos/acme/a/dispatches")) == 1


def test_oversize_dispatch_is_refused_before_sending(hub: FakeHub, make_forge) -> None:
    forge = make_forge()
    with pytest.raises(ValidationError, match="11 top-level keys"):
        forge.dispatch("acme/a", "built", {f"k{i}": i for i in range(11)})
    with pytest.raises(ValidationError, match="bytes"):
        forge.dispatch("acme/a", "built", {"big": "x" * 70_000})
    with pytest.raises(ValidationError, match="1-100 characters"):
        forge.dispatch("acme/a", "e" * 101, {})
    assert hub.log == []


def test_secondary_limit_with_retry_after_waits_exactly_that(hub: FakeHub, make_forge,
                                                             sleeps) -> None:
    hub.add("GET", RUNS_PATH, (429, {"retry-after": "3"}, {"message": "slow down"}),
            (200, {}, RUNS))
    waits: list[WaitEvent] = []
    forge = make_forge()
    forge.on_wait = waits.append
    forge.list_runs("acme/a")
    assert sleeps == [3.0] and forge.on_wait == waits.append
    assert waits[0].reason == "secondary-limit" and waits[0].path == RUNS_PATH
    assert forge.ledger.retries["poll"] == 1


def test_secondary_403_without_retry_after_waits_the_configurable_floor(hub: FakeHub,
                                                                        make_forge,
                                                                        sleeps) -> None:
    msg = {"message": "You have exceeded a secondary rate limit. Please wait a few minutes "
                      "before you try again."}
    hub.add("GET", RUNS_PATH, (403, {}, msg), (403, {}, msg), (200, {}, RUNS))
    forge = make_forge(policy=RetryPolicy(jitter=False, secondary_min_wait=0.5))
    forge.list_runs("acme/a")
    assert sleeps == [0.5, 1.0]  # floor, then exponential


def test_secondary_limit_is_retried_for_a_dispatch_too(hub: FakeHub, make_forge,
                                                       sleeps) -> None:
    # A rate-limit refusal was not processed by GitHub: sending again is not a duplicate.
    hub.add("POST", "/repos/acme/a/dispatches",
            (403, {"retry-after": "2"}, {"message": "You have exceeded a secondary rate limit"}),
            (204, {}, None))
    forge = make_forge()
    forge.dispatch("acme/a", "built", {})
    assert len(hub.calls("POST", "/repos/acme/a/dispatches")) == 2
    assert sleeps == [2.0]
    assert forge.ledger.retries["dispatch"] == 1


def test_persistent_secondary_limit_stops_with_a_clear_error(hub: FakeHub, make_forge) -> None:
    hub.add("GET", RUNS_PATH, (429, {"retry-after": "1"}, {"message": "slow down"}))
    forge = make_forge(policy=RetryPolicy(jitter=False, max_secondary_retries=2))
    with pytest.raises(RateLimitError, match=r"secondary rate limit refused GET .* 3 time"):
        forge.list_runs("acme/a")
    assert len(hub.calls("GET", RUNS_PATH)) == 3


def test_primary_exhaustion_waits_for_reset_when_it_fits(hub: FakeHub, make_forge,
                                                         sleeps) -> None:
    reset = int(time.time()) + 5
    hub.add("GET", RUNS_PATH,
            (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
             {"message": "API rate limit exceeded for user."}),
            (200, {}, RUNS))
    forge = make_forge()
    forge.list_runs("acme/a")
    assert len(sleeps) == 1 and 3.0 <= sleeps[0] <= 7.0
    assert forge.ledger.retries["poll"] == 1


def test_primary_exhaustion_past_the_deadline_raises(hub: FakeHub, make_forge, sleeps) -> None:
    reset = int(time.time()) + 600
    hub.add("GET", RUNS_PATH,
            (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
             {"message": "API rate limit exceeded"}))
    forge = make_forge()
    from datetime import datetime, timedelta, timezone
    forge.set_deadline(datetime.now(timezone.utc) + timedelta(minutes=5))
    with pytest.raises(RateLimitError) as info:
        forge.list_runs("acme/a")
    assert "past the deadline" in str(info.value)
    assert info.value.reset_at == reset
    assert sleeps == []


def test_primary_exhaustion_longer_than_max_wait_raises(hub: FakeHub, make_forge) -> None:
    reset = int(time.time()) + 3000
    hub.add("GET", RUNS_PATH,
            (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)},
             {"message": "API rate limit exceeded"}))
    forge = make_forge(policy=RetryPolicy(max_rate_wait=60))
    with pytest.raises(RateLimitError, match="longer than the allowed wait"):
        forge.list_runs("acme/a")


def test_plain_403_is_not_mistaken_for_a_rate_limit(hub: FakeHub, make_forge, sleeps) -> None:
    hub.add("GET", RUNS_PATH, (403, {}, {"message": "Resource not accessible by integration"}))
    with pytest.raises(AuthError) as info:
        make_forge().list_runs("acme/a")
    assert sleeps == [] and len(hub.calls("GET", RUNS_PATH)) == 1
    assert "Actions: read on acme/a" in info.value.hint  # what listing runs needs


def test_budget_is_taken_from_headers(hub: FakeHub, make_forge) -> None:
    hub.add("GET", RUNS_PATH, (200, {"x-ratelimit-remaining": "1234",
                                     "x-ratelimit-limit": "5000"}, RUNS))
    forge = make_forge()
    forge.list_runs("acme/a")
    assert (forge.ledger.rate_remaining, forge.ledger.rate_limit) == (1234, 5000)
    assert forge.rate_budget()[:2] == (1234, 5000)


def test_unreachable_host_is_a_clear_error(sleeps) -> None:
    from tako_gha.forge.base import ForgeError
    from tako_gha.forge.github import GitHubForge
    forge = GitHubForge("http://127.0.0.1:9", token="t", sleep=sleeps,
                        policy=RetryPolicy(max_retries=1, jitter=False))
    with pytest.raises(ForgeError, match="cannot reach the GitHub API"):
        forge.list_runs("acme/a")
    assert len(sleeps) == 1


def test_backoff_is_bounded_and_jittered() -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=8.0)
    for attempt in range(1, 12):
        wait = policy.backoff(attempt)
        cap = min(8.0, 2 ** (attempt - 1))
        assert cap / 2 <= wait <= cap
    assert len({policy.backoff(5) for _ in range(20)}) > 1
    floor = [RetryPolicy(jitter=False).backoff(n, 60.0) for n in (1, 2, 3)]
    assert floor == [60.0, 120.0, 240.0]


def test_writes_are_paced_but_graphql_queries_and_reads_are_not(hub: FakeHub, make_forge,
                                                                sleeps) -> None:
    hub.add("POST", "/repos/acme/a/dispatches", (204, {}, None))
    hub.add("POST", "/graphql", (200, {}, {"data": {}}))
    hub.add("GET", RUNS_PATH, (200, {}, RUNS))
    forge = make_forge(write_interval=5.0)
    for _ in range(3):
        forge.transport.request("other", "POST", "/graphql", body={"query": "{x}"}, safe=True)
        forge.list_runs("acme/a")
    assert sleeps == []
    forge.dispatch("acme/a", "e", {})
    forge.dispatch("acme/a", "e", {})
    assert len(sleeps) == 1 and 4.0 < sleeps[0] <= 5.0


def test_a_reset_that_does_not_reset_is_not_waited_forever(hub: FakeHub, make_forge,
                                                           sleeps) -> None:
    past = str(int(time.time()) - 30)  # a server whose reset is already over
    hub.add("GET", RUNS_PATH, (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": past},
                               {"message": "API rate limit exceeded"}))
    with pytest.raises(RateLimitError, match="still exhausted after 3 waits"):
        make_forge().list_runs("acme/a")
    assert sleeps == [1.0, 1.0, 1.0]
