"""The one HTTP path to GitHub: retries, rate limits, ledger, server clock.

PyGithub's ``Requester`` does the wire work (auth headers, base URL, User-Agent,
GHES prefixes); it is built with ``retry=None`` so that it never retries by itself.
Every retry and every wait happens here, where it is counted in the ledger,
reported through ``on_wait`` and logged, instead of PyGithub sleeping silently.

Policy (GitHub's rate limits and their sources: docs/limits.md):
- safe requests (GET, GraphQL queries, cancel) are retried on 5xx, 408 and
  connection errors with exponential backoff and jitter, a bounded number of times;
  connection errors within ``connection_budget`` seconds in all (attempts and waits);
- a connection error that cannot heal (a URL that does not parse, an unsupported
  scheme, a TLS failure, a host name that is not a host name) is not retried at all:
  ``TransportUnusable`` at once, for every method (nothing was sent);
- unsafe requests (a dispatch POST) are never retried after an ambiguous failure:
  the caller gets the 5xx response or a ``TransportAmbiguous`` and decides;
- a rate-limit refusal (403/429 with ``retry-after``, a secondary-limit message, or
  ``x-ratelimit-remaining: 0``) was not processed by GitHub, so it is retried for
  every method after the wait GitHub asks for, as long as the wait fits
  ``max_rate_wait`` and the caller's ``deadline``; otherwise ``RateLimitError``.
"""

from __future__ import annotations

import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import requests
import urllib3

from tako_gha.forge.base import (
    CallKind,
    CostLedger,
    ForgeError,
    RateLimitError,
    request_points,
)

log = logging.getLogger("tako_gha.forge")

_MISSING = object()
SECONDARY_MARKERS = (
    "secondary rate limit",
    "please retry your request again later",
    "please wait a few minutes before you try again",
    "abuse detection",
)
PRIMARY_MARKERS = ("api rate limit exceeded", "rate limit exceeded")
MAX_PRIMARY_WAITS = 3
RETRYABLE_STATUSES = frozenset({408, 500, 502, 503, 504}) | frozenset(range(505, 600))


@dataclass
class RetryPolicy:
    """How hard the transport tries. All waits are in seconds."""

    max_retries: int = 5  # 5xx / connection errors on safe requests
    backoff_base: float = 1.0
    backoff_cap: float = 30.0
    secondary_min_wait: float = 60.0  # GitHub: wait at least a minute without retry-after
    max_secondary_retries: int = 5
    max_rate_wait: float = 900.0  # longest single wait for a primary-limit reset
    jitter: bool = True
    # Connection errors (refused, reset, timeouts, DNS) of one request stop being
    # retried once attempts and waits have taken this long: an API that is down or
    # a wrong --api-url is reported in seconds, not after a long backoff series.
    connection_budget: float = 10.0

    def backoff(self, attempt: int, floor: float = 0.0) -> float:
        """Wait before retry number ``attempt`` (1-based).

        Without ``floor``: exponential from ``backoff_base`` capped at ``backoff_cap``,
        with equal jitter (half fixed, half random) so clients do not retry in step.
        With ``floor`` (secondary limits): ``floor * 2**(attempt-1)`` plus up to 25 %
        jitter, never below the floor GitHub asks for.
        """
        if floor > 0:
            base = floor * (2 ** (attempt - 1))
            return base + (random.uniform(0, base / 4) if self.jitter else 0.0)
        base = min(self.backoff_cap, self.backoff_base * (2 ** (attempt - 1)))
        return base / 2 + random.uniform(0, base / 2) if self.jitter else base


@dataclass(frozen=True)
class WaitEvent:
    """A visible wait: why, how long, for which request (path only, never headers)."""

    reason: str  # "server-error" | "connection" | "secondary-limit" | "primary-limit"
    seconds: float
    path: str
    attempt: int


