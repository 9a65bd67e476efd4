"""One poller for the whole fleet (docs/architecture.md, Talking to GitHub).

Per round, one ``list_runs`` per repo covers every node in that repo (not one call
per node or per run). The query is the same every round, so the forge answers with
a conditional request and GitHub's ``304`` costs nothing. The interval adapts: back
to the minimum when something changed, growing ×1.5 while quiet, and stretched so
the rounds left before the deadline fit into the budget above the reserve.

Errors: a rate limit (``RateLimitError``) and a token GitHub no longer accepts
(``AuthError``, 401: revoked or expired) go up to the session — neither gets better
by asking again. A repo (or a run) that was read before and then answers 404
``LOST_AFTER`` times in a row has gone away for this token: its nodes become
``error`` instead of waiting out the timeout. Anything else (5xx, a 404 on a repo
never read yet) is a passing message; the next round asks again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeGuard

from tako_gha.engine.correlate import Track, TreeTracker
from tako_gha.forge.base import AuthError, Forge, ForgeError, NotFoundError, RateLimitError, RunInfo

QUIET_GROWTH = 1.5
CHANGES_PER_RUN = 3  # queued, in_progress, completed: paid listings per run
LOST_AFTER = 3  # 404s in a row on something read before: access lost, not a blip
LOST_HINT = ("check that {repo} still exists under that name (deleted or renamed?) and "
             "that the token can still read it (Actions: read)")


def token_refused(exc: ForgeError) -> TypeGuard[AuthError]:
    """401: GitHub no longer accepts the token at all (revoked, expired)."""
    return isinstance(exc, AuthError) and exc.status == 401


def _fatal(exc: ForgeError) -> bool:
    return isinstance(exc, RateLimitError) or token_refused(exc)


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
        self.listed: set[str] = set()  # repos listed fine at least once (lower-case)
        self.missing_repos: dict[str, int] = {}  # repo -> 404s in a row
        self.missing_runs: dict[int, int] = {}  # run id -> 404s in a row
        self.lost_changed = False  # nodes were lost since the round began

    def list_repo(self, repo: str) -> list[RunInfo] | None:
        """One listing; None when it failed for a reason worth asking again."""
        key = repo.lower()
        try:
            listing = self.forge.list_runs(repo, event="repository_dispatch",
                                           created_after=self.since)
        except ForgeError as exc:
            if _fatal(exc):
                raise
            self.stats.errors += 1
            self.last_error[key] = (self.now, str(exc))
            if isinstance(exc, NotFoundError) and key in self.listed:
                self._repo_not_found(repo, exc)
            elif key not in self.tracker.lost_repos:
                self.tracker.on_message(f"listing runs of {repo} failed: {exc}")
            return None
        self.stats.list_calls += 1
        self.listed.add(key)
        self.missing_repos.pop(key, None)
        self.tracker.lost_repos.discard(key)
        if listing.not_modified:
            self.stats.not_modified += 1
        return listing.runs

    def _repo_not_found(self, repo: str, exc: NotFoundError) -> None:
        key = repo.lower()
        count = self.missing_repos[key] = self.missing_repos.get(key, 0) + 1
        if count < LOST_AFTER:
            self.tracker.on_message(f"listing runs of {repo} failed: {exc}")
            return
        if key not in self.tracker.lost_repos:
            self.tracker.on_message(f"stopped following {repo}: its runs were listed "
                                    f"before, then {count} listings in a row answered 404")
        # Again on every 404: a node dispatched to it since is lost as well.
        self.lost_changed |= self.tracker.lose_repo(
            repo, f"the runs of {repo} can no longer be listed ({count} listings in a row "
                  "answered 404 after it was listed fine): the token lost access to it, "
                  "or it was deleted or renamed", LOST_HINT.format(repo=repo))

    def poll_round(self, repos: set[str], now: float) -> tuple[bool, int]:
        """Poll ``repos``; returns (changed, calls that were not 304)."""
        self.stats.rounds += 1
        self.now = now
        self.lost_changed = False
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
        changed |= self.tracker.refresh(now) | self.lost_changed
        return changed, paid

    def _refresh_missing(self, repo: str, runs: list[RunInfo]) -> bool:
        """Known unfinished runs that fell off the listing's first page: ask singly."""
        listed = {r.id for r in runs}
        changed = False
        for track, ref in [(t, r) for t in self.tracker.in_repo(repo) for r in t.node.runs]:
            if ref.run_id in listed or ref.status == "completed" or track.lost:
                continue
            try:
                run = self.forge.get_run(track.node.repo, ref.run_id)
            except ForgeError as exc:
                if _fatal(exc):
                    raise
                self.stats.errors += 1
                if isinstance(exc, NotFoundError):
                    changed |= self._run_not_found(track, ref.run_id, exc)
                else:
                    self.tracker.on_message(f"reading run {ref.run_id} of {repo} failed: {exc}")
                continue
            self.stats.get_calls += 1
            self.missing_runs.pop(ref.run_id, None)
            changed |= self.tracker.update_run(run)
        return changed

    def _run_not_found(self, track: Track, run_id: int, exc: NotFoundError) -> bool:
        """A run this tree saw is gone (404): after ``LOST_AFTER`` in a row its node
        is an error, not a wait for a run nobody can read."""
        repo = track.node.repo
        count = self.missing_runs[run_id] = self.missing_runs.get(run_id, 0) + 1
        self.tracker.on_message(f"reading run {run_id} of {repo} failed: {exc}")
        if count < LOST_AFTER:
            return False
        return self.tracker.lose(
            track, f"run {run_id} of {repo} was seen, then {count} reads in a row answered "
                   "404: it was deleted, or the token lost access to it",
            LOST_HINT.format(repo=repo))
