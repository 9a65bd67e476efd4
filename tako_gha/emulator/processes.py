"""The step executor's processes: each step runs in its own session (process group),
its output read line by line into the job (bounded reads), watched for its deadline
(``timeout-minutes``) and for a cancel: SIGINT first so it can clean up, SIGKILL
after the runner's grace; ``stop`` SIGKILLs at once. What a step left running is
killed when its job ends, as the Actions runner does. GitHub's shell templates
(``bash``/``sh``/``python``/``cmd {0}``) turn a ``run:`` script into a command line.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from tako_gha.emulator.jobstate import JobState

if TYPE_CHECKING:  # the run's context is defined with the runs (runbase imports us)
    from tako_gha.emulator.runbase import RunContext

POLL_SECONDS = 0.05


class StepProcesses:
    """The process half of the step executor (a part of ``WorkflowRunner``)."""

    kill_grace: float
    _lock: threading.Lock

    def _run_process(self, ctx: RunContext, state: JobState, argv: list[str],
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
        if must_stop(ctx, state):  # cancelled between the check and the start
            killpg(proc.pid, signal.SIGKILL if ctx.hard_kill else signal.SIGINT)
        reader = threading.Thread(target=pump, args=(proc, state), daemon=True)
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
            killpg(proc.pid, signal.SIGKILL)  # leftovers of a killed step go too
        reader.join(0.5)
        return proc.returncode, reason

    def _supervise(self, ctx: RunContext, state: JobState,
                   proc: subprocess.Popen[bytes], deadline: float) -> str:
        reason = ""
        kill_at: float | None = None
        while proc.poll() is None:
            now = time.monotonic()
            if not reason and must_stop(ctx, state):
                reason = "cancelled"
            elif not reason and now >= deadline:
                reason = "timeout"
            if reason and kill_at is None:
                # like the Actions runner: SIGINT first, so the step can clean up
                # (the tako action cancels its children), then SIGKILL
                killpg(proc.pid, signal.SIGKILL if ctx.hard_kill else signal.SIGINT)
                kill_at = now + (0 if ctx.hard_kill else self.kill_grace)
            if kill_at is not None and (now >= kill_at or ctx.hard_kill):
                killpg(proc.pid, signal.SIGKILL)
            # wait on the process itself: a step that exits is noticed at once,
            # cancel and deadlines within POLL_SECONDS
            wait = POLL_SECONDS if reason else min(POLL_SECONDS, max(0.001, deadline - now))
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=wait)
        if not reason and proc.returncode != 0 and must_stop(ctx, state):
            reason = "cancelled"  # cancel() signalled it before this loop looked
        return reason

    def _end_job_processes(self, state: JobState) -> None:
        """At job end, like the Actions runner, kill what the steps left running."""
        for pgid in state.pgids:
            killpg(pgid, signal.SIGKILL)
        for reader in state.readers:
            reader.join(1.0)


def signal_procs(ctx: RunContext, sig: int, lock: threading.Lock) -> None:
    """Send ``sig`` to the process group of every step the run has running."""
    with lock:
        procs = list(ctx.procs)
    for proc in procs:
        killpg(proc.pid, sig)


def pump(proc: subprocess.Popen[bytes], state: JobState) -> None:
    assert proc.stdout is not None
    with proc.stdout:
        # bounded reads: a step printing megabytes without a newline stays cheap
        for raw in iter(lambda: proc.stdout.readline(65536), b""):
            state.handle_output_line(raw.decode("utf-8", errors="replace"))


def killpg(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def shell_command(shell: str, script: str, temp: Path, index: str) -> list[str]:
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


def cancelled(ctx: RunContext, state: JobState) -> bool:
    """The run was cancelled, or (fail-fast) a sibling matrix combination failed."""
    return ctx.cancel.is_set() or state.group.is_set()


def must_stop(ctx: RunContext, state: JobState) -> bool:
    """Should the running step process be killed for a cancellation?"""
    return ctx.hard_kill or (not state.cancel_immune and cancelled(ctx, state))
