"""From an event to the list of targets, through ``forge.discover`` and core.matching.

The engine needs three things from a plan: the targets (repo, rendered inputs, the
subscription's workflow filter), what was skipped and why, and who subscribes to
whom (to follow descendants down the graph). ``Planner`` is injectable so the
engine can be tested without a discovery backend.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from tako_gha.core import workflow_inputs
from tako_gha.core.config import ConfigResult, RepoConfig
from tako_gha.core.diagnostics import Diagnostic
from tako_gha.core.events import Event
from tako_gha.core.workflow_inputs import WorkflowInputs
from tako_gha.engine.errors import FanOutError
from tako_gha.forge.base import Discovery, Forge, ForgeError, RepoSelection

if TYPE_CHECKING:
    from tako_gha.engine.api import FanOutRequest


@dataclass(frozen=True)
class Target:
    repo: str
    inputs: dict[str, Any] = field(default_factory=dict)
    workflow: str | None = None  # only runs of this workflow file count
    subscription: str = ""  # human description of the matching subscription
    # Exact mode (engine.exact): the branch or tag a workflow dispatch runs on (the
    # subscription's ``ref``, else the repository's default branch), and the
    # subscription's ``trigger`` ("repository_dispatch" keeps the old way).
    ref: str | None = None
    trigger: str | None = None
    # What the named workflow declares under on.workflow_dispatch (read at plan time);
    # None: not read (the dispatch finds out)
    declared: WorkflowInputs | None = None


@dataclass
class PlanOutcome:
    event: Event  # with schema_version resolved from the source's `produces`
    targets: list[Target]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (repo, reason)
    # Subscribers their own subscription left out (a filter, a schema_version range, an
    # event type not in its events) and repositories the selection leaves out
    # (archived, forks): the system working as configured, nothing to act on.
    expected: list[tuple[str, str]] = field(default_factory=list)  # (repo, reason)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    subscribers: dict[str, set[str]] = field(default_factory=dict)  # producer -> subscribers
    workflow_repos: set[str] = field(default_factory=set)  # see exact_repos


class Planner(Protocol):
    def plan(self, forge: Forge, request: FanOutRequest) -> PlanOutcome: ...


def subscribers_map(configs: Iterable[ConfigResult]) -> dict[str, set[str]]:
    """producer repo (lower case) -> repos (lower case) with a subscription to it."""
    graph: dict[str, set[str]] = {}
    for result in configs:
        if result.config is None:
            continue
        for sub in result.config.subscriptions:
            graph.setdefault(sub.producer.lower(), set()).add(result.repo.lower())
    return graph


def exact_repos(configs: Iterable[ConfigResult]) -> set[str]:
    """Repos (lower case) with a subscription dispatched by workflow dispatch (it names a
    ``workflow:`` and not ``trigger: repository_dispatch``)."""
    return {result.repo.lower() for result in configs if result.config is not None
            for sub in result.config.subscriptions
            if sub.workflow and getattr(sub, "trigger", None) != "repository_dispatch"}


def subscribed_repos(subscribers: Mapping[str, set[str]]) -> set[str]:
    return {repo for subs in subscribers.values() for repo in subs}


class DiscoveryPlanner:
    """The default: discover the org (or the explicit repos), then plan with
    ``core.matching.plan_fanout``."""

    def plan(self, forge: Forge, request: FanOutRequest) -> PlanOutcome:
        from tako_gha.core import matching  # imported late: a sibling work item

        selection = RepoSelection(org=request.org, repos=tuple(request.repos),
                                  topics=tuple(request.topics),
                                  config_path=request.config_path)
        discovery = forge.discover(selection)
        configs = discovery.configs()
        source = request.event.source.lower()
        source_result = next((c for c in configs if c.repo.lower() == source), None)
        plan = matching.plan_fanout(request.event, configs,
                                    source_config=source_result.config if source_result else None)
        unknown_source(request, discovery, plan)
        undeclared_event(request, source_result.config if source_result else None)
        event = plan.event or request.event
        branches = {r.full_name.lower(): r.default_branch for r in discovery.repos}
        targets = read_receivers(forge, [_target(t, branches) for t in plan.targets])
        # "Not subscribed" is the normal case for most of an org: not worth a line.
        quiet = (matching.NO_SUBSCRIPTION, matching.NO_CONFIG, matching.IS_SOURCE)
        shown = [s for s in plan.skipped if s.error or s.kind not in quiet]
        skipped = [(s.repo, s.reason) for s in shown if s.error or s.kind != matching.NO_MATCH]
        expected = [(s.repo, s.reason) for s in shown if not s.error
                    and s.kind == matching.NO_MATCH]
        expected += [(repo, reason) for repo, reason in discovery.skipped]
        return PlanOutcome(event=event, targets=targets, skipped=skipped, expected=expected,
                           diagnostics=list(plan.diagnostics),
                           subscribers=subscribers_map(configs),
                           workflow_repos=exact_repos(configs))


def unknown_source(request: FanOutRequest, discovery: Discovery, plan: Any) -> None:
    """Refuse a new fan-out from a source that is not a repository of its own org
    and that nothing subscribes to: almost always a typo in ``--source``, which
    would otherwise "succeed" with no dispatch and no word. A selection (repos,
    topics) leaves repositories out on purpose, and a run continuing a tree is its
    own, existing, repository: neither is checked."""
    import difflib

    from tako_gha.core import matching

    source = request.event.source
    if request.context is not None or request.repos or request.topics:
        return
    if source.split("/")[0].lower() != request.org.lower():
        return  # an outside producer: discovery never lists it
    known = [r.full_name for r in discovery.repos] + [name for name, _ in discovery.skipped]
    if source.lower() in {name.lower() for name in known}:
        return
    quiet = (matching.NO_SUBSCRIPTION, matching.NO_CONFIG, matching.CONFIG_ERROR)
    if plan.targets or any(s.kind not in quiet for s in plan.skipped):
        return  # someone subscribes to it
    close = difflib.get_close_matches(source, known, n=1)
    raise FanOutError(
        f"{source} is not a repository of {request.org} (or the token cannot see it), "
        "and nothing there subscribes to it; nothing was dispatched",
        hint=(f"did you mean --source {close[0]}?" if close else
              "check the spelling of --source OWNER/REPO") +
        " (tako-gha discover lists the repositories the token can see)")


def read_receivers(forge: Forge, targets: list[Target]) -> list[Target]:
    """Exact-mode candidates (a ``workflow:``, not ``trigger: repository_dispatch``):
    their workflow files read in a few batched queries, so the engine knows before
    dispatching which listen on workflow_dispatch and what inputs they take. A forge
    that cannot read files, or a failed read, leaves them unknown (the dispatch finds
    out)."""
    read = getattr(forge, "read_files", None)
    wanted = {t.repo: (t.repo, t.ref, f".github/workflows/{t.workflow}") for t in targets
              if t.workflow and t.ref and t.trigger != "repository_dispatch"}
    if read is None or not wanted:
        return targets
    try:
        texts = read(list(wanted.values()))
    except ForgeError:
        return targets
    out = []
    for target in targets:
        item = wanted.get(target.repo)
        text = texts.get(item) if item is not None else None
        if item is not None and item in texts:
            declared = (workflow_inputs.parse(text, item[2]) if text is not None
                        else workflow_inputs.WorkflowInputs(item[2], missing=True))
            target = replace(target, declared=declared)
        out.append(target)
    return out


UNDECLARED_FLAG = "--allow-undeclared-event"
UNDECLARED_INPUT = "allow_undeclared_event"


def undeclared_event(request: FanOutRequest, source: RepoConfig | None) -> None:
    """Refuse an event type the source declares nowhere in its ``events.produces``:
    a misspelled type matches no subscription, and the cascade would be green and
    empty. Only a source that declares what it produces is checked: without a
    ``produces`` list (or a readable tako.yml) there is nothing to compare with."""
    if request.allow_undeclared_event:
        return
    problem = undeclared_problem(request.event, source)
    if problem is not None:
        message, hint = problem
        raise FanOutError(f"{message}; nothing was dispatched", hint=hint)


def undeclared_problem(event: Event, source: RepoConfig | None) -> tuple[str, str] | None:
    """(message, hint) when ``source`` declares what it produces and not ``event``'s
    type, with the closest declared type; None otherwise (``plan`` says the same)."""
    import difflib

    if source is None or not source.produces or source.produces_type(event.type):
        return None
    declared = [p.type for p in source.produces]
    close = difflib.get_close_matches(event.type, declared, n=1)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return (f"{event.source} does not produce event type {event.type!r}: its "
            f"{source.path} declares {', '.join(repr(t) for t in declared)} under "
            "events.produces",
            f"{guess}to send an undeclared type on purpose, pass {UNDECLARED_FLAG} "
            f"(action input {UNDECLARED_INPUT}: true), or declare it under events.produces")


def _target(raw: Any, branches: Mapping[str, str] | None = None) -> Target:
    sub = getattr(raw, "subscription", None)
    workflow = getattr(raw, "workflow", None) or getattr(sub, "workflow", None)
    describe = getattr(sub, "describe", None)
    repo = str(raw.repo)
    return Target(
        repo=repo,
        inputs=dict(getattr(raw, "inputs", {}) or {}),
        workflow=workflow,
        subscription=describe() if callable(describe) else str(sub or ""),
        ref=getattr(sub, "ref", None) or (branches or {}).get(repo.lower()),
        trigger=getattr(sub, "trigger", None),
    )


@dataclass
class StaticPlanner:
    """A fixed plan (tests, explicit target lists)."""

    targets: list[Target]
    subscribers: dict[str, set[str]] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def plan(self, forge: Forge, request: FanOutRequest) -> PlanOutcome:
        subs = {k.lower(): {v.lower() for v in vs} for k, vs in self.subscribers.items()}
        exact = {t.repo.lower() for t in self.targets if t.workflow and t.ref
                 and t.trigger != "repository_dispatch"}
        return PlanOutcome(event=request.event, targets=list(self.targets),
                           skipped=list(self.skipped), subscribers=subs, workflow_repos=exact)
