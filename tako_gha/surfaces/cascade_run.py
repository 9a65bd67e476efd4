"""Running one fan-out from the command line, once its flags are read: the
journal, the announcement that says how to follow and resume the cascade, the
signal guard, the live tree and the final reports (``fan-out``; docs/cli.md).

``run_fan_out`` takes a ``FanOutCall`` (everything the flags decided) and a forge,
and returns the exit code; ``tako-gha fan-out`` (surfaces/commands/fan_out.py) is
only the flags.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from tako_gha.core.tree import NodeState, TreeReport
from tako_gha.engine import streams
from tako_gha.engine.api import CascadeContext, FanOutOptions, FanOutRequest
from tako_gha.engine.report import REPORT_FILE
from tako_gha.forge.base import Forge, ForgeError
from tako_gha.surfaces.errors import UserError
from tako_gha.surfaces.report_upload import report_dir_for, report_outputs


@dataclass(frozen=True)
class FanOutCall:
    """One fan-out as the command line asked for it."""

    request: FanOutRequest
    options: FanOutOptions
    api_url: str | None = None
    state: str | None = None  # --state FILE (the journal), None: the default place
    no_journal: bool = False  # --no-journal: dispatch without one
    tree_json: str | None = None
    summary: str | None = None
    fmt: str = "text"
    # The exact command that resumes this cascade, given extra flags to add.
    resume_command: Callable[[tuple[str, ...]], str] = lambda extra: ""

    @property
    def context(self) -> CascadeContext | None:
        """The tree this run continues, or the resumed root (the request's)."""
        return self.request.context

    @property
    def root(self) -> str:
        """The cascade's root id: the one of the tree it continues or resumes, else the
        new one the caller chose (``FanOutRequest.root``)."""
        if self.request.context is not None:
            return self.request.context.root
        if self.request.root is None:
            raise ValueError("a new cascade's FanOutRequest names its root id")
        return self.request.root


def live_observer() -> Any:
    from tako_gha.surfaces.reports import LiveTree

    return LiveTree(Console(stderr=True))


def recording_observer(tree_json: str | None = None) -> Any:
    from tako_gha.surfaces.reports.live import RecordingObserver

    return RecordingObserver(live_observer(), tree_json)


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


def interrupted(report: TreeReport | None, org: str, dry_run: bool,
                 code: int = 130, *, recorded: str = "", resume: str = "") -> UserError:
    """Ctrl-C during a fan-out: the runs it started go on, so say how to reach them,
    and how many children were never dispatched (``status`` cannot show those: it
    rebuilds the tree from runs). ``recorded``: what the journal records of the
    root; ``resume``: the exact command that sends the rest."""
    if report is None or dry_run:
        return UserError("interrupted before anything was dispatched", exit_code=code)
    children = report.origin.children
    waiting = sum(1 for n in children if n.state is NodeState.PLANNED)
    sent = len(children) - waiting
    message = (f"interrupted: {sent} dispatched in cascade {report.root} keep going "
               "without this wait")
    if recorded:
        message += f"; {recorded}"
    hint = (f"follow it: tako-gha status {report.root} --org {org} --wait; "
            f"stop it: tako-gha cancel {report.root} --org {org}")
    if waiting:
        message += f"; {waiting} of {len(children)} children were not dispatched yet"
        hint += (f"; dispatch the rest: {resume}" if resume else
                 f"; dispatch the rest: run the same fan-out again with --resume "
                 f"{report.root}")
        hint += " (what was sent is adopted, not sent twice)"
    return UserError(message, hint=hint, exit_code=code)


def emit_report(report: TreeReport, fmt: str, tree_json: str | None, summary: str | None,
                notes: list[str] | None = None, *, dry_run: bool = False,
                root_only: bool = False) -> None:
    """The final report. ``root_only`` (a fan-out with --no-wait, text format): stdout
    is exactly the root id, so ``ROOT=$(tako-gha fan-out --no-wait …)`` works; the
    text tree goes to stderr."""
    from tako_gha.surfaces.reports import render_text

    failed = _write_reports(report, tree_json, summary, notes)
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
    if failed is not None:  # after the report is out: the tree is never lost to it
        raise failed


def _write_reports(report: TreeReport, tree_json: str | None, summary: str | None,
                   notes: list[str] | None) -> UserError | None:
    """The report files: ``--tree-json``, ``--summary`` or, inside a workflow step, the
    job summary (where people look). The first write error, to raise once the report
    is on stdout: exit 2 naming the path, never ignored."""
    from tako_gha.surfaces.reports import render_markdown

    writes: list[Callable[[], None]] = []
    if tree_json:
        writes.append(lambda: write_report_file(
            tree_json, json.dumps(report.to_json(), indent=2) + "\n", "--tree-json",
            atomic=True))
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY", "")
    if summary:
        writes.append(lambda: write_report_file(
            summary, render_markdown(report, notes=notes or ()), "--summary"))
    elif os.environ.get("GITHUB_ACTIONS") == "true" and step_summary:
        def append_summary() -> None:
            try:
                streams.append_text(step_summary, render_markdown(report, notes=notes or ()))
            except OSError as exc:
                raise UserError(f"GITHUB_STEP_SUMMARY: cannot write {step_summary}: "
                                f"{exc.strerror or exc}") from None
        writes.append(append_summary)
    failed: UserError | None = None
    for write in writes:
        try:
            write()
        except UserError as exc:
            failed = failed or exc
    return failed


def _open_journal(call: FanOutCall, env: Mapping[str, str]) -> Any:
    """The journal this fan-out sends with, its root's lock held. No journal, no
    dispatch: when none can be written the fan-out stops here, before anything is
    sent, unless --no-journal says to go without. Another process sending for the
    same root: refused at once, naming it."""
    from tako_gha.engine.journal import JournalError, crash_point, default_path
    from tako_gha.engine.lock import LockHeld, open_for_sending

    if call.no_journal:
        return None
    state, root = call.state, call.root
    path = Path(state) if state else default_path(root, env)
    parent = call.context.parent if call.context is not None else None
    try:
        return open_for_sending(path, root, parent=parent, crash_before=crash_point(env),
                                clean_old=not state)
    except LockHeld as exc:
        raise UserError(str(exc), hint=f"wait for it to end, or follow the cascade: "
                        f"tako-gha status {root} --org {call.request.org} --wait") from None
    except JournalError as exc:
        flag = "--state: " if state else ""
        raise UserError(f"{flag}no dispatch journal can be written ({exc}); nothing was "
                        "dispatched",
                        hint="choose a writable --state file or TAKO_STATE_DIR, or pass "
                             "--no-journal to dispatch without one (a resume then knows "
                             "what was sent only from run-name tags)") from None


def write_report_file(path: str, text: str, flag: str, *, atomic: bool = False) -> None:
    """``text`` into ``path`` (``engine.streams``: a regular file replaced atomically
    when ``atomic``, anything else written in place); a write error, a full disk
    included, is exit 2 naming the path."""
    try:
        streams.write_text(path, text, atomic=atomic)
    except OSError as exc:
        raise UserError(f"{flag}: cannot write {path}: {exc.strerror or exc}") from None


def run_fan_out(forge: Forge, call: FanOutCall, env: Mapping[str, str]) -> int:
    """Send the fan-out and wait as ``call`` says; the exit code of the tree. The
    cascade is announced once the engine has planned and checked it, right before
    the first dispatch: a fan-out refused before that (a misspelled --source or
    --event) prints no "follow it" line and leaves no journal behind."""
    from tako_gha.engine.fanout import fan_out
    from tako_gha.engine.journal import Interrupted, JournalError, SignalGuard

    dry_run, root, org = call.options.dry_run, call.root, call.request.org
    journal = _prepare(call, env)
    report_dir = _report_dir(call, env)
    if report_dir is not None:
        call = replace(call, request=replace(
            call.request, extra={**call.request.extra,
                                 "report_to": str(report_dir / REPORT_FILE)}))
    observer = recording_observer(call.tree_json)
    context = call.context
    where = (f"continuing tree {context.root} at depth {context.depth}" if context
             else "new cascade")
    event = call.request.event
    observer.on_message(f"fanning out {event.type} from {event.source} in {org} ({where})")
    announced: list[bool] = []

    def announce() -> None:
        announced.append(True)
        _announce(call, journal)

    try:
        with SignalGuard().installed() as guard:
            report = fan_out(forge, call.request, call.options, observer, journal=journal,
                             guard=guard, before_dispatch=announce)
    except ForgeError as exc:
        raise UserError(exc.message, hint=exc.hint, exit_code=2) from None
    except JournalError as exc:
        raise UserError(f"{exc}; dispatching stopped",
                        hint=f"follow what was sent: tako-gha status {root} --org "
                             f"{org} --wait; once the journal can be written, run the "
                             "same resume to send the rest") from None
    except KeyboardInterrupt as exc:
        code = 128 + exc.signum if isinstance(exc, Interrupted) else 130
        raise interrupted(observer.report, org, dry_run, code,
                          recorded=_recorded(journal, root),
                          resume=_resume_line(call, journal)) from None
    finally:
        observer.close()
        if journal is not None:
            close_journal(journal, used=bool(announced))
    problem = report_outputs(call.context, report_dir, env)
    if problem:  # the level above lists the repositories below instead
        click.echo(f"warning: the report for the level above is not named: {problem}",
                   err=True)
    wait = call.options.wait
    emit_report(report, call.fmt, call.tree_json, call.summary, observer.notes,
                dry_run=dry_run, root_only=not wait and not dry_run and call.fmt == "text")
    if not wait and not dry_run:  # a dry run has no cascade to follow
        click.echo(f"root: {report.root}  (follow it: tako-gha status {report.root} "
                   f"--org {org} --wait)",
                   err=True)
    return report.status.exit_code


def _recorded(journal: Any, root: str) -> str:
    """What the journal records of ``root``, in words ("" without a journal)."""
    from tako_gha.engine.journal import SENT, UNKNOWN, JournalError

    if journal is None:
        return ""
    try:
        state = journal.read(root)
    except JournalError:
        return ""
    sent = sum(1 for e in state.entries.values() if e.status == SENT)
    unknown = sum(1 for e in state.entries.values() if e.status == UNKNOWN)
    text = f"the journal {journal.path} records {sent} dispatch(es) accepted"
    if unknown:
        text += f" and {unknown} whose answer is unknown (never sent again)"
    return text


def _resume_line(call: FanOutCall, journal: Any) -> str:
    extra = ("--state", str(journal.path)) if journal is not None and not call.state else ()
    return call.resume_command(extra)


def close_journal(journal: Any, *, used: bool) -> None:
    """Close the journal. One this fan-out created and never wrote to (it was refused
    before anything was sent) is removed with its lock file: an empty journal would
    only make a cascade that never existed look resumable. Removed while the lock is
    still held, so no other sender can take a lock on the file being removed."""
    lock = journal.lock
    if not used and not journal.writes:
        with contextlib.suppress(OSError):
            if journal.path.stat().st_size == 0:
                journal.path.unlink()
                if lock is not None:
                    lock.path.unlink()
    journal.close()


def _report_dir(call: FanOutCall, env: Mapping[str, str]) -> Path | None:
    """Inside a tree, in an Actions job (``run: tako-gha fan-out`` in a workflow a
    tako dispatch started): where the report for the level above is written, as the
    action writes it; a later ``actions/upload-artifact`` step uploads it by the
    step outputs ``report_name`` and ``report_path`` (docs/cli.md)."""
    if (env.get("GITHUB_ACTIONS") != "true" or call.options.dry_run
            or "report_to" in call.request.extra):
        return None
    return report_dir_for(call.context, env)


def _prepare(call: FanOutCall, env: Mapping[str, str]) -> Any:
    """Before anything is planned: the journal (its root's lock held), and whether
    --tree-json can be written (said now rather than after the dispatches)."""
    journal = None if call.options.dry_run else _open_journal(call, env)
    # Writable? Said before anything is dispatched, not after. A FIFO or a device gets
    # the final tree only (its reader would take this one for the whole of it).
    if call.tree_json and streams.is_replaceable(call.tree_json):
        write_report_file(call.tree_json, json.dumps({"root": call.root, "status": "running",
                                                      "tree": None}) + "\n",
                          "--tree-json", atomic=True)
    step_summary = env.get("GITHUB_STEP_SUMMARY", "")
    if env.get("GITHUB_ACTIONS") == "true" and step_summary and not call.summary:
        try:  # the job summary written at the end: a directory is said now
            streams.check_writable(step_summary)
        except OSError as exc:
            raise UserError(f"GITHUB_STEP_SUMMARY: cannot write {step_summary}: "
                            f"{exc.strerror or exc}; nothing was dispatched") from None
    return journal


def _announce(call: FanOutCall, journal: Any) -> None:
    """Say which cascade this is, once it is checked and before anything is sent: a
    process killed later (kill -9, OOM, a cancelled job) has already said which
    cascade it started and how to pick it up."""
    click.echo(announcement(call.root, call.request.org, call.context,
                            _resume_line(call, journal), call.api_url), err=True)
    if call.no_journal:
        click.echo("warning: --no-journal: nothing records what is sent; a resume "
                   "recognises it only by run-name tags", err=True)
