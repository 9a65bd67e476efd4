"""What fan-out and watch share: the poll loop, cancellation, reasons, the report."""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from tako_gha.core.budget import Budget
from tako_gha.core.durations import format_duration
from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus, overall_status
from tako_gha.core.verdict import cancelled_for_time
from tako_gha.engine.clock import Clock
from tako_gha.engine.correlate import Track, TreeTracker
from tako_gha.engine.errors import CredentialsLostError
from tako_gha.engine.governor import Governor, batches_of
from tako_gha.engine.handoff import node_from_annotation
from tako_gha.engine.poller import FleetPoller, PollSchedule, token_refused
from tako_gha.engine.report import read_reports
from tako_gha.forge.base import (
    MAX_STATE_IDS,
    Annotation,
    AuthError,
    Forge,
    ForgeError,
    RateLimitError,
)

LOG_TAIL_LINES = 5  # of a failing step's log, when its annotations do not say why
_EXIT_CODE = re.compile(r"^Process completed with exit code \d+\.?$")


def _generic_failure(note: Annotation) -> bool:
    """The runner's own "Process completed with exit code N." (says only that it failed)."""
    return not note.title.startswith("tako") and _EXIT_CODE.match(note.message.strip()) is not None

if TYPE_CHECKING:
    from tako_gha.engine.api import FanOutOptions, Observer

CONFIRM_POLL = 0.5  # seconds between checks that a cancel took effect
ANNOTATION_POINTS = 2  # a run's jobs listing and one job's annotations, at least


@dataclass
class EngineStats:
    dispatched: int = 0
    redispatched: int = 0
    adopted: int = 0  # runs a resumed fan-out found instead of dispatching again
    cancelled: int = 0
    pacing_wait: float = 0.0
    extra: dict[str, int] = field(default_factory=dict)


