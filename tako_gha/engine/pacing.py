"""Dispatch pacing under GitHub's content-creation limits (80/min, 500/h by default).

A sliding-window limiter rather than a refilling bucket: a bucket that starts full
lets ``capacity + rate`` requests through in the first window (160 in a minute for
80/min); counting the sends inside each trailing window never exceeds the limit.

A fan-out inside a cascade may be handed less than one dispatch a minute (its part
of the token's budget, ``core.budget``): a rate ``r`` below a whole number per
window becomes ``floor(r)`` sends (at least one) per a proportionally longer window,
so the average never passes ``r``.
"""

from __future__ import annotations

import math
from collections import deque

from tako_gha.engine.clock import Clock

WINDOWS = (60.0, 3600.0)
MAX_REMEMBERED = 100_000  # sends; a window never needs more than its limit


def window_for(base: float, rate: float) -> tuple[float, int]:
    """(window seconds, sends allowed in it) for ``rate`` sends per ``base`` seconds."""
    limit = max(1, math.floor(rate))
    return base * limit / rate, limit


class DispatchPacer:
    """``wait_time()`` says how long until one more dispatch is allowed;
    ``record()`` notes one that was sent. Time comes from the injected clock."""

    def __init__(self, clock: Clock, per_minute: float, per_hour: float) -> None:
        self._clock = clock
        self._sent: deque[float] = deque()
        self.total_waited = 0.0
        self.set_rates(per_minute, per_hour)

    def set_rates(self, per_minute: float, per_hour: float) -> None:
        """New rates (a budget grew back or was halved); past sends still count."""
        if not per_minute > 0 or not per_hour > 0:
            raise ValueError("dispatch rate limits must be positive")
        self._limits = (window_for(WINDOWS[0], per_minute), window_for(WINDOWS[1], per_hour))
        keep = min(MAX_REMEMBERED, max(limit for _, limit in self._limits))
        self._sent = deque(self._sent, maxlen=keep)

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

    def record(self, back: float = 0.0) -> None:
        """Note a send, as if made ``back`` seconds ago (a slotted write counts from
        its slot's instant)."""
        self._sent.append(self._clock.monotonic() - max(0.0, back))

    def acquire(self) -> None:
        """Block (via the clock) until a dispatch is allowed, then record it."""
        wait = self.wait_time()
        if wait > 0:
            self.total_waited += wait
            self._clock.sleep(wait)
        self.record()
