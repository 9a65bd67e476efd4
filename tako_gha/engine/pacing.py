"""Dispatch pacing under GitHub's content-creation limits (80/min, 500/h by default).

A sliding-window limiter rather than a refilling bucket: a bucket that starts full
lets ``capacity + rate`` requests through in the first window (160 in a minute for
80/min); counting the sends inside each trailing window never exceeds the limit.
"""

from __future__ import annotations

from collections import deque

from tako_gha.engine.clock import Clock

WINDOWS = (60.0, 3600.0)


class DispatchPacer:
    """``wait_time()`` says how long until one more dispatch is allowed;
    ``record()`` notes one that was sent. Time comes from the injected clock."""

    def __init__(self, clock: Clock, per_minute: int, per_hour: int) -> None:
        if per_minute < 1 or per_hour < 1:
            raise ValueError("dispatch rate limits must be at least 1")
        self._clock = clock
        self._limits = ((WINDOWS[0], per_minute), (WINDOWS[1], per_hour))
        # Only the last max(limit) sends can matter for any window.
        self._sent: deque[float] = deque(maxlen=max(per_minute, per_hour))
        self.total_waited = 0.0

    def wait_time(self) -> float:
        now = self._clock.monotonic()
        wait = 0.0
        sent = list(self._sent)
        for window, limit in self._limits:
            if len(sent) >= limit:
                # The send that must leave the window before another is allowed.
                oldest = sent[-limit]
                wait = max(wait, oldest + window - now)
        return max(0.0, wait)

    def record(self) -> None:
        self._sent.append(self._clock.monotonic())

    def acquire(self) -> None:
        """Block (via the clock) until a dispatch is allowed, then record it."""
        wait = self.wait_time()
        if wait > 0:
            self.total_waited += wait
            self._clock.sleep(wait)
        self.record()
