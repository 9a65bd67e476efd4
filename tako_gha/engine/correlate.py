"""Correlation: which runs belong to which node of the tree (docs/protocol.md).

``TreeTracker`` owns the tree being watched. Every listing of a repo's runs is fed
to ``ingest``; a run is attached to a node

- strictly, when its title tag names the node's dispatch id;
- as a new descendant, when its tag names this root and a known node as parent
  (children that runs fan out to, found by following the graph), recursively;
- heuristically, for runs without a tag (receivers without ``run-name``): event
  ``repository_dispatch``, created inside the dispatch window, id above the
  watermark when one is known, the subscription's workflow file if it names one.
  Such nodes are marked ``heuristic``; when one run fits several dispatches the
  node says so in its reason instead of guessing silently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from tako_gha.core.ids import TitleTag, parse_title, split_title
from tako_gha.core.tree import Node, NodeState, RunRef
from tako_gha.forge.base import RunInfo

# How far a run's created_at may precede the dispatch time (server clock vs ours).
HEURISTIC_SKEW = timedelta(seconds=5)
DISPATCH_EVENT = "repository_dispatch"
WORKFLOW_EVENT = "workflow_dispatch"  # exact mode; listed only without run details
RUN_EVENTS = (DISPATCH_EVENT, WORKFLOW_EVENT)


def run_tag(run: RunInfo) -> TitleTag | None:
    return parse_title(run.display_title) or parse_title(run.name)


def title_event_type(title: str | None) -> str:
    """The event type in a tako title ``"<type> from <source> [tako:…]"``."""
    head, tag = split_title(title)
    if tag is None or " from " not in head:
        return ""
    # The source (a repo name) has no spaces: the last " from " is the separator.
    return head.rsplit(" from ", 1)[0]


def title_source(title: str | None) -> str:
    head, tag = split_title(title)
    if tag is None or " from " not in head:
        return ""
    return head.rsplit(" from ", 1)[1].strip()


def workflow_matches(path: str, wanted: str | None) -> bool:
    if not wanted:
        return True
    name = wanted.rsplit("/", 1)[-1]
    return path == wanted or path.rsplit("/", 1)[-1] == name


@dataclass
class Track:
    """Engine bookkeeping beside one node."""

    node: Node
    own: bool  # dispatched by this process (heuristic correlation allowed)
    workflow: str | None = None
    payload: dict | None = None
    dispatched_at: float | None = None  # monotonic
    dispatched_wall: datetime | None = None  # forge clock
    watermark: int | None = None  # max run id in the repo before the dispatch
    ambiguous_dispatch: bool = False
    resent: bool = False
    confirmed: bool = False  # GitHub accepted a dispatch of it (2xx)
    lost_answers: list[str] = field(default_factory=list)  # why each unconfirmed send was
    first_run_at: float | None = None
    done_at: float | None = None  # when the node was first seen terminal
    annotated: bool = False
    heuristic_note: str | None = None
    lost: bool = False  # its runs can no longer be read (404): its error state sticks
    # Resumed from the journal: "sent" or "unknown"; its window, the runs matched before.
    journaled: str | None = None
    window_end: datetime | None = None  # heuristic runs must be created before this
    known_runs: set[int] = field(default_factory=set)
    discovery_due: float | None = None  # monotonic; overrides the usual deadline
    stopped: bool = False  # the engine cancelled its runs at the deadline: timed_out sticks
    # Exact mode (engine.exact): dispatched by workflow dispatch on ``ref`` with these
    # ``inputs``; ``exact_mode`` while the answer names the run (one dispatch, one run).
    exact_mode: bool = False
    ref: str | None = None
    inputs: dict[str, str] = field(default_factory=dict)
    event: str = DISPATCH_EVENT  # the runs' event, for listings and the fallback
    rechecked: int = 0  # the attempt whose failure was read once more before the verdict

    def accepting(self, now: float, sibling_grace: float, discovery_timeout: float) -> bool:
        """Still collecting runs: none found yet inside the discovery window, or
        within the sibling grace after the first (other workflows may listen)."""
        if self.dispatched_at is None or (self.exact_mode and self.node.runs):
            return False
        if self.first_run_at is None:
            return now - self.dispatched_at <= discovery_timeout
        return now - self.first_run_at <= sibling_grace

    def settled(self, now: float, sibling_grace: float) -> bool:
        if not self.own or not self.node.runs or self.exact_mode:
            return True  # a workflow dispatch starts one run: no sibling to wait for
        return self.first_run_at is not None and now - self.first_run_at >= sibling_grace


def aggregate_state(runs: Iterable[RunRef]) -> NodeState:
    states = [r.state for r in runs]
    if any(not s.is_terminal for s in states):
        return NodeState.IN_PROGRESS if NodeState.IN_PROGRESS in states else NodeState.QUEUED
    failed = [s for s in states if s.is_failure]
    return failed[0] if failed else NodeState.SUCCESS


def _ref(run: RunInfo, correlation: str, deadline: datetime | None = None) -> RunRef:
    """``deadline``: the sender's, for a run whose title carries none."""
    tag = run_tag(run)
    if tag is not None and tag.deadline is not None and run.run_attempt <= 1:
        # (a re-run keeps its first attempt's title: that deadline is not its own)
        deadline = datetime.fromtimestamp(tag.deadline, timezone.utc)
    return RunRef(run.id, run.html_url, run.workflow_path, run.status, run.conclusion,
                  correlation, created_at=run.created_at, updated_at=run.updated_at,
                  deadline=deadline, attempt=run.run_attempt)


