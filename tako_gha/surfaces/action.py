"""The composite action's entry: ``python -m tako_gha.surfaces.action``.

``action.yml`` maps every input to ``TAKO_INPUT_<NAME>`` (see ``core.action_contract``);
the emulator does the same for ``uses:`` steps. This module:

1. masks the token (``::add-mask::``) before printing anything else;
2. validates the inputs: a bad one is an ``::error::`` naming the input and exit 2;
3. continues the cascade's tree when the run was started by a tako dispatch
   (``client_payload.tako`` in ``GITHUB_EVENT_PATH``), else starts a new root;
4. fans out (``engine.fanout.fan_out``) with plain progress lines in the log;
5. writes outputs to ``GITHUB_OUTPUT`` (multi-line safe), the Markdown summary to
   ``GITHUB_STEP_SUMMARY``, and an ``::error::`` annotation per failed node (that is
   also how a child's reason reaches the root: the root reads its annotations);
6. exits like the CLI: 0 success, 1 a node failed, 2 bad input, 3 timed out.

Tuning knobs that are not inputs (for tests and impatient people) are read from
the environment: ``TAKO_POLL_MIN_INTERVAL``, ``TAKO_POLL_MAX_INTERVAL`` (seconds),
``TAKO_MAX_CHILDREN``, ``TAKO_DISPATCHES_PER_MINUTE``, ``TAKO_DISPATCHES_PER_HOUR``,
``TAKO_SIBLING_GRACE`` (seconds to wait for more runs of one dispatch).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO, TypeVar

from rich.console import Console

from tako_gha.core.action_contract import INPUT_DEFAULTS, env_name
from tako_gha.core.durations import DurationError, parse_duration
from tako_gha.core.events import Event
from tako_gha.core.ids import new_root_id, tag_shape_in
from tako_gha.core.names import is_repo_name
from tako_gha.core.settings import OPTION_SETTINGS, SettingError, read_number
from tako_gha.core.strictjson import JsonInputError, read_json_object
from tako_gha.core.tree import NodeState, TreeReport, TreeStatus
from tako_gha.core.versions import VersionError, parse_version
from tako_gha.engine import streams
from tako_gha.engine.api import (
    DEDUPE_MODES,
    EXPECTED_SKIP,
    CascadeContext,
    FanOutOptions,
    FanOutRequest,
)
from tako_gha.engine.context import first_attempt_inside, read_event_file, tako_from_inputs
from tako_gha.engine.handoff import notice_lines
from tako_gha.engine.journal import Journal, JournalError, SignalGuard, crash_point, default_path
from tako_gha.engine.report import REPORT_FILE
from tako_gha.forge.redact import redact, redact_url
from tako_gha.surfaces.errors import api_url_named
from tako_gha.surfaces.flags import undecodable_at
from tako_gha.surfaces.report_upload import report_dir_for, report_outputs
from tako_gha.surfaces.reports import LiveTree, render_markdown
from tako_gha.surfaces.reports.common import one_line, root_cause_paths
from tako_gha.surfaces.reports.live import RecordingObserver
from tako_gha.surfaces.workflow_commands import (
    command,
    env_file_write,
    mask_lines,
    write_outputs,
)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_TIMED_OUT = 0, 1, 2, 3
MAX_EVENT_TYPE = 100
DEFAULT_API = "https://api.github.com"
MAX_OUTPUT_BYTES = 1_000_000  # GitHub: 1 MB per output
MAX_ANNOTATIONS = 10  # GitHub shows at most 10 error annotations per step
_ERRORISH = ("could not be used", "error")
T = TypeVar("T")
_TRUE, _FALSE = {"true", "yes", "1", "on"}, {"false", "no", "0", "off", ""}
# Nodes for which a dispatch was actually sent.
_SENT = {NodeState.DISPATCHED, NodeState.QUEUED, NodeState.IN_PROGRESS, NodeState.SUCCESS,
         NodeState.FAILURE, NodeState.CANCELLED, NodeState.TIMED_OUT, NodeState.NOT_STARTED,
         NodeState.ACTION_REQUIRED}


class InputError(Exception):
    """Bad inputs: each message names its input and says what would be accepted.
    One InputError carries every problem found, so a workflow author fixes them all
    in one round instead of one per run."""

    def __init__(self, *problems: str) -> None:
        super().__init__("; ".join(problems))
        self.problems = list(problems)


class _Problems:
    """Reads inputs one by one, keeping every InputError instead of stopping at the
    first; ``check()`` raises them all together."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def read(self, reader: Callable[[], T], fallback: T) -> T:
        try:
            return reader()
        except InputError as exc:
            self.found.extend(exc.problems)
            return fallback

    def check(self) -> None:
        if self.found:
            raise InputError(*self.found)