@dataclass
class _Tries:
    """What one logical request has used so far (each bounded by the policy)."""

    attempt: int = 0  # HTTP attempts made
    errors: int = 0  # 5xx/connection retries used
    limited: int = 0  # secondary-limit retries used
    exhausted: int = 0  # primary-limit waits used (a reset that does not reset ends it)
    spent: float = 0.0  # seconds of connection-error attempts and their waits


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    text: str
    _parsed: Any = field(default=_MISSING, repr=False)

    def json(self) -> Any:
        if self._parsed is _MISSING:
            try:
                self._parsed = json.loads(self.text) if self.text else None
            except ValueError:
                self._parsed = None
        return self._parsed

    @property
    def message(self) -> str:
        data = self.json()
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            return data["message"]
        return ""


class TransportAmbiguous(Exception):
    """An unsafe request failed without an answer (timeout, reset): it may have been
    delivered. Carries only a description, never request headers."""


class TransportUnreachable(ForgeError):
    """The API host could not be reached at all (connection refused, DNS)."""


class TransportUnusable(TransportUnreachable):
    """A connection error no retry can heal: invalid URL or host, TLS failure."""


Sender = Callable[[str, str, dict[str, Any] | None, dict[str, str], Any], tuple[int, dict, str]]


def _header_int(headers: dict[str, str], name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(float(value))
    except ValueError:
        return None


def is_secondary_limit(status: int, headers: dict[str, str], message: str) -> bool:
    if status not in (403, 429):
        return False
    lowered = message.lower()
    return "retry-after" in headers or any(m in lowered for m in SECONDARY_MARKERS)


def is_primary_limit(status: int, headers: dict[str, str], message: str) -> bool:
    if status not in (403, 429):
        return False
    if _header_int(headers, "x-ratelimit-remaining") == 0:
        return True
    lowered = message.lower()
    return any(lowered.startswith(m) for m in PRIMARY_MARKERS)


def _graphql_errors(resp: Response) -> list[dict[str, Any]]:
    if resp.status != 200 or not resp.text.startswith("{"):
        return []
    data = resp.json()
    errors = data.get("errors") if isinstance(data, dict) else None
    return [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []


def graphql_rate_limited(resp: Response) -> bool:
    """GraphQL reports an exhausted primary limit as HTTP 200 with an error body."""
    return any(str(e.get("type", "")).upper() == "RATE_LIMITED" for e in _graphql_errors(resp))


def graphql_secondary_limited(resp: Response) -> bool:
    """...and a secondary limit as 403, or as 200 with the secondary-limit message."""
    return any(any(m in str(e.get("message", "")).lower() for m in SECONDARY_MARKERS)
               for e in _graphql_errors(resp))


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the request certainly never left (refused / DNS / connect timeout)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    text = repr(exc)
    return "NewConnectionError" in text or "NameResolutionError" in text


# A DNS name as RFC 1123 allows it (letters, digits, inner hyphens; labels of 1-63).
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_UNRESOLVED = re.compile(r"Failed to resolve '([^']*)'")


def _is_host_name(host: str) -> bool:
    labels = host.rstrip(".").split(".")
    return 0 < len(host) <= 253 and all(_LABEL.fullmatch(label) for label in labels)


def unhealable(exc: BaseException) -> str | None:
    """Why retrying ``exc`` cannot help (the URL, the scheme, TLS, a malformed host
    name), or None for an error that may pass (refused, reset, timeout)."""
    if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                        urllib3.exceptions.LocationValueError)):
        return "the API URL is not a valid URL"
    if isinstance(exc, requests.exceptions.InvalidSchema):
        return "the API URL's scheme is not http or https"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS failed ({_tls_reason(exc)})"
    unresolved = _UNRESOLVED.search(str(exc))
    if unresolved and not _is_host_name(unresolved.group(1)):
        return f"{unresolved.group(1)!r} is not a valid host name"
    return None


