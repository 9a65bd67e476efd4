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

Inside a cascade the per-minute budgets are this process's part of the token's
(``core.budget``): what its parent handed down, less what it hands to its own
children, plus what comes back as they finish (``give_back``). A secondary-limit
refusal seen by this process (the forge counts them in its ledger) halves its budget
at once (``refusals_seen``, ``halvings``): the others on the token are not slowed by
its mistake, and it stops adding to the excess.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from tako_gha.core.budget import GITHUB_CONCURRENT as MAX_CONCURRENT
from tako_gha.core.budget import GITHUB_GRAPHQL_PER_MINUTE as GRAPHQL_PER_MINUTE
from tako_gha.core.budget import GITHUB_REST_PER_MINUTE as REST_PER_MINUTE
from tako_gha.core.budget import SHARE, Budget, Slot
from tako_gha.forge.base import CostLedger

__all__ = ["GRAPHQL_PER_MINUTE", "MAX_CONCURRENT", "REST_PER_MINUTE", "SHARE", "Governor"]

WRITE_POINTS = 5
MINUTE = 60.0
# Run-state rounds slow down past 2 batches (200 runs in flight), to at most 4 times
# the status interval (32 s by default): beyond 200 runs in flight, state reads cost
# about 15 queries a minute however large the tree.
STATUS_STRETCH_FROM, STATUS_STRETCH_MAX = 2, 4.0
# A slotted write may go this late after its instant (a share of the period, and at
# most a few seconds: with hundreds of slotted siblings, instants are a second apart).
SLOT_GRACE, SLOT_GRACE_SECONDS = 0.25, 5.0