@dataclass
class ActionInputs:
    event_type: str
    payload: dict[str, Any]
    schema_version: str | None
    org: str
    source: str
    repos: list[str]
    config_path: str
    token: str
    api_url: str
    options: FanOutOptions
    event_path: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    on_rerun: str = "resume"
    allow_undeclared_event: bool = False  # send a type the source does not declare
    expected_skips: str = "summary"  # or "notice": see EXPECTED_SKIP_LEVELS


# ------------------------------------------------------------------ inputs
def _unchecked(env: Mapping[str, str], name: str) -> str:
    value = env.get(env_name(name))
    return (INPUT_DEFAULTS[name] if value is None else value).strip()


def _raw(env: Mapping[str, str], name: str) -> str:
    text = _unchecked(env, name)
    bad = undecodable_at(text)
    if bad is not None:  # environment bytes that are not UTF-8 (surrogateescape)
        raise InputError(f"input {name}: character {bad + 1} is not valid Unicode (a byte "
                         "that is not UTF-8?)")
    return text


def _bool(env: Mapping[str, str], name: str) -> bool:
    value = _raw(env, name).lower() or INPUT_DEFAULTS[name]
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InputError(f"input {name}: expected true or false, got {value!r}")


def _int(env: Mapping[str, str], name: str, minimum: int = 1) -> int:
    value = _raw(env, name) or INPUT_DEFAULTS[name]
    try:
        number = int(value)
    except ValueError:
        raise InputError(f"input {name}: expected a whole number, got {value!r}") from None
    if number < minimum:
        raise InputError(f"input {name}: must be at least {minimum}, got {number}")
    return number


def _duration(env: Mapping[str, str], name: str) -> float:
    value = _raw(env, name) or INPUT_DEFAULTS[name]
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise InputError(f"input {name}: {exc}") from None
    if seconds <= 0:
        raise InputError(f"input {name}: must be longer than zero, got {value!r}")
    return seconds


def _env_number(env: Mapping[str, str], name: str) -> int | float | None:
    """A tuning setting (core.settings: finite, in its range), None when unset."""
    value = env.get(name, "").strip()
    if not value:
        return None
    try:
        return read_number(name, value)
    except SettingError as exc:
        raise InputError(f"environment {exc}") from None


def _payload(env: Mapping[str, str]) -> dict[str, Any]:
    """The payload input, read like ``--payload`` (``core.strictjson``)."""
    text = _unchecked(env, "payload") or "{}"  # its reader says line and column
    try:
        return read_json_object(text)
    except JsonInputError as exc:
        raise InputError(f"input payload: {exc}; give a standard JSON object such as "
                         '{"version": "2.0.0"}, e.g. built with toJSON(...)') from None


def _schema_version(env: Mapping[str, str]) -> str | None:
    value = _raw(env, "schema_version") or None
    if value is not None:
        try:
            parse_version(value)
        except VersionError as exc:
            raise InputError(f"input schema_version: {value!r} is not a version: "
                             f"{exc.reason}") from None
    return value


