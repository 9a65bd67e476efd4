"""``tako-gha fan-out``: its flags, read and checked before anything is sent; the
run itself is ``surfaces.cascade_run.run_fan_out`` (docs/cli.md). When run inside an
Actions run that a tako dispatch started, it continues that tree (root, depth, chain,
deadline from ``client_payload.tako``).
"""

from __future__ import annotations

import os
import shlex
from dataclasses import replace
from pathlib import Path

import click
from click.core import ParameterSource

from tako_gha.core.events import Event
from tako_gha.core.ids import new_root_id
from tako_gha.engine.api import DEDUPE_MODES, FanOutOptions, FanOutRequest
from tako_gha.engine.context import first_attempt_inside
from tako_gha.surfaces.cascade_run import FanOutCall, run_fan_out
from tako_gha.surfaces.commands.cascade_common import (
    API_URL,
    FORMAT,
    ORG,
    duration,
    env_tuning,
    inherited_context,
    open_cascade_forge,
    repo_list,
    resolve_org,
    resolve_source,
    resume_context,
)
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.flags import (
    check_output_path,
    read_event_type,
    read_payload,
    read_schema_version,
    utf8_option,
)


def resume_command(ctx: click.Context, root: str, source: str, org: str,
                   extra: tuple[str, ...] = ()) -> str:
    """The exact command that resumes this fan-out as ``root``: the flags given on
    the command line, the source and org as resolved, ``extra``, and ``--resume``."""
    parts = ["tako-gha", "fan-out", "--source", source, "--org", org]
    skip = {"source", "org", "resume_root", "dry_run", "fmt", "tree_json", "summary"}
    for param in ctx.command.params:
        name = param.name or ""
        if (name in skip or not isinstance(param, click.Option)
                or ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE):
            continue
        value = ctx.params.get(name)
        if param.is_flag:
            flag = param.opts[0] if value else (param.secondary_opts or [None])[0]
            if flag:
                parts.append(flag)
        elif value is not None:
            parts += [param.opts[0], str(value)]
    return shlex.join([*parts, *extra, "--resume", root])


def _check_flags(concurrency: int, max_depth: int, max_children: int, event_type: str,
                 schema_version: str | None, tree_json: str | None,
                 summary: str | None) -> None:
    """Every flag is checked before the first dispatch: the same checks as plan's for
    what both take, and the report paths must be writable now."""
    for flag, value, low in (("--concurrency", concurrency, 1), ("--max-depth", max_depth, 1),
                             ("--max-children", max_children, 0)):
        if value < low:
            raise UserError(f"{flag}: must be at least {low}, got {value}")
    read_event_type(event_type)
    read_schema_version(schema_version)
    check_output_path(tree_json, "--tree-json")
    check_output_path(summary, "--summary")


@click.command("fan-out",
               short_help="Dispatch an event to every subscriber and wait on the run tree.")
@click.option("--event", "event_type", required=True, metavar="TYPE",
              help="Event type, sent as the repository_dispatch event_type (<= 100 chars).")
@click.option("--payload", default=None, metavar="JSON|@FILE",
              help="Event payload: a JSON object in standard JSON (no NaN, <= 64 levels), "
                   "@FILE, or @- for stdin.  [default: {}]")
@click.option("--schema-version", default=None, metavar="V",
              help="Event schema version.  [default: what the source's tako.yml produces]")
@click.option("--source", default=None, metavar="OWNER/REPO",
              help="Repository that fans out.  [default: $GITHUB_REPOSITORY, else the "
                   "origin remote]")
@ORG
@click.option("--repos", default=None, metavar="A,B",
              help="Only these repositories (comma-separated OWNER/REPO) instead of "
                   "discovering the org.")
@click.option("--config-path", default="tako.yml", show_default=True, callback=utf8_option,
              help="Path of the subscription file in each repository.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Wait on the whole tree, or dispatch and print only the root id on "
                   "stdout (the report goes to stderr).")
@click.option("--timeout", default="30m", show_default=True, metavar="DUR",
              help="Longest wait for the whole tree (90s, 30m, 1h).")
@click.option("--discovery-timeout", default="2m", show_default=True, metavar="DUR",
              help="How long a dispatch's run may take to appear before the node is "
                   "not_started.")
@click.option("--concurrency", default=20, show_default=True, type=int, metavar="N",
              help="Children in flight at once (dispatched, not finished).")
@click.option("--max-depth", default=10, show_default=True, type=int, metavar="N",
              help="Refuse dispatches deeper than this below the root (depth_exceeded).")
@click.option("--max-children", default=250, show_default=True, type=int, metavar="N",
              help="Refuse a fan-out to more repositories than this.")
@click.option("--dedupe", type=click.Choice(list(DEDUPE_MODES)), default="none",
              show_default=True,
              help="root: one run per repository and event type in the whole tree "
                   "(a diamond's bottom runs once).")
