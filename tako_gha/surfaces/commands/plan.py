"""``tako-gha plan``: a dry run of a fan-out, who would receive the event and why not."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from tako_gha.core import exact_check, workflow_inputs
from tako_gha.core.config import ConfigResult, RepoConfig, Subscription
from tako_gha.core.diagnostics import Diagnostic, Severity
from tako_gha.core.events import Event
from tako_gha.core.matching import Plan, plan_fanout
from tako_gha.core.reach import Reach, reach
from tako_gha.engine.planning import undeclared_problem
from tako_gha.forge.base import Discovery
from tako_gha.surfaces import gitinfo
from tako_gha.surfaces.commands.common import friendly
from tako_gha.surfaces.commands.sources import (
    READ_NEEDS,
    Source,
    discover_from,
    source_options,
)
from tako_gha.surfaces.flags import read_event_type, read_payload, read_schema_version


def resolve_source(value: str | None) -> str:
    """``--source``, else ``GITHUB_REPOSITORY``, else the ``origin`` remote (docs/cli.md)."""
    return gitinfo.resolve_source(value, os.environ, Path.cwd())


def _source_config(where: Source, configs: list[ConfigResult], source: str
                   ) -> RepoConfig | None:
    """The source's config, read separately when the selection left it out (its
    ``produces`` gives the event's default schema_version)."""
    found = next((c for c in configs if c.repo.lower() == source.lower()), None)
    if found is None and (where.repos or where.names or where.topics):
        only_source = Source(where.org or source.split("/")[0], where.workspace, (source,),
                             config_path=where.config_path, api_url=where.api_url)
        found = next(iter(discover_from(only_source).configs()), None)
    return found.config if found else None


def _unknown_source(where: Source, discovery: Discovery, plan: Plan) -> Diagnostic | None:
    """A --source that is not among the repositories and that nothing subscribes to is
    almost always a typo; the plan would just list every repo as "no subscription"."""
    if where.repos or where.names or where.topics:
        return None  # a selection leaves repos out on purpose
    source = plan.event.source
    known = [r.full_name for r in discovery.repos] + [name for name, _ in discovery.skipped]
    if source.lower() in {name.lower() for name in known}:
        return None
    if plan.targets or any(s.kind not in ("no-subscription", "no-config", "config-error")
                           for s in plan.skipped):
        return None  # someone subscribes to it: an outside producer, fine
    place = f"workspace {where.workspace}" if where.workspace is not None else \
        f"organization {where.org}"
    close = difflib.get_close_matches(source, known, n=1)
    hint = (f"did you mean --source {close[0]}?" if close
            else "check the spelling of --source OWNER/REPO")
    return Diagnostic(Severity.WARNING,
                      f"{source} is not a repository of the {place}, and nothing there "
                      "subscribes to it", file="--source", code="unknown-source", hint=hint)


def exact_diagnostics(where: Source, plan: Plan, configs: list[ConfigResult]
                      ) -> list[Diagnostic]:
    """Exact-mode targets of a plan: their rendered inputs checked against the inputs
    the receiving workflow declares (core.exact_check), both sides with file:line:col.
    A workspace's workflow files are read from disk; an org's through the API (one
    request per target whose subscription names a workflow)."""
    read = _workflow_reader(where, plan)
    paths = {c.repo.lower(): c.path for c in configs}
    out: list[Diagnostic] = []
    for target in plan.targets:
        sub = target.subscription
        if not sub.workflow:
            continue
        config = paths.get(target.repo.lower(), target.repo)
        shown, text, missing = read(target.repo, f".github/workflows/{sub.workflow}", sub.ref)
        if missing:
            if sub.trigger != exact_check.REPOSITORY_DISPATCH:
                out.append(_not_on_ref(config, target.repo, sub, shown))
            continue
        if text is None:
            continue  # lint says what is wrong with a missing or unreadable workflow
        declared = workflow_inputs.parse(text, shown)
        deaf = exact_check.deaf_to_trigger(config, sub, declared)
        if deaf is not None:
            out.append(deaf)
        elif exact_check.is_exact(sub, declared):
            out.extend(exact_check.check(config, sub, declared, values=target.inputs))
    return out