@dataclass
class TreeTracker:
    """The tree of one root as seen so far, updated from run listings."""

    root: str
    origin: Node
    subscribers: Mapping[str, set[str]]
    sibling_grace: float = 5.0
    discovery_timeout: float = 120.0
    dedupe: str = "none"  # "none" | "root" | "infer" (watch: a cancelled twin is a dupe)
    tracks: dict[str, Track] = field(default_factory=dict)
    run_owner: dict[int, str] = field(default_factory=dict)
    orphans: dict[int, tuple[str, RunInfo, TitleTag]] = field(default_factory=dict)
    last_polled: dict[str, float] = field(default_factory=dict)
    highest: dict[str, int] = field(default_factory=dict)  # lower-case repo -> max run id seen
    deadline: datetime | None = None  # this process's sender deadline (untagged runs)
    untagged: dict[str, datetime] = field(default_factory=dict)  # repo -> newest untagged
    on_message: Callable[[str], None] = lambda text: None
    on_attach: Callable[[Track, int], None] = lambda track, run_id: None
    by_repo: dict[str, list[Track]] = field(default_factory=dict)  # lower-case repo
    lost_repos: set[str] = field(default_factory=set)  # lower-case; listings answer 404
    # lower-case repos with a subscription dispatched by workflow dispatch: their runs
    # (this tree's, or a child's fan-out's) are workflow_dispatch runs
    workflow_repos: set[str] = field(default_factory=set)
    _touched: list[Track] = field(default_factory=list)  # attached to during an ingest
    # Children report up (engine.report): while on, the subscribers of a node whose run
    # may leave a report are not listed until its report was looked for; ``reports``
    # says, per node id, "read" or "missing" (then its subscribers are listed).
    reporting: bool = False
    reports: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.tracks[self.origin.id] = Track(self.origin, own=False)

    # ------------------------------------------------------------ structure
    def add(self, parent: Node, node: Node, *, own: bool, workflow: str | None = None) -> Track:
        node.parent_id = parent.id
        parent.children.append(node)
        track = Track(node, own=own, workflow=workflow)
        self.tracks[node.id] = track
        self.by_repo.setdefault(node.repo.lower(), []).append(track)
        return track

    def lists_every_event(self, repo: str) -> bool:
        key = repo.lower()
        return key in self.workflow_repos or any(
            t.event != DISPATCH_EVENT for t in self.by_repo.get(key, []))

    def in_repo(self, repo: str) -> list[Track]:
        return self.by_repo.get(repo.lower(), [])

    def nodes(self) -> list[Track]:
        return [t for t in self.tracks.values() if t.node is not self.origin]

    def subscribers_of(self, repo: str) -> set[str]:
        return set(self.subscribers.get(repo.lower(), set()))

    # ------------------------------------------------------------ polling plan
    def repos_to_poll(self, now: float, batched: Container[int] = frozenset()) -> set[str]:
        """The repos to list: only where a run of this tree can still appear — a
        dispatch not yet matched to its run (or within its sibling grace), the
        subscribers of a node that may still fan out (one last look after it ended)
        — and where a known, unfinished run cannot be read in a batch (its id is not
        in ``batched``). A repo whose nodes are all known and batched is not listed."""
        repos: set[str] = set()
        for track in self.nodes():
            node = track.node
            active = not node.state.is_terminal
            unbatched = active and any(r.status != "completed" and r.run_id not in batched
                                       for r in node.runs)
            if self._watch_own_repo(track, now, unbatched) or (not track.own and unbatched):
                repos.add(node.repo.lower())
            if node.runs and (active or self._scan_pending(track)):
                if self.awaits_report(track):
                    continue  # its report names them (or, missing, they are listed)
                repos |= self.subscribers_of(node.repo) - self._found_under(node)
        return repos

    def awaits_report(self, track: Track) -> bool:
        """A node that may fan out, whose run's report was not looked for yet."""
        return (self.reporting and bool(track.node.runs) and track.node.id not in self.reports
                and bool(self.subscribers_of(track.node.repo)))

    @staticmethod
    def _found_under(node: Node) -> set[str]:
        """Repos where this node's children were found already: their runs are
        known, and the last look after the node ends covers a late one."""
        return {child.repo.lower() for child in node.children if child.runs}

    def _watch_own_repo(self, track: Track, now: float, unbatched: bool = True) -> bool:
        if not track.own or track.dispatched_at is None:
            return False
        node = track.node
        if node.state.is_terminal and not node.runs:
            return False  # refused, not started, or a duplicate: nothing to find
        waiting = not node.state.is_terminal and (not node.runs or unbatched)
        return (waiting or not track.settled(now, self.sibling_grace)
                or track.accepting(now, self.sibling_grace, self.discovery_timeout))

    def _scan_pending(self, track: Track) -> bool:
        """A finished node's children may have appeared just before it finished:
        its subscribers where no child was found yet need one listing after it was
        seen done (a lost repo will never be listed again, so it is not waited for)."""
        if track.done_at is None:
            return True
        unseen = (self.subscribers_of(track.node.repo) - self.lost_repos
                  - self._found_under(track.node))
        return any(self.last_polled.get(s, -math.inf) <= track.done_at for s in unseen)

    def complete(self, now: float) -> bool:
        for track in self.nodes():
            node = track.node
            if not node.state.is_terminal:
                return False
            if track.own and not track.settled(now, self.sibling_grace):
                return False
            if node.runs and self._scan_pending(track):
                return False
        return True

    # ------------------------------------------------------------ ingest
    def ingest(self, repo: str, runs: list[RunInfo], now: float) -> bool:
        """Fold one listing of ``repo`` into the tree; True if anything changed."""
        self.last_polled[repo.lower()] = now
        if runs:
            key = repo.lower()
            self.highest[key] = max(self.highest.get(key, 0), max(r.id for r in runs))
        changed = False
        untagged: list[RunInfo] = []
        for run in runs:
            tag = run_tag(run)
            if tag is None:
                if run.event in RUN_EVENTS:
                    untagged.append(run)
                    key = repo.lower()
                    self.untagged[key] = max(self.untagged.get(key, run.created_at),
                                             run.created_at)
                continue
            if tag.root != self.root:
                continue
            changed |= self._ingest_tagged(repo, run, tag, now)
        changed |= self._ingest_untagged(repo, untagged, now)
        changed |= self._adopt_orphans(now)
        if self.dedupe != "none":
            changed |= self._dedupe(repo, runs)
        # Only this repo's nodes can have changed (plus descendants just added,
        # which are refreshed when attached): keeps a round over N repos O(N).
        touched, self._touched = self._touched, []
        changed |= self.refresh(now, [*self.in_repo(repo), *touched])
        return changed

    def update_run(self, run: RunInfo) -> bool:
        """A known run as listed or read: its latest attempt (a person's re-run
        keeps the run id and counts the attempt up) is the one that counts."""
        changed = False
        owner = self.run_owner.get(run.id)
        if owner is not None:
            for ref in self.tracks[owner].node.runs:
                if ref.run_id == run.id and ref.attempt != run.run_attempt:
                    # A new attempt: its title's deadline was the first attempt's.
                    ref.new_attempt(run.run_attempt)
                    ref.deadline, changed = self.deadline, True
        return self.update_state(run.id, run.status, run.conclusion, run.updated_at) or changed

    def update_state(self, run_id: int, status: str | None, conclusion: str | None,
                     updated_at: datetime | None = None) -> bool:
        """A known run's new state (from a listing, a single read or a batch)."""
        owner = self.run_owner.get(run_id)
        if owner is None:
            return False
        for ref in self.tracks[owner].node.runs:
            if ref.run_id == run_id and (ref.status, ref.conclusion) != (status, conclusion):
                ref.status, ref.conclusion = status, conclusion
                if updated_at is not None:
                    ref.updated_at = updated_at
                return True
        return False

    def _ingest_tagged(self, repo: str, run: RunInfo, tag: TitleTag, now: float) -> bool:
        if run.id in self.run_owner:
            return self.update_run(run)
        track = self.tracks.get(tag.id)
        if track is not None and track.node is not self.origin:
            if track.node.repo.lower() != repo.lower():
                return False
            self._attach(track, run, "strict", now)
            return True
        parent_id = tag.parent or self.root
        parent = self.tracks.get(parent_id)
        if parent is None or (tag.parent is None and self.origin.id != self.root):
            # Its parent is not known yet (or it is a sibling of an ancestor).
            if tag.parent is not None:
                self.orphans[run.id] = (repo, run, tag)
            return False
        self._new_descendant(parent.node, repo, run, tag, now)
        return True

    def _new_descendant(self, parent: Node, repo: str, run: RunInfo, tag: TitleTag,
                        now: float) -> None:
        title = run.display_title or run.name or ""
        node = Node(repo=run.repo or repo, id=tag.id, state=NodeState.QUEUED,
                    event_type=title_event_type(title), depth=parent.depth + 1)
        track = self.add(parent, node, own=False)
        self._attach(track, run, "strict", now)
        if parent is self.origin and not self.origin.repo:
            # Rebuilding from runs alone: the origin is named in its children's titles.
            self.origin.repo = title_source(title)
            self.origin.event_type = node.event_type
        self.on_message(f"found {node.repo} (depth {node.depth}) under {parent.repo}")

    def _attach(self, track: Track, run: RunInfo, correlation: str, now: float) -> None:
        self.attach_ref(track, _ref(run, correlation, self.deadline if track.own else None),
                        now)

    def attach_ref(self, track: Track, ref: RunRef, now: float) -> None:
        """``ref`` is one of ``track``'s runs (found by a listing, or named by the answer
        to its workflow dispatch: ``exact``)."""
        if ref.deadline is None and track.own:
            ref.deadline = self.deadline  # ours: cancelled at our deadline, it timed out
        self._touched.append(track)
        self.on_attach(track, ref.run_id)
        self.run_owner[ref.run_id] = track.node.id
        track.node.runs.append(ref)
        track.node.runs.sort(key=lambda r: r.run_id)
        if track.first_run_at is None:
            track.first_run_at = now
        kinds = {r.correlation for r in track.node.runs}
        track.node.correlation = ("heuristic" if "heuristic" in kinds
                                  else "exact" if kinds == {"exact"} else "strict")

    def _adopt_orphans(self, now: float) -> bool:
        changed = False
        progress = True
        while progress and self.orphans:
            progress = False
            for run_id, (repo, run, tag) in list(self.orphans.items()):
                parent = self.tracks.get(tag.parent or "")
                if parent is None or run_id in self.run_owner:
                    continue
                del self.orphans[run_id]
                if tag.id in self.tracks:
                    self._attach(self.tracks[tag.id], run, "strict", now)
                else:
                    self._new_descendant(parent.node, repo, run, tag, now)
                progress = changed = True
        return changed

    def _ingest_untagged(self, repo: str, runs: list[RunInfo], now: float) -> bool:
        changed = False
        # A dispatch without a run yet stays open until the engine declares it
        # not_started: the listing forced at its discovery deadline may be the first
        # to show its run (polling slowed by the budget), created inside the window.
        pending = [t for t in self.in_repo(repo)
                   if t.own and (t.accepting(now, self.sibling_grace, self.discovery_timeout)
                                 or self._still_open(t))]
        if not pending:
            for run in runs:
                changed |= self.update_run(run)
            return changed
        claimed = {run_id for t in pending for run_id in t.known_runs}
        # Runs the journal matched before a crash first: they settle their dispatches.
        for run in sorted(runs, key=lambda r: (r.id not in claimed, r.id)):
            if run.id in self.run_owner:
                changed |= self.update_run(run)
                continue
            known = next((t for t in pending if run.id in t.known_runs), None)
            if known is not None:  # matched to it before a crash (journal)
                self._attach(known, run, "heuristic", now)
                changed = True
                continue
            fits = [t for t in pending if run.id not in claimed and self._fits(t, run)]
            if not fits:
                continue
            fits.sort(key=lambda t: t.dispatched_at or 0.0)
            # Prefer a dispatch that has no run of this workflow yet.
            chosen = next((t for t in fits if all(r.workflow != run.workflow_path
                                                  for r in t.node.runs)), fits[0])
            twin = next((r.run_id for r in chosen.node.runs
                         if r.workflow == run.workflow_path), None)
            self._attach(chosen, run, "heuristic", now)
            if twin is not None and chosen.journaled:
                # One workflow, two untagged runs in a resumed dispatch's window: one of
                # them is someone else's, and nothing says which.
                note = (f"ambiguous heuristic match: runs {twin} and {run.id} of {repo} (no "
                        f"run-name) both fit dispatch {chosen.node.id}, sent before this "
                        "resume; both are kept — set run-name in the receiving workflow")
                chosen.heuristic_note = chosen.node.reason = note
            if len(fits) > 1:
                others = ", ".join(t.node.id for t in fits if t is not chosen)
                note = (f"ambiguous heuristic match: run {run.id} of {repo} (no run-name) "
                        f"could also belong to dispatch {others}; assigned by dispatch order "
                        f"— set run-name in the receiving workflow")
                for t in fits:
                    t.heuristic_note = note
                    t.node.reason = note
            changed = True
        return changed

    def _still_open(self, track: Track) -> bool:
        return (track.dispatched_at is not None and track.first_run_at is None
                and not track.node.runs and not track.node.state.is_terminal
                and not track.exact_mode)

    def _fits(self, track: Track, run: RunInfo) -> bool:
        if (track.window_end is None and track.dispatched_wall is not None
                and run.created_at > track.dispatched_wall
                + timedelta(seconds=self.discovery_timeout) + HEURISTIC_SKEW):
            return False  # created after its discovery window: not this dispatch's
        return self._fits_track(track, run)

    @staticmethod
    def _fits_track(track: Track, run: RunInfo) -> bool:
        if run.event != track.event or track.dispatched_wall is None:
            return False
        if track.watermark is not None and run.id <= track.watermark:
            return False
        if run.created_at < track.dispatched_wall - HEURISTIC_SKEW:
            return False
        if track.window_end is not None and run.created_at > track.window_end + HEURISTIC_SKEW:
            return False
        if track.known_runs and any(r.workflow == run.workflow_path for r in track.node.runs):
            return False  # resumed: this workflow's run is the one matched before
        return workflow_matches(run.workflow_path, track.workflow)

    def _dedupe(self, repo: str, runs: list[RunInfo]) -> bool:
        """``dedupe: root`` across processes: of the runs in ``repo`` for this root
        and one event type, the dispatch whose run came first wins; later ones are
        duplicates pointing at it (their own process cancels their runs)."""
        first: dict[str, tuple[int, str]] = {}
        for run in runs:
            tag = run_tag(run)
            if tag is None or tag.root != self.root:
                continue
            etype = title_event_type(run.display_title or run.name)
            if etype not in first or run.id < first[etype][0]:
                first[etype] = (run.id, tag.id)
        changed = False
        for track in self.in_repo(repo):
            node = track.node
            if not node.runs:
                continue
            if node.state is NodeState.DEDUPLICATED:
                continue
            winner = first.get(node.event_type)
            if winner is None or winner[1] == node.id:
                continue
            if min(r.run_id for r in node.runs) <= winner[0]:
                continue
            if self.dedupe == "infer" and any(r.conclusion != "cancelled" for r in node.runs):
                continue
            node.state = NodeState.DEDUPLICATED
            node.duplicate_of = winner[1]
            node.reason = (f"dedupe root: {node.repo} already runs {node.event_type} for this "
                           f"root (dispatch {winner[1]})")
            changed = True
        return changed

    # ------------------------------------------------------------ lost access
    def lose(self, track: Track, reason: str, hint: str) -> bool:
        """The node's runs can no longer be read: an ``error`` that later listings do
        not overwrite, instead of a wait that can only end in a timeout."""
        node = track.node
        if track.lost or node.state.is_terminal or node.state is NodeState.PLANNED:
            return False
        track.lost = True
        node.reason = f"{reason} (it was {node.state.value})"
        node.state, node.hint = NodeState.ERROR, hint
        return True

    def lose_repo(self, repo: str, reason: str, hint: str) -> bool:
        """``repo`` cannot be listed any more: fail its nodes that were still going,
        and stop waiting for a listing of it before calling the tree complete. Nodes
        not dispatched yet keep their turn (a dispatch to it will say what is wrong);
        the rest of the tree goes on."""
        self.lost_repos.add(repo.lower())
        changed = False
        for track in self.in_repo(repo):
            changed |= self.lose(track, reason, hint)
        return changed

    # ------------------------------------------------------------ states
    def refresh(self, now: float, tracks: Iterable[Track] | None = None) -> bool:
        changed = False
        for track in self.nodes() if tracks is None else tracks:
            node = track.node
            if (node.state is NodeState.DEDUPLICATED or track.lost or track.stopped
                    or (not node.runs and node.state.is_terminal)):
                if node.state.is_terminal and track.done_at is None:
                    track.done_at = now
                continue
            if not node.runs:
                continue
            new = aggregate_state(node.runs)
            if new is not node.state:
                node.state = new
                changed = True
            if new.is_terminal and track.done_at is None:
                track.done_at = now
            elif not new.is_terminal:
                track.done_at = None
        return changed

    def all_runs(self) -> list[tuple[Track, RunRef]]:
        return [(t, r) for t in self.nodes() for r in t.node.runs]
