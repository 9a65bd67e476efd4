"""``watch`` and ``cancel_tree``: the tree of a root rebuilt from the runs API alone.

Nothing is shared with the process that fanned out: runs are found by the tag in
their titles. Depth-1 runs may be in any subscribed repo of the org, so every
subscribed repo (or, with no subscriptions known, every discovered repo) is listed
each round; conditional requests make the unchanged ones free (304).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from tako_gha.core.ids import is_id
from tako_gha.core.tree import Node, NodeState, TreeReport, run_span
from tako_gha.engine.api import FanOutOptions, Observer
from tako_gha.engine.clock import Clock, SystemClock
from tako_gha.engine.correlate import TreeTracker
from tako_gha.engine.errors import FanOutError, TreeNotFoundError
from tako_gha.engine.journal import NOT_SENT, JournalState
from tako_gha.engine.planning import exact_repos, subscribed_repos, subscribers_map
from tako_gha.engine.session import Session, release_waits
from tako_gha.forge.base import Forge, ForgeError, RepoSelection


def _open(forge: Forge, root: str, org: str, options: FanOutOptions,
          observer: Observer | None, clock: Clock, repos: Sequence[str],
          journal: JournalState | None = None) -> tuple[Session, set[str], int]:
    if not is_id(root):
        raise FanOutError(f"{root!r} is not a tako root id",
                          hint="use the 12-hex-digit root id fan-out printed")
    discovery = forge.discover(RepoSelection(org=org, repos=tuple(repos)))
    subs = subscribers_map(discovery.configs())
    candidates = subscribed_repos(subs) or {r.full_name.lower() for r in discovery.repos}
    origin = Node(repo="", id=root, state=NodeState.IN_PROGRESS)
    tracker = TreeTracker(root, origin, subs, sibling_grace=0.0,
                          discovery_timeout=options.discovery_timeout, dedupe="infer")
    # exact-mode receivers' runs are workflow_dispatch runs: list those repos for all
    tracker.workflow_repos = exact_repos(discovery.configs())
    # a level's report names the runs below it, as it does for the fan-out's own wait
    tracker.reporting = options.reports and hasattr(forge, "run_report")
    started = clock.monotonic()
    session = Session(forge, tracker, options, clock, observer, started=started,
                      deadline=started + options.timeout, since=None, org=org)
    if journal is not None and journal.known:
        _from_journal(session, journal, forge.now())
        candidates |= {t.node.repo.lower() for t in tracker.nodes() if t.own}
    return session, candidates, len(discovery.repos)


def _from_journal(session: Session, journal: JournalState, now: datetime) -> None:
    """What this machine's journal says the root's fan-out sent: one node per
    dispatch, so runs without the run-name tag are matched in the window it was
    sent in (preferring the runs the fan-out matched) instead of going unseen."""
    tracker, options = session.tracker, session.options
    if journal.origin is not None:
        tracker.origin.repo = journal.origin.source
        tracker.origin.event_type = journal.origin.event
    tracker.deadline = journal.deadline  # for runs without the tag (and its deadline)
    for node_id, entry in journal.entries.items():
        if entry.status == NOT_SENT or node_id in tracker.tracks:
            continue
        node = Node(repo=entry.repo, id=node_id, state=NodeState.DISPATCHED,
                    event_type=entry.event_type, depth=1)
        track = tracker.add(tracker.origin, node, own=True)
        track.dispatched_at = session.clock.monotonic()
        track.dispatched_wall = entry.first_at
        track.window_end = entry.last_at + timedelta(seconds=options.discovery_timeout)
        track.known_runs = set(entry.runs)
        track.watermark = entry.watermark
        track.journaled = entry.status
        track.confirmed = entry.status != "unknown"
        left = (track.window_end - now).total_seconds()
        track.discovery_due = track.dispatched_at + max(0.0, left)
    session.message(f"journal: {len(journal.entries)} dispatch(es) of {tracker.root} "
                    "recorded on this machine; runs without the run-name tag are matched "
                    "to them")


def _not_started(session: Session) -> bool:
    """A journaled dispatch whose window passed without a run did not start."""
    changed = False
    now = session.clock.monotonic()
    for track in session.tracker.nodes():
        node = track.node
        if (track.own and not node.runs and not node.state.is_terminal
                and track.discovery_due is not None and now >= track.discovery_due):
            node.state = NodeState.NOT_STARTED
            node.reason = ("no run appeared in the window it was sent in (journal); "
                           "it is not sent again")
            node.hint = (f"if {node.repo} has no run of it, fan out again (a new root) "
                         "to send it")
            changed = True
    return changed


def _root_deadline(session: Session, forge: Forge) -> float | None:
    """The root's deadline (from the origin's children's run titles), on this
    process's clock; None when no title carries it."""
    # (a run re-run since keeps its first attempt's title: not the cascade's deadline now)
    marks = [r.deadline for child in session.tracker.origin.children for r in child.runs
             if r.deadline is not None and r.attempt <= 1]
    if not marks:
        return None
    left = (max(marks) - forge.now()).total_seconds()
    return session.clock.monotonic() + left


