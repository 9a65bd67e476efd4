"""Matching an event against the organization's subscriptions (docs/architecture.md, step 2).

``plan_fanout(event, repos)`` answers, for every repository, "is it a target, and
with which inputs?" or "why not?". A subscription matches when, in this order:

1. its artifact's producer is the event's source (owner/repo, case-insensitive);
2. when the source's ``tako.yml`` declares ``artifacts``, the subscription's
   artifact is one of them (an event is published by the repo for all its
   artifacts; a subscription to an artifact the producer does not publish is dead);
3. the event type is one of its ``events``;
4. it has no ``schema_version`` range, or the range contains the event's schema
   version (an event without a version never satisfies a range);
5. every CEL filter evaluates to true (the first one that does not is named).

The event's ``schema_version`` defaults to what the source declares in
``events.produces`` for that type; a type the source does not declare is a warning.
Each repo is a target at most once: its first matching subscription wins, later
matches are recorded in ``Target.also_matched``. Inputs are rendered from the
subscription's templates; a template naming a path the event does not have skips
that repo with an error (it is reported, the rest of the plan goes on). A repo with
an unusable ``tako.yml`` is reported for that repo only. The source itself is never
a target. Targets and skips are ordered by repo name.

Pure: no I/O. Filters are compiled by the config loader (once per process, cached)
and only evaluated here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from tako_gha.core.cel import ALLOWANCE, DEFAULT_LIMITS, activation_for
from tako_gha.core.config import ConfigResult, RepoConfig, Subscription
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.events import Event
from tako_gha.core.templates import (
    MAX_INPUT_CHARS,
    MAX_INPUTS_CHARS,
    TemplateError,
    context_for,
)

# Skip kinds, stable for --format json and tests.
NO_CONFIG = "no-config"
CONFIG_ERROR = "config-error"
NO_SUBSCRIPTION = "no-subscription"
NO_MATCH = "no-match"
TEMPLATE_ERROR = "template-error"
IS_SOURCE = "source"
# Planned without a real payload (the pre-push hook): the subscription would match or
# not depending on the payload its filters or input templates read. Not a real skip.
DEPENDS_ON_PAYLOAD = "depends-on-payload"
# One repository's filters used up what a repository may spend on one event, or its
# fair part of what the whole plan may spend.
OVER_BUDGET = "over-budget"
# tako-gha could not evaluate a filter (its CPU backstop, an internal error): no verdict,
# the repository is not dispatched; an error of the tool, not of the tako.yml.
TOOL_ERROR = "tool-error"

# What all the filters of one repository's subscriptions may spend on one event. Each
# evaluation is bounded on its own, but a tako.yml may hold thousands of subscriptions:
# 200 that each spend a whole evaluation budget stalled a plan for 42 s. Four budgets'
# worth of steps per repository keeps one file's cost constant however many
# subscriptions it declares. Steps only: the same plan on any machine.
REPO_EVAL_STEPS = 4 * DEFAULT_LIMITS.max_eval_steps
# What the filters of all repositories may spend on one event together: 200,000 steps,
# about 1-2 s of CPU in celpy's evaluator (5-10 us a step), a few times that in wall
# clock on a busy machine. Shared fairly: repositories are decided cheapest first (by
# the worst-case estimate of their filters on this event), each allowed an equal part
# of what is left at its turn, so no repository, however costly its filters, can take
# another's part.
PLAN_EVAL_STEPS = 200_000


@dataclass(frozen=True)
class Target:
    repo: str
    subscription: Subscription
    inputs: dict[str, str]
    workflow: str | None = None
    also_matched: tuple[int, ...] = ()  # indexes of later subscriptions that matched too

    def to_json(self) -> dict[str, Any]:
        return {
            "repo": self.repo,
            "subscription": {"index": self.subscription.index,
                             "artifact": self.subscription.artifact_ref,
                             "line": self.subscription.line},
            "inputs": dict(self.inputs),
            "workflow": self.workflow,
            "also_matched": list(self.also_matched),
        }


@dataclass(frozen=True)
class Skip:
    repo: str
    reason: str
    subscription_index: int | None = None
    kind: str = NO_MATCH
    error: bool = False  # a problem to fix (bad config, template), not just "not subscribed"

    def to_json(self) -> dict[str, Any]:
        return {"repo": self.repo, "reason": self.reason, "kind": self.kind,
                "subscription_index": self.subscription_index, "error": self.error}


@dataclass
class Plan:
    event: Event  # with schema_version resolved from the source's produces
    targets: list[Target] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> list[Skip]:
        return [s for s in self.skipped if s.error]

    @property
    def undecided(self) -> list[Skip]:
        """Repos whose outcome depends on a payload the plan did not have."""
        return [s for s in self.skipped if s.kind == DEPENDS_ON_PAYLOAD]

    def target_repos(self) -> list[str]:
        return [t.repo for t in self.targets]

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event.to_json(),
            "targets": [t.to_json() for t in self.targets],
            "skipped": [s.to_json() for s in self.skipped],
            "diagnostics": [d.to_json() for d in self.diagnostics],
        }


@dataclass(frozen=True)
class _Verdict:
    matched: bool
    reason: str = ""
    undecided: bool = False  # only the payload (unknown here) can decide
    steps: int = 0  # filter steps spent deciding
    cut: bool = False  # stopped by the allowance it was given: no verdict
    tool_error: bool = False  # tako-gha failed to evaluate a filter: no verdict


# CEL string literals (raw/bytes prefixes, triple or single quotes): not code.
_STRING_LITERAL = re.compile(r'[rRbB]{0,2}("""[\s\S]*?"""|' r"'''[\s\S]*?'''|"
                             r'"(?:\\.|[^"\\\n])*"|' r"'(?:\\.|[^'\\\n])*')")
_EVENT_USE = re.compile(r"\bevent\b(?:\s*\.\s*(\w+))?")
_EVENT_FIELDS_WITHOUT_PAYLOAD = {"type", "schema_version", "source"}


def reads_payload(filter_source: str) -> bool:
    """Does this CEL filter read the event's payload (``event.payload…``, or ``event``
    indexed or as a whole)? String literals are not code and are left out."""
    code = _STRING_LITERAL.sub('""', filter_source)
    return any(m.group(1) not in _EVENT_FIELDS_WITHOUT_PAYLOAD for m in _EVENT_USE.finditer(code))


def plan_fanout(event: Event, repos: Sequence[ConfigResult], *,
                source_config: RepoConfig | None = None, payload_known: bool = True) -> Plan:
    """Targets (with rendered inputs) and, for every other repo, the reason.

    ``payload_known=False`` (the event's payload is a stand-in, e.g. the pre-push hook
    without one): a subscription that only a payload-reading filter or input template
    could decide is skipped with kind ``depends-on-payload`` instead of being judged on
    the stand-in; filters that do not read the payload still decide as usual."""
    source_key = event.source.lower()
    if source_config is None:
        source_config = next((r.config for r in repos
                              if r.repo.lower() == source_key and r.config is not None), None)
    plan = Plan(event=_resolve_event(event, source_config))
    plan.diagnostics.extend(_source_diagnostics(event, source_config))
    template_context = context_for(plan.event)
    ordered = sorted(repos, key=lambda r: r.repo.lower())
    screened = [_screen(plan.event, result) for result in ordered]
    pending = [(i, result, screened[i]) for i, result in enumerate(ordered)
               if isinstance(screened[i], list)]
    decided = _decide_fairly(plan.event, pending, source_config, payload_known)
    for index, result in enumerate(ordered):
        early = screened[index]
        outcome = early if isinstance(early, Skip) else _conclude(
            plan.event, result.repo, early, decided[index], template_context, payload_known)
        errors = [d for d in result.diagnostics if d.is_error]
        if isinstance(outcome, Target):
            plan.targets.append(outcome)
        elif errors and outcome.kind in (NO_SUBSCRIPTION, NO_MATCH):
            # Some subscriptions were dropped as invalid: say so, the reason may hinge on it.
            # An error flag keeps it visible: a dropped subscription may be the one
            # that should have matched, and the cascade report must say so.
            plan.skipped.append(replace(outcome, error=True,
                                        reason=f"{outcome.reason} (its tako.yml has "
                                        f"{len(errors)} error(s); run tako-gha lint)"))
        else:
            plan.skipped.append(outcome)
        plan.diagnostics.extend(errors)
    return plan


def _resolve_event(event: Event, source: RepoConfig | None) -> Event:
    if event.schema_version is not None or source is None:
        return event
    declared = source.produced_version(event.type)
    return replace(event, schema_version=declared) if declared else event


def _source_diagnostics(event: Event, source: RepoConfig | None) -> list[Diagnostic]:
    if source is None or source.produces_type(event.type):
        return []
    declared = ", ".join(p.type for p in source.produces) or "nothing"
    return [Diagnostic(
        Severity.WARNING,
        f"{event.source} does not declare event type {event.type!r} in events.produces "
        f"(it declares: {declared})",
        file=source.path, code="undeclared-event",
        hint=f"add `- type: {event.type}` under events.produces in {event.source}'s tako.yml",
    )]


def _screen(event: Event, result: ConfigResult) -> Skip | list[Subscription]:
    """A repository's skip that needs no filter, or its subscriptions to the source."""
    repo = result.repo
    if repo.lower() == event.source.lower():
        return Skip(repo, "the source repository is never its own target", kind=IS_SOURCE)
    if result.missing:
        return Skip(repo, "no tako.yml", kind=NO_CONFIG)
    if result.config is None:
        first = next((d for d in result.diagnostics if d.is_error), None)
        why = f"{first.location()}: {first.message}" if first else "unusable"
        return Skip(repo, f"tako.yml could not be used: {why}", kind=CONFIG_ERROR, error=True)
    relevant = [s for s in result.config.subscriptions
                if s.producer.lower() == event.source.lower()]
    if not relevant:
        return Skip(repo, f"no subscription to {event.source}", kind=NO_SUBSCRIPTION)
    return relevant


