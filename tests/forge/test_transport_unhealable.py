"""Connection errors: what no retry can heal fails at once; the rest is retried for a
bounded time (tako_gha.forge.transport). Before: an invalid URL was retried six times
(about 25 s), a malformed host name was an internal error, and a refused connection
took as long."""

from __future__ import annotations

import socket
import time

import pytest
from fakehub import FakeHub

from tako_gha.forge.base import ForgeError
from tako_gha.forge.github import GitHubForge
from tako_gha.forge.transport import RetryPolicy, TransportUnreachable, TransportUnusable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("url", "why"), [
    ("http://exa mple.com", "the API URL is not a valid URL"),
    ("http://%zz", "the API URL is not a valid URL"),
    ("http://a..b", "the API URL is not a valid URL"),
    ("http://" + "a" * 70 + ".com", "the API URL is not a valid URL"),
    ("http://xn--", "'xn--' is not a valid host name"),
    ("http://-bad-.example", "'-bad-.example' is not a valid host name"),
    ("http://under_score.example", "'under_score.example' is not a valid host name"),
])
def test_a_url_no_retry_can_heal_fails_at_once(url: str, why: str, sleeps) -> None:
    forge = GitHubForge(url, token="t", sleep=sleeps, timeout=5)
    started = time.perf_counter()
    with pytest.raises(TransportUnusable) as info:
        forge.list_runs("acme/a")
    assert why in info.value.message and "check --api-url" in info.value.hint
    assert sleeps == []  # not a single retry
    # A dispatch fails the same way: nothing left the machine, so it is not ambiguous.
    with pytest.raises(TransportUnusable):
        forge.dispatch("acme/a", "e", {"k": 1})
    assert sleeps == [] and time.perf_counter() - started < 10


def test_a_tls_failure_is_not_retried(hub: FakeHub, sleeps) -> None:
    """https:// to a plain-HTTP server: the handshake fails, every time."""
    url = hub.base_url.replace("http://", "https://")
    forge = GitHubForge(url, token="t", sleep=sleeps, timeout=5)
    with pytest.raises(TransportUnusable) as info:
        forge.list_runs("acme/a")
    assert info.value.message.startswith("cannot use the GitHub API for "
                                         "/repos/acme/a/actions/runs: TLS failed (")
    assert sleeps == []


def test_a_refused_connection_is_retried_within_the_budget(sleeps) -> None:
    port = _closed_port()
    forge = GitHubForge(f"http://127.0.0.1:{port}", token="t", sleep=sleeps,
                        policy=RetryPolicy(max_retries=50, jitter=False))
    with pytest.raises(TransportUnreachable) as info:
        forge.list_runs("acme/a")
    assert not isinstance(info.value, TransportUnusable)
    assert "cannot reach the GitHub API" in info.value.message
    assert sleeps and sum(sleeps) <= RetryPolicy().connection_budget <= 10.0
    # A tighter budget: fewer, shorter waits.
    sleeps.clear()
    tight = GitHubForge(f"http://127.0.0.1:{port}", token="t", sleep=sleeps,
                        policy=RetryPolicy(jitter=False, connection_budget=1.5))
    with pytest.raises(TransportUnreachable):
        tight.list_runs("acme/a")
    assert sum(sleeps) <= 1.5 and len(sleeps) <= 2


def test_the_budget_holds_in_real_time() -> None:
    forge = GitHubForge(f"http://127.0.0.1:{_closed_port()}", token="t",
                        policy=RetryPolicy(connection_budget=1.0))
    started = time.perf_counter()
    with pytest.raises(ForgeError):
        forge.list_runs("acme/a")
    assert time.perf_counter() - started < 6.0  # 1 s budget, generous for a busy machine