def _tls_reason(exc: BaseException) -> str:
    """The TLS library's own words (certificate verify failed, wrong version
    number...), without the connection-pool wrapping around them."""
    text = str(exc)
    found = re.search(r"\[SSL[^\]]*\]\s*([^(')\]]+)", text) or re.search(
        r"(certificate verify failed[^')]*|wrong version number|"
        r"hostname '[^']*' doesn't match[^')]*)", text)
    reason = (found.group(1) if found else type(exc).__name__).strip(" :")
    return reason[:160]


class Transport:
    """Sends requests through a PyGithub requester with this module's policy.

    Not thread-safe by design (PyGithub is not); a lock serialises callers that
    share one anyway, which is also what GitHub asks (serial requests).
    """

    def __init__(
        self,
        send: Sender,
        ledger: CostLedger,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        on_wait: Callable[[WaitEvent], None] | None = None,
        write_interval: float = 0.0,
    ) -> None:
        self._send = send
        # GitHub asks for >= 1 s between mutating requests (secondary limits)
        self.write_interval = write_interval
        self._last_write = float("-inf")
        self.ledger = ledger
        self.policy = policy or RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self.on_wait = on_wait
        self.deadline: float | None = None  # epoch seconds; waits must end before it
        self.budgets: dict[str, tuple[int, int, int | None]] = {}  # resource -> (rem, lim, reset)
        self.skew = timedelta(0)  # server clock minus local clock
        self.last_scopes: str | None = None  # x-oauth-scopes of the last response
        self._lock = threading.RLock()

    # ------------------------------------------------------------ clock
    def now(self) -> datetime:
        return datetime.fromtimestamp(self._clock(), timezone.utc) + self.skew

    def _observe(self, headers: dict[str, str]) -> None:
        date = headers.get("date")
        if date:
            try:
                server = parsedate_to_datetime(date)
                if server.tzinfo is None:
                    server = server.replace(tzinfo=timezone.utc)
                local = datetime.fromtimestamp(self._clock(), timezone.utc)
                skew = server - local
                # Date has one-second resolution: ignore sub-second noise.
                self.skew = skew if abs(skew.total_seconds()) >= 1.5 else timedelta(0)
            except (TypeError, ValueError, IndexError):
                pass
        if "x-oauth-scopes" in headers:
            self.last_scopes = headers["x-oauth-scopes"]
        remaining = _header_int(headers, "x-ratelimit-remaining")
        limit = _header_int(headers, "x-ratelimit-limit")
        if remaining is None or limit is None:
            return
        resource = headers.get("x-ratelimit-resource", "core")
        reset = _header_int(headers, "x-ratelimit-reset")
        self.budgets[resource] = (remaining, limit, reset)
        # The ledger reports the REST (core) budget, which polling spends; another
        # bucket is shown only until a core answer arrives. It keeps every bucket too.
        self.ledger.budget(remaining, limit, resource, reset)

    def server_epoch(self) -> float:
        return self._clock() + self.skew.total_seconds()

    # ------------------------------------------------------------ waits
    def _wait(self, reason: str, seconds: float, path: str, attempt: int) -> None:
        seconds = max(0.0, seconds)
        event = WaitEvent(reason, round(seconds, 3), path, attempt)
        log.info("waiting %.1fs before retrying %s (%s, attempt %d)", seconds, path, reason,
                 attempt)
        if self.on_wait is not None:
            self.on_wait(event)
        with self.ledger._lock:  # the ledger's own lock: it is shared with reporters
            self.ledger.waited_seconds += seconds
            if reason == "secondary-limit":
                self.ledger.secondary_refusals += 1
        if seconds:
            self._sleep(seconds)

    def _check_deadline(self, seconds: float, what: str, reset_at: float | None) -> None:
        if self.deadline is not None and self._clock() + seconds > self.deadline:
            raise self._rate_error(what, seconds, reset_at, "past the deadline")
        if seconds > self.policy.max_rate_wait:
            raise self._rate_error(what, seconds, reset_at, "longer than the allowed wait "
                                   f"({self.policy.max_rate_wait:.0f}s)")

    def _rate_error(self, what: str, seconds: float, reset_at: float | None,
                    why: str) -> RateLimitError:
        when = ""
        if reset_at is not None:
            when = " at " + datetime.fromtimestamp(reset_at, timezone.utc).strftime(
                "%H:%M:%S UTC")
        return RateLimitError(
            f"GitHub {what}; the next request is allowed{when} (in {seconds:.0f}s), {why}",
            reset_at=reset_at,
            hint="wait for the reset, allow a longer timeout, or use a token with its own "
                 "budget (a GitHub App installation gets up to 12,500 requests/hour)",
        )

    def _rate_wait(self, resp: Response) -> tuple[str, float, float | None] | None:
        """(reason, seconds, reset_at) if ``resp`` is a rate-limit refusal, else None."""
        headers, message = resp.headers, resp.message
        retry_after = _header_int(headers, "retry-after")
        if graphql_rate_limited(resp) or is_primary_limit(resp.status, headers, message):
            if retry_after is not None:
                return "primary-limit", float(retry_after), None
            reset = _header_int(headers, "x-ratelimit-reset")
            if reset is not None:
                # reset is server epoch; +1 s because GitHub's reset is inclusive
                return "primary-limit", float(reset) - self.server_epoch() + 1.0, float(reset)
            return "primary-limit", self.policy.secondary_min_wait, None
        if (is_secondary_limit(resp.status, headers, message) or resp.status == 429
                or graphql_secondary_limited(resp)):
            if retry_after is not None:
                return "secondary-limit", float(retry_after), None
            return "secondary-limit", -1.0, None  # caller computes backoff
        return None

    def _pace_write(self) -> None:
        gap = self._last_write + self.write_interval - time.monotonic()
        if gap > 0:
            log.debug("pacing writes: %.2fs before the next one", gap)
            self._sleep(gap)
        self._last_write = time.monotonic()

    # ------------------------------------------------------------ connection errors
    def _connection_retry(self, exc: BaseException, safe: bool, errors: int, spent: float,
                          path: str) -> float | None:
        """The wait before retrying after a connection error, or None to give up:
        never for an error that cannot heal or an unsafe request that may have been
        delivered; else within ``max_retries`` and ``connection_budget``."""
        if unhealable(exc) is not None or not safe or errors >= self.policy.max_retries:
            return None
        left = self.policy.connection_budget - spent
        if left <= 0:
            log.info("no retry of %s: connection errors took %.1fs already", path, spent)
            return None
        return min(self.policy.backoff(errors + 1), left)

    def _connection_error(self, exc: BaseException, verb: str, path: str, safe: bool,
                          attempt: int) -> Exception:
        why = unhealable(exc)
        if why is not None:
            return TransportUnusable(
                f"cannot use the GitHub API for {path}: {why}",
                hint="check --api-url / GITHUB_API_URL (e.g. https://api.github.com, or "
                     "https://HOST/api/v3 for GitHub Enterprise Server)")
        tries = f" ({attempt} attempts)" if attempt > 1 else ""
        if _is_connect_failure(exc):
            return TransportUnreachable(
                f"cannot reach the GitHub API for {path}: {type(exc).__name__}{tries}",
                hint="check --api-url / GITHUB_API_URL and the network")
        if not safe:
            return TransportAmbiguous(f"{verb} {path}: no answer ({type(exc).__name__})")
        return ForgeError(
            f"GitHub API request {verb} {path} failed after {attempt} attempts: "
            f"{type(exc).__name__}",
            hint="the API host is unreachable or too slow; try again later")

    # ------------------------------------------------------------ request
    def request(
        self,
        kind: CallKind,
        verb: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
        safe: bool,
        write: bool | None = None,
    ) -> Response:
        """One logical request; returns the final response (any status).

        ``safe`` requests are retried on 5xx/connection errors; unsafe ones raise
        ``TransportAmbiguous`` on a lost answer and return a 5xx as is. ``write``
        (default: a non-GET that is not a GraphQL query) paces mutations
        ``write_interval`` apart.
        """
        if write is None:  # GraphQL queries are POSTs but not mutations
            write = verb not in ("GET", "HEAD") and not url.split("?", 1)[0].endswith("/graphql")
        with self._lock:
            if write:
                self._pace_write()
            return self._request(kind, verb, url, params, headers, body, safe)

    def _request(self, kind: CallKind, verb: str, url: str, params: dict[str, Any] | None,
                 headers: dict[str, str] | None, body: Any, safe: bool) -> Response:
        path = url.split("?", 1)[0]
        # Every attempt is counted against the per-minute budgets, refusals included.
        resource = "graphql" if path.endswith("/graphql") else "rest"
        points = request_points(verb, resource)
        tries = _Tries()
        while True:
            retry = tries.attempt > 0
            tries.attempt += 1
            began = time.monotonic()
            try:
                # a fresh header dict each time: the requester adds auth to it
                status, raw_headers, text = self._send(verb, url, params, dict(headers or {}),
                                                       body)
            except (requests.exceptions.RequestException, OSError,
                    urllib3.exceptions.LocationValueError) as exc:
                self.ledger.record(kind, retry=retry, resource=resource, points=points)
                tries.spent += time.monotonic() - began
                wait = self._connection_retry(exc, safe, tries.errors, tries.spent, path)
                if wait is not None:
                    tries.errors += 1
                    tries.spent += wait
                    self._wait("connection", wait, path, tries.attempt)
                    continue
                raise self._connection_error(exc, verb, path, safe, tries.attempt) from None
            resp = Response(status, {k.lower(): str(v) for k, v in raw_headers.items()}, text)
            self._observe(resp.headers)
            self.ledger.record(kind, not_modified=status == 304, retry=retry,
                               resource=resource, points=points)
            pause = self._retry_wait(resp, tries, verb, path, safe)
            if pause is None:
                return resp
            self._wait(pause[0], pause[1], path, tries.attempt)

    def _retry_wait(self, resp: Response, tries: _Tries, verb: str, path: str,
                    safe: bool) -> tuple[str, float] | None:
        """Why and how long to wait before trying ``resp``'s request again; None: it is
        the answer. Raises when a limit's retries are used up."""
        rate = self._rate_wait(resp)
        if rate is not None:
            return self._rate_limit_wait(rate, tries, verb, path)
        if resp.status in RETRYABLE_STATUSES and safe and tries.errors < self.policy.max_retries:
            tries.errors += 1
            retry_after = _header_int(resp.headers, "retry-after")
            # honour a server's retry-after, but a 5xx never parks us for long
            wait = self.policy.backoff(tries.errors) if retry_after is None else min(
                float(retry_after), 60.0)
            return "server-error", wait
        return None

    def _rate_limit_wait(self, rate: tuple[str, float, float | None], tries: _Tries,
                         verb: str, path: str) -> tuple[str, float]:
        reason, seconds, reset_at = rate
        if reason == "secondary-limit":
            if tries.limited >= self.policy.max_secondary_retries:
                raise RateLimitError(
                    f"GitHub's secondary rate limit refused {verb} {path} "
                    f"{tries.limited + 1} time(s) in a row; stopped instead of waiting more",
                    hint="make fewer requests at once (lower --concurrency) and try "
                         "again in a few minutes")
            tries.limited += 1
            if seconds < 0:
                seconds = self.policy.backoff(tries.limited, self.policy.secondary_min_wait)
            self._check_deadline(seconds, "secondary rate limit hit", reset_at)
        else:
            tries.exhausted += 1
            if tries.exhausted > MAX_PRIMARY_WAITS:
                raise RateLimitError(
                    f"GitHub's API rate limit was still exhausted after {tries.exhausted - 1} "
                    f"waits for its reset ({verb} {path})", reset_at=reset_at,
                    hint="check the machine's clock, or wait and try again")
            # a reset already past (clock skew) still gets a short pause
            seconds = max(seconds, 1.0)
            self._check_deadline(seconds, "API rate limit exhausted", reset_at)
        return reason, seconds
