"""The job scheduler: a run's place in the runner's capacity, and its jobs in order.

``capacity`` worker threads take queued runs in turn (others stay ``queued``); a
run's jobs start as soon as everything they ``need`` has concluded, side by side with
the other ready jobs and matrix combinations; a job's ``if`` is evaluated with its
ancestors' results; a failed matrix combination cancels its siblings
(``strategy.fail-fast``); the run concludes from its jobs' results. A workflow file
that could not be read fails its run at startup with an "Invalid workflow file"
annotation. Each job's steps are the step executor's (``emulator.steps``).
"""

from __future__ import annotations

import queue
import signal
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any

from tako_gha.emulator import expressions as ex
from tako_gha.emulator.gitstore import remove_tree
from tako_gha.emulator.jobstate import JobState
from tako_gha.emulator.processes import cancelled, killpg
from tako_gha.emulator.runbase import RunContext, Unit
from tako_gha.emulator.state import JobRecord, utcnow
from tako_gha.emulator.steps import StepExecutor
from tako_gha.emulator.workflows import Job, Workflow


class JobScheduler(StepExecutor):
    """Queues runs and schedules their jobs (a part of ``WorkflowRunner``)."""

    _queue: queue.Queue[int | None]
    _workers: list[threading.Thread]

    def _schedule(self, ctx: RunContext) -> None:
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

    # ----------------------------------------------------------------- execution

    def _execute(self, ctx: RunContext) -> None:
        ctx.token = self.host.issue_run_token(ctx.run.repo)
        masks = {v for v in self.host.secrets().values() if v} | {ctx.token}
        if ctx.workflow is None or ctx.startup_error is not None:
            self._fail_startup(ctx, masks)
            return
        workflow = ctx.workflow
        by_job: dict[str, list[Unit]] = {}
        for unit in ctx.units:
            by_job.setdefault(unit.job_id, []).append(unit)
        results: dict[str, str] = {}
        needs_ctx: dict[str, Any] = {}
        unit_results: dict[str, list[tuple[str, dict[str, str]]]] = {j: [] for j in by_job}
        pending = list(by_job)
        running: dict[Future[tuple[str, dict[str, str]]], Unit] = {}
        # as on GitHub, jobs whose needs are done (and matrix combinations) run side
        # by side
        with ThreadPoolExecutor(max_workers=len(ctx.units),
                                thread_name_prefix=f"tako-run{ctx.run.id}") as pool:
            while pending or running:
                for job_id in [j for j in pending
                               if all(n in results for n in workflow.jobs[j].needs)]:
                    pending.remove(job_id)
                    for unit in by_job[job_id]:
                        if unit.kept is not None:  # rerun-failed-jobs kept its result
                            future = pool.submit(self._keep, unit)
                        else:
                            future = pool.submit(self._job, ctx, workflow.jobs[job_id],
                                                 unit, dict(results), dict(needs_ctx), masks)
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

    def _keep(self, unit: Unit) -> tuple[str, dict[str, str]]:
        """A job kept from the previous attempt: completed with its result, not run."""
        assert unit.kept is not None
        self._complete_job(unit.record, unit.kept)
        return unit.kept, {}

    def _fail_fast(self, job: Job, units: list[Unit]) -> None:
        """A failed matrix combination cancels its siblings (strategy.fail-fast)."""
        if not job.fail_fast or len(units) < 2 or units[0].group.is_set():
            return
        units[0].group.set()
        with self._lock:
            states = [self._jobs.get(u.record.id) for u in units]
        for state in states:
            for proc in list(state.live) if state else []:
                killpg(proc.pid, signal.SIGINT)

    def _fail_startup(self, ctx: RunContext, masks: set[str]) -> None:
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
                   group: threading.Event | None = None) -> JobState:
        state = JobState(record, self.store, masks, group)
        with self._lock:
            self._jobs[record.id] = state
        return state

    def _job(self, ctx: RunContext, job: Job, unit: Unit, results: dict[str, str],
             needs_ctx: dict[str, Any], masks: set[str]) -> tuple[str, dict[str, str]]:
        record = unit.record
        state = self._job_state(record, masks, unit.group)
        ancestors = _ancestors(ctx.workflow, job.id) if ctx.workflow else set()
        status = ex.Status(
            failed=any(results[a] in ("failure", "timed_out", "cancelled") for a in ancestors),
            cancelled=cancelled(ctx, state),
            blocked=any(results[a] != "success" for a in ancestors),
        )
        contexts = {"github": self._github_context(ctx.run, ctx.event, job.id),
                    "needs": {n: needs_ctx[n] for n in job.needs}, "inputs": ctx.inputs,
                    "vars": {},
                    "matrix": unit.matrix or {}}
        try:
            runs = ex.evaluate_condition(job.if_, contexts, status)
        except ex.ExpressionError as exc:
            state.annotate("failure", f"jobs.{job.id}.if: {exc}", path=ctx.run.workflow_path)
            self._complete_job(record, "failure", skip_steps=True)
            return "failure", {}
        if not runs:
            self._complete_job(record, "cancelled" if cancelled(ctx, state) else "skipped",
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
            remove_tree(workdir)
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


def _ancestors(workflow: Workflow, job_id: str) -> set[str]:
    seen: set[str] = set()
    todo = list(workflow.jobs[job_id].needs)
    while todo:
        need = todo.pop()
        if need not in seen:
            seen.add(need)
            todo.extend(workflow.jobs[need].needs)
    return seen


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


def _run_conclusion(ctx: RunContext, workflow: Workflow, results: dict[str, str]) -> str:
    if ctx.cancel.is_set():
        return "cancelled"
    if "timed_out" in results.values():
        return "timed_out"
    for job_id, conclusion in results.items():
        allowed = str(workflow.jobs[job_id].continue_on_error).lower() == "true"
        if conclusion == "failure" and not allowed:
            return "failure"
    return "success"