def _repos(env: Mapping[str, str]) -> list[str]:
    names = [part.strip() for part in re.split(r"[,\n]", _raw(env, "repos")) if part.strip()]
    bad = [name for name in names if not is_repo_name(name)]
    if bad:
        raise InputError(*(f"input repos: {name!r} is not owner/repo" for name in bad))
    return names


def _event_type(env: Mapping[str, str]) -> str:
    event_type = _raw(env, "event_type")
    if not event_type:
        raise InputError("input event_type is required (the event to fan out, "
                         "e.g. library_built)")
    if len(event_type) > MAX_EVENT_TYPE:
        raise InputError(f"input event_type: {len(event_type)} characters; GitHub accepts "
                         f"at most {MAX_EVENT_TYPE}")
    shape = tag_shape_in(event_type)
    if shape is not None:
        raise InputError(f"input event_type: contains {shape!r}, the shape of the tag tako "
                         "puts in run titles; choose an event type without '[tako:' in it")
    return event_type


def _api_url(env: Mapping[str, str]) -> str:
    api_url = (_raw(env, "api_url") or env.get("GITHUB_API_URL", "")
               or DEFAULT_API).rstrip("/")
    shown = redact_url(repr(api_url))
    if not api_url.startswith(("http://", "https://")):
        raise InputError(f"input api_url: expected an http(s) URL, got {shown}")
    if "@" in api_url.split("://", 1)[1].split("/", 1)[0]:
        raise InputError(f"input api_url: {shown} holds credentials (user:password@); "
                         "pass the URL without them (the token input authenticates)")
    return api_url


def _source(env: Mapping[str, str]) -> str:
    source = env.get("GITHUB_REPOSITORY", "").strip()
    if not is_repo_name(source):
        raise InputError("GITHUB_REPOSITORY is not set to owner/repo: the action must run "
                         "inside a GitHub Actions job (it names the repo that fans out)")
    return source


ON_RERUN = ("resume", "fresh")


def _on_rerun(env: Mapping[str, str]) -> str:
    value = (_raw(env, "on_rerun") or INPUT_DEFAULTS["on_rerun"]).lower()
    if value not in ON_RERUN:
        raise InputError(f"input on_rerun: expected resume or fresh, got {value!r}")
    return value


def step_root(env: Mapping[str, str], event_type: str) -> str | None:
    """The root id of this step's cascade, derived from (repository, run id, job,
    step, event type): the same in every attempt of the run, so a re-run of the job
    continues the cascade its first attempt started. None outside Actions."""
    parts = [env.get(name, "") for name in ("GITHUB_REPOSITORY", "GITHUB_RUN_ID",
                                             "GITHUB_JOB", "GITHUB_ACTION")]
    if env.get("GITHUB_ACTIONS") != "true" or not all(parts):
        return None
    key = "\x1f".join(["tako-step", *parts, event_type])
    return hashlib.sha256(key.encode()).hexdigest()[:12]


def rerun_plan(env: Mapping[str, str], inputs: ActionInputs,
               context: CascadeContext | None) -> tuple[CascadeContext | None, str | None,
                                                          bool]:
    """``(context, root, rerun_failed)`` for this attempt of the job. A first attempt
    fans out as the step's derived root; a later one (``on_rerun: resume``) resumes
    it: what succeeded is kept, failed children's runs are re-run, the rest is sent.
    Inside a tree (a child's job re-run) the tree's own ids already match."""
    try:
        attempt = int(env.get("GITHUB_RUN_ATTEMPT") or "1")
    except ValueError:
        attempt = 1
    resume = inputs.on_rerun == "resume"
    if context is not None:
        return context, None, resume and attempt > 1
    root = step_root(env, inputs.event_type) if resume else None
    if root is None or attempt <= 1:
        return None, root, False
    return (CascadeContext(root=root, parent=None, depth=1, chain=(inputs.source,),
                           deadline=None), None, True)