@dataclass(frozen=True)
class _Decided:
    """A repository's verdicts, in order, until its allowance ran out (``left``
    subscriptions not decided; ``allowance`` what it was given)."""

    verdicts: list[tuple[Subscription, _Verdict]]
    left: int
    allowance: int


def _decide_fairly(event: Event, pending: list[tuple[int, ConfigResult, list[Subscription]]],
                   source: RepoConfig | None, payload_known: bool) -> dict[int, _Decided]:
    """Verdicts of every repository with subscriptions to the source, within the plan's
    budget: cheapest first (worst-case estimate, then name), each allowed at most an
    equal part of what is left of PLAN_EVAL_STEPS at its turn (and REPO_EVAL_STEPS).

    Repositories whose filters are the same (the same compiled filters, none reading
    ``subscriber``) share one evaluation: outcomes are remembered per event, so the
    first of them is allowed the parts of all of them still to come, and once one of
    them was stopped for its part, the others (with smaller parts) are not run again."""
    work = []
    for index, result, relevant in pending:
        activation = activation_for(event, result.repo)
        cost = sum(f.worst_case(activation) for sub in relevant for f in sub.filters)
        work.append((cost, index, relevant, activation, _sharing_key(result.repo, relevant)))
    work.sort(key=lambda item: (item[0], item[1]))
    waiting: dict[tuple[Any, ...], int] = {}
    for *_rest, key in work:
        waiting[key] = waiting.get(key, 0) + 1
    left = PLAN_EVAL_STEPS
    cut_at: dict[tuple[Any, ...], int] = {}  # sharing key -> largest part it ran out of
    decided: dict[int, _Decided] = {}
    for turn, (_cost, index, relevant, activation, key) in enumerate(work):
        share = left // (len(work) - turn)
        parts = waiting[key] if key not in cut_at else 1
        allowance = min(REPO_EVAL_STEPS, share * parts)
        waiting[key] -= 1
        if allowance <= cut_at.get(key, -1):
            decided[index] = _Decided([], len(relevant), allowance)  # stopped before: no run
            continue
        verdicts, undecided, spent = _decide_within(
            relevant, event, activation, source, payload_known, allowance)
        left -= spent
        if undecided:
            cut_at[key] = max(cut_at.get(key, -1), allowance)
        decided[index] = _Decided(verdicts, undecided, allowance)
    return decided


