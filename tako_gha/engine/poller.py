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

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeGuard, TypeVar

from tako_gha.core.tree import RunRef
from tako_gha.engine.correlate import Track, TreeTracker
from tako_gha.engine.governor import workers_for
from tako_gha.forge.base import (
    MAX_STATE_IDS,
    AuthError,
    Forge,
    ForgeError,
    NotFoundError,
    RateLimitError,
    RunInfo,
    RunListing,
    RunState,
)

T = TypeVar("T")
R = TypeVar("R")

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
    status_rounds: int = 0
    status_calls: int = 0  # batched run-state reads (one request each)
    errors: int = 0
    messages: list[str] = field(default_factory=list)


class FleetPoller:
    """Lists the repos of interest, reads known runs in batches, feeds the tracker."""

    def __init__(self, forge: Forge, tracker: TreeTracker, since: datetime | None,
                 *, workers: int = 1) -> None:
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
        self.node_ids: dict[int, str] = {}  # run id -> batch id (RunInfo.node_id)
        self.batch_failed: str | None = None  # why run_states last failed as a whole
        self.workers = max(1, workers)
        self._pool: list[Forge] | None = None  # forges of the worker threads
        self._rotate = 0  # where the next capped status round starts

    # ------------------------------------------------------------ parallel requests
    def _forges(self, tasks: int) -> list[Forge]:
        """Forges for a round of ``tasks`` requests: this one alone, or one per worker
        thread when the forge can make workers (PyGithub is not thread-safe)."""
        want = workers_for(tasks, self.workers)
        if want <= 1:
            return [self.forge]
        if self._pool is None:
            self._pool = []
            for _ in range(self.workers):
                made = self.forge.worker()
                if made is None:
                    break
                self._pool.append(made)
        return self._pool[:want] or [self.forge]

    def _run_all(self, tasks: list[T], call: Callable[[Forge, T], R]
                 ) -> list[R | ForgeError | None]:
        """``call(forge, task)`` for every task, in parallel when workers exist; a
        ForgeError is returned in place of its answer, order is kept. After a fatal
        one (a rate limit, a revoked token) nothing more is sent: the tasks not
        attempted are None, and the caller raises it once the answers are folded in."""
        forges = self._forges(len(tasks))
        stop = threading.Event()

        def slice_of(index: int) -> list[R | ForgeError | None]:
            forge = forges[index]
            out: list[R | ForgeError | None] = []
            for task in tasks[index::len(forges)]:
                if stop.is_set():
                    out.append(None)
                    continue
                try:
                    out.append(call(forge, task))
                except ForgeError as exc:
                    out.append(exc)
                    if _fatal(exc):
                        stop.set()
            return out

        if len(forges) == 1:
            return slice_of(0)
        with ThreadPoolExecutor(max_workers=len(forges), thread_name_prefix="tako-poll") as ex:
            parts = list(ex.map(slice_of, range(len(forges))))
        results: list[R | ForgeError | None] = [None] * len(tasks)
        for index, part in enumerate(parts):
            results[index::len(forges)] = part
        return results

    @staticmethod
    def _first_fatal(results: list[Any]) -> ForgeError | None:
        return next((r for r in results if isinstance(r, ForgeError) and _fatal(r)), None)

    # ------------------------------------------------------------ listings
    def _fetch(self, forge: Forge, repo: str) -> RunListing:
        # A repository some subscription dispatches by workflow dispatch is listed for
        # every event (its runs are workflow_dispatch ones); the rest, as before.
        event = None if self.tracker.lists_every_event(repo) else "repository_dispatch"
        return forge.list_runs(repo, event=event, created_after=self.since)

    def list_repo(self, repo: str) -> list[RunInfo] | None:
        """One listing; None when it failed for a reason worth asking again."""
        try:
            listing: RunListing | ForgeError = self._fetch(self.forge, repo)
        except ForgeError as exc:
            listing = exc
        return self._take(repo, listing)

    def _take(self, repo: str, listing: RunListing | ForgeError) -> list[RunInfo] | None:
        key = repo.lower()
        if isinstance(listing, ForgeError):
            exc = listing
            if _fatal(exc):
                raise exc
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

    def poll_round(self, repos: set[str] | list[str], now: float, *,
                   status: bool = True) -> tuple[bool, int]:
        """List ``repos`` (then, with ``status``, read the known runs' states);
        returns (changed, listings that were not 304)."""
        self.stats.rounds += 1
        self.now = now
        self.lost_changed = False
        changed, paid = False, 0
        order = sorted(repos) if isinstance(repos, set) else list(repos)
        listings = self._run_all(order, self._fetch)
        fatal = self._first_fatal(listings)
        for repo, listing in zip(order, listings, strict=True):
            if listing is None or (fatal is not None and listing is fatal):
                continue  # not sent, or the refusal raised below
            if isinstance(listing, ForgeError) and _fatal(listing):
                continue
            before = self.stats.not_modified
            runs = self._take(repo, listing)
            if runs is None:
                continue
            if self.stats.not_modified == before:
                paid += 1
            changed |= self.tracker.ingest(repo, runs, now)
            self._learn_ids(runs)
            changed |= self._refresh_missing(repo, runs)
        if fatal is not None:
            raise fatal  # what came back before it is in the tree already
        if status:
            changed |= self.status_round(now)
        changed |= self.tracker.refresh(now) | self.lost_changed
        return changed, paid

    def _learn_ids(self, runs: list[RunInfo]) -> None:
        owners = self.tracker.run_owner
        for run in runs:
            if run.node_id and run.id in owners:
                self.node_ids[run.id] = run.node_id

    def _refresh_missing(self, repo: str, runs: list[RunInfo]) -> bool:
        """Known unfinished runs that fell off the listing's first page and that no
        batch reads: ask singly."""
        listed = {r.id for r in runs}
        changed = False
        for track, ref in [(t, r) for t in self.tracker.in_repo(repo) for r in t.node.runs]:
            if (ref.run_id in listed or ref.status == "completed" or track.lost
                    or self.batchable(ref.run_id)):
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
            if run.node_id:
                self.node_ids[run.id] = run.node_id
            changed |= self.tracker.update_run(run)
        return changed

    def _run_not_found(self, track: Track, run_id: int, exc: ForgeError | str) -> bool:
        """A run this tree saw is gone (404, or a batch read that no longer resolves
        it): after ``LOST_AFTER`` in a row its node is an error, not a wait for a run
        nobody can read."""
        repo = track.node.repo
        count = self.missing_runs[run_id] = self.missing_runs.get(run_id, 0) + 1
        self.tracker.on_message(f"reading run {run_id} of {repo} failed: {exc}")
        if count < LOST_AFTER:
            return False
        answer = "answered 404" if isinstance(exc, ForgeError) else "did not find it"
        return self.tracker.lose(
            track, f"run {run_id} of {repo} was seen, then {count} reads in a row {answer}: "
                   "it was deleted, or the token lost access to it",
            LOST_HINT.format(repo=repo))

    # ------------------------------------------------------------ batched states
    def batchable(self, run_id: int) -> bool:
        """This run's state is read in batches (not through its repo's listing)."""
        return self.batch_failed is None and run_id in self.node_ids

    def batched(self) -> set[int]:
        if self.batch_failed is not None:
            return set()
        return set(self.node_ids) | {r.run_id for _, r in self._by_url()}

    def _by_url(self) -> list[tuple[Track, RunRef]]:
        """Runs known by their URL only, not yet read: a workflow dispatch's answer
        named them, or a level's report did (its writer fired and forgot before it
        read them). ``Forge.run_states_by_url`` reads them in batches."""
        if self.batch_failed is not None:
            return []
        return [(t, r) for t, r in self.tracker.all_runs()
                if (t.exact_mode or r.correlation == "exact") and r.status != "completed"
                and not t.lost and r.url and r.run_id not in self.node_ids]

    def pending_states(self) -> list[tuple[Track, RunRef]]:
        """Known runs not seen completed whose state a batch can read."""
        return [(t, r) for t, r in self.tracker.all_runs()
                if r.status != "completed" and not t.lost and self.batchable(r.run_id)
                ] + self._by_url()

    def _read_chunk(self, forge: Forge, chunk: list[tuple[Track, RunRef]]
                    ) -> dict[int, RunState]:
        """One batch's states by run id: by node id, or (none known yet) by URL."""
        if chunk[0][1].run_id in self.node_ids:
            found = forge.run_states([self.node_ids[ref.run_id] for _, ref in chunk])
            return {ref.run_id: found[self.node_ids[ref.run_id]] for _, ref in chunk
                    if self.node_ids[ref.run_id] in found}
        by_url = forge.run_states_by_url([ref.url for _, ref in chunk])
        return {ref.run_id: by_url[ref.url] for _, ref in chunk if ref.url in by_url}

    def status_round(self, now: float, max_batches: int | None = None) -> bool:
        """Read the state of every pending known run, ``MAX_STATE_IDS`` a request (at
        most ``max_batches`` requests; the rest start the next capped round)."""
        known = [p for p in self.pending_states() if p[1].run_id in self.node_ids]
        named = self._by_url()
        if not known and not named:
            return False
        chunks = [part[i:i + MAX_STATE_IDS] for part in (known, named)
                  for i in range(0, len(part), MAX_STATE_IDS)]
        if max_batches is not None and len(chunks) > max_batches:
            start = self._rotate % len(chunks)
            chunks = (chunks[start:] + chunks[:start])[:max(0, max_batches)]
            self._rotate = start + len(chunks)
        if not chunks:
            return False
        self.stats.status_rounds += 1
        answers = self._run_all(chunks, self._read_chunk)
        fatal = self._first_fatal(answers)
        changed = False
        touched: list[Track] = []
        for chunk, answer in zip(chunks, answers, strict=True):
            if answer is None or (isinstance(answer, ForgeError) and _fatal(answer)):
                continue
            if isinstance(answer, ForgeError):
                changed |= self._batch_failed(answer)
                continue
            self.stats.status_calls += 1
            for track, ref in chunk:
                state = answer.get(ref.run_id)
                if state is not None and state.node_id and ref.run_id not in self.node_ids:
                    self.node_ids[ref.run_id] = state.node_id  # batched by id from now on
                if state is None:
                    changed |= self._run_not_found(track, ref.run_id,
                                                   "the batched read no longer finds it")
                    continue
                self.missing_runs.pop(ref.run_id, None)
                if self.tracker.update_state(ref.run_id, state.status, state.conclusion,
                                             state.updated_at):
                    touched.append(track)
        if touched:
            changed |= self.tracker.refresh(now, touched) or True
        if fatal is not None:
            raise fatal
        return changed

    def _batch_failed(self, exc: ForgeError) -> bool:
        """A batch failed as a whole. Fatal errors go up; a server error or a lost
        answer is asked again next round; anything else (a server without GraphQL)
        and the runs are read through their repos' listings from now on."""
        if _fatal(exc):
            raise exc
        self.stats.errors += 1
        if exc.status is None or exc.status >= 500:
            self.tracker.on_message(f"reading run states failed: {exc}")
            return False
        if self.batch_failed is None:
            self.tracker.on_message(f"reading run states in batches failed ({exc}); "
                                    "following runs through their repos' listings instead")
        self.batch_failed = str(exc)
        return False
