"""The emulator's workflow runner: dispatch → runs → jobs → steps in bash.

``WorkflowRunner(world, store, host, capacity=N)`` (see ``emulator.state``):

- ``dispatch`` creates one queued run per workflow of the repo's default branch whose
  ``on: repository_dispatch`` types match, and hands it to ``capacity`` worker threads
  (the runner capacity: other runs stay ``queued``); a listening workflow file that
  does not parse still gets a run, which fails with an "Invalid workflow file"
  annotation (as on GitHub);
- a run executes its jobs in ``needs`` order (independent jobs and matrix
  combinations side by side), each in a temporary checkout, ``run:`` steps in
  ``bash --noprofile --norc -eo pipefail`` (or ``sh``/``python``/``cmd {0}``);
  ``uses:`` steps run actions through ``emulator.composite`` (composite actions of the
  world or the workspace step by step, the built-ins of ``emulator.builtin_actions``);
  ``uses: OWNER/tako-gha@REF`` without such a repository in the world runs the installed
  action entry directly (``python -m tako_gha.surfaces.action`` with ``TAKO_INPUT_*``);
- every step process is its own process group: ``timeout-minutes`` (job or step)
  kills it and concludes the job and run ``timed_out``; ``cancel`` sends SIGINT, then
  SIGKILL after ``kill_grace`` seconds, and concludes ``cancelled`` (steps chosen by
  ``always()``/``cancelled()`` after that still run); ``stop`` SIGKILLs everything;
- workflow commands on stdout become annotations (``::error::`` …) or masks
  (``::add-mask::``); masked values, secrets and the run token never reach what is
  recorded (annotations, the capped job log, step summaries); the job log is an
  ``emulator.logs.JobLog`` (timestamped lines per step, served by the logs endpoints).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tako_gha.core.action_contract import ENTRY_MODULE, INPUT_DEFAULTS, env_name
from tako_gha.emulator import composite
from tako_gha.emulator import expressions as ex
from tako_gha.emulator.logs import LOG_LIMIT_CHARS, JobLog
from tako_gha.emulator.state import (
    AnnotationRecord,
    JobRecord,
    RunnerHost,
    RunRecord,
    RunStore,
    StepRecord,
    WorldRepoView,
    WorldView,
    utcnow,
)
from tako_gha.emulator.workflows import (
    DEFAULT_JOB_TIMEOUT_MINUTES,
    WORKFLOWS_DIR,
    Job,
    Step,
    Workflow,
    WorkflowError,
    expand_matrix,
    is_workflow_path,
    job_order,
    parse_workflow,
    workflow_id_for,
)

EVENT_NAME = "repository_dispatch"
SUMMARY_LIMIT_BYTES = 1024 * 1024  # GitHub: 1 MiB per step summary
POLL_SECONDS = 0.05
MASK = "***"
_TAKO_USES = re.compile(r"^[^@\s]*/tako-gha(?:/[^@\s]*)?@\S+$", re.IGNORECASE)
_COMMAND = re.compile(r"^::([A-Za-z0-9_-]+)(?:\s+([^:]*?))?::(.*)$")
_HOST_ENV_PREFIXES = ("GITHUB_", "RUNNER_", "TAKO_", "INPUT_", "ACTIONS_", "GH_")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # holds the tako_gha package


# --------------------------------------------------------------------------- state

@dataclass
class _RunContext:
    """Everything the runner keeps about one run besides its public record."""

    run: RunRecord
    repo: WorldRepoView
    workflow: Workflow | None
    startup_error: str | None
    event: dict[str, Any]
    cancel: threading.Event = field(default_factory=threading.Event)
    hard_kill: bool = False
    token: str = ""
    procs: set[subprocess.Popen[bytes]] = field(default_factory=set)
    units: list[_Unit] = field(default_factory=list)


@dataclass
class _Unit:
    """One job record to execute: a job, or one combination of a matrix job."""

    job_id: str
    record: JobRecord
    matrix: dict[str, Any] | None = None
    index: int = 0
    total: int = 1
    # shared by the combinations of one matrix job: set to cancel them (fail-fast)
    group: threading.Event = field(default_factory=threading.Event)


@dataclass
class _StepResult:
    outcome: str  # success | failure | cancelled | skipped
    timeout: str = ""  # "step" or "job": which timeout-minutes killed the step


class _JobState:
    """Per-job bookkeeping: masks, capped log, summaries, annotations."""

    def __init__(self, record: JobRecord, store: RunStore, masks: set[str],
                 group: threading.Event | None = None) -> None:
        self.record = record
        self.group = group or threading.Event()  # fail-fast of a matrix job
        # the running step was started *after* cancellation (if: always()/cancelled()):
        # a cancel does not kill it, only stop() does (GitHub's force-cancel)
        self.cancel_immune = False
        self.live: set[subprocess.Popen[bytes]] = set()
        self.store = store
        self.masks = set(masks)
        self.lock = threading.Lock()
        self.log = JobLog(LOG_LIMIT_CHARS, mask=self.mask)
        self.step_number = 0  # the step whose output is being written (0: the job's own)
        self.post: list[composite.PostStep] = []  # post steps of actions (actions/cache)
        self._file_keys = 0
        self.summaries: list[str] = []
        self.pgids: set[int] = set()
        self.readers: list[threading.Thread] = []
        self.stop_token: str | None = None

    def next_file_key(self) -> str:
        """A fresh name part for one step process's files (GITHUB_OUTPUT …, scripts)."""
        with self.lock:
            self._file_keys += 1
            return str(self._file_keys)

    def mask(self, text: str) -> str:
        with self.lock:
            masks = sorted(self.masks, key=len, reverse=True)
        for value in masks:
            text = text.replace(value, MASK)
        return text

    def add_mask(self, value: str) -> None:
        value = value.strip()
        if value:
            with self.lock:
                self.masks.add(value)

    def write_log(self, line: str) -> None:
        self.log.write(self.mask(line), self.step_number)

    def annotate(self, level: str, message: str, title: str = "", path: str = ".github",
                 line: int = 1, log: bool = True) -> None:
        note = AnnotationRecord(level=level, message=self.mask(message),
                                title=self.mask(title), path=path, line=line)
        with self.store.lock:
            self.record.annotations.append(note)
        if log:  # as on GitHub, the runner's own errors show in the log too
            word = {"failure": "error"}.get(level, level)
            self.write_log(f"##[{word}]{message}")

    def handle_output_line(self, raw: str) -> None:
        """One line a step printed: a workflow command or plain log."""
        line = raw.rstrip("\r\n")
        match = _COMMAND.match(line)
        if match is None:
            self.write_log(line)
            return
        name, props, data = match.group(1).lower(), match.group(2) or "", match.group(3)
        if self.stop_token is not None:
            if name == self.stop_token.lower():
                self.stop_token = None
            self.write_log(line)
            return
        if name == "add-mask":
            self.add_mask(_unescape_data(data))
            self.write_log("::add-mask::" + MASK)
            return
        self.write_log(line)
        if name == "stop-commands":
            self.stop_token = data.strip() or None
        elif name in ("error", "warning", "notice"):
            self._command_annotation(name, _parse_props(props), _unescape_data(data))

    def _command_annotation(self, name: str, props: dict[str, str], message: str) -> None:
        level = {"error": "failure", "warning": "warning", "notice": "notice"}[name]
        line = props.get("line", "1")
        self.annotate(level, message, title=props.get("title", ""),
                      path=props.get("file", ".github"),
                      line=int(line) if line.isdigit() else 1, log=False)