def _untagged_note(session: Session) -> None:
    """Without this machine's journal, runs without the tag cannot be told apart:
    say how many subscribed targets have such runs since the cascade began."""
    tracker = session.tracker
    starts = [r.created_at for n in tracker.origin.walk() for r in n.runs
              if r.created_at is not None]
    if not starts or any(t.own for t in tracker.nodes()):
        return
    since = min(starts)
    repos = sorted(repo for repo, newest in tracker.untagged.items() if newest >= since)
    if repos:
        shown = ", ".join(repos[:5]) + (" …" if len(repos) > 5 else "")
        session.message(
            f"{len(repos)} target(s) have runs started by a dispatch (repository_dispatch "
            f"or workflow_dispatch) without the tako tag since this cascade began ({shown}): "
            "they may be this cascade's, and this tree cannot show them (run this where the "
            "fan-out ran, with its journal; a run-name with the tako title in their "
            "workflows shows them anywhere)")


def _not_found(root: str, org: str, polled: int, total: int) -> TreeNotFoundError:
    """Say where runs were looked for: only repositories that subscribe to something
    can hold a cascade's runs, so that is usually fewer than the org has."""
    if polled >= total:
        where = f"all {total} repositories"
    else:
        where = (f"the {polled} repositor{'y' if polled == 1 else 'ies'} with a "
                 f"subscription, of {total}")
    return TreeNotFoundError(
        f"no workflow run in {org} carries root {root} (looked in {where})",
        hint="check --org; runs are found by the [tako:…] tag their run-name puts in "
             "the title")


def watch(forge: Forge, root: str, org: str, options: FanOutOptions,
          observer: Observer | None = None, *, clock: Clock | None = None,
          repos: Sequence[str] = (), journal: JournalState | None = None,
          follow_deadline: bool = True) -> TreeReport:
    """The tree of ``root`` now, or when ``options.wait``, once it is complete (or
    the timeout, or the root's deadline, passes: status timed_out, or failure when a
    node failed, with the partial tree). ``journal``: this machine's record of the
    root's fan-out, when there is one. ``follow_deadline`` False: only ``options.timeout``
    ends the wait (``rerun`` waits on runs started after the root's deadline)."""
    try:
        return _watch(forge, root, org, options, observer, clock or SystemClock(), repos,
                      journal, follow_deadline)
    finally:
        release_waits(forge)


def _watch(forge: Forge, root: str, org: str, options: FanOutOptions,
           observer: Observer | None, clock: Clock, repos: Sequence[str],
           journal: JournalState | None, follow_deadline: bool = True) -> TreeReport:
    session, candidates, total = _open(forge, root, org, options, observer, clock, repos,
                                       journal)
    tracker = session.tracker
    session.poll_due(clock.monotonic(), extra=candidates, force=True)
    appear_by = session.started + options.discovery_timeout
    while not any(True for _ in tracker.nodes()):
        now = clock.monotonic()
        if not options.wait or now >= min(appear_by, session.deadline):
            raise _not_found(root, org, len(candidates), total)
        clock.sleep(max(0.0, session.next_poll - now))
        session.poll_due(clock.monotonic(), extra=candidates)
    root_deadline = _root_deadline(session, forge) if follow_deadline else None
    if root_deadline is not None:
        session.deadline = min(session.deadline, root_deadline)
    _not_started(session)
    session.emit()
    if not options.wait and not tracker.complete(clock.monotonic()) \
            and root_deadline is not None and clock.monotonic() >= root_deadline:
        session.handle_timeout("at its root's deadline")
    while options.wait:
        now = clock.monotonic()
        _not_started(session)
        if tracker.complete(now):
            if session.recheck_failed():
                session.emit()
                continue  # a person re-ran a failed run: follow its new attempt
            break
        if now >= session.deadline:
            late = root_deadline is not None and session.deadline >= root_deadline
            session.handle_timeout("at its root's deadline" if late else None)
            break
        session.hurry_final_scan(now)
        clock.sleep(max(0.01, min(session.next_poll, session.deadline) - now))
        if session.poll_due(clock.monotonic(), extra=_origin_scan(tracker, candidates)):
            session.emit()
    _untagged_note(session)
    report = session.finish()
    # The session's clock started with this call; the cascade started with its
    # first run. A rebuilt tree reports the cascade's own duration.
    span = run_span(report.origin, forge.now())
    if span is not None:
        report.elapsed_seconds = span
    return report