def _not_on_ref(config: str, repo: str, sub: Subscription, shown: str) -> Diagnostic:
    line, col = sub.ref_mark or sub.workflow_mark or (sub.line, 0)
    on = f"ref {sub.ref!r}" if sub.ref else "the default branch"
    return Diagnostic(Severity.ERROR, f"{shown} is not on {on} of {repo} (no such branch or "
                      "tag, or no such file on it): the fan-out would make this target an "
                      "error and dispatch nothing", file=config, line=line, col=col,
                      code="workflow-not-on-ref",
                      hint="name a branch or tag that has the workflow (ref:), or the "
                           "workflow's file name (workflow:)")


Reader = Callable[[str, str, "str | None"], tuple[str, "str | None", bool]]


def _workflow_reader(where: Source, plan: Plan) -> Reader:
    """``read(repo, path, ref) -> (where it is shown, its text or None, missing)``;
    ``missing``: the API says the file is not on that ref (an org plan). A workspace is
    read from disk as checked out (``ref`` is not looked at)."""
    if where.workspace is not None:
        workspace = where.workspace

        def from_disk(repo: str, path: str, ref: str | None) -> tuple[str, str | None, bool]:
            file = Path(workspace, *repo.split("/"), path)
            try:
                return str(file), file.read_text(encoding="utf-8"), False
            except (OSError, UnicodeDecodeError):
                return str(file), None, False
        return from_disk
    if not any(t.subscription.workflow for t in plan.targets):
        return lambda repo, path, ref: (f"{repo}/{path}", None, False)
    from tako_gha.forge.base import ForgeError
    from tako_gha.surfaces.connect import open_forge  # lazy: only --org needs GitHub

    forge = open_forge(where.api_url, needs=READ_NEEDS)

    def from_api(repo: str, path: str, ref: str | None) -> tuple[str, str | None, bool]:
        try:
            text = forge.read_file(repo, path, ref)
        except ForgeError:
            return f"{repo}/{path}", None, False
        return f"{repo}/{path}", text, text is None
    return from_api


def reach_text(far: Reach) -> list[str]:
    """Level 2 and below: each target's produced events and whom they would reach."""
    lines: list[str] = []
    for level in far.levels():
        lines.append(f"level {level} (events the level {level - 1} targets declare under "
                     "events.produces):")
        for hop in (h for h in far.hops if h.level == level):
            example = " (with its example_payload)" if hop.example else ""
            reached = ", ".join(hop.plan.target_repos()) or "no repository"
            lines.append(f"  {hop.source}  {hop.event_type}{example} → {reached}")
            undecided = [s.repo for s in hop.plan.undecided]
            if undecided:
                lines.append(f"      depends on the payload: {', '.join(undecided)} (declare "
                             f"an example_payload for {hop.event_type} to decide them)")
            if hop.cycles:
                lines.append(f"      cycle: {', '.join(hop.cycles)} (already on the path; "
                             "refused at run time)")
    if far.truncated:
        lines.append("(the plan stops here: deeper levels are not shown)")
    return lines


def plan_text(plan: Plan) -> str:
    event = plan.event
    version = event.schema_version or "none"
    lines = [f"plan: {event.type} from {event.source} (schema_version {version})"]
    lines.append(f"targets ({len(plan.targets)}):")
    width = max((len(t.repo) for t in [*plan.targets, *plan.skipped]), default=0)
    for target in plan.targets:
        extra = f"  workflow {target.workflow}" if target.workflow else ""
        lines.append(f"  {target.repo.ljust(width)}  {target.subscription.describe()}{extra}")
        lines.extend(f"      {name} = {value}" for name, value in target.inputs.items())
        if target.also_matched:
            others = ", ".join(f"subscriptions[{i}]" for i in target.also_matched)
            lines.append(f"      (also matched: {others}; the first one wins)")
    lines.append(f"skipped ({len(plan.skipped)}):")
    for skip in plan.skipped:
        mark = "error: " if skip.error else ""
        lines.append(f"  {skip.repo.ljust(width)}  {mark}{skip.reason}")
    for problem in plan.diagnostics:
        lines.append(problem.format())
    return "\n".join(lines)


@click.command("plan", short_help="Dry run of a fan-out: who would receive the event, and why "
                                  "not.")
@source_options
@click.option("--source", metavar="OWNER/REPO", help="repository publishing the event  "
              "[default: $GITHUB_REPOSITORY, else the origin remote]")
@click.option("--event", "event_type", required=True, metavar="TYPE",
              help="event type, e.g. library_built")
