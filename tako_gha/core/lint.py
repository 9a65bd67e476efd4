"""The lint rules: configs and workflow texts in, diagnostics out (pure, no I/O).

``tako-gha lint`` (surfaces/commands/lint.py) finds the files and reads them; this
module decides what is wrong with them:

- receiving workflows: a ``repository_dispatch`` listener without the ``run-name``
  that puts the tako title on its runs (``run-name``), a workflow that is not YAML;
- per repository: subscribed event types no workflow listens for (``no-listener``),
  a ``workflow:`` that names no file (``no-workflow``); for a workflow named in exact
  mode (it listens on ``workflow_dispatch``) the inputs against its declared ones
  (``core.exact_check``);
- across a workspace: subscription cycles, subscriptions nobody produces, cascades
  deeper than ``DEPTH_WARNING`` levels.

The policy constants live here with the rules they steer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from tako_gha.core import exact_check, workflow_inputs
from tako_gha.core.config import ConfigResult
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.graph import SubscriptionGraph
from tako_gha.core.ids import RUN_NAME_LINE, TITLE_EXPR
from tako_gha.core.workflow_inputs import WorkflowInputs

RUN_NAME_HINT = "add at the top of the workflow: " + RUN_NAME_LINE
DEPTH_WARNING = 7  # max_depth defaults to 10, warn from 7 (docs/protocol.md)
# A workflow file as read: its text, or why it could not be read.
WorkflowText = tuple[Path, str | Exception]


@dataclass
class WorkflowInfo:
    """What lint needs to know of one ``.github/workflows/*.yml``."""

    path: Path
    listens: bool = False  # has an ``on: repository_dispatch`` trigger
    types: list[str] | None = None  # None: every event type
    line: int = 0
    col: int = 0
    run_name: str | None = None
    run_name_line: int = 0
    run_name_col: int = 0
    dispatch: WorkflowInputs | None = None  # its workflow_dispatch declaration


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _dispatch_trigger(on: yaml.Node) -> tuple[yaml.Node | None, list[str] | None]:
    """The node naming ``repository_dispatch`` under ``on:`` and its ``types``."""
    if isinstance(on, yaml.ScalarNode):
        return (on, None) if on.value == "repository_dispatch" else (None, None)
    if isinstance(on, yaml.SequenceNode):
        hit = next((n for n in on.value if isinstance(n, yaml.ScalarNode)
                    and n.value == "repository_dispatch"), None)
        return hit, None
    if isinstance(on, yaml.MappingNode):
        for key, value in on.value:
            if key.value == "repository_dispatch":
                return key, _types_of(value)
    return None, None


def _types_of(node: yaml.Node) -> list[str] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key, value in node.value:
        if key.value != "types":
            continue
        if isinstance(value, yaml.SequenceNode):
            return [str(item.value) for item in value.value if isinstance(item, yaml.ScalarNode)]
        if isinstance(value, yaml.ScalarNode):
            return [value.value]
    return None


def read_workflow(path: Path, text: str) -> WorkflowInfo | Diagnostic:
    """Parse a workflow for its dispatch trigger and ``run-name`` (with positions)."""
    info = WorkflowInfo(path)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        return Diagnostic(Severity.WARNING, f"cannot parse this workflow: {exc}",
                          file=str(path), line=mark.line + 1 if mark else 0,
                          col=mark.column + 1 if mark else 0, code="workflow-yaml",
                          hint="fix the YAML so GitHub (and lint) can read it")
    if not isinstance(root, yaml.MappingNode):
        return info
    for key, value in root.value:
        if key.value == "on":
            trigger, info.types = _dispatch_trigger(value)
            if trigger is not None:
                info.listens = True
                info.line, info.col = _mark(trigger)
        elif key.value == "run-name" and isinstance(value, yaml.ScalarNode):
            info.run_name = value.value
            info.run_name_line, info.run_name_col = _mark(value)
    info.dispatch = workflow_inputs.parse(text, str(path))
    return info


def lint_workflows(files: Iterable[WorkflowText]
                   ) -> tuple[list[WorkflowInfo], list[Diagnostic]]:
    """Receiving workflows of a checkout (its ``.github/workflows`` files, in order)
    and the run-name warnings (docs/protocol.md)."""
    infos: list[WorkflowInfo] = []
    problems: list[Diagnostic] = []
    for path, text in files:
        if isinstance(text, Exception):
            problems.append(Diagnostic(Severity.WARNING, f"cannot read this workflow: {text}",
                                       file=str(path), code="workflow-read"))
            continue
        parsed = read_workflow(path, text)
        if isinstance(parsed, Diagnostic):
            problems.append(parsed)
            continue
        infos.append(parsed)
        problems.extend(_run_name_warnings(parsed))
    return infos, problems


def _run_name_warnings(parsed: WorkflowInfo) -> list[Diagnostic]:
    if not parsed.listens:
        return []
    if parsed.run_name is None:
        return [Diagnostic(
            Severity.WARNING,
            "workflow listens for repository_dispatch but sets no run-name with the "
            "tako title; its runs can only be correlated heuristically",
            file=str(parsed.path), line=parsed.line, col=parsed.col, hint=RUN_NAME_HINT,
            code="run-name")]
    if TITLE_EXPR not in parsed.run_name:
        return [Diagnostic(
            Severity.WARNING,
            f"run-name does not use {TITLE_EXPR}; runs of this workflow can only be "
            "correlated heuristically",
            file=str(parsed.path), line=parsed.run_name_line, col=parsed.run_name_col,
            hint=RUN_NAME_HINT, code="run-name")]
    return []

def _named_workflow(result: ConfigResult, at: tuple[int, int], name: str,
                    workflows: list[WorkflowInfo]) -> WorkflowInfo | Diagnostic:
    """The workflow a subscription's ``workflow:`` names, or why it cannot be found
    (its runs would never count: the dispatch would end not_started)."""
    found = next((w for w in workflows if w.path.name == name), None)
    if found is not None:
        return found
    present = ", ".join(w.path.name for w in workflows) or "none"
    return Diagnostic(Severity.WARNING,
                      f"workflow {name!r} is not in .github/workflows (present: {present}); "
                      "no run would count for this subscription and its dispatches would "
                      "end not_started", file=result.path, line=at[0], col=at[1],
                      code="no-workflow",
                      hint="name the receiving workflow's file, e.g. workflow: rebuild.yml, "
                           "or drop workflow: to accept runs of any workflow")


def listening_warnings(result: ConfigResult, workflows: list[WorkflowInfo]) -> list[Diagnostic]:
    """Subscribed event types no workflow of the repo listens for (-> not_started)."""
    if result.config is None:
        return []
    problems: list[Diagnostic] = []
    listening = [w for w in workflows if w.listens]
    for sub in result.config.subscriptions:
        candidates = listening
        # a named workflow: point at `workflow:` (what to fix), else the subscription
        at = sub.workflow_mark or (sub.line, 0)
        if sub.workflow:
            named = _named_workflow(result, at, sub.workflow, workflows)
            if isinstance(named, Diagnostic):
                problems.append(named)
                continue
            deaf = (exact_check.deaf_to_trigger(result.path, sub, named.dispatch)
                    if named.dispatch is not None else None)
            if deaf is not None:
                problems.append(deaf)
                continue
            if exact_check.is_exact(sub, named.dispatch):
                assert named.dispatch is not None
                problems.extend(exact_check.check(result.path, sub, named.dispatch))
                continue  # dispatched by workflow dispatch: no repository_dispatch needed
            # Only runs of that workflow count (docs/tako-yml.md): it alone must listen.
            candidates = [named] if named.listens else []
        for event_type in sub.events:
            if any(w.types is None or event_type in w.types for w in candidates):
                continue
            who = (f"workflow {sub.workflow!r} does not listen" if sub.workflow
                   else "no workflow in .github/workflows listens")
            exact = (" (or `on: workflow_dispatch:` with its inputs: exact mode)"
                     if sub.workflow and sub.trigger != exact_check.REPOSITORY_DISPATCH
                     else "")
            problems.append(Diagnostic(
                Severity.WARNING,
                f"{who} for repository_dispatch type {event_type!r}; its dispatches would "
                "end not_started", file=result.path, line=at[0], col=at[1],
                code="no-listener",
                hint=f"add `on: repository_dispatch: types: [{event_type}]` to "
                     f"{sub.workflow or 'a workflow'}{exact}"))
    return problems


def _subscription_line(result: ConfigResult | None, producer: str) -> int:
    if result is None or result.config is None:
        return 0
    return next((s.line for s in result.config.subscriptions
                 if s.producer.lower() == producer.lower()), 0)


def lint_graph(results: list[ConfigResult]) -> list[Diagnostic]:
    """Workspace-wide checks: cycles, unproduced subscriptions, deep cascades."""
    graph = SubscriptionGraph.from_configs(results)
    by_name = {r.repo.lower(): r for r in results}
    problems: list[Diagnostic] = []
    report = graph.find_cycles()
    for cycle in report.cycles:
        # cycle[0] subscribes to cycle[-2]: point at that subscription.
        owner = by_name.get(cycle[0].lower())
        problems.append(Diagnostic(
            Severity.WARNING, f"subscription cycle: {' → '.join(cycle)}",
            file=owner.path if owner else cycle[0],
            line=_subscription_line(owner, cycle[-2]), code="cycle",
            hint="at run time the dispatch closing the cycle is refused (state cycle); "
                 "break it unless that is what you want"))
    if report.truncated:
        problems.append(Diagnostic(Severity.WARNING, f"more than {len(report.cycles)} cycles; "
                                   "only the first are listed", code="cycle"))
    for item in graph.unproduced:
        owner = by_name.get(item.subscriber.lower())
        hint = ("fix the artifact name, or declare it under artifacts in the producer's "
                "tako.yml" if item.artifact is not None else
                "fix the event type, or declare it in the producer's events.produces")
        problems.append(Diagnostic(
            Severity.WARNING, item.message(), file=owner.path if owner else item.subscriber,
            line=item.line, code="unpublished-artifact" if item.artifact else "unproduced",
            hint=hint))
    for repo, depth in graph.cascade_depths().items():
        if depth >= DEPTH_WARNING:
            owner = by_name.get(repo.lower())
            problems.append(Diagnostic(
                Severity.WARNING, f"a cascade from {repo} can be {depth} levels deep "
                f"(max_depth defaults to 10)", file=owner.path if owner else repo,
                code="deep-cascade", hint="raise max_depth deliberately or flatten the chain"))
    return problems
