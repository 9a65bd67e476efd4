"""Before a fan-out inside a tree dispatches (a resume, a re-run, or a sibling that got
there first): what was sent before, by the journal and by the runs GitHub shows
(docs/protocol.md, "Exactly once, across crashes").

A dispatch the journal says was sent (or may have been) is never sent again: its runs
are looked for, tagged or not, in its original window — or, when the answer to its
workflow dispatch named the run, that run is read by id (exact mode, no listing).
Otherwise each target is listed once: a run already tagged with the dispatch id is
adopted, not sent again; with ``dedupe: root`` a run of the same event type for this
root makes the node a duplicate; the listing's newest id is the watermark for
heuristic matching.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from tako_gha.core.tree import NodeState
from tako_gha.engine import exact
from tako_gha.engine.correlate import DISPATCH_EVENT, Track, run_tag, title_event_type
from tako_gha.engine.journal import NOT_SENT, UNKNOWN, Entry
from tako_gha.forge.base import ForgeError, RateLimitError, RunInfo

if TYPE_CHECKING:
    from tako_gha.engine.fanout import FanOut


def check(fan: FanOut) -> None:
    """Every planned target of ``fan``, before anything is dispatched (module doc)."""
    untagged: list[str] = []
    ours = {t.node.id for t in fan.own}
    for track in fan.own:
        if track.node.state is NodeState.PLANNED:
            _check_target(fan, track, ours, untagged)
    _say_how_resumed(fan, untagged)
    if fan.options.rerun_failed:
        rerun_failed(fan)


def _prior_entry(fan: FanOut, track: Track, ours: set[str]) -> Entry | None:
    node = track.node
    entry = fan.prior.entries.get(node.id)
    damage = fan.prior.damage_for(node.id, ours)
    if damage is not None and (entry is None or entry.status == NOT_SENT):
        # Its record may be the damaged line: taken as sent, answer unknown.
        at = fan.prior.started_at or fan.wall0
        entry = Entry(node.repo, node.event_type, at, fan.wall0, damaged_line=damage.line)
        fan._damaged[node.id] = damage.line
    return entry


def _check_target(fan: FanOut, track: Track, ours: set[str], untagged: list[str]) -> None:
    node = track.node
    entry = _prior_entry(fan, track, ours)
    journaled = entry is not None and entry.status != NOT_SENT
    if journaled:
        assert entry is not None
        from_journal(fan, track, entry)
        if exact.resume_by_id(fan, track, entry):
            return  # the answer named its run: read by id, never listed
    elif track.exact_mode and (fan.prior.known or (
            fan.options.first_attempt and fan.options.dedupe == "none")):
        # this machine's journal of the root, or this job's first attempt: it was
        # never sent (and a workflow dispatch starts no run but the one it names)
        return
    try:
        runs = fan.session.poller.list_repo(node.repo)
    except RateLimitError as exc:
        fan.session.message(f"cannot check {node.repo} before dispatching: {exc}")
        return
    if runs is None:
        return
    if journaled:
        fan.tracker.ingest(node.repo, runs, fan.clock.monotonic())
        return
    _adopt_or_dedupe(fan, track, runs, untagged)


def _adopt_or_dedupe(fan: FanOut, track: Track, runs: list[RunInfo],
                     untagged: list[str]) -> None:
    node = track.node
    track.watermark = max((r.id for r in runs), default=0)
    mine = [r for r in runs if (tag := run_tag(r)) and tag.id == node.id]
    if mine:
        fan.tracker.ingest(node.repo, mine, fan.clock.monotonic())
        track.dispatched_at = fan.clock.monotonic()
        track.dispatched_wall = fan.forge.now()
        node.reason = "resumed: this dispatch's run already existed"
        fan.session.stats.adopted += 1
        return
    if any(r.event == DISPATCH_EVENT and run_tag(r) is None for r in runs):
        untagged.append(node.repo)
    if fan.options.dedupe == "root":
        twin = next((t for r in sorted(runs, key=lambda r: r.id)
                     if (t := run_tag(r)) and t.root == fan.root and t.id != node.id
                     and title_event_type(r.display_title or r.name) == node.event_type),
                    None)
        if twin is not None:
            node.state = NodeState.DEDUPLICATED
            node.duplicate_of = twin.id
            node.reason = (f"dedupe root: {node.repo} already runs {node.event_type} "
                           f"for this root (dispatch {twin.id})")


def from_journal(fan: FanOut, track: Track, entry: Entry) -> None:
    """A dispatch sent before this resume, by the journal: wait for its run(s) in
    the window it was sent in; never send it again."""
    node = track.node
    now = fan.clock.monotonic()
    track.dispatched_at = now
    track.dispatched_wall = entry.first_at
    track.window_end = entry.last_at + timedelta(seconds=fan.options.discovery_timeout)
    track.known_runs = set(entry.runs)
    if entry.watermark is not None:
        track.watermark = entry.watermark  # runs older than the dispatch are not its
    track.journaled = entry.status
    track.confirmed = entry.status != UNKNOWN
    # What is left of its discovery window (none: one more listing decides).
    left = (track.window_end - fan.forge.now()).total_seconds()
    track.discovery_due = now + max(0.0, min(left, fan.options.discovery_timeout))
    node.state = NodeState.DISPATCHED
    if entry.damaged_line is not None:
        node.reason = (f"resumed: journal line {entry.damaged_line} is unreadable and "
                       "may be this dispatch's record; not sent again")
    elif entry.status != UNKNOWN:
        node.reason = "resumed: sent before (journal), not sent again"
    else:
        node.reason = ("resumed: sent before, GitHub's answer never recorded "
                       "(journal); not sent again")
    fan.session.stats.adopted += 1


def _say_how_resumed(fan: FanOut, untagged: list[str]) -> None:
    if fan.ctx is None or fan.ctx.parent is not None:
        return  # a child's re-run: its tree is found by tags, as always
    if fan.prior.known:
        count = sum(1 for t in fan.own if t.journaled)
        fan.session.message(f"resuming {fan.root}: the journal records {count} "
                            "dispatch(es) sent before; none is sent again")
        return
    where = f" (no record in {fan.journal.path})" if fan.journal is not None else ""
    note = (f"resuming {fan.root} without a journal of it on this machine{where}: "
            "dispatches sent before are recognised only by the run-name tag in their "
            "runs' titles")
    if untagged:
        shown = ", ".join(untagged[:5]) + (" …" if len(untagged) > 5 else "")
        note += (f"; {len(untagged)} target(s) have runs without it ({shown}): a "
                 "dispatch sent there before cannot be recognised and may be sent again")
    fan.session.message(note)


def rerun_failed(fan: FanOut) -> None:
    """A resumed cascade keeps what succeeded and re-runs what failed: each failed
    run of a child this fan-out sent gets its next attempt (rerun-failed-jobs),
    followed as the same node; GitHub refusing it leaves the node failed, said."""
    fan.tracker.refresh(fan.clock.monotonic(), fan.own)
    for track in fan.own:
        node = track.node
        if not node.runs or not node.state.is_failure or node.state in (
                NodeState.DEDUPLICATED,):
            continue
        again = []
        for ref in node.runs:
            if ref.status != "completed" or ref.conclusion in ("success", "neutral",
                                                               "skipped"):
                continue
            try:
                fan.forge.rerun_run(node.repo, ref.run_id, failed_only=True)
            except ForgeError as exc:
                fan.session.message(f"cannot re-run run {ref.run_id} of {node.repo}: "
                                    f"{exc.message}")
                continue
            ref.new_attempt(ref.attempt + 1)  # keeps this attempt's conclusion to show
            ref.status, ref.conclusion = "queued", None
            ref.deadline = fan.tracker.deadline  # this attempt's deadline is ours
            again.append(f"run {ref.run_id} attempt {ref.attempt}")
        if again:
            node.state, track.done_at, track.annotated = NodeState.QUEUED, None, False
            node.reason = "re-running its failed jobs: " + ", ".join(again)
            fan.session.message(f"re-running the failed jobs of {node.repo} "
                                f"({', '.join(again)})")
