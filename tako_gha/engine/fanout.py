"""``fan_out``: plan, refuse, dispatch (paced, bounded), correlate, wait (docs/protocol.md).

One thread, one loop: dispatch what the concurrency limit and the pacer allow, poll
the fleet when due (``engine.poller``), decide discovery deadlines and re-sends,
then sleep until the next thing is due. Per-node problems become node states; only
a refusal of the whole fan-out (bad options, ``max_children``, preflight) raises,
and then before anything was dispatched — or a token GitHub stops accepting
midway (401), which ends the fan-out with ``CredentialsLostError``.

Known limits, by design:
- ``dedupe: root`` across processes (the diamond's B and C both reaching D): each
  lists D's runs before dispatching and skips if one of this root and event type
  exists; when both check before either dispatch lands, the dispatch whose run came
  first wins and the later one cancels its own run and reports ``deduplicated``
  (so D may start twice for a moment, never finish twice). The origin applies the
  same rule to the runs it sees.
- Runs are found on the first page (100 newest ``repository_dispatch`` runs since
  the fan-out started) of each repo; a repo starting more than that during one
  cascade can hide a run from discovery (known runs are still read one by one).
- Heuristic correlation (receivers without ``run-name``) cannot tell an unrelated
  untagged run created in the window from ours: such nodes say ``heuristic``, and
  two dispatches competing for one run say ``ambiguous`` in their reason.
- Exactly once across crashes rests on the journal (``engine.journal``): resumed on
  another machine, untagged receivers' dispatches may be sent again (it says so), and
  a dispatch killed (``kill -9``) after its intent but before its request left stays
  ``not_started`` rather than risk a second run.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

from tako_gha.core.budget import Budget, Slot
from tako_gha.core.durations import format_duration
from tako_gha.core.ids import (
    TitleTag,
    dispatch_id,
    is_id,
    make_title,
    new_root_id,
)
from tako_gha.core.tree import Node, NodeState, TreeReport, TreeStatus
from tako_gha.engine import api, exact, resume
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest, Observer
from tako_gha.engine.clock import Clock, SystemClock
from tako_gha.engine.correlate import (
    WORKFLOW_EVENT,
    Track,
    TreeTracker,
)
from tako_gha.engine.errors import FanOutError
from tako_gha.engine.journal import (
    UNKNOWN,
    Journal,
    JournalError,
    JournalState,
    SignalGuard,
    payload_hash,
)
from tako_gha.engine.pacing import DispatchPacer
from tako_gha.engine.payload import (
    MAX_EVENT_TYPE_LEN,
    PayloadError,
    TakoMeta,
    build_client_payload,
    check_dispatch,
)
from tako_gha.engine.planning import DiscoveryPlanner, Planner, PlanOutcome, Target
from tako_gha.engine.poller import token_refused
from tako_gha.engine.report import write_report
from tako_gha.engine.session import Session, release_waits, until_reset
from tako_gha.engine.shares import Shares
from tako_gha.forge.base import AmbiguousDispatchError, Forge, ForgeError, RateLimitError

# Runs are listed from a little before the start (server clock vs the forge's view).
LISTING_SKEW = timedelta(minutes=2)
# A root resumed without its journal looks this far back for its tagged runs.
RESUME_LOOKBACK = timedelta(days=7)


def fan_out(forge: Forge, request: FanOutRequest, options: FanOutOptions,
            observer: Observer | None = None, *, planner: Planner | None = None,
            clock: Clock | None = None, journal: Journal | None = None,
            guard: SignalGuard | None = None,
            before_dispatch: Callable[[], None] | None = None) -> TreeReport:
    """See ``engine.api``. Raises FanOutError / ForgeError before any dispatch, and
    CredentialsLostError when GitHub stops accepting the token midway.

    ``journal`` records every dispatch's intent and outcome (``engine.journal``); a
    resumed root reads it and never sends again what it says was sent or may have
    been. ``guard`` (installed by the caller) keeps SIGINT/SIGTERM out of the gap
    between a dispatch and its record. ``before_dispatch`` runs once it is planned and
    checked, before the first record and dispatch (never in a dry run): the announcement."""
    try:
        return FanOut(forge, request, options, observer, planner or DiscoveryPlanner(),
                      clock or SystemClock(), journal=journal, guard=guard,
                      before_dispatch=before_dispatch).run()
    finally:
        release_waits(forge)


class FanOut:
    def __init__(self, forge: Forge, request: FanOutRequest, options: FanOutOptions,
                 observer: Observer | None, planner: Planner, clock: Clock, *,
                 journal: Journal | None = None, guard: SignalGuard | None = None,
                 before_dispatch: Callable[[], None] | None = None) -> None:
        api.check_options(options)
        if request.root is not None and not is_id(request.root):
            raise FanOutError(f"root id {request.root!r} is not 12 hex digits",
                              hint="leave the root to the engine, or pass one it made")
        self.forge, self.request, self.options = forge, request, options
        self.observer, self.planner, self.clock = observer, planner, clock
        self.ctx: CascadeContext | None = request.context
        self.root = self.ctx.root if self.ctx else (request.root or new_root_id())
        self.origin_id = self.ctx.parent if self.ctx and self.ctx.parent else self.root
        self.pacer = DispatchPacer(clock, options.dispatches_per_minute,
                                   options.dispatches_per_hour)
        self.own: list[Track] = []
        self._last_forced = -math.inf
        self._held_until = -math.inf  # no dispatch before this (a rate limit said so)
        self._held_why = ""
        self.journal = journal
        self.guard = guard or SignalGuard()  # not installed: holds nothing back
        self.prior = JournalState(self.root)  # what the journal says was sent before
        self._run_record_failed = False
        self._damaged: dict[str, int] = {}  # node id -> the damaged journal line
        self.before_dispatch, self._journal_started = before_dispatch, False  # see run()

    @property
    def _writable(self) -> bool:
        return self.journal is not None and self.journal.writable

    # ------------------------------------------------------------ setup
    def run(self) -> TreeReport:
        event = self.request.event
        if len(event.type) > MAX_EVENT_TYPE_LEN or not event.type:
            raise FanOutError(
                f"event type {event.type[:40]!r}… is {len(event.type)} characters; GitHub "
                f"allows 1 to {MAX_EVENT_TYPE_LEN}", hint="use a shorter event type")
        api.check_event_type(event.type)
        plan = self.planner.plan(self.forge, self.request)
        self.event = plan.event
        if len(plan.targets) > self.options.max_children:
            raise FanOutError(
                f"this fan-out would dispatch to {len(plan.targets)} repositories, more "
                f"than max_children ({self.options.max_children}); nothing was dispatched",
                hint=f"raise --max-children to at least {len(plan.targets)} if intended")
        started = self.clock.monotonic()
        deadline = self._deadline(started)
        tracker = self.tracker = self._make_tracker(plan)
        tracker.deadline = self.deadline_wall
        if self.journal is not None and self.ctx is not None and self.ctx.parent is None:
            # A resumed root. (A child's fan-out runs once per job: its journal, in the
            # job's RUNNER_TEMP, is a record, not something a re-run could read.)
            self.prior = self.journal.read(self.root)
            self._check_origin()
        own_budget = self._split_budget(plan)
        self.session = Session(self.forge, tracker, self.options, self.clock, self.observer,
                               started=started, deadline=deadline, since=self._since(),
                               org=self.request.org, budget=own_budget)
        if self.ctx is not None and self.ctx.slot is not None and self.options.shared_budget:
            self.session.governor.slot = self.ctx.slot
        self._sync_pacer()
        if (self.ctx is not None and self.ctx.budget is not None
                and self.session.governor.write_period() is None):
            # Handed a budget: the first dispatch waits its turn too, so children that
            # start together do not all write at once on the shared token (a slotted
            # one waits for its slot's instant instead).
            self.pacer.record()
        # Same root, same dispatch ids: what was sent is adopted, the rest is sent.
        self.session.resume_hint = (
            "re-run this job with a valid token to send the rest (it continues the tree)"
            if self.ctx is not None and self.ctx.parent is not None
            else f"send the rest: run the same fan-out with --resume {self.root}")
        self._make_nodes(plan)
        self._report_skipped(plan)
        if self.options.dry_run:
            return self._dry_run()
        if self._ready_to_send() and self._writable:
            self._start_journal()
        self._say_journal_state()
        if self.ctx is not None:
            resume.check(self)
        self._refuse_unrecorded()
        self.session.emit()
        report = self._loop()
        self._write_report(report)
        return report

    def _write_report(self, report: TreeReport) -> None:
        """Inside a tree, what this fan-out knows of its subtree, for the run's report
        artifact (``request.extra["report_to"]``, a file path the action uploads)."""
        path = self.request.extra.get("report_to")
        if not path or self.ctx is None:
            return
        try:
            write_report(str(path), report, self.session.poller.node_ids)
        except OSError as exc:
            self.session.message(f"cannot write the report for the root ({exc}): it "
                                 "lists the repositories below this run instead")

    def _deadline(self, started: float) -> float:
        """The fan-out's deadline (monotonic); ``deadline_wall`` the same on the forge's
        clock. A child never outlives its root's deadline."""
        self.wall0 = self.forge.now()
        deadline = started + self.options.timeout
        if self.ctx and self.ctx.deadline:
            inherited = (self.ctx.deadline - self.wall0).total_seconds()
            deadline = min(deadline, started + inherited)
        self.deadline_wall = self.wall0 + timedelta(seconds=max(0.0, deadline - started))
        return deadline

    def _make_tracker(self, plan: PlanOutcome) -> TreeTracker:
        event = self.request.event
        origin = Node(repo=event.source, id=self.origin_id, state=NodeState.IN_PROGRESS,
                      event_type=event.type, depth=(self.ctx.depth - 1) if self.ctx else 0)
        tracker = TreeTracker(self.root, origin, plan.subscribers,
                              sibling_grace=self.options.sibling_grace,
                              discovery_timeout=self.options.discovery_timeout,
                              dedupe=self.options.dedupe)
        tracker.workflow_repos = set(plan.workflow_repos)
        # children report up (engine.report): read their reports instead of listing
        tracker.reporting = self.options.reports and hasattr(self.forge, "run_report")
        return tracker

    def _start_journal(self) -> None:
        event, journal = self.request.event, self.journal
        assert journal is not None
        journal.start(self.root, source=event.source, event_type=event.type, at=self.wall0,
                      resumed=self.ctx is not None, payload=payload_hash(event.payload),
                      deadline=self.deadline_wall)
        self.tracker.on_attach = self._journal_run
        self._journal_started = True

    def _ready_to_send(self) -> bool:
        """The last check (the token may dispatch to every target), then the caller's
        announcement; False with nothing to send (no cascade to announce or record)."""
        dispatchable = [t.node.repo for t in self.own if t.node.state is NodeState.PLANNED]
        if not dispatchable:
            return False
        self.forge.preflight(self.request.org, dispatchable, dispatch=True)
        if self.before_dispatch is not None:
            self.before_dispatch()
        return True

    def _check_origin(self) -> None:
        """A resume sends what the first run sent: the same source, event type and
        payload (the dispatch ids do not depend on the payload, so another one would
        be taken for what was sent)."""
        origin, event = self.prior.origin, self.request.event
        if origin is None:
            return
        differs = []
        if origin.source.lower() != event.source.lower():
            differs.append(f"source {origin.source} (this run: {event.source})")
        if origin.event != event.type:
            differs.append(f"event {origin.event} (this run: {event.type})")
        if origin.payload is not None and origin.payload != payload_hash(event.payload):
            differs.append("another payload (SHA-256 " + origin.payload[:12] + "…)")
        if differs:
            assert self.journal is not None
            raise FanOutError(
                f"cannot resume {self.root}: its journal {self.journal.path} records "
                + "; ".join(differs) + "; nothing was dispatched",
                hint="resume with the first run's --source, --event and --payload, or fan "
                     "out anew (without --resume) for another event")

    def _say_journal_state(self) -> None:
        """Every unreadable line of the journal is said (number and count), and
        every target whose record it might be is named when the resume meets it."""
        journal, prior = self.journal, self.prior
        if journal is None:
            return
        if journal.repaired is not None:
            self.session.message(
                f"journal {journal.path}: line {journal.repaired} was left unfinished by "
                "a write that never completed (its step was not taken); marked, not read")
        if prior.unreadable:
            shown = ", ".join(str(n) for n in prior.unreadable[:10])
            more = " …" if len(prior.unreadable) > 10 else ""
            self.session.message(
                f"journal {journal.path}: {len(prior.unreadable)} unreadable line(s) "
                f"(line {shown}{more}); a dispatch whose record may be in one is not "
                "sent again")

    def _refuse_unrecorded(self) -> None:
        """Nothing is sent that the journal cannot record: with a journal that can be
        read but not written, a resume follows what was sent and refuses the rest."""
        journal = self.journal
        if journal is None or journal.writable:
            return
        unsent = [t.node.repo for t in self.own if t.node.state is NodeState.PLANNED]
        if not unsent:
            return
        sent = sum(1 for t in self.own if t.journaled)
        shown = ", ".join(unsent[:5]) + (" …" if len(unsent) > 5 else "")
        raise JournalError(
            f"{journal.read_only_why}; the journal records {sent} dispatch(es) of "
            f"{self.root} sent before, and {len(unsent)} target(s) are still to be sent "
            f"({shown}): nothing is sent without a record")

    def _since(self) -> datetime:
        """Runs are listed from shortly before this fan-out began; a resumed root
        lists from its first start (the journal knows it), or — without a journal —
        from a week back, since its runs may be of any age."""
        if self.prior.started_at is not None:
            return min(self.prior.started_at, self.wall0) - LISTING_SKEW
        if self.ctx is not None and self.ctx.parent is None:
            return self.wall0 - RESUME_LOOKBACK
        return self.wall0 - LISTING_SKEW

    def _journal_run(self, track: Track, run_id: int) -> None:
        """A run matched to one of our dispatches: a hint for a later resume, so a
        failure to record it is said, not fatal (dispatch records are)."""
        if not self._writable or not track.own or run_id in track.known_runs:
            return
        try:
            self.journal.run(self.root, track.node.id, run_id)
        except JournalError as exc:
            if not self._run_record_failed:
                self._run_record_failed = True
                self.session.message(f"cannot record matched runs: {exc}")

    def _make_nodes(self, plan: PlanOutcome) -> None:
        ctx, event = self.ctx, self.event
        depth = ctx.depth if ctx else 1
        chain = ctx.chain if ctx else (event.source,)
        parent = ctx.parent if ctx else None
        seen: dict[tuple[str, str], str] = {}
        if depth >= self.options.depth_warning and depth <= self.options.max_depth:
            self.session.message(f"warning: this fan-out is at depth {depth} "
                                 f"(max_depth {self.options.max_depth})")
        for target in plan.targets:
            node = Node(repo=target.repo, id=dispatch_id(self.root, parent, target.repo,
                                                         event.type),
                        event_type=event.type, depth=depth)
            key = (target.repo.lower(), event.type)
            if target.repo.lower() in (c.lower() for c in chain):
                node.state = NodeState.CYCLE
                node.reason = "cycle: " + " → ".join((*chain, target.repo))
                node.hint = "break the cycle in tako.yml subscriptions (tako-gha graph shows it)"
            elif depth > self.options.max_depth:
                node.state = NodeState.DEPTH_EXCEEDED
                node.reason = (f"depth {depth} exceeds max_depth {self.options.max_depth}: "
                               + " → ".join((*chain, target.repo)))
                node.hint = "raise max_depth if this cascade is meant to be this deep"
            elif key in seen:
                # Two subscriptions of one repo: one dispatch (ids are per repo+type).
                node.id = dispatch_id(self.root, parent, f"{target.repo}#{len(seen)}",
                                      event.type)
                node.state = NodeState.DEDUPLICATED
                node.duplicate_of = seen[key]
                node.reason = f"{target.repo} already gets {event.type} from this fan-out"
            if node.id in self.tracker.tracks:
                continue
            seen.setdefault(key, node.id)
            track = self.tracker.add(self.tracker.origin, node, own=True,
                                     workflow=target.workflow)
            self.own.append(track)
            part, slot = (self.shares.assign(node.id, target.repo)
                          if node.state is NodeState.PLANNED else (None, None))
            meta = self._meta(node, target, chain, part, slot)
            track.payload = build_client_payload(self.event, target.inputs, meta)
            if exact.wants_exact(target.workflow, target.ref, target.trigger, target.declared):
                track.exact_mode, track.ref = True, target.ref
                track.event = WORKFLOW_EVENT
                track.inputs = exact.workflow_inputs(target.inputs, meta, self.event)
                exact.prepare(self, track, target.declared)

    def _split_budget(self, plan: PlanOutcome) -> Budget:
        """What this process may spend (all it was handed: a child's part stays here
        until the child is dispatched), and each target's part and slot
        (``self.shares``), by the shape the subscription graph predicts."""
        opts, ctx = self.options, self.ctx
        inherited = (ctx.budget if ctx is not None and ctx.budget is not None
                     else Budget.root(opts.dispatches_per_minute, opts.dispatches_per_hour))
        self.shares = Shares(slot=ctx.slot if ctx is not None and ctx.slot else Slot())
        if not opts.shared_budget or not plan.targets:
            return inherited
        depth = ctx.depth if ctx else 1
        self.shares.plan(inherited, plan.subscribers, self.event.source,
                         [t.repo for t in plan.targets], ctx.chain if ctx else (),
                         opts.max_depth - depth + 1)
        return inherited

    def _sync_pacer(self) -> None:
        self._pacer_version = self.session.governor.version
        self.pacer.set_rates(*self.session.governor.dispatch_rates())

    def _meta(self, node: Node, target: Target, chain: tuple[str, ...],
              budget: Budget | None = None, slot: Slot | None = None) -> TakoMeta:
        tag = TitleTag(self.root, self.ctx.parent if self.ctx else None, node.id,
                       int(self.deadline_wall.timestamp()))
        return TakoMeta(root=self.root, parent=tag.parent, id=node.id, depth=node.depth,
                        chain=(*chain, target.repo), deadline=self.deadline_wall,
                        title=make_title(self.event.type, self.event.source, tag),
                        budget=budget.to_json() if budget is not None else None,
                        slot=slot.to_json() if slot is not None else None)

    def _report_skipped(self, plan: PlanOutcome) -> None:
        for diagnostic in plan.diagnostics:
            self.session.message(diagnostic.format())
        for repo, reason in plan.skipped:
            self.session.message(f"skipped {repo}: {reason}")
        for repo, reason in plan.expected:
            self.session.message(f"{api.EXPECTED_SKIP}{repo}: {reason}")
        if not plan.targets:
            self.session.message(f"no repository of {self.request.org} subscribes to "
                                 f"{self.event.type} from {self.event.source}: nothing to "
                                 "dispatch")

    # ------------------------------------------------------------ the loop
    def _loop(self) -> TreeReport:
        session, opts = self.session, self.options
        while True:
            now = self.clock.monotonic()
            if now >= session.deadline:
                if now < self._held_until:
                    self._explain_hold()
                session.handle_timeout()
                break
            changed = self._dispatch_ready(now)
            force = self._check_discovery(now)
            # Not waiting, run states matter only while they hold the next dispatch
            # back (concurrency_limit): a level that fires and forgets reads none.
            states = opts.wait or self._in_flight() >= opts.concurrency_limit
            changed |= session.poll_due(now, force=force, states=states)
            changed |= self._check_discovery_after_poll(self.clock.monotonic())
            changed |= self._cancel_duplicates()
            self.shares.returned(self.own, session.governor, self.clock.monotonic(),
                                 opts.sibling_grace)
            session.governor.check_refusals()
            if session.governor.version != self._pacer_version:
                self._sync_pacer()
            if changed:
                session.emit()
            failed = session.first_failure()
            if opts.fail_fast and failed is not None:
                session.fail_fast(failed)
                break
            planned = any(t.node.state is NodeState.PLANNED for t in self.own)
            if not opts.wait and not planned:
                break
            if opts.wait and not planned and self.tracker.complete(self.clock.monotonic()):
                if session.recheck_failed():
                    session.emit()
                    continue  # a person re-ran a failed run: follow its new attempt
                break
            if not planned:
                session.hurry_final_scan(self.clock.monotonic())
            self._sleep(planned)
        return self._finish()

    def _finish(self) -> TreeReport:
        """The report; a finished wait is recorded (``end``), so the journal can be
        cleaned once old. Failing to record it only keeps the journal longer."""
        report = self.session.finish()
        if self._journal_started and report.status is not TreeStatus.RUNNING:
            assert self.journal is not None
            try:
                self.journal.end(self.root, report.status.value, self.forge.now())
            except JournalError as exc:
                self.session.message(f"cannot record the end of the fan-out: {exc}")
        return report

    def _in_flight(self) -> int:
        now = self.clock.monotonic()
        return sum(1 for t in self.own if t.dispatched_at is not None and (
            not t.node.state.is_terminal or not t.settled(now, self.options.sibling_grace)))

    def _dispatch_ready(self, now: float) -> bool:
        changed = False
        slots = self.options.concurrency_limit - self._in_flight()
        for track in self.own:
            if slots <= 0:
                break
            if track.node.state is not NodeState.PLANNED or track.dispatched_at is not None:
                continue
            if now < self._held_until or self._write_wait(track) > 0:
                break  # a dispatch costs 5 REST points a minute: it waits for room too
            self._dispatch(track)
            changed = True
            if track.dispatched_at is not None:
                slots -= 1
        return changed

    def _write_wait(self, track: Track) -> float:
        """Seconds until the dispatch to ``track`` may go: the pacer's window, the
        slot's next instant, and room in the minute for the write and for the part of
        the budget it hands over."""
        governor = self.session.governor
        return max(self.pacer.wait_time(), governor.slot_wait(),
                   governor.handover_wait(self.shares.part_of(track.node.id)))

    def _dry_run(self) -> TreeReport:
        for track in self.own:
            if track.node.state is NodeState.PLANNED:
                self._dry_run_check(track)
        would = sum(1 for t in self.own if t.node.state is NodeState.PLANNED)
        refused = sum(1 for t in self.own if t.node.state.is_failure)
        note = f"dry run: nothing was dispatched; a real run would send {would} dispatch(es)"
        if refused:
            note += f" and refuse {refused}"
        self.session.message(note)
        return self.session.finish()

    def _dry_run_check(self, track: Track) -> None:
        """A dry run shows what a real run would: a dispatch GitHub would refuse
        (oversize payload, too many keys) is an error here too, not 'planned'."""
        node = track.node
        try:
            check_dispatch(node.event_type, track.payload or {})
            if track.exact_mode:
                exact.check_inputs(track.inputs)
        except PayloadError as exc:
            node.state, node.reason, node.hint = NodeState.ERROR, exc.message, exc.hint
            return
        node.reason = "dry run: not dispatched" + (
            f" (would be a workflow dispatch of {track.workflow} on {track.ref})"
            if track.exact_mode else "")

    def _dispatch(self, track: Track, *, again: bool = False) -> None:
        node = track.node
        payload = track.payload or {}
        try:
            check_dispatch(node.event_type, payload)
            if track.exact_mode:
                exact.check_inputs(track.inputs)
        except PayloadError as exc:
            node.state, node.reason, node.hint = NodeState.ERROR, exc.message, exc.hint
            return
        # From the intent to the recorded answer, SIGINT/SIGTERM wait (kill -9 cannot:
        # the journal then says "unknown", and a resume never sends it again).
        with self.guard.hold():
            self._send(track, payload, again=again)

    def _send(self, track: Track, payload: dict, *, again: bool) -> None:
        node = track.node
        # a slotted write counts from its slot's instant (the next one is never missed)
        self.pacer.record(back=self.session.governor.note_write())
        track.dispatched_at = self.clock.monotonic()
        if track.dispatched_wall is None:
            track.dispatched_wall = self.forge.now()
        journal = self.journal
        if journal is not None:
            seen = self.tracker.highest.get(node.repo.lower())
            mark = max((m for m in (track.watermark, seen) if m is not None), default=None)
            journal.intent(self.root, node.id, node.repo, node.event_type, self.forge.now(),
                           watermark=mark, workflow=exact.intent_workflow(track))
        answer = None
        try:
            if track.exact_mode:
                answer = exact.send(self, track, payload)
            else:
                self.forge.dispatch(node.repo, node.event_type, payload)
        except RateLimitError as exc:
            # Refused before GitHub processed it: nothing was sent, so the node is
            # still planned; hold every dispatch until the limit resets.
            if journal is not None:
                journal.outcome(self.root, node.id, "held", exc.message)
            self._hold(track, exc)
            return
        except AmbiguousDispatchError as exc:
            if journal is not None:
                journal.outcome(self.root, node.id, "lost", exc.message)
            track.ambiguous_dispatch = True
            track.lost_answers.append(_answer(exc))
            node.reason = (f"dispatch answer lost ({exc.message}); looking for its run "
                           "before deciding to send again")
        except ForgeError as exc:
            if journal is not None:
                journal.outcome(self.root, node.id, "refused", exc.message)
            if token_refused(exc):
                # The token, not this target, is refused: every dispatch and listing
                # after it would be too. Not delivered, so the node stays as it was.
                self._undo_dispatch(track)
                raise self.session.credentials_lost(exc) from None
            node.state, node.reason = NodeState.ERROR, f"dispatch refused: {exc.message}"
            node.hint = exc.hint or None
            return
        else:
            run_id = answer.run_id if answer is not None else None
            if journal is not None:
                journal.outcome(self.root, node.id, "sent", run=run_id)
            if answer is not None and run_id is not None:
                exact.attach(self, track, run_id, answer.html_url)
            track.confirmed = True
            if not again:
                track.ambiguous_dispatch = False
        # sent, or maybe (a lost answer): the child may run
        self.shares.hand_over(node.id, self.session.governor)
        if node.state is NodeState.PLANNED:
            node.state = NodeState.DISPATCHED
        self.session.stats.dispatched += 0 if again else 1
        verb = "re-sent" if again else "dispatched"
        self.session.message(f"{verb} {node.event_type} to {node.repo}")

    def _undo_dispatch(self, track: Track) -> None:
        """A dispatch refused before GitHub processed it: nothing was sent."""
        if track.resent:
            track.resent = False  # the re-send did not go out: it may be tried again
            self.session.stats.redispatched -= 1
        else:
            track.dispatched_at = track.dispatched_wall = None

    def _hold(self, track: Track, exc: RateLimitError) -> None:
        now = self.clock.monotonic()
        self._undo_dispatch(track)
        self._held_until = now + until_reset(self.forge, exc,
                                             unknown=self.options.poll_max_interval, floor=1.0)
        self._held_why = f"rate limited: {exc.message}"
        self.session.message(f"dispatching paused ({self._held_why})")

    def _explain_hold(self) -> None:
        """The deadline came while dispatching was held: say why on what was never sent."""
        for track in self.own:
            if track.node.state is NodeState.PLANNED and not track.node.reason:
                track.node.reason = self._held_why

    def _check_discovery(self, now: float) -> bool:
        """True when a discovery or re-send deadline has passed since the last
        listing: poll now so the decision rests on fresh data. At most one forced
        round per minimum interval, so a repo whose listing keeps failing cannot
        make the loop spin."""
        if now - self._last_forced < max(self.options.poll_min_interval, 0.05):
            return False
        for track in self.own:
            if track.dispatched_at is None or track.node.runs or track.node.state.is_terminal:
                continue
            due = self._discovery_due(track)
            if now >= due and self._last_polled(track) < due:
                self._last_forced = now
                return True
        return False

    def _discovery_due(self, track: Track) -> float:
        assert track.dispatched_at is not None
        if track.discovery_due is not None:
            return track.discovery_due  # resumed: what was left of its window
        if track.ambiguous_dispatch and not track.resent:
            return track.dispatched_at + min(self.options.redispatch_grace,
                                             self.options.discovery_timeout)
        return track.dispatched_at + self.options.discovery_timeout

    def _last_polled(self, track: Track) -> float:
        return self.tracker.last_polled.get(track.node.repo.lower(), -math.inf)

    def _check_discovery_after_poll(self, now: float) -> bool:
        changed = False
        for track in self.own:
            node = track.node
            if track.dispatched_at is None or node.runs or node.state.is_terminal:
                continue
            due = self._discovery_due(track)
            if now < due:
                continue
            if self._last_polled(track) < due:
                failed = self.session.poller.last_error.get(node.repo.lower())
                if failed is not None and failed[0] >= due:
                    node.state = NodeState.ERROR
                    node.reason = f"its runs could not be listed: {failed[1]}"
                    # The error says what happened; a permission is one cause of many.
                    node.hint = ("the token may lack Actions: read on the target "
                                 "repository (or GitHub failed to list its runs)")
                    changed = True
                continue
            if track.ambiguous_dispatch and not track.resent:
                if now < self._held_until:
                    continue  # rate limited: the re-send waits like any dispatch
                # No run after the grace: it was not delivered. Same id, so a late
                # first delivery is still recognised; counted and reported.
                # Measured before the re-send restarts dispatched_at.
                waited = format_duration(now - track.dispatched_at)
                track.resent = True
                self.session.stats.redispatched += 1
                self._dispatch(track, again=True)
                if track.resent:
                    node.reason = ("dispatch re-sent once: the first answer was lost and no "
                                   f"run appeared within {waited}")
                changed = True
                continue
            self._not_started(track)
            changed = True
        return changed

    def _not_started(self, track: Track) -> None:
        """No run by the discovery deadline. The hint names what was observed: a
        dispatch GitHub accepted and nothing listened, or one whose answers were all
        lost (5xx, timeouts), which may simply never have arrived."""
        node = track.node
        node.state = NodeState.NOT_STARTED
        waited = format_duration(self.options.discovery_timeout)
        node.reason = f"no run appeared within {waited} of the dispatch"
        line = self._damaged.get(node.id)
        if line is not None:
            node.reason += (f"; journal line {line} is unreadable and may be its record, "
                            "so it is not sent again: it may never have been sent")
            node.hint = (f"if {node.repo} has no run of this cascade, it was never sent: "
                         "fan out again (a new root) to send it")
            return
        if track.journaled == UNKNOWN:
            node.reason += ("; the fan-out that sent it was stopped before GitHub's answer "
                            "was recorded (journal), so it is not sent again: it may never "
                            "have left")
            node.hint = (f"if {node.repo} has no run of it, it may never have reached "
                         "GitHub: fan out again (a new root) to send it")
            return
        if track.confirmed:
            # Not checked here: say what may be the cause, not what is.
            node.hint = (f"{node.repo} may have no workflow listening for "
                         f"repository_dispatch type {node.event_type} on its default branch "
                         "(tako-gha lint in its checkout checks)")
            return
        answers = track.lost_answers or ["no answer recorded"]
        sends = "once" if len(answers) == 1 else f"{len(answers)} times"
        node.reason += (f"; GitHub never confirmed it: sent {sends}, answered "
                        + ", ".join(answers))
        node.hint = ("the dispatch was probably not delivered (GitHub's answers were "
                     "errors, not an acceptance); when GitHub is healthy again, fan out "
                     "again (--resume does not re-send a dispatch whose answer was lost)")

    def _cancel_duplicates(self) -> bool:
        """``dedupe: root`` raced by another process: this dispatch lost (its run came
        later), so cancel the duplicate run it started."""
        losers = [t for t in self.own if t.node.state is NodeState.DEDUPLICATED
                  and any(r.status != "completed" and r.run_id not in self.session.cancel_sent
                          for r in t.node.runs)]
        for track in losers:
            for ref in track.node.runs:
                if ref.status == "completed" or ref.run_id in self.session.cancel_sent:
                    continue
                self.session.cancel_sent.add(ref.run_id)
                try:
                    self.forge.cancel_run(track.node.repo, ref.run_id)
                except ForgeError as exc:
                    self.session.message(f"cancelling duplicate run {ref.run_id} failed: {exc}")
        return bool(losers)

    def _sleep(self, planned: bool) -> None:
        now = self.clock.monotonic()
        wake = min(self.session.next_poll, self.session.deadline)
        if planned and self.options.concurrency_limit - self._in_flight() > 0:
            waiting = next((t for t in self.own if t.node.state is NodeState.PLANNED
                            and t.dispatched_at is None), None)
            wait = self._write_wait(waiting) if waiting is not None else 0.0
            wake = min(wake, max(now + wait, self._held_until))
        for track in self.own:
            if track.dispatched_at is None or track.node.state.is_terminal or track.node.runs:
                continue
            due = self._discovery_due(track)
            if due > now:
                wake = min(wake, due)
        for track in self.own:
            if track.first_run_at is not None and track.node.runs:
                settle = track.first_run_at + self.options.sibling_grace
                if settle > now:
                    wake = min(wake, settle)
        pause = max(0.0, wake - now)
        if pause > 0:
            self.clock.sleep(pause)
        else:
            # Never spin: yield a little when nothing is due yet.
            self.clock.sleep(0.01)


def _answer(exc: AmbiguousDispatchError) -> str:
    """How a lost dispatch answer reads in a reason: "HTTP 502" or the failure."""
    return f"HTTP {exc.status}" if exc.status else exc.message