def _dedupe(env: Mapping[str, str]) -> str:
    dedupe = _raw(env, "dedupe") or INPUT_DEFAULTS["dedupe"]
    if dedupe not in DEDUPE_MODES:
        raise InputError(f"input dedupe: expected one of {', '.join(DEDUPE_MODES)}, "
                         f"got {dedupe!r}")
    return dedupe


# How subscribers their own subscription leaves out are shown: only in the summary,
# or also as ::notice annotations. Never as warnings: nothing there to act on.
EXPECTED_SKIP_LEVELS = ("summary", "notice")


def _expected_skips(env: Mapping[str, str]) -> str:
    level = (_raw(env, "expected_skips") or INPUT_DEFAULTS["expected_skips"]).lower()
    if level not in EXPECTED_SKIP_LEVELS:
        raise InputError(f"input expected_skips: expected one of "
                         f"{', '.join(EXPECTED_SKIP_LEVELS)}, got {level!r}")
    return level


_TUNING = tuple(OPTION_SETTINGS.items())  # environment variable -> option


def _options(env: Mapping[str, str], problems: _Problems) -> FanOutOptions:
    """Every option input; a bad one is noted in ``problems`` and its default used,
    so the remaining inputs are still checked."""
    defaults = FanOutOptions()

    def boolean(name: str, fallback: bool) -> bool:
        return problems.read(lambda: _bool(env, name), fallback)

    def whole(name: str, fallback: int) -> int:
        return problems.read(lambda: _int(env, name), fallback)

    def duration(name: str, fallback: float) -> float:
        return problems.read(lambda: _duration(env, name), fallback)

    options = FanOutOptions(
        wait=boolean("wait_for_children", True),
        timeout=duration("timeout", defaults.timeout),
        discovery_timeout=duration("discovery_timeout", defaults.discovery_timeout),
        concurrency_limit=whole("concurrency_limit", defaults.concurrency_limit),
        max_depth=whole("max_depth", defaults.max_depth),
        fail_fast=boolean("fail_fast", False),
        cancel_on_timeout=boolean("cancel_on_timeout", False),
        dedupe=problems.read(lambda: _dedupe(env), "none"),
        dry_run=boolean("dry_run", False),
    )
    tuning: dict[str, Any] = {}
    for var, attr in _TUNING:
        value = problems.read(lambda var=var: _env_number(env, var), None)
        if value is not None:
            tuning[attr] = value
    if "poll_min_interval" in tuning and "poll_max_interval" not in tuning:
        tuning["poll_max_interval"] = max(tuning["poll_min_interval"],
                                          min(options.poll_max_interval,
                                              tuning["poll_min_interval"] * 4))
    return replace(options, **tuning)


def read_inputs(env: Mapping[str, str]) -> ActionInputs:
    """All inputs, validated; raises one InputError naming every bad one."""
    problems = _Problems()
    event_type = problems.read(lambda: _event_type(env), "")
    source = problems.read(lambda: _source(env), "")
    org = (problems.read(lambda: _raw(env, "org"), "")
           or env.get("GITHUB_REPOSITORY_OWNER", "") or source.split("/")[0])
    token = (problems.read(lambda: _raw(env, "token"), "") or env.get("GITHUB_TOKEN", "")
             or env.get("GH_TOKEN", ""))
    inputs = ActionInputs(
        event_type=event_type,
        payload=problems.read(lambda: _payload(env), {}),
        schema_version=problems.read(lambda: _schema_version(env), None),
        org=org,
        source=source,
        repos=problems.read(lambda: _repos(env), []),
        config_path=(problems.read(lambda: _raw(env, "config_path"), "")
                     or INPUT_DEFAULTS["config_path"]),
        token=token,
        api_url=problems.read(lambda: _api_url(env), ""),
        options=_options(env, problems),
        event_path=env.get("GITHUB_EVENT_PATH", ""),
        on_rerun=problems.read(lambda: _on_rerun(env), "resume"),
        allow_undeclared_event=problems.read(
            lambda: _bool(env, "allow_undeclared_event"), False),
        expected_skips=problems.read(lambda: _expected_skips(env), "summary"),
    )
    problems.check()
    return inputs