class Session:
    def __init__(self, forge: Forge, tracker: TreeTracker, options: FanOutOptions,
                 clock: Clock, observer: Observer | None, *, started: float,
                 deadline: float, since: datetime | None, org: str = "",
                 budget: Budget | None = None) -> None:
        self.forge = forge
        self.org = org  # for the follow-up commands an error names
        self.resume_hint = ""  # how to send what a stopped fan-out did not
        self.tracker = tracker
        self.options = options
        self.clock = clock
        self.observer = observer
        self.started = started
        self.deadline = deadline
        self.poller = FleetPoller(forge, tracker, since, workers=options.poll_workers)
        self.schedule = PollSchedule(options.poll_min_interval, options.poll_max_interval,
                                     options.rate_reserve)
        self.governor = Governor(forge.ledger, lambda: forge.now().timestamp(),
                                 reserve=options.rate_reserve,
                                 budget=budget or Budget.root(options.dispatches_per_minute,
                                                              options.dispatches_per_hour))
        self.governor.on_change = self.message
        # requests in flight: the poll threads, within this process's share
        self.poller.workers = max(1, min(self.poller.workers, self.governor.concurrent))
        self.shown_slow = ""  # the governor's slow-down last told to the observer
        # Run states are read at a steady pace: a GraphQL answer is never a free 304,
        # and growing the interval while quiet would only make the end seen later.
        self.status_every = max(options.poll_min_interval,
                                min(options.status_interval, options.poll_max_interval))
        self.next_list = started + options.poll_min_interval
        self.next_status = started + options.poll_min_interval
        self.timed_out = False
        self.stats = EngineStats()
        self.cancel_sent: set[int] = set()
        self.rate_limited: str | None = None  # why the last poll round was refused
        tracker.on_message = self.message
        self.bound_waits(deadline)

    def bound_waits(self, until: float) -> None:
        """Rate-limit waits inside the forge (a primary budget's reset can be an hour
        away) must not outlive the wait: past ``until`` (monotonic) the forge raises
        RateLimitError instead of sleeping, and the engine reports what it knows.
        The entry points (fan_out, watch, cancel_tree) lift the bound when done."""
        # Wall-clock time: the forge measures its own waits (rate-limit resets) in it.
        left = until - self.clock.monotonic()
        self.forge.set_deadline(datetime.now(timezone.utc) + timedelta(seconds=max(0.0, left)))

    # ------------------------------------------------------------ output
    def message(self, text: str) -> None:
        if self.observer is not None:
            self.observer.on_message(text)

    def emit(self) -> None:
        if self.observer is not None:
            self.observer.on_update(self.report())

    def report(self) -> TreeReport:
        origin = self.tracker.origin
        status = overall_status(origin, timed_out=self.timed_out)
        if self.options.dry_run:
            status = dry_run_status(origin)
        cost = self.forge.ledger.to_json()
        cost["engine"] = {
            "dispatched": self.stats.dispatched,
            "redispatched": self.stats.redispatched,
            "adopted": self.stats.adopted,
            "cancelled": self.stats.cancelled,
            "poll_rounds": self.poller.stats.rounds,
            "list_calls": self.poller.stats.list_calls,
            "list_not_modified": self.poller.stats.not_modified,
            "get_run_calls": self.poller.stats.get_calls,
            "status_rounds": self.poller.stats.status_rounds,
            "status_calls": self.poller.stats.status_calls,
            "governor_slowed": self.governor.slowed,
            "share": self.governor.to_json(),
            "pacing_wait_seconds": round(self.stats.pacing_wait, 3),
        }
        return TreeReport(root=self.tracker.root, status=status, origin=origin, cost=cost,
                          elapsed_seconds=self.clock.monotonic() - self.started)

    # ------------------------------------------------------------ polling
    @property
    def next_poll(self) -> float:
        """When the next round (listings, run states or both) is due."""
        return min(self.next_list, self.next_status)

    @next_poll.setter
    def next_poll(self, when: float) -> None:
        self.next_list = self.next_status = when

    def poll_due(self, now: float, extra: set[str] | None = None, *, force: bool = False,
                 states: bool = True) -> bool:
        """One round of whatever is due: listings, reports, run states (not with
        ``states`` False: a fan-out that does not wait reads none it has no use for)."""
        list_due = force or now >= self.next_list
        status_due = states and (force or now >= self.next_status)
        if not states and now >= self.next_status:
            # skipped, not overdue: the loop must not wake for it again at once
            self.next_status = now + self.status_every
        if not list_due and not status_due:
            return False
        self.governor.begin_round()
        try:
            # reports first: the repositories they name need no listing this round
            reported = read_reports(self, now) if list_due else False
            changed, paid, deferred = (self._list_round(now, extra) if list_due
                                       else (False, 0, 0))
            changed |= reported
            batches = 0
            if status_due:
                batches = batches_of(len(self.poller.pending_states()), MAX_STATE_IDS)
                changed |= self.poller.status_round(now, self.governor.shape_status(batches))
        except RateLimitError as exc:
            self.message(f"rate limited while polling: {exc}")
            self.rate_limited = exc.message
            # Asking again before the reset only collects more refusals.
            quiet = self.schedule.max_interval
            self.next_poll = now + until_reset(self.forge, exc, unknown=quiet, floor=quiet)
            return False
        except AuthError as exc:
            if not token_refused(exc):
                raise
            raise self.credentials_lost(exc) from None
        self.rate_limited = None
        changed |= self.annotate_failures()
        after = self.clock.monotonic()
        if list_due:
            self._schedule_listing(after, changed, paid, deferred)
        if status_due:
            horizon = max(60.0, self.deadline - after)
            self.next_status = after + self.governor.status_interval(
                batches, self.governor.status_floor(batches, self.status_every), horizon)
        self._tell_slowdown()
        return changed

    def _list_round(self, now: float, extra: set[str] | None) -> tuple[bool, int, int]:
        """List where runs can still appear, the longest-unlisted first, as many as
        the governor allows; returns (changed, paid listings, listings deferred)."""
        repos = self.tracker.repos_to_poll(now, self.poller.batched()) | (extra or set())
        if not repos:
            return self.tracker.refresh(now), 0, 0
        last = self.tracker.last_polled
        order = sorted(repos, key=lambda r: (last.get(r, -math.inf), r))
        take = self.governor.shape_listing(len(order))
        if take <= 0:
            return False, 0, len(order)
        changed, paid = self.poller.poll_round(order[:take], now, status=False)
        return changed, paid, len(order) - take

    def _schedule_listing(self, after: float, changed: bool, paid: int, deferred: int) -> None:
        ledger = self.forge.ledger
        active = sum(1 for _, ref in self.tracker.all_runs() if ref.status != "completed")
        pause = self.schedule.after_round(
            changed=changed, paid_calls=paid, remaining=ledger.rate_remaining,
            limit=ledger.rate_limit, active=active)
        if deferred:
            # The rest of the round goes as soon as the minute has room again.
            pause = min(pause, max(self.schedule.min_interval, self.governor.listing_wait()))
        self.next_list = after + pause

    def _tell_slowdown(self) -> None:
        """Say why polling is slower than asked, once per change (not every round)."""
        kind = self.governor.kind
        if kind and kind != self.shown_slow:
            self.message(f"polling slowed to stay within GitHub's limits: "
                         f"{self.governor.reason}")
        elif not kind and self.shown_slow:
            self.message("polling back to its normal pace")
        self.shown_slow = kind

    def hurry_final_scan(self, now: float) -> None:
        """Every node has finished and only the last look for late children is left:
        take it at the minimum interval instead of the quiet, stretched one."""
        if all(t.node.state.is_terminal for t in self.tracker.nodes()):
            self.next_list = min(self.next_list, now + self.schedule.min_interval)

    def annotate_failures(self) -> bool:
        """Read the annotations of finished runs that matter: why a failed run
        failed (a child's fan-out step records the cycle path, the timeout or the
        failing grandchild there), and the ``tako-node`` notices of runs that may have
        fanned out (nodes they refused or deduplicated, which have no run to find)."""
        changed = False
        for track in self.tracker.nodes():
            node = track.node
            if track.annotated or not node.runs or not node.state.is_terminal:
                continue
            if node.state is NodeState.DEDUPLICATED:
                continue
            failed = node.state.is_failure
            fans_out = bool(self.tracker.subscribers_of(node.repo))
            if not failed and (not fans_out or self.tracker.awaits_report(track)):
                continue  # its report (read first) names the nodes below it
            if self.governor.rest_room() < ANNOTATION_POINTS * len(node.runs):
                break  # the rest when the minute has room (the governor's budget)
            track.annotated = True
            for ref in node.runs:
                try:
                    notes = self.forge.run_annotations(node.repo, ref.run_id)
                except ForgeError:
                    continue
                changed |= self._adopt_notices(node, notes)
                failures = [a for a in notes if a.level == "failure"]
                # A tako step's own annotations (titled "tako…") say why; generic ones
                # ("Process completed with exit code 1.") only say that it failed.
                failures.sort(key=lambda a: not a.title.startswith("tako"))
                if failed and ref.state.is_failure and not node.reason:
                    node.reason = self._failure_reason(node.repo, ref.run_id, failures)
                    changed = changed or bool(node.reason)
        return changed

    def _failure_reason(self, repo: str, run_id: int, failures: list[Annotation]) -> str | None:
        """Why a run failed: its most telling failure annotation, followed by the last
        lines of the failing step's log when annotations say no more than that it
        failed (or nothing at all)."""
        message = failures[0].message if failures else ""
        if failures and not _generic_failure(failures[0]):
            return message
        try:
            tail = self.forge.job_log_tail(repo, run_id, LOG_TAIL_LINES)
        except ForgeError:
            tail = []
        if not tail:
            return message or None
        lines = " ⏎ ".join(tail)
        return f"{message} Last lines of its log: {lines}" if message else \
            f"Last lines of its log: {lines}"

    def _adopt_notices(self, parent: Node, notes: list[Annotation]) -> bool:
        changed = False
        for note in notes:
            found = node_from_annotation(note)
            if found is None or found.id in self.tracker.tracks:
                continue
            found.depth = parent.depth + 1
            track = self.tracker.add(parent, found, own=False)
            for ref in found.runs:  # heuristic runs: followed like any other from now on
                self.tracker.run_owner.setdefault(ref.run_id, found.id)
            if found.runs:
                track.first_run_at = self.clock.monotonic()
            changed = True
        return changed

    def credentials_lost(self, exc: AuthError) -> CredentialsLostError:
        """The error that ends a fan-out or wait whose token GitHub stopped accepting:
        what was left unfinished, and how to pick the tree up with a valid token."""
        root = self.tracker.root
        going = sum(1 for t in self.active_tracks() if t.node.state is not NodeState.PLANNED)
        planned = sum(1 for t in self.active_tracks() if t.node.state is NodeState.PLANNED)
        left = [f"{going} node(s) still running could not be followed"] if going else []
        if planned:
            left.append(f"{planned} planned dispatch(es) were not sent")
        message = (f"stopped waiting on cascade {root}: {exc.message}"
                   + ("; " + " and ".join(left) if left else ""))
        org = f" --org {self.org}" if self.org else ""
        hint = (f"{exc.hint or 'use a valid, unexpired token'}; runs already started keep "
                f"going: follow them with tako-gha status {root}{org} --wait")
        if planned and self.resume_hint:
            hint += f"; {self.resume_hint}"
        return CredentialsLostError(message, hint=hint, report=self.report())

    # ------------------------------------------------------------ cancelling
    def cancel_tracks(self, tracks: list[Track]) -> list[tuple[str, int]]:
        """Cancel every unfinished run of ``tracks`` and wait (bounded) until the
        cancels show; returns the (repo, run id) whose cancel was accepted."""
        accepted = self._send_cancels(tracks)
        return accepted + self.confirm(accepted, tracks)

    def _send_cancels(self, tracks: list[Track]) -> list[tuple[str, int]]:
        accepted: list[tuple[str, int]] = []
        for track in tracks:
            for ref in track.node.runs:
                if ref.status == "completed" or ref.run_id in self.cancel_sent:
                    continue
                self.cancel_sent.add(ref.run_id)
                try:
                    ok = self.forge.cancel_run(track.node.repo, ref.run_id)
                except ForgeError as exc:
                    self.message(f"cancelling run {ref.run_id} of {track.node.repo} "
                                 f"failed: {exc}")
                    continue
                if ok:
                    accepted.append((track.node.repo, ref.run_id))
                    self.stats.cancelled += 1
        return accepted

    def look_before_cancelling(self) -> None:
        """One listing of every repo still of interest, whatever the poll schedule:
        a run that exists but was not seen yet (dispatched since the last round, or
        polling is slow) must be cancelled too, not left running."""
        self.poll_due(self.clock.monotonic(), force=True)

    def _runless(self, tracks: list[Track]) -> list[Track]:
        """Dispatched by us, no run found yet: its run may still appear."""
        return [t for t in tracks if t.own and t.dispatched_at is not None
                and not t.node.runs and not t.node.state.is_terminal]

    def confirm(self, runs: list[tuple[str, int]],
                tracks: list[Track] | None = None) -> list[tuple[str, int]]:
        """Wait (bounded) until accepted cancels show; meanwhile, runs of dispatched
        ``tracks`` that appear late are cancelled as they are found (returned: the
        late cancels that were accepted)."""
        pending = list(runs)
        late: list[tuple[str, int]] = []
        until = self.clock.monotonic() + self.options.cancel_confirm_timeout
        while pending:
            runless = self._runless(tracks or [])
            if runless:
                # A second chance only: a failed listing leaves the cancels above standing.
                with contextlib.suppress(ForgeError):
                    self.poller.poll_round({t.node.repo.lower() for t in runless},
                                           self.clock.monotonic())
                found = self._send_cancels(runless)
                late += found
                pending += found
            still: list[tuple[str, int]] = []
            for repo, run_id in pending:
                try:
                    run = self.forge.get_run(repo, run_id)
                except ForgeError:
                    still.append((repo, run_id))
                    continue
                self.tracker.update_run(run)
                if run.status != "completed":
                    still.append((repo, run_id))
            pending = still
            if not pending or self.clock.monotonic() >= until:
                break
            self.clock.sleep(CONFIRM_POLL)
        self.tracker.refresh(self.clock.monotonic())
        return late

    def active_tracks(self) -> list[Track]:
        return [t for t in self.tracker.nodes() if not t.node.state.is_terminal]

    def handle_timeout(self, why: str | None = None) -> None:
        """The deadline passed: what is still going timed out. ``why`` replaces
        "when the wait timed out after …" in their reasons."""
        self.timed_out = True
        waited = format_duration(self.clock.monotonic() - self.started)
        # One last look at every unfinished run before the verdict: a run that ended
        # between the last poll and the deadline ended, it did not time out. (A
        # cancel may wait out a short secondary limit, not past its own bound.)
        self.bound_waits(self.clock.monotonic() + self.options.cancel_confirm_timeout)
        self.look_before_cancelling()
        active = self.active_tracks()
        cancelled: set[str] = set()
        if self.options.cancel_on_timeout and active:
            accepted = {run_id for _, run_id in self.cancel_tracks(active)}
            cancelled = {t.node.id for t in active
                         if any(r.run_id in accepted for r in t.node.runs)}
        for track in active:
            node = track.node
            if node.id in cancelled and node.state in (NodeState.CANCELLED,
                                                        NodeState.TIMED_OUT):
                # Our cancel, not a person's: the node timed out (its runs' conclusion
                # stays `cancelled`), and later listings must not say otherwise.
                track.stopped = True
                node.state = NodeState.TIMED_OUT
                node.reason = f"cancelled when the {self.timeout_words()} passed"
                continue
            if node.state.is_terminal:
                continue
            if node.state is NodeState.PLANNED:
                held = f" ({node.reason})" if node.reason else ""
                node.reason = f"not dispatched: the wait timed out after {waited}{held}"
            elif self.options.cancel_on_timeout:
                node.reason = (f"still {node.state.value} after {waited}; cancel "
                               + ("sent, not confirmed" if node.id in cancelled
                                  else "not confirmed"))
            else:
                node.reason = (f"still {node.state.value} "
                               + (why or f"when the wait timed out after {waited}"))
            if self.rate_limited and node.state is not NodeState.PLANNED:
                node.reason += f" (runs could not be listed: {self.rate_limited})"
            track.stopped = node.id in cancelled
            node.state = NodeState.TIMED_OUT

    def timeout_words(self) -> str:
        """The limit that ended the wait, as people set it: "30s timeout", or the
        root's deadline when an inherited one came first."""
        limit = self.deadline - self.started
        if limit < self.options.timeout - 0.5:
            return f"root's deadline ({format_duration(limit)} into this wait)"
        return f"{_as_set(self.options.timeout)} timeout"

    def fail_fast(self, failed: Node) -> None:
        why = f"fail_fast: {failed.repo} ended {failed.state.value}"
        self.message(why + "; cancelling the rest")
        self.bound_waits(self.clock.monotonic() + self.options.cancel_confirm_timeout)
        self.look_before_cancelling()
        active = self.active_tracks()
        self.cancel_tracks(active)
        for track in active:
            node = track.node
            if node.state is NodeState.PLANNED:
                node.state = NodeState.SKIPPED
                node.reason = f"not dispatched ({why})"
            elif node.state is NodeState.CANCELLED:
                node.reason = node.reason or f"cancelled ({why})"

    def recheck_failed(self) -> bool:
        """Before the verdict, read each failed run once more: a person may have
        re-run it (same run id, the next attempt), and finished runs are no longer
        listed or batched. True when one is going again (the wait goes on)."""
        changed = False
        for track in list(self.tracker.nodes()):
            node = track.node
            latest = max((r.attempt for r in node.runs), default=0)
            if (not node.runs or not node.state.is_failure or track.stopped or track.lost
                    or node.state is NodeState.DEDUPLICATED or track.rechecked >= latest):
                continue
            track.rechecked = latest
            for ref in list(node.runs):
                try:
                    run = self.forge.get_run(node.repo, ref.run_id)
                except ForgeError:
                    continue
                changed |= self.tracker.update_run(run)
        if changed:
            self.tracker.refresh(self.clock.monotonic())
        return changed and any(not t.node.state.is_terminal for t in self.tracker.nodes())

    def first_failure(self) -> Node | None:
        for track in self.tracker.nodes():
            node = track.node
            if node.state.is_failure and node.state is not NodeState.DEDUPLICATED:
                return node
        return None

    def finish(self) -> TreeReport:
        explain_time(self.tracker.origin)
        explain_failures(self.tracker.origin)
        report = self.report()
        # The origin carries the cascade's final state (in_progress while it runs on
        # without this wait); `failed_nodes` and the counts leave it out.
        self.tracker.origin.state = ORIGIN_STATE[report.status]
        self.emit()
        return report