def _sharing_key(repo: str, relevant: list[Subscription]) -> tuple[Any, ...]:
    """Repositories with equal keys are decided by the same evaluations (remembered per
    event): the same subscriptions' checks and compiled filters, none reading
    ``subscriber``. Otherwise the repository is a key of its own."""
    key: list[Any] = []
    for sub in relevant:
        if any(f.reads_subscriber for f in sub.filters):
            return ("repo", repo)
        key.append((tuple(sub.events), sub.artifact,
                    sub.schema_range.text if sub.schema_range is not None else None,
                    tuple(id(f) for f in sub.filters)))
    return tuple(key)


def _conclude(event: Event, repo: str, relevant: list[Subscription], decided: _Decided,
              template_context: dict[str, Any], payload_known: bool) -> Target | Skip:
    verdicts = decided.verdicts
    first_match = next((n for n, (_s, v) in enumerate(verdicts) if v.matched), len(verdicts))
    broken = next(((sub, v) for sub, v in verdicts[:first_match] if v.tool_error), None)
    if broken is not None:
        return Skip(repo, f"{broken[0].describe()} {broken[1].reason} (tako-gha could not "
                          f"evaluate it: no verdict, not dispatched; please report this)",
                    subscription_index=broken[0].index, kind=TOOL_ERROR, error=True)
    if decided.left and first_match == len(verdicts):
        return Skip(repo, _over_budget_reason(event, relevant, decided), kind=OVER_BUDGET,
                    error=True)
    if not payload_known:
        verdicts = [(sub, _undecided_inputs(sub) if v.matched else v) for sub, v in verdicts]
    matched = [sub for sub, verdict in verdicts if verdict.matched]
    if not matched:
        undecided = [(sub, v) for sub, v in verdicts if v.undecided]
        if undecided:
            return Skip(repo, _no_match_reason(undecided), kind=DEPENDS_ON_PAYLOAD,
                        subscription_index=undecided[0][0].index if len(undecided) == 1
                        else None)
        return Skip(repo, _no_match_reason(verdicts),
                    subscription_index=verdicts[0][0].index if len(verdicts) == 1 else None)
    return _target(repo, matched[0], matched[1:], template_context)


