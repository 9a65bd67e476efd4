"""``fan-out``, ``status`` and ``cancel`` (docs/cli.md).

Exit codes: 0 success, 1 a node failed, 2 usage or configuration error, 3 timed out,
4 still running (``status`` without --wait). Credentials come from the environment
only (``surfaces.connect.open_forge``). When run inside an Actions run that a tako
dispatch started, ``fan-out`` continues that tree (root, depth, chain, deadline from
``client_payload.tako``).

Polling and pacing knobs that are not flags (tests, impatient people) are read from
the environment like the action entry does: ``TAKO_POLL_MIN_INTERVAL``,
``TAKO_POLL_MAX_INTERVAL``, ``TAKO_SIBLING_GRACE`` (seconds),
``TAKO_DISPATCHES_PER_MINUTE``, ``TAKO_DISPATCHES_PER_HOUR``.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console

from tako_gha.core.events import Event
from tako_gha.core.names import is_repo_name
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.engine.api import DEDUPE_MODES, CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.forge.base import ForgeError
from tako_gha.surfaces import gitinfo
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.flags import (
    check_output_path,
    read_duration,
    read_event_type,
    read_payload,
    read_schema_version,
)

EXIT_RUNNING = 4  # status: the tree has not finished (scripts poll on it)
ENV_KNOBS = {
    "TAKO_POLL_MIN_INTERVAL": "poll_min_interval",
    "TAKO_POLL_MAX_INTERVAL": "poll_max_interval",
    "TAKO_SIBLING_GRACE": "sibling_grace",
    "TAKO_DISPATCHES_PER_MINUTE": "dispatches_per_minute",
    "TAKO_DISPATCHES_PER_HOUR": "dispatches_per_hour",
}


# ------------------------------------------------------------------ inputs
def _duration(value: str | None, flag: str) -> float | None:
    return None if value is None else read_duration(value, flag)


def repo_from_remote(cwd: Path) -> str | None:
    """``owner/repo`` of the ``origin`` remote of the git checkout at ``cwd``."""
    return gitinfo.origin_repo(cwd)


def resolve_source(source: str | None, env: Mapping[str, str], cwd: Path) -> str:
    return gitinfo.resolve_source(source, env, cwd)


def resolve_org(org: str | None, source: str | None) -> str:
    if org:
        return org
    if source:
        return source.split("/", 1)[0]
    raise UserError("cannot tell which organization to look in", hint="pass --org ORG")


def _repos(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    repos = tuple(r.strip() for r in value.split(",") if r.strip())
    bad = [r for r in repos if not is_repo_name(r)]
    if bad:
        raise UserError(f"--repos: {', '.join(bad)} not OWNER/REPO",
                        hint="a comma-separated list: --repos acme/a,acme/b")
    return repos


def env_tuning(options: FanOutOptions, env: Mapping[str, str]) -> FanOutOptions:
    changes: dict[str, Any] = {}
    for name, field_name in ENV_KNOBS.items():
        raw = env.get(name)
        if not raw:
            continue
        kind = int if field_name.startswith("dispatches") else float
        try:
            value = kind(raw)
        except ValueError:
            raise UserError(f"{name}={raw!r} is not a number") from None
        if value <= 0 and field_name.startswith("dispatches"):
            raise UserError(f"{name} must be at least 1")
        changes[field_name] = value
    return replace(options, **changes) if changes else options


def inherited_context(env: Mapping[str, str]) -> CascadeContext | None:
    from tako_gha.engine.context import context_from_environment

    try:
        return context_from_environment(env)
    except ValueError as exc:
        raise UserError(f"cannot continue the cascade this run belongs to: {exc}",
                        hint="the run's client_payload.tako was altered; start a new root "
                             "outside it") from None


# ------------------------------------------------------------------ outputs
def _observer() -> Any:
    from tako_gha.surfaces.reports import LiveTree

    return LiveTree(Console(stderr=True))


def _recording_observer(tree_json: str | None = None) -> Any:
    from tako_gha.surfaces.reports.live import RecordingObserver

    return RecordingObserver(_observer(), tree_json)


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


def announcement(root: str, org: str, context: CascadeContext | None,
                 resume: str | None, api_url: str | None = None) -> str:
    """The first line a fan-out prints (stderr), before anything is dispatched: which
    cascade this is and how to reach it if this process dies."""
    where = ["--api-url", api_url] if api_url else []
    follow = shlex.join(["tako-gha", "status", root, "--org", org, *where, "--wait"])
    if context is not None and context.parent is not None:
        return (f"tako: continuing cascade {root} at depth {context.depth}; follow it: "
                f"{follow}")
    line = f"tako: cascade {root}; follow it: {follow}"
    if resume:
        line += f"; if this process stops early, send the rest: {resume}"
    return line


def _interrupted(report: TreeReport | None, org: str, dry_run: bool,
                 code: int = 130) -> UserError:
    """Ctrl-C during a fan-out: the runs it started go on, so say how to reach them,
    and how many children were never dispatched (``status`` cannot show those: it
    rebuilds the tree from runs)."""
    if report is None or dry_run:
        return UserError("interrupted before anything was dispatched", exit_code=code)
    children = report.origin.children
    waiting = sum(1 for n in children if n.state is NodeState.PLANNED)
    sent = len(children) - waiting
    message = (f"interrupted: {sent} dispatched in cascade {report.root} keep going "
               "without this wait")
    hint = (f"follow it: tako-gha status {report.root} --org {org} --wait; "
            f"stop it: tako-gha cancel {report.root} --org {org}")
    if waiting:
        message += f"; {waiting} of {len(children)} children were not dispatched yet"
        hint += (f"; dispatch the rest: run the same fan-out again with --resume "
                 f"{report.root} (existing runs are adopted, not sent twice)")
    return UserError(message, hint=hint, exit_code=code)


def _emit(report: TreeReport, fmt: str, tree_json: str | None, summary: str | None,
          notes: list[str] | None = None, *, dry_run: bool = False,
          root_only: bool = False) -> None:
    """The final report. ``root_only`` (a fan-out with --no-wait, text format): stdout
    is exactly the root id, so ``ROOT=$(tako-gha fan-out --no-wait …)`` works; the
    text tree goes to stderr."""
    from tako_gha.surfaces.reports import render_markdown, render_text

    if tree_json:
        _write(tree_json, json.dumps(report.to_json(), indent=2) + "\n", "--tree-json",
               atomic=True)
    if summary:
        _write(summary, render_markdown(report, notes=notes or ()), "--summary")
    elif os.environ.get("GITHUB_ACTIONS") == "true" and os.environ.get("GITHUB_STEP_SUMMARY"):
        # Inside a workflow step the job summary is where people look.
        try:
            with open(os.environ["GITHUB_STEP_SUMMARY"], "a", encoding="utf-8") as handle:
                handle.write(render_markdown(report, notes=notes or ()))
        except OSError:
            pass  # a summary is a courtesy; the tree is on stdout anyway
    if fmt == "json":
        click.echo(json.dumps(report.to_json(), indent=2))
    else:
        # The header reads like a real run's ("success"): say first that it was not.
        prefix = "dry run: nothing was dispatched, nothing was waited on\n" if dry_run else ""
        click.echo(prefix + render_text(report), err=root_only)
        if root_only:
            click.echo(report.root)
    if os.environ.get("GITHUB_ACTIONS") == "true":
        # Inside a run: the failures become annotations, which is how a child's reason
        # (a cycle's path, a timeout, the failing grandchild) reaches the root.
        from tako_gha.engine.handoff import notice_lines
        from tako_gha.surfaces.action import annotation_lines

        # With --format json, stdout stays one JSON document: the runner reads workflow
        # commands from stderr too.
        for line in [*annotation_lines(report), *notice_lines(report)]:
            click.echo(line, err=fmt == "json" or root_only)
    sys.stdout.flush()


def _resume_context(root: str, source: str,
                    inherited: CascadeContext | None) -> CascadeContext:
    """The context of a root fan-out being run again: same root, so the same
    deterministic dispatch ids, and the engine adopts runs that already exist."""
    from tako_gha.core.ids import is_id

    if inherited is not None:
        raise UserError("--resume: this run already continues tree "
                        f"{inherited.root}; --resume is for a root fan-out")
    if not is_id(root.strip()):
        raise UserError(f"--resume: {root!r} is not a tako root id",
                        hint="use the 12-hex-digit root id the first fan-out printed")
    return CascadeContext(root=root.strip(), parent=None, depth=1, chain=(source,),
                          deadline=None)


def _open_journal(state: str | None, root: str,
                  env: Mapping[str, str]) -> tuple[Any, str | None]:
    """The journal and, when the default one cannot be used, a warning to print (the
    fan-out goes on; a resume then relies on run-name tags). A ``--state`` file that
    cannot be opened is an error before anything is sent."""
    from tako_gha.engine.journal import Journal, JournalError, crash_point, default_path

    path = Path(state) if state else default_path(root, env)
    try:
        return Journal(path, crash_before=crash_point(env)), None
    except JournalError as exc:
        if state:
            raise UserError(f"--state: {exc}", hint="choose a writable file") from None
        return None, (f"warning: no dispatch journal ({exc}); a resume will recognise "
                      "what was sent only by run-name tags; set TAKO_STATE_DIR or --state")


def _write(path: str, text: str, flag: str, *, atomic: bool = False) -> None:
    from tako_gha.surfaces.reports.live import write_atomic

    try:
        if atomic:
            write_atomic(path, text)
        else:
            Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None


# What each command's token needs, for the hint when none is set.
STATUS_NEEDS = "Actions: read and Contents: read on the organization's repositories"
CANCEL_NEEDS = "Actions: write and Contents: read on the organization's repositories"


def _forge(api_url: str | None, needs: str | None = None) -> Any:
    """The forge for a cascade command; ``needs`` (default: a fan-out's) is the
    permission the no-credentials hint names. Lazy: PyGithub loads only here."""
    from tako_gha.forge.auth import DISPATCH_NEEDS
    from tako_gha.surfaces.connect import open_forge

    return open_forge(api_url, needs=needs or DISPATCH_NEEDS)


def _forge_error(exc: ForgeError) -> UserError:
    return UserError(exc.message, hint=exc.hint, exit_code=2)


FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
                      show_default=True,
                      help="Final report on stdout: a text tree, or the tree JSON.")
API_URL = click.option("--api-url", default=None, metavar="URL",
                       help="GitHub API base URL, for GitHub Enterprise Server or the "
                            "emulator.  [default: $GITHUB_API_URL, else api.github.com]")
ORG = click.option("--org", default=None,
                   help="Organization whose repositories are discovered.  "
                        "[default: the source's owner]")
# status, wait and cancel have no --source: the owner comes from the checkout.
TREE_ORG = click.option("--org", default=None,
                        help="Organization the cascade ran in.  [default: owner of "
                             "$GITHUB_REPOSITORY, else of the origin remote]")


# ------------------------------------------------------------------ fan-out
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
@click.option("--config-path", default="tako.yml", show_default=True,
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
@click.option("--resume", "resume_root", default=None, metavar="ROOT",
              help="Run the fan-out again as cascade ROOT: what its journal says was sent "
                   "is never sent again, and runs that exist are adopted.")
@click.option("--state", default=None, metavar="FILE",
              help="The dispatch journal (append-only, synced to disk) that --resume "
                   "reads.  [default: tako-journal-ROOT.jsonl in $TAKO_STATE_DIR, else "
                   "$RUNNER_TEMP, else ~/.local/state/tako-gha]")
@click.option("--tree-json", default=None, metavar="PATH", help="Also write the tree JSON here.")
@click.option("--summary", default=None, metavar="PATH",
              help="Also write the Markdown summary (the action's job summary) here.")
@API_URL
@FORMAT
def fan_out_cmd(event_type: str, payload: str | None, schema_version: str | None,
                source: str | None, org: str | None, repos: str | None, config_path: str,
                wait: bool, timeout: str, discovery_timeout: str, concurrency: int,
                max_depth: int, max_children: int, dedupe: str, fail_fast: bool,
                cancel_on_timeout: bool, dry_run: bool, resume_root: str | None,
                state: str | None, tree_json: str | None,
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
    # Every flag is checked here, before the first dispatch: the same checks as
    # plan's for what both take, and the report paths must be writable now.
    for flag, value, low in (("--concurrency", concurrency, 1), ("--max-depth", max_depth, 1),
                             ("--max-children", max_children, 0)):
        if value < low:
            raise UserError(f"{flag}: must be at least {low}, got {value}")
    read_event_type(event_type)
    read_schema_version(schema_version)
    check_output_path(tree_json, "--tree-json")
    check_output_path(summary, "--summary")
    options = FanOutOptions(
        wait=wait, timeout=_duration(timeout, "--timeout") or 0,
        discovery_timeout=_duration(discovery_timeout, "--discovery-timeout") or 0,
        concurrency_limit=concurrency, max_children=max_children, max_depth=max_depth,
        fail_fast=fail_fast, cancel_on_timeout=cancel_on_timeout, dedupe=dedupe,
        dry_run=dry_run)
    options = env_tuning(options, env)
    event_payload = read_payload(payload)
    src = resolve_source(source, env, Path.cwd())
    context = inherited_context(env)
    if resume_root is not None:
        context = _resume_context(resume_root, src, context)
    from tako_gha.core.ids import new_root_id

    root = context.root if context is not None else new_root_id()
    request = FanOutRequest(
        event=Event(type=event_type, source=src, payload=event_payload,
                    schema_version=schema_version),
        org=resolve_org(org, src), repos=_repos(repos), config_path=config_path,
        context=context, root=None if context is not None else root)
    from tako_gha.engine.fanout import fan_out

    forge = _forge(api_url)
    journal, trouble = (None, None) if dry_run else _open_journal(state, root, env)
    if not dry_run:
        # Before anything is sent: a process killed later (kill -9, OOM, a cancelled
        # job) has already said which cascade it started and how to pick it up.
        extra = ("--state", str(journal.path)) if journal is not None and not state else ()
        resume = resume_command(click.get_current_context(), root, src, request.org, extra)
        click.echo(announcement(root, request.org, context, resume, api_url), err=True)
    if trouble:
        click.echo(trouble, err=True)
    if tree_json:  # writable? Said before anything is dispatched, not after.
        _write(tree_json, json.dumps({"root": root, "status": "running", "tree": None})
               + "\n", "--tree-json", atomic=True)
    observer = _recording_observer(tree_json)
    where = (f"continuing tree {context.root} at depth {context.depth}" if context
             else "new cascade")
    observer.on_message(f"fanning out {event_type} from {src} in {request.org} ({where})")
    from tako_gha.engine.journal import Interrupted, JournalError, SignalGuard

    try:
        with SignalGuard().installed() as guard:
            report = fan_out(forge, request, options, observer, journal=journal, guard=guard)
    except ForgeError as exc:
        raise _forge_error(exc) from None
    except JournalError as exc:
        raise UserError(f"--state: {exc}; dispatching stopped",
                        hint=f"follow what was sent: tako-gha status {root} --org "
                             f"{request.org} --wait") from None
    except KeyboardInterrupt as exc:
        code = 128 + exc.signum if isinstance(exc, Interrupted) else 130
        raise _interrupted(observer.report, request.org, dry_run, code) from None
    finally:
        observer.close()
        if journal is not None:
            journal.close()
    _emit(report, fmt, tree_json, summary, observer.notes, dry_run=dry_run,
          root_only=not wait and not dry_run and fmt == "text")
    if not wait and not dry_run:  # a dry run has no cascade to follow
        click.echo(f"root: {report.root}  (follow it: tako-gha status {report.root} "
                   f"--org {request.org} --wait)",
                   err=True)
    raise SystemExit(report.status.exit_code)


# ------------------------------------------------------------------ status
@click.command("status", short_help="Show the tree of cascade ROOT, from any machine.")
@click.argument("root")
@TREE_ORG
@click.option("--wait", is_flag=True, help="Wait until the whole tree has finished.")
@click.option("--timeout", default="30m", show_default=True, metavar="DUR",
              help="With --wait: the longest wait.")
@API_URL
@FORMAT
def status_cmd(root: str, org: str | None, wait: bool, timeout: str, api_url: str | None,
               fmt: str) -> None:
    """Show the tree of cascade ROOT (the root id a fan-out printed), rebuilt from the
    run titles in the runs API: it works from any machine, any time later.

    \b
    Exit 0 when the tree succeeded, 1 when a node failed, 2 on bad arguments
    or credentials, 3 when --wait timed out, 4 when the tree is still running
    (without --wait).

    \b
    Examples:
      tako-gha status 5210ea35be12 --org my-org
      tako-gha status 5210ea35be12 --org my-org --wait --timeout 1h
      tako-gha status 5210ea35be12 --org my-org --format json > tree.json
    """
    _status(root, org, wait, timeout, api_url, fmt)


@click.command("wait", short_help="Wait until the tree of cascade ROOT has finished.")
@click.argument("root")
@TREE_ORG
@click.option("--timeout", default="30m", show_default=True, metavar="DUR",
              help="The longest wait.")
@API_URL
@FORMAT
def wait_cmd(root: str, org: str | None, timeout: str, api_url: str | None, fmt: str) -> None:
    """Wait until the whole tree of cascade ROOT has finished (same as status --wait):
    picks up a fire-and-forget fan-out (--no-wait) from any machine.

    \b
    Exit 0 when every node succeeded, 1 when one failed, 2 on bad arguments
    or credentials, 3 when the wait timed out.

    \b
    Examples:
      tako-gha wait 5210ea35be12 --org my-org
      tako-gha wait 5210ea35be12 --org my-org --timeout 2h --format json
    """
    _status(root, org, True, timeout, api_url, fmt)


def _status(root: str, org: str | None, wait: bool, timeout: str, api_url: str | None,
            fmt: str) -> None:
    from tako_gha.engine.watch import watch

    env = os.environ
    source = env.get("GITHUB_REPOSITORY") or (None if org else repo_from_remote(Path.cwd()))
    organisation = resolve_org(org, source)
    options = env_tuning(FanOutOptions(wait=wait, timeout=_duration(timeout, "--timeout") or 0),
                         env)
    forge = _forge(api_url, STATUS_NEEDS)
    observer = _observer() if wait else None
    try:
        report = watch(forge, root.strip(), organisation, options, observer)
    except ForgeError as exc:
        raise _forge_error(exc) from None
    finally:
        if observer is not None:
            observer.close()
    _emit(report, fmt, None, None)
    if report.status is TreeStatus.RUNNING:
        raise SystemExit(EXIT_RUNNING)
    raise SystemExit(report.status.exit_code)


# ------------------------------------------------------------------ cancel
@click.command("cancel")
@click.argument("root")
@TREE_ORG
@API_URL
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True,
              help='text: one line per cancelled run and a count; json: {"root", "org", '
                   '"cancelled": [{"repo", "run_id"}], "count"}.')
def cancel_cmd(root: str, org: str | None, api_url: str | None, fmt: str) -> None:
    """Cancel every still-running run of cascade ROOT.

    The token needs Actions: write on the repositories of the tree. Prints one line
    per cancelled run and a count. Exit 0 when done, 2 on bad arguments or
    credentials.

    \b
    Examples:
      tako-gha cancel 5210ea35be12 --org my-org
      tako-gha cancel 5210ea35be12 --org my-org --format json
    """
    from tako_gha.engine.watch import cancel_tree

    env = os.environ
    source = env.get("GITHUB_REPOSITORY") or (None if org else repo_from_remote(Path.cwd()))
    organisation = resolve_org(org, source)
    forge = _forge(api_url, CANCEL_NEEDS)
    try:
        cancelled = cancel_tree(forge, root.strip(), organisation)
    except ForgeError as exc:
        raise _forge_error(exc) from None
    if fmt == "json":
        click.echo(json.dumps({"root": root.strip(), "org": organisation,
                               "cancelled": [{"repo": repo, "run_id": run_id}
                                             for repo, run_id in cancelled],
                               "count": len(cancelled)}, indent=2))
        return
    for repo, run_id in cancelled:
        click.echo(f"cancelled {repo} run {run_id}")
    click.echo(f"{len(cancelled)} run(s) cancelled in tree {root.strip()}")


COMMANDS: list[click.Command] = [fan_out_cmd, status_cmd, wait_cmd, cancel_cmd]