ORIGIN_STATE = {TreeStatus.SUCCESS: NodeState.SUCCESS, TreeStatus.FAILURE: NodeState.FAILURE,
                TreeStatus.TIMED_OUT: NodeState.TIMED_OUT,
                TreeStatus.RUNNING: NodeState.IN_PROGRESS}


def dry_run_status(origin: Node) -> TreeStatus:
    """A dry run dispatches nothing and waits on nothing, so its result is final:
    its planned nodes are what a real run would send (success), and a node a real
    run would refuse (oversize payload, cycle, depth) fails it like it would."""
    if any(n.state.is_failure for n in origin.walk() if n is not origin):
        return TreeStatus.FAILURE
    return TreeStatus.SUCCESS


def _as_set(seconds: float) -> str:
    """A limit as people write it (30s, 2m, 1h, 1m30s)."""
    if not float(seconds).is_integer() or seconds <= 0:
        return format_duration(seconds)
    whole = int(seconds)
    for unit, size in (("h", 3600), ("m", 60)):
        if whole % size == 0:
            return f"{whole // size}{unit}"
    return f"{whole}s" if whole < 60 else format_duration(whole)


def until_reset(forge: Forge, exc: RateLimitError, *, unknown: float, floor: float) -> float:
    """Seconds until the limit behind ``exc`` resets, by the forge's clock (the
    server's, skew included), at least ``floor``; ``unknown`` when GitHub did not say."""
    if exc.reset_at is None:
        return unknown
    return max(floor, exc.reset_at - forge.now().timestamp())


def release_waits(forge: Forge) -> None:
    """The forge outlives the fan-out (the caller may reuse it): lift the bound."""
    forge.set_deadline(None)


def explain_time(origin: Node) -> None:
    """A node whose runs were cancelled at or after their deadline (by whichever
    process cancelled them) says so."""
    for node in origin.walk():
        if node is origin or node.reason or node.state is not NodeState.TIMED_OUT:
            continue
        late = [r for r in node.runs if cancelled_for_time(r)]
        if late and late[0].deadline is not None:
            when = late[0].deadline.strftime("%Y-%m-%d %H:%M:%SZ")
            node.reason = f"cancelled at or after its root's deadline ({when})"


def explain_failures(origin: Node) -> None:
    """A failed node without a reason of its own gets the path to the failed
    descendant below it, so the root says where the tree broke."""
    for node in origin.walk():
        if node is origin or not node.state.is_failure or node.reason:
            continue
        for below in node.walk():
            if below is node or not below.state.is_failure:
                continue
            path = node.path_to(below.id) or [node, below]
            node.reason = (f"{below.repo} ended {below.state.value}: "
                           + " → ".join(n.repo for n in path))
            break