def _unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _unescape_prop(text: str) -> str:
    return _unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def _parse_props(text: str) -> dict[str, str]:
    props: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if sep and key.strip():
            props[key.strip().lower()] = _unescape_prop(value)
    return props


def parse_file_commands(text: str, what: str) -> dict[str, str]:
    """Read a ``GITHUB_OUTPUT``/``GITHUB_ENV`` file (``k=v`` and ``k<<DELIM`` forms)."""
    values: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if not line.strip():
            continue
        eq, heredoc = line.find("="), line.find("<<")
        if heredoc != -1 and (eq == -1 or heredoc < eq):
            name, delim = line[:heredoc], line[heredoc + 2:]
            if not name or not delim:
                raise ValueError(f"invalid {what} line {line!r} (expected NAME<<DELIMITER)")
            body: list[str] = []
            while i < len(lines) and lines[i] != delim:
                body.append(lines[i])
                i += 1
            if i >= len(lines):
                raise ValueError(f"{what}: matching delimiter {delim!r} not found for {name!r}")
            i += 1
            values[name] = "\n".join(body)
        elif eq > 0:
            values[line[:eq]] = line[eq + 1:]
        else:
            raise ValueError(f"invalid {what} line {line!r} (expected NAME=VALUE)")
    return values


def _minutes(value: Any, default: float) -> float:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise ValueError(f"timeout-minutes must be a number, not {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"timeout-minutes must be a number of minutes, not {value!r}") from None
    if number <= 0:
        raise ValueError(f"timeout-minutes must be positive, not {value!r}")
    return number


def _host_env() -> dict[str, str]:
    """The runner machine's environment, minus anything GitHub- or tako-specific of the
    process hosting the emulator (a run must see only its own GITHUB_* and tokens)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith(_HOST_ENV_PREFIXES) and k not in ("CI", "GITHUB_TOKEN")}


# --------------------------------------------------------------------------- runner

class WorkflowRunner:
    """Runs the workflows of the emulator's world (see module docstring)."""

    def __init__(self, world: WorldView, store: RunStore, host: RunnerHost, *,
                 capacity: int = 4, kill_grace: float = 3.0,
                 action_command: list[str] | None = None,
                 cache_root: Path | None = None) -> None:
        if capacity < 1:
            raise ValueError(f"runner capacity must be at least 1, not {capacity}")
        self.world = world
        self.store = store
        self.host = host
        self.capacity = capacity
        self.kill_grace = kill_grace
        # how a `uses:` of the tako action runs when the world has no copy of it
        # (see _runs_entry_directly); tests may point it at a fake entry
        self.action_command = action_command or [sys.executable, "-m", ENTRY_MODULE]
        # actions/cache keeps its entries here (beside the world, out of its repos)
        root = getattr(world, "root", None)
        self.cache_root = Path(cache_root) if cache_root is not None else (
            Path(root) / composite.CACHE_DIR if root is not None
            else Path(tempfile.gettempdir()) / "tako-emulator-cache")
        self.problems: list[str] = []  # workflow files that could not be read
        self._contexts: dict[int, _RunContext] = {}
        self._jobs: dict[int, _JobState] = {}
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._stopped = False
        self._parsed: dict[tuple[str, bytes], Workflow] = {}

    # ----------------------------------------------------------------- public API

    def dispatch(self, repo: str, event_type: str, client_payload: dict | None,
                 sender: Any = None) -> list[RunRecord]:
        """Create (queued) and schedule one run per listening workflow; returns them."""
        view = self.world.repo(repo)
        if view is None:
            return []
        runs: list[RunRecord] = []
        for path, workflow, error in self._listening_workflows(view, event_type):
            ctx = self._create_run(view, path, workflow, error, event_type,
                                   client_payload, sender)
            runs.append(ctx.run)
            self._schedule(ctx)
        return runs

    def cancel(self, run_id: int) -> bool:
        """Cancel a run: kill its steps; False if unknown or already completed."""
        with self._lock:
            ctx = self._contexts.get(run_id)
        if ctx is None:
            return False
        with self.store.lock:
            if ctx.run.status == "completed":
                return False
            if ctx.cancel.is_set():
                return True  # already cancelling: leave its cleanup steps alone
            ctx.cancel.set()
            if ctx.run.status == "queued":
                # never started: it completes at once, the worker will skip it
                self._finish_unstarted(ctx, "cancelled")
        self._signal_procs(ctx, signal.SIGINT)
        return True

    def rerun(self, run_id: int) -> bool:
        """Run a completed run again as attempt N+1 (new jobs); False otherwise."""
        with self._lock:
            ctx = self._contexts.get(run_id)
        if ctx is None or self._stopped:
            return False
        with self.store.lock:
            run = ctx.run
            if run.status != "completed":
                return False
            run.run_attempt += 1
            run.status, run.conclusion = "queued", None
            run.run_started_at = None
            ctx.units = self._new_units(run, ctx.event, ctx.workflow, ctx.startup_error)
            run.jobs = [u.record for u in ctx.units]
            run.touch()
            ctx.cancel = threading.Event()
            ctx.hard_kill = False
        self._schedule(ctx)
        return True

    def stop(self, timeout: float = 10.0) -> None:
        """Kill every step, cancel queued runs, and end the worker threads."""
        with self._lock:
            self._stopped = True
            contexts = list(self._contexts.values())
            workers = list(self._workers)
        for ctx in contexts:
            with self.store.lock:
                if ctx.run.status == "completed":
                    continue
                ctx.hard_kill = True
                ctx.cancel.set()
                if ctx.run.status == "queued":
                    self._finish_unstarted(ctx, "cancelled")
            self._signal_procs(ctx, signal.SIGKILL)
        for _ in workers:
            self._queue.put(None)
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))

    def wait_idle(self, timeout: float) -> bool:
        """True once no run of this runner is queued or in progress."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                runs = [c.run for c in self._contexts.values()]
            with self.store.lock:
                if all(r.status == "completed" for r in runs):
                    return True
            time.sleep(POLL_SECONDS)
        return False

    def job_log(self, job_id: int) -> str:
        """The (masked, capped) log of one job, for debugging."""
        state = self._jobs.get(job_id)
        if state is None:
            return ""
        return state.log.plain()

    def job_log_record(self, job_id: int) -> JobLog | None:
        """The timestamped log of one job (None: unknown or never started)."""
        state = self._jobs.get(job_id)
        return state.log if state is not None else None

    def job_summary(self, job_id: int) -> str:
        """The concatenated (masked) step summaries of one job."""
        state = self._jobs.get(job_id)
        if state is None:
            return ""
        with state.lock:
            return "\n".join(state.summaries)

    # ----------------------------------------------------------------- dispatch

    def _listening_workflows(
        self, view: WorldRepoView, event_type: str
    ) -> list[tuple[str, Workflow | None, str | None]]:
        found: list[tuple[str, Workflow | None, str | None]] = []
        try:
            files = [(p, view.read_file(p)) for p in sorted(view.list_files(WORKFLOWS_DIR))
                     if is_workflow_path(p)]
        except Exception as exc:  # a broken world repo: no runs, and say why
            self._problem(f"{view.full_name}: cannot read workflows: {exc}")
            return found
        for path, content in files:
            if content is None:
                continue
            try:
                workflow = self._parse_cached(path, content)
            except WorkflowError as exc:
                # a broken file that still listens gets a failed run, as on GitHub
                if _listens_leniently(content, event_type):
                    found.append((path, None, str(exc)))
                else:
                    self._problem(f"{view.full_name}: {exc}")
                continue
            if workflow.listens_to(EVENT_NAME, event_type):
                found.append((path, workflow, None))
        return found

    def _parse_cached(self, path: str, content: bytes) -> Workflow:
        """Parse once per (path, content): a fan-out to 1,000 repos re-reads the same
        few workflow files (Workflow objects are never mutated)."""
        key = (path, content)
        with self._lock:
            cached = self._parsed.get(key)
        if cached is None:
            cached = parse_workflow(path, content)  # raises WorkflowError: not cached
            with self._lock:
                if len(self._parsed) >= 1024:
                    self._parsed.clear()
                self._parsed[key] = cached
        return cached

    def _problem(self, text: str) -> None:
        with self._lock:
            if len(self.problems) < 1000:
                self.problems.append(text)

    def _create_run(self, view: WorldRepoView, path: str, workflow: Workflow | None,
                    error: str | None, event_type: str, client_payload: dict | None,
                    sender: Any) -> _RunContext:
        sender_obj = _sender_object(sender)
        base = self.host.base_url
        event = {
            "action": event_type,
            "branch": view.default_branch,
            "client_payload": client_payload,
            "repository": _repository_object(view, base),
            "sender": sender_obj,
        }
        name = workflow.display_name if workflow else path
        run = RunRecord(
            id=self.store.new_run_id(),
            repo=view.full_name,
            workflow_id=workflow_id_for(view.full_name, path),
            workflow_path=path,
            workflow_name=name,
            display_title=name,
            event=EVENT_NAME,
            head_branch=view.default_branch,
            head_sha=view.head_sha(),
            run_number=self.store.next_run_number(view.full_name, path),
            actor=str(sender_obj.get("login") or "tako-emulator"),
            client_payload=client_payload,
            event_type=event_type,
        )
        if workflow is not None and workflow.run_name:
            try:
                title = ex.interpolate(workflow.run_name, self._title_contexts(run, event))
                run.display_title = title.strip() or name
            except ex.ExpressionError as exc:
                error = f"{path}: run-name: {exc}"
        if workflow is not None and error is None:
            error = self._matrix_error(run, event, workflow)
        ctx = _RunContext(run=run, repo=view, workflow=workflow, startup_error=error,
                          event=event)
        ctx.units = self._new_units(run, event, workflow, error)
        run.jobs = [u.record for u in ctx.units]
        with self._lock:
            self._contexts[run.id] = ctx
        self.store.add(run)
        return ctx

    def _title_contexts(self, run: RunRecord, event: dict[str, Any]) -> dict[str, Any]:
        return {"github": self._github_context(run, event, job_id=""), "inputs": {},
                "vars": {}}

    def _new_units(self, run: RunRecord, event: dict[str, Any], workflow: Workflow | None,
                   error: str | None) -> list[_Unit]:
        if workflow is None or error is not None:
            # the run fails at startup; one job carries the explanation
            return [_Unit("", JobRecord(id=self.store.new_job_id(), run_id=run.id,
                                        name="Set up workflow"))]
        units: list[_Unit] = []
        for job_id in job_order(workflow):
            job = workflow.jobs[job_id]
            combos = self._matrix(run, event, job)
            group = threading.Event()
            for index, combo in enumerate(combos or [None]):
                steps = [StepRecord(number=i + 1, name=s.display_name())
                         for i, s in enumerate(job.steps)]
                name = self._job_name(run, event, job, combo)
                record = JobRecord(id=self.store.new_job_id(), run_id=run.id, name=name,
                                   steps=steps)
                units.append(_Unit(job_id, record, combo, index, len(combos or [None]),
                                   group))
        return units

    def _matrix(self, run: RunRecord, event: dict[str, Any],
                job: Job) -> list[dict[str, Any]] | None:
        """A matrix job's combinations (None for a plain job); raises on bad input."""
        if job.matrix is None:
            return None
        contexts = self._title_contexts(run, event)
        matrix = _eval_scalar(job.matrix, contexts)
        if isinstance(matrix, dict):
            matrix = {k: _eval_scalar(v, contexts) for k, v in matrix.items()}
        return expand_matrix(f"{run.workflow_path}: jobs.{job.id}", matrix)

    def _matrix_error(self, run: RunRecord, event: dict[str, Any],
                      workflow: Workflow) -> str | None:
        for job in workflow.jobs.values():
            try:
                self._matrix(run, event, job)
            except (WorkflowError, ex.ExpressionError) as exc:
                text = str(exc)
                return text if text.startswith(run.workflow_path) else \
                    f"{run.workflow_path}: jobs.{job.id}.strategy.matrix: {text}"
        return None

    def _job_name(self, run: RunRecord, event: dict[str, Any], job: Job,
                  combo: dict[str, Any] | None) -> str:
        """GitHub's job names: ``name`` (expressions evaluated), a matrix job gets its
        values appended unless its name already uses them."""
        name = job.name or job.id
        if "${{" in name:
            with contextlib.suppress(ex.ExpressionError):
                return ex.interpolate(name, {**self._title_contexts(run, event),
                                             "matrix": combo or {}})
            return name
        if combo:
            return f"{name} ({', '.join(ex.to_string(v) for v in combo.values())})"
        return name

    def _schedule(self, ctx: _RunContext) -> None:
        # lock order: never take store.lock while holding self._lock (the HTTP layer
        # may call cancel() while it holds store.lock)
        with self._lock:
            stopped = self._stopped
        if stopped:
            with self.store.lock:
                self._finish_unstarted(ctx, "cancelled")
            return
        with self._lock:
            while len(self._workers) < self.capacity:
                worker = threading.Thread(target=self._worker, daemon=True,
                                          name=f"tako-runner-{len(self._workers) + 1}")
                self._workers.append(worker)
                worker.start()
        self._queue.put(ctx.run.id)

    def _worker(self) -> None:
        while True:
            run_id = self._queue.get()
            if run_id is None:
                return
            with self._lock:
                ctx = self._contexts.get(run_id)
            if ctx is None:
                continue
            with self.store.lock:
                if ctx.run.status != "queued" or ctx.cancel.is_set():
                    continue
                ctx.run.status = "in_progress"
                ctx.run.run_started_at = utcnow()
                ctx.run.touch()
            try:
                self._execute(ctx)
            except Exception as exc:  # never let a runner bug kill the worker thread
                self._crash(ctx, exc)

    def _finish_unstarted(self, ctx: _RunContext, conclusion: str) -> None:
        """Complete a run that never started (caller holds store.lock)."""
        now = utcnow()
        for job in ctx.run.jobs:
            if job.status != "completed":
                job.status, job.conclusion, job.completed_at = "completed", conclusion, now
                for step in job.steps:
                    if step.status != "completed":
                        step.status, step.conclusion = "completed", "skipped"
        ctx.run.status, ctx.run.conclusion = "completed", conclusion
        ctx.run.touch()

    def _crash(self, ctx: _RunContext, exc: Exception) -> None:
        with self.store.lock:
            job = ctx.run.jobs[0] if ctx.run.jobs else None
            if job is not None:
                job.annotations.append(AnnotationRecord(
                    level="failure", message=f"emulator runner error: {exc!r}"))
            self._finish_unstarted(ctx, "failure")

    # ----------------------------------------------------------------- execution

    def _execute(self, ctx: _RunContext) -> None:
        ctx.token = self.host.issue_run_token(ctx.run.repo)
        masks = {v for v in self.host.secrets().values() if v} | {ctx.token}
        if ctx.workflow is None or ctx.startup_error is not None:
            self._fail_startup(ctx, masks)
            return
        workflow = ctx.workflow
        by_job: dict[str, list[_Unit]] = {}
        for unit in ctx.units:
            by_job.setdefault(unit.job_id, []).append(unit)
        results: dict[str, str] = {}
        needs_ctx: dict[str, Any] = {}
        unit_results: dict[str, list[tuple[str, dict[str, str]]]] = {j: [] for j in by_job}
        pending = list(by_job)
        running: dict[Future[tuple[str, dict[str, str]]], _Unit] = {}
        # as on GitHub, jobs whose needs are done (and matrix combinations) run side
        # by side
        with ThreadPoolExecutor(max_workers=len(ctx.units),
                                thread_name_prefix=f"tako-run{ctx.run.id}") as pool:
            while pending or running:
                for job_id in [j for j in pending
                               if all(n in results for n in workflow.jobs[j].needs)]:
                    pending.remove(job_id)
                    for unit in by_job[job_id]:
                        future = pool.submit(self._job, ctx, workflow.jobs[job_id], unit,
                                             dict(results), dict(needs_ctx), masks)
                        running[future] = unit
                done, _ = wait(list(running), return_when=FIRST_COMPLETED)
                for future in done:
                    unit = running.pop(future)
                    try:
                        unit_results[unit.job_id].append(future.result())
                    except Exception:
                        ctx.cancel.set()  # a runner bug: stop the sibling jobs too
                        self._signal_procs(ctx, signal.SIGKILL)
                        raise
                    if unit_results[unit.job_id][-1][0] == "failure":
                        self._fail_fast(workflow.jobs[unit.job_id], by_job[unit.job_id])
                    if len(unit_results[unit.job_id]) == len(by_job[unit.job_id]):
                        conclusion, outputs = _aggregate(unit_results[unit.job_id])
                        results[unit.job_id] = conclusion
                        needs_ctx[unit.job_id] = {"result": conclusion, "outputs": outputs}
        with self.store.lock:
            ctx.run.status = "completed"
            ctx.run.conclusion = _run_conclusion(ctx, workflow, results)
            ctx.run.touch()

    def _fail_fast(self, job: Job, units: list[_Unit]) -> None:
        """A failed matrix combination cancels its siblings (strategy.fail-fast)."""
        if not job.fail_fast or len(units) < 2 or units[0].group.is_set():
            return
        units[0].group.set()
        with self._lock:
            states = [self._jobs.get(u.record.id) for u in units]
        for state in states:
            for proc in list(state.live) if state else []:
                _killpg(proc.pid, signal.SIGINT)

    def _fail_startup(self, ctx: _RunContext, masks: set[str]) -> None:
        record = ctx.run.jobs[0]
        state = self._job_state(record, masks)
        state.annotate("failure", ctx.startup_error or "invalid workflow",
                       title="Invalid workflow file", path=ctx.run.workflow_path)
        with self.store.lock:
            now = utcnow()
            record.status, record.conclusion = "completed", "failure"
            record.started_at = record.completed_at = now
            ctx.run.status, ctx.run.conclusion = "completed", "failure"
            ctx.run.touch()

    def _job_state(self, record: JobRecord, masks: set[str],
                   group: threading.Event | None = None) -> _JobState:
        state = _JobState(record, self.store, masks, group)
        with self._lock:
            self._jobs[record.id] = state
        return state

    def _job(self, ctx: _RunContext, job: Job, unit: _Unit, results: dict[str, str],
             needs_ctx: dict[str, Any], masks: set[str]) -> tuple[str, dict[str, str]]:
        record = unit.record
        state = self._job_state(record, masks, unit.group)
        ancestors = _ancestors(ctx.workflow, job.id) if ctx.workflow else set()
        status = ex.Status(
            failed=any(results[a] in ("failure", "timed_out", "cancelled") for a in ancestors),
            cancelled=_cancelled(ctx, state),
            blocked=any(results[a] != "success" for a in ancestors),
        )
        contexts = {"github": self._github_context(ctx.run, ctx.event, job.id),
                    "needs": {n: needs_ctx[n] for n in job.needs}, "inputs": {}, "vars": {},
                    "matrix": unit.matrix or {}}
        try:
            runs = ex.evaluate_condition(job.if_, contexts, status)
        except ex.ExpressionError as exc:
            state.annotate("failure", f"jobs.{job.id}.if: {exc}", path=ctx.run.workflow_path)
            self._complete_job(record, "failure", skip_steps=True)
            return "failure", {}
        if not runs:
            self._complete_job(record, "cancelled" if _cancelled(ctx, state) else "skipped",
                               skip_steps=True)
            return record.conclusion or "skipped", {}
        with self.store.lock:
            record.status, record.started_at = "in_progress", utcnow()
            ctx.run.touch()
        workdir = Path(tempfile.mkdtemp(prefix=f"tako-run{ctx.run.id}-{job.id}-"))
        try:
            conclusion, outputs = self._job_steps(ctx, job, unit, state, workdir, needs_ctx)
        finally:
            self._end_job_processes(state)
            shutil.rmtree(workdir, ignore_errors=True)
        self._complete_job(record, conclusion)
        return conclusion, outputs

    def _complete_job(self, record: JobRecord, conclusion: str,
                      skip_steps: bool = False) -> None:
        with self.store.lock:
            now = utcnow()
            for step in record.steps:
                if step.status != "completed":
                    step.status, step.conclusion = "completed", "skipped"
                    if not skip_steps:
                        step.completed_at = now
            record.status, record.conclusion, record.completed_at = "completed", conclusion, now

    def _job_steps(self, ctx: _RunContext, job: Job, unit: _Unit, state: _JobState,
                   workdir: Path, needs_ctx: dict[str, Any]) -> tuple[str, dict[str, str]]:
        assert ctx.workflow is not None
        record = unit.record
        wf = ctx.workflow
        workspace, temp = workdir / "workspace", workdir / "temp"
        workspace.mkdir()
        temp.mkdir()
        event_path = workdir / "event.json"
        event_path.write_text(json.dumps(ctx.event), encoding="utf-8")
        try:
            ctx.repo.checkout_to(workspace)
        except Exception as exc:  # a world problem is the run's failure, not a crash
            state.annotate("failure", f"checkout of {ctx.run.repo} failed: {exc}")
            return "failure", {}
        github = self._github_context(ctx.run, ctx.event, job.id)
        github["workspace"] = str(workspace)
        job_env: dict[str, str] = {}
        base = {"github": github, "needs": {n: needs_ctx[n] for n in job.needs},
                "inputs": {}, "vars": {}, "secrets": self._secrets(ctx),
                "matrix": unit.matrix or {},
                "strategy": {"fail-fast": job.fail_fast, "job-index": unit.index,
                             "job-total": unit.total, "max-parallel": unit.total},
                "runner": _runner_context(temp),
                "job": {"status": "success"}, "steps": {}}
        try:
            for scope in (wf.env, job.env):
                for key, raw in scope.items():
                    job_env[key] = ex.to_string(
                        ex.interpolate_value(raw, {**base, "env": dict(job_env)}))
            timeout = _minutes(_eval_scalar(job.timeout_minutes, base),
                               DEFAULT_JOB_TIMEOUT_MINUTES)
        except (ex.ExpressionError, ValueError) as exc:
            state.annotate("failure", f"jobs.{job.id}: {exc}", path=ctx.run.workflow_path)
            return "failure", {}
        deadline = time.monotonic() + timeout * 60
        run_env = self._run_env(ctx, job, workspace, temp, event_path)
        steps_ctx: dict[str, Any] = {}
        failed = timed_out = False
        for step, step_rec in zip(job.steps, record.steps, strict=True):
            status = ex.Status(failed=failed, cancelled=_cancelled(ctx, state))
            base["job"] = {"status": "cancelled" if status.cancelled else
                           ("failure" if failed else "success")}
            contexts = {**base, "env": dict(job_env), "steps": steps_ctx}
            result = self._step(ctx, job, step, step_rec, state, contexts, status, job_env,
                                run_env, workspace, temp, deadline)
            failed = failed or result.outcome == "failure"
            if result.timeout:
                timed_out = True
            if result.timeout == "job":
                state.annotate("failure", f"The job running on the emulator has exceeded "
                               f"the maximum execution time of {timeout:g} minutes.")
                break  # like GitHub: a job past its deadline runs nothing more
        state.step_number = 0
        composite.run_post_steps(state.post, failed=failed or timed_out or
                                 _cancelled(ctx, state), log=state.write_log)
        outputs = self._job_outputs(job, state, {**base, "env": dict(job_env),
                                                 "steps": steps_ctx})
        if timed_out:
            return "timed_out", outputs
        if _cancelled(ctx, state):
            return "cancelled", outputs
        return ("failure" if failed else "success"), outputs

    def _job_outputs(self, job: Job, state: _JobState, contexts: dict[str, Any]) -> dict:
        outputs: dict[str, str] = {}
        for key, raw in job.outputs.items():
            try:
                outputs[key] = ex.to_string(ex.interpolate_value(raw, contexts))
            except ex.ExpressionError as exc:
                state.annotate("warning", f"jobs.{job.id}.outputs.{key}: {exc}")
        return outputs

    def _secrets(self, ctx: _RunContext) -> dict[str, str]:
        return {**self.host.secrets(), "GITHUB_TOKEN": ctx.token}

    def _github_context(self, run: RunRecord, event: dict[str, Any],
                        job_id: str) -> dict[str, Any]:
        base = self.host.base_url
        owner = run.repo.split("/", 1)[0]
        return {
            "event": event, "event_name": EVENT_NAME, "repository": run.repo,
            "repository_owner": owner, "run_id": str(run.id),
            "run_number": str(run.run_number), "run_attempt": str(run.run_attempt),
            "workflow": run.workflow_name,
            "workflow_ref": f"{run.repo}/{run.workflow_path}@refs/heads/{run.head_branch}",
            "sha": run.head_sha, "ref": f"refs/heads/{run.head_branch}",
            "ref_name": run.head_branch, "ref_type": "branch", "head_ref": "", "base_ref": "",
            "api_url": base, "server_url": base, "graphql_url": f"{base}/graphql",
            "actor": run.actor, "triggering_actor": run.actor, "job": job_id,
            "action_path": "", "action": "", "retention_days": "90",
            "token": "",  # filled per run when steps execute (never in titles)
        }

    def _run_env(self, ctx: _RunContext, job: Job, workspace: Path, temp: Path,
                 event_path: Path) -> dict[str, str]:
        run = ctx.run
        base = self.host.base_url
        env = _host_env()
        env.update({
            "CI": "true", "GITHUB_ACTIONS": "true",
            "GITHUB_REPOSITORY": run.repo,
            "GITHUB_REPOSITORY_OWNER": run.repo.split("/", 1)[0],
            "GITHUB_RUN_ID": str(run.id), "GITHUB_RUN_NUMBER": str(run.run_number),
            "GITHUB_RUN_ATTEMPT": str(run.run_attempt),
            "GITHUB_EVENT_NAME": EVENT_NAME, "GITHUB_EVENT_PATH": str(event_path),
            "GITHUB_WORKSPACE": str(workspace), "GITHUB_SHA": run.head_sha,
            "GITHUB_REF": f"refs/heads/{run.head_branch}", "GITHUB_REF_NAME": run.head_branch,
            "GITHUB_REF_TYPE": "branch", "GITHUB_HEAD_REF": "", "GITHUB_BASE_REF": "",
            "GITHUB_WORKFLOW": run.workflow_name,
            "GITHUB_WORKFLOW_REF":
                f"{run.repo}/{run.workflow_path}@refs/heads/{run.head_branch}",
            "GITHUB_JOB": job.id, "GITHUB_ACTOR": run.actor,
            "GITHUB_TRIGGERING_ACTOR": run.actor,
            "GITHUB_API_URL": base, "GITHUB_SERVER_URL": base,
            "GITHUB_GRAPHQL_URL": f"{base}/graphql",
            "GITHUB_TOKEN": ctx.token, "GITHUB_RETENTION_DAYS": "90",
            "RUNNER_TEMP": str(temp), "RUNNER_OS": "Linux", "RUNNER_ARCH": "X64",
            "RUNNER_NAME": "tako-emulator", "RUNNER_TOOL_CACHE": str(temp / "_tool"),
        })
        return env

    # ----------------------------------------------------------------- steps

    def _step(self, ctx: _RunContext, job: Job, step: Step, rec: StepRecord,
              state: _JobState, contexts: dict[str, Any], status: ex.Status,
              job_env: dict[str, str], run_env: dict[str, str], workspace: Path,
              temp: Path, deadline: float) -> _StepResult:
        wf_path = ctx.run.workflow_path
        where = f"jobs.{job.id}.steps[{step.index}]"
        try:
            runs = ex.evaluate_condition(step.if_, contexts, status)
        except ex.ExpressionError as exc:
            state.annotate("failure", f"{where}.if: {exc}", path=wf_path)
            self._finish_step(rec, "failure", started=False)
            return _StepResult("failure")
        if not runs:
            self._finish_step(rec, "skipped", started=False)
            return _StepResult("skipped")
        with self.store.lock:
            rec.status, rec.started_at = "in_progress", utcnow()
            ctx.run.touch()
        state.step_number = rec.number
        state.write_log(f"##[group]{composite.step_header(step)}")
        state.write_log("##[endgroup]")
        state.cancel_immune = status.cancelled
        outcome, timed_out, outputs = self._step_body(
            ctx, job, step, rec, state, contexts, job_env, run_env, workspace, temp,
            deadline, where)
        continue_on_error = self._continue_on_error(step, contexts, state, where)
        conclusion = "success" if outcome == "failure" and continue_on_error else outcome
        if step.id:
            contexts["steps"][step.id] = {"outputs": outputs, "outcome": outcome,
                                          "conclusion": conclusion}
        self._finish_step(rec, conclusion, started=True)
        if conclusion != "failure" and timed_out == "step":
            timed_out = ""  # continue-on-error absorbed the step's timeout
        return _StepResult(conclusion, timed_out)

    def _continue_on_error(self, step: Step, contexts: dict[str, Any], state: _JobState,
                           where: str) -> bool:
        try:
            return ex.truthy(_eval_scalar(step.continue_on_error, contexts))
        except ex.ExpressionError as exc:
            state.annotate("warning", f"{where}.continue-on-error: {exc}")
            return False

    def _finish_step(self, rec: StepRecord, conclusion: str, *, started: bool) -> None:
        with self.store.lock:
            rec.status, rec.conclusion = "completed", conclusion
            if started:
                rec.completed_at = utcnow()

    def _step_body(self, ctx: _RunContext, job: Job, step: Step, rec: StepRecord,
                   state: _JobState, contexts: dict[str, Any], job_env: dict[str, str],
                   run_env: dict[str, str], workspace: Path, temp: Path, deadline: float,
                   where: str) -> tuple[str, str, dict[str, str]]:
        """Run one step; returns (outcome, "" | "step" | "job" timeout, outputs)."""
        wf_path = ctx.run.workflow_path
        try:
            if step.name and "${{" in step.name:
                name = ex.interpolate(step.name, contexts)
                with self.store.lock:
                    rec.name = state.mask(name)
            own_env: dict[str, str] = {}
            for key, raw in step.env.items():
                own_env[key] = ex.to_string(
                    ex.interpolate_value(raw, {**contexts, "env": {**job_env, **own_env}}))
            step_minutes = _minutes(_eval_scalar(step.timeout_minutes, contexts), 0.0)
            cwd = self._step_cwd(ctx, job, step, contexts, workspace)
        except (ex.ExpressionError, ValueError) as exc:
            state.annotate("failure", f"{where}: {exc}", path=wf_path)
            return "failure", "", {}
        step_deadline = deadline
        if step_minutes > 0:
            step_deadline = min(deadline, time.monotonic() + step_minutes * 60)
        io = self._action_io(ctx, state, job_env, run_env, workspace, temp, deadline, where)
        if step.uses is not None and not self._runs_entry_directly(step.uses):
            outcome, timed_out, outputs = composite.run_uses(
                io, step.uses, step.with_, own_env, contexts, step_deadline, where)
        else:
            env = {**job_env, **own_env, "GITHUB_ACTION": step.id or f"__run_{step.index}"}
            outcome, timed_out, outputs = self._run_or_entry(
                ctx, job, step, state, contexts, env, io, cwd, step_deadline, where)
        if timed_out == "step":
            state.annotate("failure", f"The action '{rec.name}' has timed out after "
                           f"{step_minutes:g} minutes.")
        return outcome, timed_out, outputs

    def _run_or_entry(self, ctx: _RunContext, job: Job, step: Step, state: _JobState,
                      contexts: dict[str, Any], env: dict[str, str], io: composite.ActionIO,
                      cwd: Path, deadline: float,
                      where: str) -> tuple[str, str, dict[str, str]]:
        """A ``run:`` step, or the tako action entry run directly (see
        ``_runs_entry_directly``)."""
        wf = ctx.workflow
        assert wf is not None
        try:
            if step.run is not None:
                contexts["github"] = {**contexts["github"], "token": ctx.token}
                script = ex.interpolate(step.run, contexts)
                defaults = {**wf.defaults_run, **job.defaults_run}
                shell = step.shell or defaults.get("shell") or "bash"
                return io.run_script(str(shell), script, env, cwd, deadline)
            state.write_log(f"{step.uses}: the world has no such repository; running the "
                            "installed tako-gha action entry directly")
            contexts["github"] = {**contexts["github"], "token": ctx.token,
                                  "action_path": str(_PACKAGE_ROOT)}
            extra = self._action_inputs(step, state, contexts)
            extra["GITHUB_ACTION_PATH"] = str(_PACKAGE_ROOT)
            extra["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
            return io.run_command(list(self.action_command), {**env, **extra}, cwd, deadline)
        except (ex.ExpressionError, ValueError) as exc:
            state.annotate("failure", f"{where}: {exc}", path=ctx.run.workflow_path)
            return "failure", "", {}

    def _step_cwd(self, ctx: _RunContext, job: Job, step: Step, contexts: dict[str, Any],
                  workspace: Path) -> Path:
        wf = ctx.workflow
        assert wf is not None
        defaults = {**wf.defaults_run, **job.defaults_run}
        workdir = step.working_directory or defaults.get("working-directory")
        if not workdir:
            return workspace
        cwd = (workspace / ex.interpolate(str(workdir), contexts)).resolve()
        if not cwd.is_dir():
            raise ValueError(f"working-directory {workdir!r} does not exist")
        return cwd

    def _runs_entry_directly(self, uses: str) -> bool:
        """``uses: OWNER/tako-gha@REF`` when the world holds no ``OWNER/tako-gha``: the
        installed action entry runs directly with ``TAKO_INPUT_*`` (so worlds without a
        copy of the action, like the demo's, still fan out). With the repository in the
        world, its ``action.yml`` runs step by step like any composite action."""
        if _TAKO_USES.match(uses) is None:
            return False
        owner, name = uses.split("@", 1)[0].split("/")[:2]
        return self.world.repo(f"{owner}/{name}") is None

    def _action_io(self, ctx: _RunContext, state: _JobState, job_env: dict[str, str],
                   run_env: dict[str, str], workspace: Path, temp: Path,
                   job_deadline: float, where: str) -> composite.ActionIO:
        def run_command(argv: list[str], env: dict[str, str], cwd: Path,
                        deadline: float) -> tuple[str, str, dict[str, str]]:
            return self._exec(ctx, state, argv, env, cwd, deadline, job_deadline, job_env,
                              run_env, temp, where)

        def run_script(shell: str, script: str, env: dict[str, str], cwd: Path,
                       deadline: float) -> tuple[str, str, dict[str, str]]:
            key = state.next_file_key()
            argv = _shell_command(shell, script, temp, key)
            return run_command(argv, env, cwd, deadline)

        return composite.ActionIO(
            world=self.world, repo=ctx.run.repo, sha=ctx.run.head_sha,
            workspace=workspace, temp=temp, cache_root=self.cache_root,
            job_env=job_env, run_env=run_env, token=ctx.token,
            log=state.write_log, annotate=lambda level, msg: state.annotate(level, msg),
            cancelled=lambda: _cancelled(ctx, state),
            run_command=run_command, run_script=run_script, post=state.post)

    def _exec(self, ctx: _RunContext, state: _JobState, argv: list[str], env: dict[str, str],
              cwd: Path, deadline: float, job_deadline: float, job_env: dict[str, str],
              run_env: dict[str, str], temp: Path,
              where: str) -> tuple[str, str, dict[str, str]]:
        """One step process with fresh GITHUB_OUTPUT/ENV/PATH/STEP_SUMMARY files; returns
        (outcome, "" | "step" | "job" timeout, outputs)."""
        key = state.next_file_key()
        files = {k: temp / f"_{k}_{key}" for k in ("output", "summary", "env", "path")}
        for f in files.values():
            f.write_text("", encoding="utf-8")
        full_env = {**run_env, **env,
                    "GITHUB_OUTPUT": str(files["output"]),
                    "GITHUB_STEP_SUMMARY": str(files["summary"]),
                    "GITHUB_ENV": str(files["env"]), "GITHUB_PATH": str(files["path"])}
        full_env.setdefault("GITHUB_ACTION", f"__run_{key}")
        code, reason = self._run_process(ctx, state, argv, full_env, cwd, deadline)
        outputs = self._collect_files(state, files, job_env, run_env, where)
        if reason == "cancelled":
            state.annotate("failure", "The operation was canceled.")
            return "cancelled", "", outputs or {}
        if reason == "timeout":
            return "failure", ("job" if time.monotonic() >= job_deadline else "step"), \
                outputs or {}
        if code != 0:
            state.annotate("failure", f"Process completed with exit code {code}.")
            return "failure", "", outputs or {}
        if outputs is None:
            return "failure", "", {}
        return "success", "", outputs

    def _action_inputs(self, step: Step, state: _JobState,
                       contexts: dict[str, Any]) -> dict[str, str]:
        values = dict(INPUT_DEFAULTS)
        unknown = [k for k in step.with_ if k not in INPUT_DEFAULTS]
        if unknown:
            state.annotate("warning", f"Unexpected input(s) {', '.join(map(repr, unknown))}, "
                           f"valid inputs are {', '.join(INPUT_DEFAULTS)}")
        for key, raw in step.with_.items():
            values[key] = ex.to_string(ex.interpolate_value(raw, contexts))
        # the same fallbacks action.yml writes as `inputs.x || github.y`
        github = contexts["github"]
        values["org"] = values.get("org") or github["repository_owner"]
        values["api_url"] = values.get("api_url") or github["api_url"]
        return {env_name(k): v for k, v in values.items()}

    def _collect_files(self, state: _JobState, files: dict[str, Path],
                       job_env: dict[str, str], run_env: dict[str, str],
                       where: str) -> dict[str, str] | None:
        """Apply GITHUB_ENV / GITHUB_PATH, keep the summary, return the step outputs."""
        outputs: dict[str, str] | None
        try:
            outputs = parse_file_commands(_read(files["output"]), "GITHUB_OUTPUT")
            job_env.update(parse_file_commands(_read(files["env"]), "GITHUB_ENV"))
        except ValueError as exc:
            state.annotate("failure", f"{where}: unable to process file command: {exc}")
            outputs = None
        added = [p for p in _read(files["path"]).splitlines() if p.strip()]
        if added:
            run_env["PATH"] = os.pathsep.join([*reversed(added), run_env.get("PATH", "")])
        summary_file = files["summary"]
        if summary_file.exists():
            if summary_file.stat().st_size > SUMMARY_LIMIT_BYTES:
                state.annotate("failure", f"{where}: step summary is larger than 1 MiB; "
                               "it was not uploaded")
            else:
                summary = state.mask(_read(summary_file))
                if summary.strip():
                    with state.lock:
                        state.summaries.append(summary)
        return outputs

    # ----------------------------------------------------------------- processes

    def _run_process(self, ctx: _RunContext, state: _JobState, argv: list[str],
                     env: dict[str, str], cwd: Path, deadline: float) -> tuple[int, str]:
        """Run a step process in its own session; returns (exit code, reason) where
        reason is "" (exited), "timeout" or "cancelled"."""
        if ctx.hard_kill:  # the emulator is stopping: start nothing new
            return -1, "cancelled"
        try:
            proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        except OSError as exc:
            state.annotate("failure", f"cannot start {argv[0]}: {exc.strerror}")
            return 127, ""
        state.pgids.add(proc.pid)
        with self._lock:
            ctx.procs.add(proc)
            state.live.add(proc)
        if _must_stop(ctx, state):  # cancelled between the check and the start
            _killpg(proc.pid, signal.SIGKILL if ctx.hard_kill else signal.SIGINT)
        reader = threading.Thread(target=_pump, args=(proc, state), daemon=True)
        reader.start()
        state.readers.append(reader)
        reason = ""
        try:
            reason = self._supervise(ctx, state, proc, deadline)
        finally:
            with self._lock:
                ctx.procs.discard(proc)
                state.live.discard(proc)
        if reason:
            _killpg(proc.pid, signal.SIGKILL)  # leftovers of a killed step go too
        reader.join(0.5)
        return proc.returncode, reason

    def _supervise(self, ctx: _RunContext, state: _JobState,
                   proc: subprocess.Popen[bytes], deadline: float) -> str:
        reason = ""
        kill_at: float | None = None
        while proc.poll() is None:
            now = time.monotonic()
            if not reason and _must_stop(ctx, state):
                reason = "cancelled"
            elif not reason and now >= deadline:
                reason = "timeout"
            if reason and kill_at is None:
                # like the Actions runner: SIGINT first, so the step can clean up
                # (the tako action cancels its children), then SIGKILL
                _killpg(proc.pid, signal.SIGKILL if ctx.hard_kill else signal.SIGINT)
                kill_at = now + (0 if ctx.hard_kill else self.kill_grace)
            if kill_at is not None and (now >= kill_at or ctx.hard_kill):
                _killpg(proc.pid, signal.SIGKILL)
            # wait on the process itself: a step that exits is noticed at once,
            # cancel and deadlines within POLL_SECONDS
            wait = POLL_SECONDS if reason else min(POLL_SECONDS, max(0.001, deadline - now))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
        if not reason and proc.returncode != 0 and _must_stop(ctx, state):
            reason = "cancelled"  # cancel() signalled it before this loop looked
        return reason

    def _signal_procs(self, ctx: _RunContext, sig: int) -> None:
        with self._lock:
            procs = list(ctx.procs)
        for proc in procs:
            _killpg(proc.pid, sig)

    def _end_job_processes(self, state: _JobState) -> None:
        """At job end, like the Actions runner, kill what the steps left running."""
        for pgid in state.pgids:
            _killpg(pgid, signal.SIGKILL)
        for reader in state.readers:
            reader.join(1.0)


# --------------------------------------------------------------------------- helpers

def _pump(proc: subprocess.Popen[bytes], state: _JobState) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        # bounded reads: a step printing megabytes without a newline stays cheap
        for raw in iter(lambda: proc.stdout.readline(65536), b""):
            state.handle_output_line(raw.decode("utf-8", errors="replace"))


def _killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:  # a step may delete its summary file on purpose
        return ""


def _shell_command(shell: str, script: str, temp: Path, index: str) -> list[str]:
    """GitHub's shell templates (bash/sh/python or a custom ``cmd {0}``)."""
    suffix = ".py" if shell == "python" else ".sh"
    script_path = temp / f"_step_{index}{suffix}"
    script_path.write_text(script, encoding="utf-8")
    if shell == "bash":
        return ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script_path)]
    if shell == "sh":
        return ["sh", "-e", str(script_path)]
    if shell == "python":
        return [sys.executable, str(script_path)]
    if "{0}" not in shell:
        raise ValueError(f"unsupported shell {shell!r} (use bash, sh, python or 'cmd {{0}}')")
    return [part.replace("{0}", str(script_path)) for part in shlex.split(shell)]


