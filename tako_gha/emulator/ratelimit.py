"""Primary budgets per token and resource, and GitHub's secondary limits
(content-creating requests per minute/hour, requests in flight per token, points
per minute for REST and for GraphQL)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from dataclasses import dataclass

from tako_gha.emulator.settings import Limits

PRIMARY_MESSAGE = (
    "API rate limit exceeded for {who}. (But here's the good news: Authenticated requests "
    "get a higher rate limit. Check out the documentation for more details.)"
)
SECONDARY_MESSAGE = (
    "You have exceeded a secondary rate limit. Please wait a few minutes before you try "
    "again. If you reach out to GitHub Support for help, please include the request ID."
)
RATE_DOCS = "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"


@dataclass
class Bucket:
    limit: int
    used: int
    reset_at: float  # epoch seconds (real clock)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)


class RateLimiter:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str], Bucket] = {}
        self._content: dict[str, deque[float]] = {}
        self._in_flight: dict[str, int] = {}
        self._points: dict[tuple[str, str], deque[tuple[float, int]]] = {}
        self._points_sum: dict[tuple[str, str], int] = {}
        self.refusals: Counter[str] = Counter()  # secondary refusals by reason
        # per token (rate key), whoever sends it: requests, refusals, and the highest
        # points any trailing minute held — one ledger per token across every client
        self.requests: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()
        self.peaks: Counter[tuple[str, str]] = Counter()

    # -- points per minute (secondary) ------------------------------------------------
    def points_limit(self, resource: str) -> int:
        limits = self.limits
        return (limits.graphql_points_per_minute if resource == "graphql"
                else limits.rest_points_per_minute)

    def _window(self, key: tuple[str, str], now: float) -> int:
        """Points spent in the trailing minute (caller holds the lock)."""
        stamps = self._points.setdefault(key, deque())
        total = self._points_sum.get(key, 0)
        while stamps and now - stamps[0][0] >= 60:
            total -= stamps.popleft()[1]
        self._points_sum[key] = total
        return total

    def points_retry_after(self, key: str, resource: str, cost: int) -> int | None:
        """Seconds to wait when ``cost`` more points would pass the per-minute budget
        of ``resource`` (a refusal, counted); None when the request may go ahead — its
        points are then held at once, under the same lock as the check, so requests
        admitted together can never pass the limit between them. ``settle_points``
        keeps them for an answered request or gives them back (a refused one, a free
        304): only answered requests are charged."""
        if not self.limits.enabled:
            return None
        now = time.monotonic()
        slot = (key, "graphql" if resource == "graphql" else "rest")
        with self._lock:
            spent = self._window(slot, now)
            if spent + cost <= self.points_limit(slot[1]):
                self._points[slot].append((now, cost))
                self._points_sum[slot] = spent + cost
                self.peaks[slot] = max(self.peaks[slot], spent + cost)
                return None
            self.refusals[f"{slot[1]}_points"] += 1
            self.refused[key] += 1
            # the minute frees up as the oldest stamps leave the window
            freed, wait = spent + cost - self.points_limit(slot[1]), 60.0
            for stamp, points in self._points[slot]:
                freed -= points
                if freed <= 0:
                    wait = 60 - (now - stamp)
                    break
            return max(1, int(wait) + 1)

    def settle_points(self, key: str, resource: str, cost: int, *, charged: bool) -> None:
        """The answer to a request whose points were held: kept when ``charged``, else
        given back (the newest hold of that size: holds of one size differ only by
        the milliseconds of their answers)."""
        if not self.limits.enabled or charged:
            return
        slot = (key, "graphql" if resource == "graphql" else "rest")
        with self._lock:
            stamps = self._points.get(slot)
            if not stamps:
                return  # already out of the window
            for index in range(len(stamps) - 1, -1, -1):
                if stamps[index][1] == cost:
                    del stamps[index]
                    self._points_sum[slot] -= cost
                    return

    def points_used(self, key: str, resource: str) -> int:
        """Points ``key`` spent on ``resource`` in the trailing minute."""
        slot = (key, "graphql" if resource == "graphql" else "rest")
        with self._lock:
            return self._window(slot, time.monotonic())

    def bucket(self, key: str, resource: str, limit: int) -> Bucket:
        """The live bucket (a fresh window once the old one has reset)."""
        now = time.time()
        with self._lock:
            found = self._buckets.get((key, resource))
            if found is None or now >= found.reset_at:
                found = Bucket(limit, 0, now + self.limits.window)
                self._buckets[(key, resource)] = found
            found.limit = limit  # budgets may change at run time (faults)
            return found

    def charge(self, bucket: Bucket, cost: int = 1) -> None:
        with self._lock:
            bucket.used += cost

    def exhausted(self, bucket: Bucket) -> bool:
        return self.limits.enabled and bucket.used >= bucket.limit

    def content_retry_after(self, key: str) -> int | None:
        """Record one content-creating request; seconds to wait if over the limit."""
        if not self.limits.enabled:
            return None
        now = time.monotonic()
        with self._lock:
            stamps = self._content.setdefault(key, deque())
            while stamps and now - stamps[0] >= 3600:
                stamps.popleft()
            last_minute = sum(1 for s in stamps if now - s < 60)
            if last_minute >= self.limits.content_per_minute:
                self.refusals["content"] += 1
                self.refused[key] += 1
                oldest = next(s for s in stamps if now - s < 60)
                return max(1, int(60 - (now - oldest)) + 1)
            if len(stamps) >= self.limits.content_per_hour:
                self.refusals["content"] += 1
                self.refused[key] += 1
                return max(1, int(3600 - (now - stamps[0])) + 1)
            stamps.append(now)
            return None

    def enter(self, key: str) -> bool:
        """One more request in flight for ``key``; False when over the concurrency cap."""
        with self._lock:
            self.requests[key] += 1
            count = self._in_flight.get(key, 0)
            if self.limits.enabled and count >= self.limits.concurrency:
                self.refusals["concurrency"] += 1
                self.refused[key] += 1
                return False
            self._in_flight[key] = count + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 1) - 1)

    def token_stats(self) -> dict[str, dict[str, int]]:
        """Per token, over every client that sent it: requests, secondary refusals, and
        the peak REST and GraphQL points of any trailing minute."""
        with self._lock:
            keys = set(self.requests) | set(self.refused) | {k for k, _ in self.peaks}
            return {key: {"requests": self.requests[key], "refusals": self.refused[key],
                          "peak_rest": self.peaks[(key, "rest")],
                          "peak_graphql": self.peaks[(key, "graphql")]}
                    for key in sorted(keys)}

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._content.clear()
            self._points.clear()
            self._points_sum.clear()