@click.option("--fail-fast", is_flag=True,
              help="Cancel the rest of the tree on the first failure.")
@click.option("--cancel-on-timeout", is_flag=True,
              help="On timeout, cancel the still-running runs of the tree.")
@click.option("--dry-run", is_flag=True, help="Plan and show the tree; dispatch nothing.")
@click.option("--allow-undeclared-event", "allow_undeclared", is_flag=True,
              help="Send an event type the source's tako.yml does not list under "
                   "events.produces (refused otherwise, exit 2: a typo would reach no one).")
@click.option("--resume", "resume_root", default=None, metavar="ROOT",
              help="Run the fan-out again as cascade ROOT: what its journal says was sent "
                   "is never sent again, and runs that exist are adopted.")
@click.option("--state", default=None, metavar="FILE",
              help="The dispatch journal (append-only, synced to disk) that --resume "
                   "reads.  [default: tako-journal-ROOT.jsonl in $TAKO_STATE_DIR, else "
                   "$RUNNER_TEMP, else ~/.local/state/tako-gha]")
@click.option("--no-journal", is_flag=True,
              help="Dispatch without a journal (when none can be written): a resume then "
                   "knows what was sent only from run-name tags, so receivers without "
                   "them may be sent twice.")
@click.option("--tree-json", default=None, metavar="PATH", help="Also write the tree JSON here.")
@click.option("--summary", default=None, metavar="PATH",
              help="Also write the Markdown summary (the action's job summary) here.")
@API_URL
@FORMAT
def fan_out_cmd(event_type: str, payload: str | None, schema_version: str | None,
                source: str | None, org: str | None, repos: str | None, config_path: str,
                wait: bool, timeout: str, discovery_timeout: str, concurrency: int,
                max_depth: int, max_children: int, dedupe: str, fail_fast: bool,
                cancel_on_timeout: bool, dry_run: bool, allow_undeclared: bool,
                resume_root: str | None,
                state: str | None, no_journal: bool, tree_json: str | None,
                summary: str | None, api_url: str | None, fmt: str) -> None:
    """Dispatch an event to every repository whose tako.yml subscribes to it, find
    the workflow runs it starts and wait on the whole tree, grandchildren included.

    Credentials come from the environment only: GITHUB_TOKEN or GH_TOKEN (Contents:
    write and Actions: read on the subscribers), or TAKO_APP_ID, TAKO_APP_PRIVATE_KEY
    and TAKO_APP_INSTALLATION_ID. Run in a workflow that a tako dispatch started, it
    continues that tree (same root, depth + 1, the root's deadline).

    \b
    Exit 0 when every node succeeded (or with --no-wait, when all were
    dispatched; with --dry-run, when every dispatch would be sent), 1 when one
    failed (or would be refused), 2 on bad arguments, credentials or
    configuration, 3 when the wait timed out.

    \b
    Examples:
      tako-gha fan-out --event library_built --payload '{"version": "2.0.0"}'
      tako-gha fan-out --source my-org/core-lib --event library_built \\
          --payload @event.json --timeout 1h --tree-json tree.json
      ROOT=$(tako-gha fan-out --event library_built --no-wait)   # just the root id
      tako-gha fan-out --event library_built --dry-run --format json
    """
    env = os.environ
    _check_flags(concurrency, max_depth, max_children, event_type, schema_version,
                 tree_json, summary)
    options = FanOutOptions(
        wait=wait, timeout=duration(timeout, "--timeout") or 0,
        discovery_timeout=duration(discovery_timeout, "--discovery-timeout") or 0,
        concurrency_limit=concurrency, max_children=max_children, max_depth=max_depth,
        fail_fast=fail_fast, cancel_on_timeout=cancel_on_timeout, dedupe=dedupe,
        dry_run=dry_run)
    event_payload = read_payload(payload)
    src = resolve_source(source, env, Path.cwd())
    context = inherited_context(env)
    options = replace(env_tuning(options, env),
                      first_attempt=first_attempt_inside(env, context))
    if resume_root is not None:
        context = resume_context(resume_root, src, context)
    root = context.root if context is not None else new_root_id()
    request = FanOutRequest(
        event=Event(type=event_type, source=src, payload=event_payload,
                    schema_version=schema_version),
        org=resolve_org(org, src), repos=repo_list(repos), config_path=config_path,
        context=context, root=None if context is not None else root,
        allow_undeclared_event=allow_undeclared)
    forge = open_cascade_forge(api_url)
    ctx = click.get_current_context()
    call = FanOutCall(
        request=request, options=options, api_url=api_url, state=state,
        no_journal=no_journal, tree_json=tree_json, summary=summary, fmt=fmt,
        resume_command=lambda extra: resume_command(ctx, root, src, request.org, extra))
    raise SystemExit(run_fan_out(forge, call, env))
