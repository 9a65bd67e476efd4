"""The runs themselves, shared by the workflow runner and the simulated runner.

Owns what a run *is* before anything executes: which workflows of a repo listen to a
dispatch (a file that does not parse still gets a failing run, as on GitHub), the
``RunRecord`` and its job records (``needs`` order, one record per matrix
combination, GitHub's job names), the registry of runs by id, and the verbs the HTTP
layer calls on any runner: ``dispatch``, ``cancel`` (the one cancel: a queued run
completes at once, a running one has its step processes interrupted), ``rerun``,
``wait_idle`` and the job log/summary readers. How runs are then carried out is the
subclass's ``_schedule``: ``emulator.runner`` executes them, ``emulator.simulated``
times them.
"""

from __future__ import annotations

import abc
import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from tako_gha.core import workflow_inputs as wi
from tako_gha.emulator import expressions as ex
from tako_gha.emulator.jobstate import JobState
from tako_gha.emulator.logs import JobLog
from tako_gha.emulator.processes import POLL_SECONDS, signal_procs
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
    WORKFLOWS_DIR,
    Job,
    Workflow,
    WorkflowError,
    expand_matrix,
    is_workflow_path,
    job_order,
    parse_workflow,
    workflow_id_for,
)

EVENT_NAME = "repository_dispatch"


@dataclass
class RunContext:
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
    units: list[Unit] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)  # the `inputs` context


@dataclass
class Unit:
    """One job record to execute: a job, or one combination of a matrix job."""

    job_id: str
    record: JobRecord
    matrix: dict[str, Any] | None = None
    index: int = 0
    total: int = 1
    # shared by the combinations of one matrix job: set to cancel them (fail-fast)
    group: threading.Event = field(default_factory=threading.Event)
    # rerun-failed-jobs: the result this job keeps from the previous attempt (not run)
    kept: str | None = None