def cascade_context(event_path: str, this_repo: str) -> CascadeContext | None:
    """The tree to continue when this run was started by a tako dispatch."""
    if not event_path or not Path(event_path).is_file():
        return None
    event = read_event_file(event_path)
    client_payload = event.get("client_payload") if event is not None else None
    try:
        if not isinstance(client_payload, dict) and event is not None:
            # a workflow dispatch (exact mode): the context is the `tako` input
            client_payload = tako_from_inputs(event.get("inputs"))
        if not isinstance(client_payload, dict) or not isinstance(
                client_payload.get("tako"), dict):
            return None
        return CascadeContext.from_client_payload(client_payload, this_repo)
    except ValueError as exc:
        raise InputError(f"cannot continue the cascade this run belongs to: {exc}") from None


# ------------------------------------------------------------------ outputs
def dispatched_count(report: TreeReport) -> int:
    return sum(1 for n in report.origin.walk() if n is not report.origin and n.state in _SENT)


def tree_output(report: TreeReport) -> str:
    """The tree JSON for the ``tree`` output, within GitHub's 1 MB per output."""
    text = json.dumps(report.to_json(), separators=(",", ":"))
    if len(text.encode("utf-8")) <= MAX_OUTPUT_BYTES:
        return text
    failed = [{"repo": n.repo, "id": n.id, "state": n.state.value, "reason": n.reason}
              for n in report.failed_nodes()][:1000]
    return json.dumps({"root": report.root, "status": report.status.value, "truncated": True,
                       "hint": "the tree is larger than GitHub's 1 MB output limit; "
                               "run tako-gha status ROOT --format json for all of it",
                       "failed": failed}, separators=(",", ":"))


def outputs_for(report: TreeReport) -> dict[str, str]:
    return {
        "root_id": report.root,
        "status": report.status.value,
        "tree": tree_output(report),
        "dispatched": str(dispatched_count(report)),
        "failed": str(len(report.failed_nodes())),
    }


def annotation_lines(report: TreeReport) -> list[str]:
    """``::error::`` per root cause (a failed node with no failed node below it: the
    nodes above it failed because of it and show in its path), with its state and
    reason: one real failure is one annotation, not one per level of the tree."""
    lines: list[str] = []
    failed = root_cause_paths(report)
    for path in failed[:MAX_ANNOTATIONS]:
        node = path[-1]
        message = f"{' → '.join(n.repo for n in path)}: {node.state.value}"
        if node.reason:
            message += f" — {node.reason}"
        if node.runs:
            message += " (" + ", ".join(r.url or f"run {r.run_id}" for r in node.runs) + ")"
        lines.append(command("error", message, {"title": f"tako: {node.repo} {node.state.value}"}))
    if len(failed) > MAX_ANNOTATIONS:
        lines.append(command("error", f"{len(failed) - MAX_ANNOTATIONS} more failed nodes; "
                             "see the job summary", {"title": "tako: more failures"}))
    if report.status is TreeStatus.TIMED_OUT and not failed:
        lines.append(command("error", "the cascade timed out before every run finished",
                             {"title": "tako: timed out"}))
    return lines


def note_annotations(notes: Sequence[str], *, expected: str = "summary") -> list[str]:
    """``::warning::`` for repositories skipped for a reason someone should look at
    (an unusable tako.yml, a template error), unusable configs first: it never fails
    this cascade, but it is worth a look. Subscribers their own filter, range or event
    list leaves out (and archived or fork repositories) are the system working as
    configured: only in the summary, or with ``expected="notice"`` as ``::notice::``."""
    lines = _capped("warning", "skipped ", sorted(
        (n for n in notes if n.startswith("skipped ")),
        key=lambda n: not any(w in n for w in _ERRORISH)))
    if expected == "notice":
        lines += _capped("notice", EXPECTED_SKIP, [n for n in notes
                                                   if n.startswith(EXPECTED_SKIP)])
    return lines