@dataclass
class Governor:
    ledger: CostLedger
    epoch: Callable[[], float]  # the forge's clock (server time), epoch seconds
    reserve: float = 0.1  # of each primary budget, never spent on polling
    budget: Budget = field(default_factory=lambda: Budget.root(80, 500))
    reason: str = ""  # why the last round was slowed ("" when it was not)
    kind: str = ""  # which budget slowed it: "listing", "status", "" (none)
    slowed: int = 0  # times the governor shaped a round
    refusals_seen: int = 0  # secondary-limit refusals this process saw
    halvings: int = 0  # times its budget was halved for them
    returned: int = 0  # children whose budget came back
    on_change: Callable[[str], None] | None = None  # told when the budget is halved
    version: int = 0  # counts budget changes (the pacer follows them)
    slot: Slot | None = None  # where in each write period its writes fall (handed down)

    def __post_init__(self) -> None:
        self._seen = self.ledger.secondary_refusals
        self.granted = self.budget  # what it is entitled to; ``budget`` is what it spends
        self._halved_at: float | None = None
        self._refused_at: float | None = None
        self._grown_at: float | None = None
        self._slot_used: float | None = None  # the last slot instant written in (epoch)

    # ------------------------------------------------------------ the budget
    @property
    def rest_per_minute(self) -> int:
        self.check_refusals()
        return max(1, int(self.budget.usable().rest))

    @property
    def graphql_per_minute(self) -> int:
        self.check_refusals()
        return max(1, int(self.budget.usable().graphql))

    @property
    def concurrent(self) -> int:
        return max(1, int(self.budget.usable().concurrent))

    def dispatch_rates(self) -> tuple[float, float]:
        """Dispatches a minute and an hour: the content-creation budget, and no more
        writes than the REST points pay for on average (5 points each)."""
        usable = self.budget.usable()
        return min(usable.per_minute, usable.rest / WRITE_POINTS), usable.per_hour

    def check_refusals(self) -> bool:
        """Halve the budget when the ledger counted new secondary-limit refusals since
        the last look — once a minute at most: GitHub counts by the minute, so the
        refusals that follow within it are the same excess draining away. True when
        it halved."""
        count = self.ledger.secondary_refusals
        now = self.ledger.clock()
        if count <= self._seen:
            self._recover(now)
            return False
        self.refusals_seen += count - self._seen
        self._seen = count
        self._refused_at = now
        if self._halved_at is not None and now - self._halved_at < MINUTE:
            return False
        self.budget = self.budget.halved()
        self._halved_at = now
        self.halvings += 1
        self.version += 1
        self._tell(f"GitHub's secondary limit refused a request: this process's share of "
                   f"the token's budget is halved to {self._describe()}")
        return True

    def _recover(self, now: float) -> None:
        """A whole minute without a refusal: the budget doubles back towards what this
        process is entitled to (never past it), a minute at a time."""
        if self.budget == self.granted or self._refused_at is None:
            return
        if now - max(self._refused_at, self._grown_at or self._refused_at) < MINUTE:
            return
        doubled = self.budget.plus(self.budget)
        self.budget = self.granted.minus(self.granted.minus(doubled))  # min(granted, 2x)
        self._grown_at = now  # the next doubling a minute later
        self.version += 1

    def hand_over(self, part: Budget) -> None:
        """A child was dispatched: the part its dispatch carried is its own now."""
        self.granted = self.granted.minus(part)
        self.budget = self.budget.minus(part)
        self.version += 1

    def give_back(self, part: Budget) -> None:
        """A child finished: the budget it was handed comes back to this process."""
        self.granted = self.granted.plus(part)
        self.budget = self.budget.plus(part)
        self.returned += 1
        self.version += 1

    def _describe(self) -> str:
        usable = self.budget.usable()
        return (f"{usable.rest:.0f} REST and {usable.graphql:.0f} GraphQL points a minute")

    def _tell(self, text: str) -> None:
        if self.on_change is not None:
            self.on_change(text)

    def to_json(self) -> dict[str, object]:
        return {"budget": self.budget.to_json(), "refusals_seen": self.refusals_seen,
                "halvings": self.halvings, "children_returned": self.returned}

    # ------------------------------------------------------------ REST
    def rest_room(self) -> int:
        """REST points the next round may spend now (one per listing page)."""
        return max(0, self.rest_per_minute - self.ledger.points_last_minute("rest"))

    def write_wait(self) -> float:
        """Seconds until one more write (a dispatch: 5 points) fits in the minute. A
        budget below 5 points a minute lets one write into an otherwise quiet minute;
        the pacer spaces such writes out (``dispatch_rates``)."""
        return self.ledger.frees_in("rest", WRITE_POINTS,
                                    max(WRITE_POINTS, self.rest_per_minute))

    def handover_wait(self, part: Budget | None) -> float:
        """Seconds until a dispatch that hands ``part`` to its child may go: until this
        process's trailing minute holds no more than what it keeps. What it spent in
        the last minute was spent under a budget that still held the part; were the
        child to start spending it at once, the two would add up past what this
        process was handed (a dispatch is then paid from what stays here)."""
        if part is None or (part.rest <= 0 and part.graphql <= 0):
            # Nothing handed over. A slotted write's pace is its slot's (a write a
            # period, within its part on average): the reads that find its runs in
            # between must not push it off its instant (``slot_wait``'s grace).
            return 0.0 if self.write_period() is not None else self.write_wait()
        keep = self.budget.minus(part).usable()
        rest = max(WRITE_POINTS, int(keep.rest))
        wait = self.ledger.frees_in("rest", WRITE_POINTS, rest)
        if part.graphql > 0:
            wait = max(wait, self.ledger.frees_in("graphql", 0, max(1, int(keep.graphql))))
        return wait

    def write_period(self) -> float | None:
        """Seconds between two writes when slotted (``slot`` handed down and less than
        one write a minute to spend), else None: at a write a minute or more, a
        process's lumps are within its budget and need no place of their own."""
        if self.slot is None:
            return None
        rate = self.dispatch_rates()[0]
        return MINUTE / rate if 0 < rate < 1 else None

    def _instant(self) -> tuple[float, float, float] | None:
        """(now, the slot's latest instant at or before it, period) when slotted."""
        period = self.write_period()
        if period is None or self.slot is None:
            return None
        now = self.epoch()
        return now, self.slot.point(now, period), period

    def slot_wait(self) -> float:
        """Seconds until this process's next write instant (0 when it is now): the
        first instant of its slot not yet written in, if not more than ``SLOT_GRACE``
        of the period has passed since it (a write held back past it waits for the
        next one rather than fall where a sibling's does)."""
        instant = self._instant()
        if instant is None:
            return 0.0
        now, point, period = instant
        used = self._slot_used is not None and point <= self._slot_used + period / 2
        if not used and now - point <= min(SLOT_GRACE_SECONDS, period * SLOT_GRACE):
            return 0.0
        return max(0.0, point + period - now)

    def note_write(self) -> float:
        """A write went out: its slot instant is used. Returns how many seconds ago
        that instant was (the pacer counts the write from it, so that the next instant
        is never missed by the time a write takes to go out)."""
        instant = self._instant()
        if instant is None:
            return 0.0
        now, point, _ = instant
        self._slot_used = point
        return max(0.0, now - point)

    def listing_wait(self) -> float:
        return self.ledger.frees_in("rest", 1, self.rest_per_minute)

    # ------------------------------------------------------------ GraphQL
    def graphql_rate(self, horizon: float) -> tuple[float, str]:
        """GraphQL points per minute the budgets allow, and which budget decides:
        the per-minute share, or the primary budget above the reserve spread until
        its reset (or ``horizon`` seconds, the wait's own end, if sooner)."""
        per_minute = self.graphql_per_minute
        rate, why = float(per_minute), (
            f"{per_minute} GraphQL points a minute (below GitHub's {GRAPHQL_PER_MINUTE})")
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

    @staticmethod
    def status_floor(batches: int, every: float) -> float:
        """The shortest pause between run-state rounds of ``batches`` queries: ``every``
        for up to ``STATUS_STRETCH_FROM`` batches (a few hundred runs in flight), then
        longer in proportion, at most ``STATUS_STRETCH_MAX`` times ``every``: a round's
        cost grows with the runs in flight while an end seen a few seconds later does
        not matter until few are left, and with few left the pace is ``every`` again
        (so the last run's end is still seen within about ``every``)."""
        stretch = min(STATUS_STRETCH_MAX, max(1.0, batches / STATUS_STRETCH_FROM))
        return every * stretch

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
