"""``watch`` and ``cancel_tree``: the tree of a root rebuilt from the runs API alone.

Nothing is shared with the process that fanned out: runs are found by the tag in
their titles. Depth-1 runs may be in any subscribed repo of the org, so every
subscribed repo (or, with no subscriptions known, every discovered repo) is listed
each round; conditional requests make the unchanged ones free (304).
"""

from __future__ import annotations

from collections.abc import Sequence

from tako_gha.core.ids import is_id
from tako_gha.core.tree import Node, NodeState, TreeReport, run_span
from tako_gha.engine.api import FanOutOptions, Observer
from tako_gha.engine.clock import Clock, SystemClock
from tako_gha.engine.correlate import TreeTracker
from tako_gha.engine.errors import FanOutError, TreeNotFoundError
from tako_gha.engine.planning import exact_repos, subscribed_repos, subscribers_map
from tako_gha.engine.session import Session, release_waits
from tako_gha.forge.base import Forge, RepoSelection


def _open(forge: Forge, root: str, org: str, options: FanOutOptions,
          observer: Observer | None, clock: Clock,
          repos: Sequence[str]) -> tuple[Session, set[str]]:
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
    started = clock.monotonic()
    session = Session(forge, tracker, options, clock, observer, started=started,
                      deadline=started + options.timeout, since=None, org=org)
    return session, candidates


def _not_found(root: str, org: str, polled: int) -> TreeNotFoundError:
    return TreeNotFoundError(
        f"no workflow run in {org} ({polled} repositories listed) carries root {root}",
        hint="check --org; runs are found by the [tako:…] tag their run-name puts in "
             "the title")


def watch(forge: Forge, root: str, org: str, options: FanOutOptions,
          observer: Observer | None = None, *, clock: Clock | None = None,
          repos: Sequence[str] = ()) -> TreeReport:
    """The tree of ``root`` now, or when ``options.wait``, once it is complete (or
    the timeout passes: status timed_out with the partial tree)."""
    try:
        return _watch(forge, root, org, options, observer, clock or SystemClock(), repos)
    finally:
        release_waits(forge)


def _watch(forge: Forge, root: str, org: str, options: FanOutOptions,
           observer: Observer | None, clock: Clock, repos: Sequence[str]) -> TreeReport:
    session, candidates = _open(forge, root, org, options, observer, clock, repos)
    tracker = session.tracker
    session.poll_due(clock.monotonic(), extra=candidates, force=True)
    appear_by = session.started + options.discovery_timeout
    while not any(True for _ in tracker.nodes()):
        now = clock.monotonic()
        if not options.wait or now >= min(appear_by, session.deadline):
            raise _not_found(root, org, len(candidates))
        clock.sleep(max(0.0, session.next_poll - now))
        session.poll_due(clock.monotonic(), extra=candidates)
    session.emit()
    while options.wait:
        now = clock.monotonic()
        if tracker.complete(now):
            break
        if now >= session.deadline:
            session.handle_timeout()
            break
        session.hurry_final_scan(now)
        clock.sleep(max(0.01, min(session.next_poll, session.deadline) - now))
        if session.poll_due(clock.monotonic(), extra=_origin_scan(tracker, candidates)):
            session.emit()
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
                repos: Sequence[str] = (),
                options: FanOutOptions | None = None) -> list[tuple[str, int]]:
    """Cancel every still-running run of the tree; the (repo, run id) accepted."""
    clock = clock or SystemClock()
    opts = options or FanOutOptions(wait=False)
    try:
        session, candidates = _open(forge, root, org, opts, None, clock, repos)
        session.poll_due(clock.monotonic(), extra=candidates, force=True)
        if not any(True for _ in session.tracker.nodes()):
            raise _not_found(root, org, len(candidates))
        return session.cancel_tracks(list(session.tracker.nodes()))
    finally:
        release_waits(forge)