def _over_budget_reason(event: Event, relevant: list[Subscription], decided: _Decided) -> str:
    if decided.allowance >= REPO_EVAL_STEPS:
        spent = f"more than a repository may on one event ({REPO_EVAL_STEPS:,} steps)"
    else:
        spent = (f"its fair part ({decided.allowance:,} steps) of the {PLAN_EVAL_STEPS:,} "
                 f"steps all repositories' filters may spend on one event together")
    return (f"its filters spent {spent}: {decided.left} of its {len(relevant)} subscriptions "
            f"to {event.source} were not evaluated; make its filters cheaper (tako-gha lint "
            f"names the costly ones)")


def _decide_within(subs: list[Subscription], event: Event, activation: dict[str, Any],
                   source: RepoConfig | None, payload_known: bool, allowance: int,
                   ) -> tuple[list[tuple[Subscription, _Verdict]], int, int]:
    """Verdicts for ``subs`` in order until ``allowance`` steps are spent; how many were
    left undecided for that reason; and the steps spent."""
    verdicts: list[tuple[Subscription, _Verdict]] = []
    spent = 0
    for position, sub in enumerate(subs):
        verdict = evaluate_subscription(sub, event, activation, source,
                                        payload_known=payload_known,
                                        max_steps=allowance - spent)
        spent += verdict.steps
        if verdict.cut:
            return verdicts, len(subs) - position, spent
        verdicts.append((sub, verdict))
    return verdicts, 0, spent


def _undecided_inputs(sub: Subscription) -> _Verdict:
    """A matching subscription whose inputs read the payload: without one, whether it
    renders (or is a template error) is not known."""
    for name, template in sub.inputs.items():
        if any(path.startswith(".event.payload") for path in template.paths):
            return _Verdict(False, f"depends on the payload: inputs.{name} "
                                   f"`{template.source}`", undecided=True)
    return _Verdict(True)