def _origin_scan(tracker: TreeTracker, candidates: set[str]) -> set[str]:
    """Where the origin's own children can still appear. Once the titles named the
    origin's repo, that is its subscribers not found yet, not every subscribing repo
    of the org (deeper levels follow the subscription graph like a fan-out does)."""
    origin = tracker.origin
    if not origin.repo:
        return candidates
    found = {child.repo.lower() for child in origin.children if child.runs}
    return tracker.subscribers_of(origin.repo) - found


def cancel_tree(forge: Forge, root: str, org: str, *, clock: Clock | None = None,
                repos: Sequence[str] = (), options: FanOutOptions | None = None,
                journal: JournalState | None = None,
                observer: Observer | None = None) -> list[tuple[str, int]]:
    """Cancel every still-running run of the tree; the (repo, run id) accepted.
    With ``journal``, untagged runs matched to its dispatches are cancelled too."""
    clock = clock or SystemClock()
    opts = options or FanOutOptions(wait=False)
    try:
        session, candidates, total = _open(forge, root, org, opts, observer, clock, repos, journal)
        session.poll_due(clock.monotonic(), extra=candidates, force=True)
        if not any(True for _ in session.tracker.nodes()):
            raise _not_found(root, org, len(candidates), total)
        _untagged_note(session)
        return session.cancel_tracks(list(session.tracker.nodes()))
    finally:
        release_waits(forge)


def rerun_tree(forge: Forge, root: str, org: str, *, failed_only: bool,
               clock: Clock | None = None, repos: Sequence[str] = (),
               journal: JournalState | None = None,
               observer: Observer | None = None) -> list[tuple[str, int, int]]:
    """Re-run the failed runs of the tree ``root`` (``failed_only``: their failed jobs,
    GitHub's rerun-failed-jobs; else every job): the topmost failed node of each
    branch only — a child whose run failed because a grandchild did re-runs its own
    fan-out step, which resumes its part of the tree. Returns (repo, run id, attempt)
    of each re-run started."""
    clock = clock or SystemClock()
    try:
        session, candidates, total = _open(forge, root, org, FanOutOptions(wait=False), observer,
                                    clock, repos, journal)
        session.poll_due(clock.monotonic(), extra=candidates, force=True)
        if not any(True for _ in session.tracker.nodes()):
            raise _not_found(root, org, len(candidates), total)
        started: list[tuple[str, int, int]] = []
        for node in _topmost_failed(session.tracker.origin):
            for ref in node.runs:
                if ref.status != "completed" or ref.conclusion in ("success", "neutral",
                                                                   "skipped"):
                    continue
                try:
                    forge.rerun_run(node.repo, ref.run_id, failed_only=failed_only)
                except ForgeError as exc:
                    session.message(f"cannot re-run run {ref.run_id} of {node.repo}: "
                                    f"{exc.message}")
                    continue
                started.append((node.repo, ref.run_id, ref.attempt + 1))
        return started
    finally:
        release_waits(forge)


def _topmost_failed(origin: Node) -> list[Node]:
    """Failed nodes with runs whose parent did not fail (the branch's top failure)."""
    found: list[Node] = []

    def visit(node: Node) -> None:
        for child in node.children:
            if child.state.is_failure and child.runs:
                found.append(child)
            else:
                visit(child)

    visit(origin)
    return found