@click.option("--schema-version", metavar="V", help="event schema version  "
              "[default: what the source declares in events.produces]")
@click.option("--payload", metavar="JSON|@FILE",
              help="event payload: a JSON object in standard JSON (no NaN, <= 64 levels), "
                   "@FILE, or @- for stdin  [default: the example_payload the source "
                   "declares for the event, else {}]")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help='json: {"targets": [{repo, subscription, inputs}], "skipped": '
                   '[{repo, reason}], ...}')
@friendly
def plan_command(org: str | None, workspace: str | None, repos: tuple[str, ...],
                 names: tuple[str, ...], topics: tuple[str, ...], config_path: str,
                 api_url: str | None, source: str | None, event_type: str,
                 schema_version: str | None, payload: str | None, fmt: str) -> None:
    """Dry run of a fan-out: which repositories would receive the event, with which
    inputs, and why every other repository would not. Nothing is dispatched.

    Below the repositories the event reaches, the plan follows the tree level by
    level: each target's events.produces, planned with that event's example_payload
    (else with the payload unknown), down to 10 levels. The event's schema_version
    defaults to what the source declares in its events.produces, and without
    --payload its example_payload is used (the plan says so). A repository whose
    tako.yml is broken, or whose input template names a missing field, is listed with
    an error and the plan goes on (exit 0); bad arguments exit 2.

    \b
    Examples:
      tako-gha plan --workspace ./workspace --source my-org/core-lib \\
          --event library_built --payload '{"version": "2.1.0"}'
      tako-gha plan --org my-org --source my-org/core-lib --event library_built \\
          --payload @event.json --format json
    """
    source_repo = resolve_source(source)
    read_event_type(event_type)
    read_schema_version(schema_version)
    given = read_payload(payload) if payload is not None else None
    where = Source(org or (None if workspace else source_repo.split("/")[0]), workspace, repos,
                   names, topics, config_path, api_url)
    discovery = discover_from(where)
    configs = discovery.configs()
    source_config = _source_config(where, configs, source_repo)
    example = _example_payload(source_config, event_type) if given is None else None
    event = Event(type=event_type, source=source_repo,
                  payload=given if given is not None else dict(example or {}),
                  schema_version=schema_version)
    plan = plan_fanout(event, configs, source_config=source_config)
    unknown = _unknown_source(where, discovery, plan)
    if unknown is not None:
        plan.diagnostics.insert(0, unknown)
    _undeclared(plan, source_config)
    plan.diagnostics.extend(exact_diagnostics(where, plan, configs))
    far = reach(plan, configs)
    if fmt == "json":
        _echo_json(plan, far, discovery, example is not None)
        return
    if example is not None:
        click.echo(f"payload: the example_payload of {event_type} in {source_repo}'s "
                   "tako.yml (no --payload given)")
    click.echo("\n".join([plan_text(plan), *reach_text(far)]))
    for name, why in discovery.skipped:
        click.echo(f"not selected: {name}: {why}")


def _undeclared(plan: Plan, source_config: RepoConfig | None) -> None:
    """An event type the source does not declare: the plan says fan-out refuses it
    (with the closest declared type) instead of only that it is undeclared."""
    problem = undeclared_problem(plan.event, source_config)
    if problem is None:
        return
    plan.diagnostics[:] = [d for d in plan.diagnostics if d.code != "undeclared-event"]
    message, hint = problem
    plan.diagnostics.insert(0, Diagnostic(
        Severity.ERROR, f"{message}; fan-out refuses it", file="--event",
        code="undeclared-event", hint=hint))


def _example_payload(config: RepoConfig | None, event_type: str) -> dict[str, Any] | None:
    """The ``example_payload`` the source declares for ``event_type``, if any: what a
    plan without ``--payload`` judges filters and templates with (as the hook does)."""
    if config is None:
        return None
    return next((p.example_payload for p in config.produces
                 if p.type == event_type and p.example_payload is not None), None)


def _echo_json(plan: Plan, far: Reach, discovery: Discovery, example: bool) -> None:
    data = plan.to_json()
    data["skipped"].extend({"repo": name, "reason": why, "kind": "not-selected",
                            "subscription_index": None, "error": False}
                           for name, why in discovery.skipped)
    data["payload_from_example"] = example
    data["levels"] = [hop.to_json() for hop in far.hops]
    data["levels_truncated"] = far.truncated
    click.echo(json.dumps(data, indent=2))