def evaluate_subscription(sub: Subscription, event: Event, activation: dict[str, Any],
                          source: RepoConfig | None = None, *,
                          payload_known: bool = True, max_steps: int | None = None,
                          ) -> _Verdict:
    """Does ``sub`` (already known to subscribe to ``event.source``) take ``event``?
    With ``payload_known=False``, filters reading the payload are not evaluated: if the
    others pass, the verdict is undecided, naming the first such filter. ``max_steps``:
    what its filters may spend together; a verdict they could not reach within it is
    ``cut`` (no verdict)."""
    if source is not None and source.artifacts and sub.artifact not in source.artifacts:
        declared = _some(sorted(source.artifacts))
        return _Verdict(False, f"{event.source} publishes no artifact {sub.artifact!r} "
                               f"(it declares: {declared})")
    if event.type not in sub.events:
        return _Verdict(False, f"event type {event.type!r} is not in its events "
                               f"[{_some(sub.events)}]")
    range_verdict = _check_range(sub, event)
    if range_verdict is not None:
        return range_verdict
    pending: _Verdict | None = None
    steps = 0
    for position, compiled in enumerate(sub.filters):
        if not payload_known and reads_payload(compiled.source):
            pending = pending or _Verdict(False, f"depends on the payload: filters[{position}] "
                                                 f"`{compiled.source}`", undecided=True)
            continue
        allowance = None if max_steps is None else max_steps - steps
        outcome = compiled.evaluate(activation, max_steps=allowance)
        steps += getattr(outcome, "steps", 0)
        if outcome.limit == ALLOWANCE:
            return _Verdict(False, f"filters[{position}] `{compiled.source}`: not decided "
                                   f"within its allowance", steps=steps, cut=True)
        if getattr(outcome, "tool_error", False):
            return _Verdict(False, f"filters[{position}] `{compiled.source}`: "
                                   f"{outcome.detail}", steps=steps, tool_error=True)
        if not outcome.matched:
            # ``detail`` says why without repeating the source we already show.
            why = getattr(outcome, "detail", "") or outcome.reason or "is false"
            return _Verdict(False, f"filters[{position}] `{compiled.source}`: {why}",
                            steps=steps)
    return replace(pending, steps=steps) if pending else _Verdict(True, steps=steps)


SHOWN_NAMES = 10  # names a skip reason lists: one line per repository stays a line


def _some(names: list[str]) -> str:
    """``names`` joined, at most ``SHOWN_NAMES`` of them: a repository subscribed to a
    hundred event types made every fan-out print a hundred names for it."""
    shown = ", ".join(names[:SHOWN_NAMES])
    more = len(names) - SHOWN_NAMES
    return f"{shown}, … {more} more" if more > 0 else shown


def _check_range(sub: Subscription, event: Event) -> _Verdict | None:
    if sub.schema_range is None:
        return None
    wanted = sub.schema_range.text
    if event.schema_version is None:
        return _Verdict(False, f"event has no schema_version and the subscription requires "
                               f"{wanted!r} (pass --schema-version or declare it in the "
                               f"source's events.produces)")
    try:
        inside = sub.schema_range.contains(event.schema_version)
    except (ValueError, TypeError) as exc:  # an unparsable version in the event
        why = getattr(exc, "reason", None) or str(exc)
        return _Verdict(False, f"event schema_version {event.schema_version!r} is not a "
                               f"version: {why}")
    if not inside:
        return _Verdict(False, f"schema_version {event.schema_version} is outside {wanted!r}")
    return None


def _no_match_reason(verdicts: list[tuple[Subscription, _Verdict]]) -> str:
    if len(verdicts) == 1:
        return verdicts[0][1].reason
    return "; ".join(f"subscriptions[{sub.index}]: {verdict.reason}" for sub, verdict in verdicts)


def _target(repo: str, sub: Subscription, others: list[Subscription],
            template_context: dict[str, Any]) -> Target | Skip:
    inputs: dict[str, str] = {}
    left = MAX_INPUTS_CHARS  # all of one subscriber's inputs together
    for name, template in sub.inputs.items():
        try:
            inputs[name] = template.render(template_context,
                                           limit=min(MAX_INPUT_CHARS, left))
            left -= len(inputs[name])
        except TemplateError as exc:
            return Skip(repo, f"{sub.describe()} inputs.{name} `{template.source}`: {exc}",
                        subscription_index=sub.index, kind=TEMPLATE_ERROR, error=True)
    return Target(repo, sub, inputs, sub.workflow, tuple(s.index for s in others))