def _capped(level: str, prefix: str, notes: list[str]) -> list[str]:
    lines = []
    for note in notes[:MAX_ANNOTATIONS]:
        repo, _, reason = note.removeprefix(prefix).partition(": ")
        lines.append(command(level, reason or note,
                             {"title": f"tako: {prefix.strip()} {repo}"}))
    if len(notes) > MAX_ANNOTATIONS:
        what = "skipped" if level == "warning" else "left out by their subscriptions"
        lines.append(command(level, f"{len(notes) - MAX_ANNOTATIONS} more repositories "
                             f"{what}; see the job summary",
                             {"title": f"tako: more {prefix.strip()}"}))
    return lines


def publish(report: TreeReport, env: Mapping[str, str], out: TextIO,
            notes: Sequence[str] = ()) -> str | None:
    """Outputs, step summary and annotations; what could not be written (naming the
    variable and the path), else None. The annotations go out either way."""
    problems = [problem for problem in (
        env_file_write(env, "GITHUB_OUTPUT", lambda path: write_outputs(
            path, outputs_for(report))),
        env_file_write(env, "GITHUB_STEP_SUMMARY", lambda path: streams.append_text(
            path, render_markdown(report, notes=notes))),
    ) if problem]
    # Children without a run (refused, deduplicated, not started) or matched only
    # heuristically leave no tag the root can follow: hand them up as notices.
    try:
        level = _expected_skips(env)
    except InputError:  # read_inputs said so already
        level = INPUT_DEFAULTS["expected_skips"]
    for line in [*annotation_lines(report), *note_annotations(notes, expected=level),
                 *notice_lines(report)]:
        out.write(line + "\n")
    out.flush()
    return "; ".join(problems) or None


def check_env_files(env: Mapping[str, str]) -> str | None:
    """Before anything is dispatched: can the files of ``GITHUB_OUTPUT`` and
    ``GITHUB_STEP_SUMMARY`` be written (nothing is written to them here)?"""
    for name in ("GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"):
        problem = env_file_write(env, name, streams.check_writable)
        if problem:
            return problem
    return None


# ------------------------------------------------------------------ main
def fail(out: TextIO, message: str, *, hint: str = "", title: str = "tako-gha") -> int:
    text = redact(api_url_named(f"{message} (hint: {hint})" if hint else message,
                                "the api_url input"))
    out.write(command("error", text, {"title": title}) + "\n")
    out.flush()
    return EXIT_USAGE


def run(env: Mapping[str, str], out: TextIO) -> int:
    """The whole entry; returns the exit code. Never raises for bad input."""
    for secret in (env.get(env_name("token"), ""), env.get("GITHUB_TOKEN", ""),
                   env.get("GH_TOKEN", "")):
        if secret.strip():
            mask_lines(secret.strip(), out)
    try:
        inputs = read_inputs(env)
        context = cascade_context(inputs.event_path, inputs.source)
    except InputError as exc:
        # One annotation per bad input: each shows up on its own in the run's page.
        for problem in exc.problems[:-1]:
            fail(out, problem)
        return fail(out, exc.problems[-1])
    context, root, rerun_failed = rerun_plan(env, inputs, context)
    if first_attempt_inside(env, context):
        inputs = replace(inputs, options=replace(inputs.options, first_attempt=True))
    if rerun_failed:
        inputs = replace(inputs, options=replace(inputs.options, rerun_failed=True))
        out.write(one_line(f"tako: attempt {env.get('GITHUB_RUN_ATTEMPT')} of this job: "
                           f"continuing cascade {context.root if context else root} "
                           "(succeeded children kept, failed ones re-run, the rest sent)")
                  + "\n")
    return _fan_out(inputs, context, env, out, root=root)