def _eval_scalar(value: Any, contexts: Mapping[str, Any]) -> Any:
    """A YAML scalar that may be a ``${{ }}`` expression (timeout-minutes etc.)."""
    if isinstance(value, str) and "${{" in value:
        text = value.strip()
        if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
            return ex.evaluate(text[3:-2].strip(), contexts)
        return ex.interpolate(text, contexts)
    return value


def _ancestors(workflow: Workflow, job_id: str) -> set[str]:
    seen: set[str] = set()
    todo = list(workflow.jobs[job_id].needs)
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo.extend(workflow.jobs[need].needs)
    return seen


def _cancelled(ctx: _RunContext, state: _JobState) -> bool:
    """The run was cancelled, or (fail-fast) a sibling matrix combination failed."""
    return ctx.cancel.is_set() or state.group.is_set()


def _must_stop(ctx: _RunContext, state: _JobState) -> bool:
    """Should the running step process be killed for a cancellation?"""
    return ctx.hard_kill or (not state.cancel_immune and _cancelled(ctx, state))


def _aggregate(parts: list[tuple[str, dict[str, str]]]) -> tuple[str, dict[str, str]]:
    """A job's result over its matrix combinations (``needs.<job>.result``)."""
    conclusions = [c for c, _ in parts]
    outputs: dict[str, str] = {}
    for _, out in parts:
        outputs.update(out)
    for worst in ("failure", "timed_out", "cancelled"):
        if worst in conclusions:
            return worst, outputs
    if all(c == "skipped" for c in conclusions):
        return "skipped", outputs
    return "success", outputs


