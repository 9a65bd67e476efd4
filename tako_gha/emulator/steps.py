"""The step executor: one job's steps, in order, in the job's workspace.

Owns the job's setup (a checkout of the repo's default branch into a temporary
workspace, the event file, ``env`` of the workflow and the job, ``timeout-minutes``),
the expression contexts steps see, each step's ``if``, ``env``, ``timeout-minutes``,
``working-directory`` and ``continue-on-error``, and what a step runs: a ``run:``
script in its shell, an action through ``emulator.composite`` (composite actions of
the world or the workspace, the built-ins), or the installed tako action entry when
the world holds no copy of it. Processes are ``emulator.processes``'s, file commands
``emulator.envfiles``'s.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tako_gha.core.action_contract import INPUT_DEFAULTS, env_name
from tako_gha.emulator import composite
from tako_gha.emulator import expressions as ex
from tako_gha.emulator.envfiles import collect_files, new_step_files, step_files_env
from tako_gha.emulator.jobstate import JobState
from tako_gha.emulator.processes import StepProcesses, cancelled, shell_command
from tako_gha.emulator.runbase import RunContext, RunnerBase, Unit, eval_scalar
from tako_gha.emulator.state import StepRecord, utcnow
from tako_gha.emulator.upload_artifact import upload_artifact
from tako_gha.emulator.workflows import DEFAULT_JOB_TIMEOUT_MINUTES, Job, Step

_TAKO_USES = re.compile(r"^[^@\s]*/tako-gha(?:/[^@\s]*)?@\S+$", re.IGNORECASE)
_HOST_ENV_PREFIXES = ("GITHUB_", "RUNNER_", "TAKO_", "INPUT_", "ACTIONS_", "GH_")
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]  # holds the tako_gha package


@dataclass
class StepResult:
    outcome: str  # success | failure | cancelled | skipped
    timeout: str = ""  # "step" or "job": which timeout-minutes killed the step


class StepExecutor(StepProcesses, RunnerBase):
    """Runs one job's steps (a part of ``WorkflowRunner``; see module docstring)."""

    action_command: list[str]
    cache_root: Path

    def _job_steps(self, ctx: RunContext, job: Job, unit: Unit, state: JobState,
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
        job_env: dict[str, str] = {}
        base = self._job_contexts(ctx, job, unit, needs_ctx, workspace, temp)
        try:
            for scope in (wf.env, job.env):
                for key, raw in scope.items():
                    job_env[key] = ex.to_string(
                        ex.interpolate_value(raw, {**base, "env": dict(job_env)}))
            timeout = _minutes(eval_scalar(job.timeout_minutes, base),
                               DEFAULT_JOB_TIMEOUT_MINUTES)
        except (ex.ExpressionError, ValueError) as exc:
            state.annotate("failure", f"jobs.{job.id}: {exc}", path=ctx.run.workflow_path)
            return "failure", {}
        deadline = time.monotonic() + timeout * 60
        run_env = self._run_env(ctx, job, workspace, temp, event_path)
        steps_ctx: dict[str, Any] = {}
        failed = timed_out = False
        for step, step_rec in zip(job.steps, record.steps, strict=True):
            status = ex.Status(failed=failed, cancelled=cancelled(ctx, state))
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
                                 cancelled(ctx, state), log=state.write_log)
        outputs = self._job_outputs(job, state, {**base, "env": dict(job_env),
                                                 "steps": steps_ctx})
        if timed_out:
            return "timed_out", outputs
        if cancelled(ctx, state):
            return "cancelled", outputs
        return ("failure" if failed else "success"), outputs

    def _job_contexts(self, ctx: RunContext, job: Job, unit: Unit, needs_ctx: dict[str, Any],
                      workspace: Path, temp: Path) -> dict[str, Any]:
        """The expression contexts a job's steps start from (``env`` and ``steps`` are
        added per step)."""
        github = self._github_context(ctx.run, ctx.event, job.id)
        # steps see the run's token everywhere (env, with, if, run), masked in what is
        # recorded; titles and job names are evaluated without it
        github["workspace"], github["token"] = str(workspace), ctx.token
        return {"github": github, "needs": {n: needs_ctx[n] for n in job.needs},
                "inputs": ctx.inputs, "vars": {}, "secrets": self._secrets(ctx),
                "matrix": unit.matrix or {},
                "strategy": {"fail-fast": job.fail_fast, "job-index": unit.index,
                             "job-total": unit.total, "max-parallel": unit.total},
                "runner": _runner_context(temp),
                "job": {"status": "success"}, "steps": {}}

    def _job_outputs(self, job: Job, state: JobState, contexts: dict[str, Any]) -> dict:
        outputs: dict[str, str] = {}
        for key, raw in job.outputs.items():
            try:
                outputs[key] = ex.to_string(ex.interpolate_value(raw, contexts))
            except ex.ExpressionError as exc:
                state.annotate("warning", f"jobs.{job.id}.outputs.{key}: {exc}")
        return outputs

    def _secrets(self, ctx: RunContext) -> dict[str, str]:
        return {**self.host.secrets(), "GITHUB_TOKEN": ctx.token}

    def _run_env(self, ctx: RunContext, job: Job, workspace: Path, temp: Path,
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
            "GITHUB_EVENT_NAME": run.event, "GITHUB_EVENT_PATH": str(event_path),
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

    def _step(self, ctx: RunContext, job: Job, step: Step, rec: StepRecord,
              state: JobState, contexts: dict[str, Any], status: ex.Status,
              job_env: dict[str, str], run_env: dict[str, str], workspace: Path,
              temp: Path, deadline: float) -> StepResult:
        wf_path = ctx.run.workflow_path
        where = f"jobs.{job.id}.steps[{step.index}]"
        try:
            runs = ex.evaluate_condition(step.if_, contexts, status)
        except ex.ExpressionError as exc:
            state.annotate("failure", f"{where}.if: {exc}", path=wf_path)
            self._finish_step(rec, "failure", started=False)
            return StepResult("failure")
        if not runs:
            self._finish_step(rec, "skipped", started=False)
            return StepResult("skipped")
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
        return StepResult(conclusion, timed_out)

    def _continue_on_error(self, step: Step, contexts: dict[str, Any], state: JobState,
                           where: str) -> bool:
        try:
            return ex.truthy(eval_scalar(step.continue_on_error, contexts))
        except ex.ExpressionError as exc:
            state.annotate("warning", f"{where}.continue-on-error: {exc}")
            return False

    def _finish_step(self, rec: StepRecord, conclusion: str, *, started: bool) -> None:
        with self.store.lock:
            rec.status, rec.conclusion = "completed", conclusion
            if started:
                rec.completed_at = utcnow()

    def _step_body(self, ctx: RunContext, job: Job, step: Step, rec: StepRecord,
                   state: JobState, contexts: dict[str, Any], job_env: dict[str, str],
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
            step_minutes = _minutes(eval_scalar(step.timeout_minutes, contexts), 0.0)
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

    def _run_or_entry(self, ctx: RunContext, job: Job, step: Step, state: JobState,
                      contexts: dict[str, Any], env: dict[str, str], io: composite.ActionIO,
                      cwd: Path, deadline: float,
                      where: str) -> tuple[str, str, dict[str, str]]:
        """A ``run:`` step, or the tako action entry run directly (see
        ``_runs_entry_directly``)."""
        wf = ctx.workflow
        assert wf is not None
        try:
            if step.run is not None:
                script = ex.interpolate(step.run, contexts)
                defaults = {**wf.defaults_run, **job.defaults_run}
                shell = step.shell or defaults.get("shell") or "bash"
                return io.run_script(str(shell), script, env, cwd, deadline)
            state.write_log(f"{step.uses}: the world has no such repository; running the "
                            "installed tako-gha action entry directly")
            contexts["github"] = {**contexts["github"], "action_path": str(_PACKAGE_ROOT)}
            extra = self._action_inputs(step, state, contexts)
            extra["GITHUB_ACTION_PATH"] = str(_PACKAGE_ROOT)
            extra["PYTHONPATH"] = os.pathsep.join(
                p for p in (str(_PACKAGE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
            result = io.run_command(list(self.action_command), {**env, **extra}, cwd, deadline)
            if result[2].get("report_name"):  # action.yml's last step: the report upward
                upload_artifact(io, {"name": result[2]["report_name"],
                                     "path": result[2].get("report_path", ""),
                                     "retention-days": "1", "if-no-files-found": "ignore"},
                                contexts)
            return result
        except (ex.ExpressionError, ValueError) as exc:
            state.annotate("failure", f"{where}: {exc}", path=ctx.run.workflow_path)
            return "failure", "", {}

    def _step_cwd(self, ctx: RunContext, job: Job, step: Step, contexts: dict[str, Any],
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

    def _action_io(self, ctx: RunContext, state: JobState, job_env: dict[str, str],
                   run_env: dict[str, str], workspace: Path, temp: Path,
                   job_deadline: float, where: str) -> composite.ActionIO:
        def run_command(argv: list[str], env: dict[str, str], cwd: Path,
                        deadline: float) -> tuple[str, str, dict[str, str]]:
            return self._exec(ctx, state, argv, env, cwd, deadline, job_deadline, job_env,
                              run_env, temp, where)

        def run_script(shell: str, script: str, env: dict[str, str], cwd: Path,
                       deadline: float) -> tuple[str, str, dict[str, str]]:
            key = state.next_file_key()
            argv = shell_command(shell, script, temp, key)
            return run_command(argv, env, cwd, deadline)

        return composite.ActionIO(
            world=self.world, repo=ctx.run.repo, sha=ctx.run.head_sha,
            workspace=workspace, temp=temp, cache_root=self.cache_root,
            job_env=job_env, run_env=run_env, token=ctx.token,
            log=state.write_log, annotate=lambda level, msg: state.annotate(level, msg),
            cancelled=lambda: cancelled(ctx, state),
            run_command=run_command, run_script=run_script,
            token_reads=self.host.token_reads, post=state.post)

    def _exec(self, ctx: RunContext, state: JobState, argv: list[str], env: dict[str, str],
              cwd: Path, deadline: float, job_deadline: float, job_env: dict[str, str],
              run_env: dict[str, str], temp: Path,
              where: str) -> tuple[str, str, dict[str, str]]:
        """One step process with fresh GITHUB_OUTPUT/ENV/PATH/STEP_SUMMARY files; returns
        (outcome, "" | "step" | "job" timeout, outputs)."""
        key = state.next_file_key()
        files = new_step_files(temp, key)
        full_env = {**run_env, **env, **step_files_env(files)}
        full_env.setdefault("GITHUB_ACTION", f"__run_{key}")
        code, reason = self._run_process(ctx, state, argv, full_env, cwd, deadline)
        outputs = collect_files(state, files, job_env, run_env, where)
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

    def _action_inputs(self, step: Step, state: JobState,
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


def _runner_context(temp: Path) -> dict[str, str]:
    return {"os": "Linux", "arch": "X64", "name": "tako-emulator", "temp": str(temp),
            "tool_cache": str(temp / "_tool"), "environment": "self-hosted"}