class RunnerBase(abc.ABC):
    """Runs of the emulator's world: created from the workflow files, kept by id,
    cancelled and re-run the same way whoever carries them out (see module docstring).
    """

    # a runner that executes nothing (the simulated one) has no step to clean up after
    # a cancel: the run completes at once, whatever its state
    cancel_completes_at_once = False

    def __init__(self, world: WorldView, store: RunStore, host: RunnerHost, *,
                 capacity: int = 4) -> None:
        if capacity < 1:
            raise ValueError(f"runner capacity must be at least 1, not {capacity}")
        self.world = world
        self.store = store
        self.host = host
        self.capacity = capacity
        self.problems: list[str] = []  # workflow files that could not be read
        self._contexts: dict[int, RunContext] = {}
        self._jobs: dict[int, JobState] = {}
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

    def dispatch_workflow(self, repo: str, path: str, ref: str, inputs: dict[str, str],
                          sender: Any = None) -> RunRecord | None:
        """One ``workflow_dispatch`` run of the workflow at ``path`` (inputs already
        checked by the endpoint): ``inputs`` and ``github.event.inputs`` carry them."""
        view = self.world.repo(repo)
        if view is None:
            return None
        content = view.read_file(path) or b""
        try:
            workflow, error = self._parse_cached(path, content), None
        except WorkflowError as exc:
            workflow, error = None, str(exc)
        branch = ref.removeprefix("refs/heads/").removeprefix("refs/tags/")
        event = {"inputs": dict(inputs) or None, "ref": f"refs/heads/{branch}",
                 "repository": _repository_object(view, self.host.base_url),
                 "sender": _sender_object(sender), "workflow": path}
        typed = wi.context(wi.parse(content, path), inputs)
        ctx = self._create_run(view, path, workflow, error, "", None, sender,
                               dispatch=(event, typed, branch))
        self._schedule(ctx)
        return ctx.run

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
            if ctx.run.status == "queued" or self.cancel_completes_at_once:
                # a queued run never started (the worker will skip it), and a runner
                # that executes nothing has no step to clean up: it completes at once
                self._finish_unstarted(ctx, "cancelled")
        self._signal_procs(ctx, signal.SIGINT)
        return True

    def rerun(self, run_id: int, *, failed_only: bool = False) -> bool:
        """Run a completed run again as attempt N+1 (new jobs); False otherwise.
        ``failed_only``: jobs that succeeded (needing none run again) keep their
        result without running (emulator.reruns)."""
        with self._lock:
            ctx = self._contexts.get(run_id)
        if ctx is None or self._stopped:
            return False
        with self.store.lock:
            run = ctx.run
            if run.status != "completed":
                return False
            before = {u.job_id: u.record.conclusion or "" for u in ctx.units}
            run.run_attempt += 1
            run.status, run.conclusion = "queued", None
            run.run_started_at = None
            ctx.units = self._new_units(run, ctx.event, ctx.workflow, ctx.startup_error)
            if failed_only and ctx.workflow is not None:
                from tako_gha.emulator.reruns import jobs_to_keep

                needs = {j: list(job.needs) for j, job in ctx.workflow.jobs.items()}
                keep = jobs_to_keep(before, needs)
                for unit in ctx.units:
                    if unit.job_id in keep:
                        unit.kept = before[unit.job_id]
            run.jobs = [u.record for u in ctx.units]
            run.touch()
            ctx.cancel = threading.Event()
            ctx.hard_kill = False
        self._schedule(ctx)
        return True

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
                    sender: Any, dispatch: tuple[dict, dict, str] | None = None
                    ) -> RunContext:
        sender_obj = _sender_object(sender)
        base = self.host.base_url
        event = {
            "action": event_type,
            "branch": view.default_branch,
            "client_payload": client_payload,
            "repository": _repository_object(view, base),
            "sender": sender_obj,
        }
        # a workflow_dispatch run: (its event, its typed `inputs` context, its branch)
        inputs: dict[str, Any] = {}
        branch = view.default_branch
        if dispatch is not None:
            event, inputs, branch = dispatch
        name = workflow.display_name if workflow else path
        run = RunRecord(
            id=self.store.new_run_id(),
            repo=view.full_name,
            workflow_id=workflow_id_for(view.full_name, path),
            workflow_path=path,
            workflow_name=name,
            display_title=name,
            event=EVENT_NAME if dispatch is None else wi.EVENT,
            head_branch=branch,
            head_sha=view.head_sha(),
            run_number=self.store.next_run_number(view.full_name, path),
            actor=str(sender_obj.get("login") or "tako-emulator"),
            client_payload=client_payload,
            event_type=event_type,
            inputs=event.get("inputs") if dispatch is not None else None,
        )
        if workflow is not None and workflow.run_name:
            try:
                title = ex.interpolate(workflow.run_name,
                                       {**self._title_contexts(run, event), "inputs": inputs})
                run.display_title = title.strip() or name
            except ex.ExpressionError as exc:
                error = f"{path}: run-name: {exc}"
        if workflow is not None and error is None:
            error = self._matrix_error(run, event, workflow)
        ctx = RunContext(run=run, repo=view, workflow=workflow, startup_error=error,
                         event=event, inputs=inputs)
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
                   error: str | None) -> list[Unit]:
        if workflow is None or error is not None:
            # the run fails at startup; one job carries the explanation
            return [Unit("", JobRecord(id=self.store.new_job_id(), run_id=run.id,
                                       name="Set up workflow"))]
        units: list[Unit] = []
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
                units.append(Unit(job_id, record, combo, index, len(combos or [None]),
                                  group))
        return units

    def _matrix(self, run: RunRecord, event: dict[str, Any],
                job: Job) -> list[dict[str, Any]] | None:
        """A matrix job's combinations (None for a plain job); raises on bad input."""
        if job.matrix is None:
            return None
        contexts = self._title_contexts(run, event)
        matrix = eval_scalar(job.matrix, contexts)
        if isinstance(matrix, dict):
            matrix = {k: eval_scalar(v, contexts) for k, v in matrix.items()}
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

    def _github_context(self, run: RunRecord, event: dict[str, Any],
                        job_id: str) -> dict[str, Any]:
        base = self.host.base_url
        owner = run.repo.split("/", 1)[0]
        return {
            "event": event, "event_name": run.event, "repository": run.repo,
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

    @abc.abstractmethod
    def _schedule(self, ctx: RunContext) -> None:
        """Carry the (queued) run out: the subclass's part (steps run for real, or
        simulated)."""

    def _finish_unstarted(self, ctx: RunContext, conclusion: str) -> None:
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

    def _crash(self, ctx: RunContext, exc: Exception) -> None:
        with self.store.lock:
            job = ctx.run.jobs[0] if ctx.run.jobs else None
            if job is not None:
                job.annotations.append(AnnotationRecord(
                    level="failure", message=f"emulator runner error: {exc!r}"))
            self._finish_unstarted(ctx, "failure")

    def _signal_procs(self, ctx: RunContext, sig: int) -> None:
        signal_procs(ctx, sig, self._lock)


def eval_scalar(value: Any, contexts: Mapping[str, Any]) -> Any:
    """A YAML scalar that may be a ``${{ }}`` expression (timeout-minutes etc.)."""
    if isinstance(value, str) and "${{" in value:
        text = value.strip()
        if text.startswith("${{") and text.endswith("}}") and text.count("${{") == 1:
            return ex.evaluate(text[3:-2].strip(), contexts)
        return ex.interpolate(text, contexts)
    return value


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