def _run_conclusion(ctx: _RunContext, workflow: Workflow, results: dict[str, str]) -> str:
    if ctx.cancel.is_set():
        return "cancelled"
    if "timed_out" in results.values():
        return "timed_out"
    for job_id, conclusion in results.items():
        allowed = str(workflow.jobs[job_id].continue_on_error).lower() == "true"
        if conclusion == "failure" and not allowed:
            return "failure"
    return "success"


def _runner_context(temp: Path) -> dict[str, str]:
    return {"os": "Linux", "arch": "X64", "name": "tako-emulator", "temp": str(temp),
            "tool_cache": str(temp / "_tool"), "environment": "self-hosted"}


def _sender_object(sender: Any) -> dict[str, Any]:
    if isinstance(sender, dict):
        return dict(sender)
    login = str(sender) if sender else "tako-emulator"
    return {"login": login, "type": "User"}


def _repository_object(view: WorldRepoView, base: str) -> dict[str, Any]:
    owner, _, name = view.full_name.partition("/")
    return {
        "name": name, "full_name": view.full_name, "private": False,
        "owner": {"login": owner}, "default_branch": view.default_branch,
        "html_url": f"{base}/{view.full_name}", "url": f"{base}/repos/{view.full_name}",
    }


def _listens_leniently(content: bytes, event_type: str) -> bool:
    """For a file the model rejected: does its ``on:`` still ask for this dispatch?"""
    try:
        doc = yaml.safe_load(content)
    except yaml.YAMLError:
        return False
    if not isinstance(doc, dict):
        return False
    on = doc.get("on", doc.get(True))
    probe = Workflow(path="", name=None, run_name=None, on={})
    if isinstance(on, str):
        probe.on = {on: None}
    elif isinstance(on, list):
        probe.on = {str(e): None for e in on}
    elif isinstance(on, dict):
        probe.on = {str(k): v for k, v in on.items()}
    return probe.listens_to(EVENT_NAME, event_type)
