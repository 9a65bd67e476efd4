"""One poller for the whole fleet (SPEC §8).

Per round, one ``list_runs`` per repo covers every node in that repo (not one call
per node or per run). The query is the same every round, so the forge answers with
a conditional request and GitHub's ``304`` costs nothing. The interval adapts: back
to the minimum when something changed, growing ×1.5 while quiet, and stretched so
the rounds left before the deadline fit into the budget above the reserve.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from tako_gha.engine.correlate import TreeTracker
from tako_gha.forge.base import Forge, ForgeError, RateLimitError, RunInfo

QUIET_GROWTH = 1.5
CHANGES_PER_RUN = 3  # queued, in_progress, completed: paid listings per run


@dataclass
class PollSchedule:
    min_interval: float
    max_interval: float
    reserve: float  # fraction of the rate limit never spent on polling
    interval: float = 0.0

    def __post_init__(self) -> None:
        self.min_interval = max(0.0, self.min_interval)
        self.max_interval = max(self.min_interval, self.max_interval)
        self.interval = self.min_interval

    def after_round(self, *, changed: bool, paid_calls: int, remaining: int | None,
                    limit: int | None, active: int = 0) -> float:
        """The pause before the next round.

        Budget: unchanged listings answer 304 and cost nothing, so what polling will
        still cost is about one paid call per state change still to come — a few per
        active run (queued, in progress, completed) — not rounds × repos. When the
        budget above the reserve cannot cover that, poll at the slowest interval
        (a slower poll observes fewer intermediate states, so it pays less)."""
        if changed:
            self.interval = self.min_interval
        else:
            self.interval = min(self.max_interval,
                                max(self.interval * QUIET_GROWTH, self.min_interval or 0.05))
        if remaining is not None and limit:
            spendable = remaining - self.reserve * limit
            needed = max(paid_calls, CHANGES_PER_RUN * active)
            if spendable <= needed:
                self.interval = self.max_interval
            elif spendable <= 2 * needed:
                self.interval = max(self.interval, (self.min_interval + self.max_interval) / 2)
        return self.interval


@dataclass
class PollStats:
    rounds: int = 0
    list_calls: int = 0
    not_modified: int = 0
    get_calls: int = 0
    errors: int = 0
    messages: list[str] = field(default_factory=list)


class FleetPoller:
    """Lists each repo of interest once per round and feeds the tracker."""

    def __init__(self, forge: Forge, tracker: TreeTracker, since: datetime | None) -> None:
        self.forge = forge
        self.tracker = tracker
        self.since = since  # fixed for the whole session so conditional requests hit
        self.stats = PollStats()
        self.last_error: dict[str, tuple[float, str]] = {}  # repo -> (when, message)
        self.now = 0.0  # time of the round in progress

    def list_repo(self, repo: str) -> list[RunInfo] | None:
        try:
            listing = self.forge.list_runs(repo, event="repository_dispatch",
                                           created_after=self.since)
        except RateLimitError:
            raise
        except ForgeError as exc:
            self.stats.errors += 1
            self.last_error[repo.lower()] = (self.now, str(exc))
            self.tracker.on_message(f"listing runs of {repo} failed: {exc}")
            return None
        self.stats.list_calls += 1
        if listing.not_modified:
            self.stats.not_modified += 1
        return listing.runs

    def poll_round(self, repos: set[str], now: float) -> tuple[bool, int]:
        """Poll ``repos``; returns (changed, calls that were not 304)."""
        self.stats.rounds += 1
        self.now = now
        changed, paid = False, 0
        for repo in sorted(repos):
            before = self.stats.not_modified
            runs = self.list_repo(repo)
            if runs is None:
                continue
            if self.stats.not_modified == before:
                paid += 1
            changed |= self.tracker.ingest(repo, runs, now)
            changed |= self._refresh_missing(repo, runs)
        changed |= self.tracker.refresh(now)
        return changed, paid

    def _refresh_missing(self, repo: str, runs: list[RunInfo]) -> bool:
        """Known unfinished runs that fell off the listing's first page: ask singly."""
        listed = {r.id for r in runs}
        changed = False
        for track, ref in [(t, r) for t in self.tracker.in_repo(repo) for r in t.node.runs]:
            if ref.run_id in listed or ref.status == "completed":
                continue
            try:
                run = self.forge.get_run(track.node.repo, ref.run_id)
            except ForgeError as exc:
                self.stats.errors += 1
                self.tracker.on_message(f"reading run {ref.run_id} of {repo} failed: {exc}")
                continue
            self.stats.get_calls += 1
            changed |= self.tracker.update_run(run)
        return changed
