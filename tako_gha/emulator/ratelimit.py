"""Primary budgets per token and resource, and GitHub's secondary limits
(content-creating requests per minute/hour, requests in flight per token)."""

from __future__ import annotations

import threading
import time
from collections import deque
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
                oldest = next(s for s in stamps if now - s < 60)
                return max(1, int(60 - (now - oldest)) + 1)
            if len(stamps) >= self.limits.content_per_hour:
                return max(1, int(3600 - (now - stamps[0])) + 1)
            stamps.append(now)
            return None

    def enter(self, key: str) -> bool:
        """One more request in flight for ``key``; False when over the concurrency cap."""
        with self._lock:
            count = self._in_flight.get(key, 0)
            if self.limits.enabled and count >= self.limits.concurrency:
                return False
            self._in_flight[key] = count + 1
            return True

    def leave(self, key: str) -> None:
        with self._lock:
            self._in_flight[key] = max(0, self._in_flight.get(key, 1) - 1)

    def reset(self) -> None:
        with self._lock:
            self._buckets.clear()
            self._content.clear()