NO_TOKEN_HINT = ("a PAT or GitHub App token that can read the org's repositories and "
                 "dispatch to them; the job's own GITHUB_TOKEN reaches only its own "
                 "repository")
ENV_FILES_HINT = ("the runner sets these files; a step's env: must not point them "
                  "elsewhere")


def _fan_out(inputs: ActionInputs, context: CascadeContext | None,
             env: Mapping[str, str], out: TextIO, *, root: str | None = None) -> int:
    if not inputs.token:
        return fail(out, "no token: set the token input (or GITHUB_TOKEN / GH_TOKEN)",
                    hint=NO_TOKEN_HINT)
    # Imported here so a bad input is reported without loading the client stack.
    from tako_gha.engine.fanout import fan_out
    from tako_gha.forge.base import ForgeError
    from tako_gha.surfaces.cascade_run import close_journal
    from tako_gha.surfaces.connect import open_forge
    from tako_gha.surfaces.errors import UserError

    root = context.root if context is not None else (root or new_root_id())
    report_dir = report_dir_for(context, env)
    request = _request(inputs, context, root, report_dir)
    problem = check_env_files(env)
    if problem:
        return fail(out, f"{problem}; nothing was dispatched", hint=ENV_FILES_HINT)
    announced: list[bool] = []

    def announce_now() -> None:  # once planned and checked, before the first dispatch
        trouble = announce(root, inputs, context, env, out)
        if trouble:
            raise UserError(f"{trouble}; nothing was dispatched", hint=ENV_FILES_HINT)
        announced.append(True)

    observer = _start_log(inputs, context, out)
    from tako_gha.engine.lock import LockHeld

    try:
        journal = None if inputs.options.dry_run else _journal(root, context, env)
    except (JournalError, LockHeld) as exc:
        return fail(out, f"{exc}; nothing was dispatched",
                    hint="set TAKO_STATE_DIR to a writable directory"
                    if isinstance(exc, JournalError) else
                    f"follow the cascade: tako-gha status {root} --org {inputs.org}")
    try:
        forge = open_forge(inputs.api_url, token=inputs.token)
        with SignalGuard().installed() as guard:
            report = fan_out(forge, request, inputs.options, observer, journal=journal,
                             guard=guard, before_dispatch=announce_now)
    except (ForgeError, UserError) as exc:
        also = _partial_outputs(exc, env)
        return fail(out, getattr(exc, "message", str(exc)) + (f"; {also}" if also else ""),
                    hint=getattr(exc, "hint", ""))
    except JournalError as exc:
        return fail(out, f"{exc}; dispatching stopped",
                    hint=f"follow what was sent: tako-gha status {root} --org {inputs.org}")
    finally:
        observer.live.close()
        if journal is not None:
            close_journal(journal, used=bool(announced))
    problem = publish(report, env, out, observer.notes) or report_outputs(
        context, report_dir, env)
    if problem:
        return fail(out, problem, hint="the cascade itself ended "
                    f"{report.status.value}; only these files were not written")
    return report.status.exit_code


def _start_log(inputs: ActionInputs, context: CascadeContext | None,
               out: TextIO) -> RecordingObserver:
    """The live tree on the step's log (plain lines) and its first line."""
    live = LiveTree(Console(file=out, force_terminal=False, width=200, soft_wrap=True))
    where = f"tree {context.root} at depth {context.depth}" if context else "a new cascade"
    out.write(one_line(f"tako: fanning out {inputs.event_type} from {inputs.source} in "
                       f"{inputs.org} ({where})") + "\n")
    return RecordingObserver(live)


