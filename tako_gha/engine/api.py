"""Engine request/option types. Surfaces build these; the engine consumes them.

INTERFACE (agreed). Function bodies live in ``engine.fanout`` / ``engine.watch``:

    fan_out(forge: Forge, request: FanOutRequest, options: FanOutOptions,
            observer: Observer | None = None) -> TreeReport
        Plans (core.matching) against ``forge.discover``, refuses cycles/depth,
        dispatches (paced, bounded by concurrency_limit), correlates runs,
        and — when ``options.wait`` — waits on the whole subtree. Never raises for
        per-node problems (they become node states); raises ForgeError for
        preflight failures (nothing dispatched), and CredentialsLostError (an
        AuthError carrying the partial tree) when GitHub stops accepting the token
        midway (401): nothing more is dispatched, nothing is reported timed out.
    watch(forge, root, org, options, observer=None) -> TreeReport
        Rebuilds the tree of ``root`` from run titles alone; waits if options.wait.
        Raises CredentialsLostError like fan_out when the token stops working.
    cancel_tree(forge, root, org) -> list[tuple[str, int]]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from tako_gha.core.budget import Budget, Slot
from tako_gha.core.events import Event
from tako_gha.core.ids import tag_shape_in
from tako_gha.core.tree import TreeReport
from tako_gha.engine.errors import FanOutError

DEDUPE_MODES = ("none", "root")


@dataclass(frozen=True)
class FanOutOptions:
    wait: bool = True  # wait_for_children
    timeout: float = 3600.0  # seconds, whole wait
    discovery_timeout: float = 120.0  # seconds for a dispatch's run(s) to appear
    concurrency_limit: int = 20  # children in flight (dispatched, not finished)
    max_children: int = 250  # refuse a larger fan-out unless raised
    max_depth: int = 10
    depth_warning: int = 7
    fail_fast: bool = False
    cancel_on_timeout: bool = False
    dedupe: str = "none"  # "none" | "root"
    dry_run: bool = False
    dispatches_per_minute: int = 80
    dispatches_per_hour: int = 500
    poll_min_interval: float = 2.0  # seconds; adapts up to poll_max_interval
    poll_max_interval: float = 30.0
    rate_reserve: float = 0.1  # never spend the last 10% of the budget on polling
    # Added by the engine work (compatible: defaults keep old callers valid).
    sibling_grace: float = 2.0  # after a dispatch's first run, wait this long for siblings
    redispatch_grace: float = 30.0  # after an ambiguous dispatch, look this long before re-sending
    cancel_confirm_timeout: float = 30.0  # wait this long for a cancel to show as cancelled
    # Waiting at scale: known runs' states are read in batches every status_interval
    # seconds (stretched by the budget governor when needed), so a run's end is seen
    # within about that long; a round's requests go out on up to poll_workers threads.
    status_interval: float = 8.0
    poll_workers: int = 8
    # One token's budget shared by the whole cascade (core.budget): this fan-out spends
    # only the part its parent handed down and hands parts to its children. False:
    # every process governs itself alone against the whole token (the old way).
    shared_budget: bool = True
    # Children report up (engine.report): a finished child that may have fanned out is
    # asked for its report before its subscribers are listed. False: list them.
    reports: bool = True
    # A resumed root (a re-run of the producer's job, ``tako-gha rerun``): children
    # whose runs failed are re-run (GitHub's rerun-failed-jobs: the next attempt of
    # the same run, followed as the same node) instead of being reported as failed.
    rerun_failed: bool = False
    # Inside a run on its first attempt (GITHUB_RUN_ATTEMPT 1): nothing sent for this
    # run's dispatch before this job, so an exact-mode target with no journal record
    # was never sent and is dispatched without listing its repository first. A re-run
    # (attempt 2+) or ``dedupe: root`` (a diamond's sibling may have got there) lists.
    first_attempt: bool = False


@dataclass(frozen=True)
class CascadeContext:
    """Where this fan-out sits in a tree. ``None`` parent means a new root."""

    root: str
    parent: str | None  # dispatch id of the run doing this fan-out
    depth: int  # depth of the children this fan-out creates (origin's children = 1)
    chain: tuple[str, ...]  # repos from the root origin down to this repo (inclusive)
    deadline: datetime | None  # inherited absolute deadline (UTC)
    # This level's part of the token's per-minute budgets (core.budget); None when the
    # parent handed none (an older tako): the fan-out then governs itself alone.
    budget: Budget | None = None
    # Its arc of the write period (core.budget.Slot); None when the parent handed none.
    slot: Slot | None = None

    @classmethod
    def from_client_payload(cls, payload: dict[str, Any] | None,
                            this_repo: str) -> CascadeContext | None:
        """The context to continue when running inside a run a tako dispatch started
        (``github.event.client_payload.tako``); None when not inside one.

        Raises ValueError (naming the field) when a ``tako`` block is present but
        malformed: continuing a tree with a wrong root would silently split it."""
        from tako_gha.engine.context import context_from_payload

        return context_from_payload(cls, payload, this_repo)


@dataclass(frozen=True)
class FanOutRequest:
    event: Event  # event.source is the origin repo
    org: str
    repos: Sequence[str] = ()  # explicit targets; empty = discover the org
    topics: Sequence[str] = ()
    config_path: str = "tako.yml"
    context: CascadeContext | None = None  # None = start a new root
    # The id of that new root, when the caller chose it (to announce it before anything
    # is sent); None = the engine makes one. Ignored when ``context`` names the root.
    root: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    # An event type the source's tako.yml does not list under events.produces is
    # refused before anything is sent (a typo would be a green, empty cascade);
    # True sends it anyway, deliberately.
    allow_undeclared_event: bool = False


# How a subscriber its own subscription leaves out is reported (``not for REPO:
# reason``; "skipped" is for what went wrong: a broken tako.yml, a template error).
# Surfaces recognise the line by this prefix.
EXPECTED_SKIP = "not for "


class Observer(Protocol):
    """Receives the whole tree whenever it changes (live terminal view, logs)."""

    def on_update(self, report: TreeReport) -> None: ...

    def on_message(self, text: str) -> None: ...


def check_event_type(event_type: str) -> None:
    """The event type goes into every run title, in front of the tag that names the
    cascade: a tag-shaped piece in it could make a title read as another cascade's."""
    shape = tag_shape_in(event_type)
    if shape is not None:
        raise FanOutError(
            f"event type {event_type!r} contains {shape!r}, the shape of the tag tako puts "
            "in run titles; nothing was dispatched",
            hint="choose an event type without '[tako:' in it")


def check_options(options: FanOutOptions) -> None:
    """Options no fan-out can run with, refused before anything is planned."""
    problems = []
    if options.concurrency_limit < 1:
        problems.append("concurrency_limit must be at least 1")
    if options.max_children < 0:
        problems.append("max_children must not be negative")
    if options.max_depth < 1:
        problems.append("max_depth must be at least 1")
    if options.dedupe not in ("none", "root"):
        problems.append(f"dedupe must be none or root, not {options.dedupe!r}")
    if options.timeout <= 0 or options.discovery_timeout <= 0:
        problems.append("timeout and discovery_timeout must be positive")
    if options.dispatches_per_minute < 1 or options.dispatches_per_hour < 1:
        problems.append("dispatch rates must be at least 1")
    if problems:
        raise FanOutError("; ".join(problems), hint="fix the fan-out options")

