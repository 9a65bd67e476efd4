"""A governor for GitHub's budgets while waiting on a tree.

GitHub limits a token twice: an hourly primary budget per resource (REST ``core``,
``graphql``; a ``304`` is free there) and secondary limits it applies per minute —
about 900 REST points (a read 1, a write 5) and 2,000 GraphQL points, at most 100
requests at once — whose refusals can get a token blocked if ignored. GitHub does
not say whether a ``304`` counts against the per-minute points, so every request
counts here. The forge's ledger counts each request it sends (retries and refusals
included) in a trailing minute; the governor reads it and shapes the next round:
how many repos it may list, how long to wait between run-state rounds, whether a
dispatch may go now. Budgets are kept below GitHub's (``SHARE``) so that the token's
other users and GitHub's undisclosed per-endpoint costs have room.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from tako_gha.forge.base import CostLedger

REST_PER_MINUTE = 900  # GitHub's secondary limit, REST points per minute
GRAPHQL_PER_MINUTE = 2000  # ... and GraphQL points per minute
SHARE = 0.8  # the part of those the engine spends
MAX_CONCURRENT = 100  # GitHub: requests in flight per token
WRITE_POINTS = 5
MINUTE = 60.0


@dataclass
class Governor:
    ledger: CostLedger
    epoch: Callable[[], float]  # the forge's clock (server time), epoch seconds
    reserve: float = 0.1  # of each primary budget, never spent on polling
    rest_per_minute: int = int(REST_PER_MINUTE * SHARE)
    graphql_per_minute: int = int(GRAPHQL_PER_MINUTE * SHARE)
    reason: str = ""  # why the last round was slowed ("" when it was not)
    kind: str = ""  # which budget slowed it: "listing", "status", "" (none)
    slowed: int = 0  # times the governor shaped a round

    # ------------------------------------------------------------ REST
    def rest_room(self) -> int:
        """REST points the next round may spend now (one per listing page)."""
        return max(0, self.rest_per_minute - self.ledger.points_last_minute("rest"))

    def write_wait(self) -> float:
        """Seconds until one more write (a dispatch: 5 points) fits in the minute."""
        return self.ledger.frees_in("rest", WRITE_POINTS, self.rest_per_minute)

    def listing_wait(self) -> float:
        return self.ledger.frees_in("rest", 1, self.rest_per_minute)

    # ------------------------------------------------------------ GraphQL
    def graphql_rate(self, horizon: float) -> tuple[float, str]:
        """GraphQL points per minute the budgets allow, and which budget decides:
        the per-minute share, or the primary budget above the reserve spread until
        its reset (or ``horizon`` seconds, the wait's own end, if sooner)."""
        rate, why = float(self.graphql_per_minute), (
            f"{self.graphql_per_minute} GraphQL points a minute (below GitHub's "
            f"{GRAPHQL_PER_MINUTE})")
        known = self.ledger.budgets.get("graphql")
        if known is None:
            return rate, why
        remaining, limit, reset = known
        spendable = remaining - self.reserve * limit
        until = horizon if reset is None else min(horizon, max(0.0, reset - self.epoch()))
        minutes = max(1.0, until / MINUTE)
        primary = max(0.0, spendable) / minutes
        if primary < rate:
            rate = primary
            why = (f"{max(0, int(spendable))} GraphQL points left above the reserve for "
                   f"the next {minutes:.0f} min")
        return rate, why

    def status_interval(self, batches: int, floor: float, horizon: float) -> float:
        """Seconds between run-state rounds of ``batches`` queries: ``floor``, or
        longer when the budgets cannot pay for ``batches`` every ``floor`` seconds."""
        if batches <= 0:
            return floor
        rate, why = self.graphql_rate(horizon)
        if rate <= 0:
            self._slow("status", f"run states wait: {why}")
            return MINUTE
        needed = MINUTE * batches / rate
        if needed <= floor:
            return floor
        self._slow("status", f"run states every {needed:.0f}s instead of {floor:.0f}s: {batches} "
                   f"queries a round, {why}")
        return needed

    def graphql_room(self) -> int:
        return max(0, self.graphql_per_minute - self.ledger.points_last_minute("graphql"))

    # ------------------------------------------------------------ shaping
    def shape_listing(self, wanted: int) -> int:
        """How many of ``wanted`` listings the round may send now."""
        room = self.rest_room()
        if wanted <= room:
            return wanted
        self._slow("listing", f"{wanted - room} of {wanted} repo listings wait for the next round: "
                   f"{self.rest_per_minute} REST points a minute (below GitHub's "
                   f"{REST_PER_MINUTE}), {self.rest_per_minute - room} spent in the last "
                   "minute")
        return room

    def shape_status(self, wanted: int) -> int:
        room = self.graphql_room()
        if wanted <= room:
            return wanted
        self._slow("status", f"{wanted - room} of {wanted} run-state queries wait for the next "
                   f"round: {self.graphql_per_minute} GraphQL points a minute")
        return room

    def _slow(self, kind: str, why: str) -> None:
        self.reason, self.kind = why, kind
        self.slowed += 1

    def begin_round(self) -> None:
        self.reason, self.kind = "", ""


def workers_for(tasks: int, limit: int) -> int:
    """Threads for a round of ``tasks`` requests: at most ``limit`` (and GitHub's
    concurrency cap), at least one, no more than there are tasks."""
    return max(1, min(tasks, limit, MAX_CONCURRENT))


def batches_of(count: int, size: int) -> int:
    return math.ceil(count / size) if count > 0 else 0