def _request(inputs: ActionInputs, context: CascadeContext | None, root: str,
             report_dir: Path | None) -> FanOutRequest:
    event = Event(type=inputs.event_type, source=inputs.source, payload=inputs.payload,
                  schema_version=inputs.schema_version)
    return FanOutRequest(event=event, org=inputs.org, repos=tuple(inputs.repos),
                         config_path=inputs.config_path, context=context,
                         root=None if context is not None else root,
                         extra={"report_to": str(report_dir / REPORT_FILE)}
                         if report_dir is not None else {},
                         allow_undeclared_event=inputs.allow_undeclared_event)


def announce(root: str, inputs: ActionInputs, context: CascadeContext | None,
             env: Mapping[str, str], out: TextIO) -> str | None:
    """Once the fan-out is planned and checked, before anything is dispatched (a
    refused one never announces a cascade): the ``root_id`` output and a notice naming the
    cascade and the commands that reach it, so a job cancelled or killed midway
    has already said which cascade it started (later steps get ``root_id`` with
    ``if: always()``). Returns why ``GITHUB_OUTPUT`` could not be written, if so."""
    problem = env_file_write(env, "GITHUB_OUTPUT",
                             lambda path: write_outputs(path, {"root_id": root}))
    if problem:
        return problem
    where = [] if inputs.api_url == DEFAULT_API else ["--api-url", inputs.api_url]
    follow = shlex.join(["tako-gha", "status", root, "--org", inputs.org, *where, "--wait"])
    if context is not None and context.parent is not None:
        message = f"continuing cascade {root} at depth {context.depth}; follow it: {follow}"
    else:
        resume = ["tako-gha", "fan-out", "--event", inputs.event_type, "--source",
                  inputs.source, "--org", inputs.org, *where]
        if inputs.payload:
            text = json.dumps(inputs.payload, separators=(",", ":"))
            resume += ["--payload", text if len(text) <= 500 else "@payload.json"]
        if inputs.repos:
            resume += ["--repos", ",".join(inputs.repos)]
        if inputs.config_path != INPUT_DEFAULTS["config_path"]:
            resume += ["--config-path", inputs.config_path]
        message = (f"cascade {root}; follow it: {follow}; if this step stops early, send "
                   f"the rest: {shlex.join([*resume, '--resume', root])}")
    out.write(command("notice", message, {"title": f"tako cascade {root}"}) + "\n")
    out.flush()
    return None


def _journal(root: str, context: CascadeContext | None, env: Mapping[str, str]) -> Journal:
    """The dispatch journal under ``RUNNER_TEMP`` (or ``TAKO_STATE_DIR``), the root's
    lock held: a step stopped midway and run again in the same job never sends a
    dispatch twice. Raises ``JournalError`` (no journal: nothing is dispatched) or
    ``LockHeld`` (another process sends for this root)."""
    from tako_gha.engine.lock import open_for_sending

    parent = context.parent if context is not None else None
    return open_for_sending(default_path(root, env), root, parent=parent,
                            crash_before=crash_point(env))


def _partial_outputs(exc: Exception, env: Mapping[str, str]) -> str | None:
    """The token was refused after the cascade began: give later steps (``if:
    always()``) the root to follow and how many went out; no status, since nothing
    about the tree is final. Returns why ``GITHUB_OUTPUT`` could not be written."""
    from tako_gha.engine.errors import CredentialsLostError

    if not isinstance(exc, CredentialsLostError):
        return None
    return env_file_write(env, "GITHUB_OUTPUT", lambda path: write_outputs(path, {
        "root_id": exc.report.root, "dispatched": str(dispatched_count(exc.report))}))


def main() -> None:
    try:
        code = run(os.environ, sys.stdout)
    except KeyboardInterrupt:
        code = 130
    except Exception as exc:  # a bug: one clear line, the traceback only when debugging
        if os.environ.get("RUNNER_DEBUG") == "1":
            raise
        print(command("error", f"internal error: {type(exc).__name__}: {exc}",
                      {"title": "tako-gha internal error"}), flush=True)
        code = EXIT_USAGE
    sys.exit(code)


if __name__ == "__main__":
    main()
