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

The parts, each owning one concern:

- ``emulator.runbase``: the runs (created from the workflow files, kept by id) and
  the verbs any runner offers: dispatch, the one ``cancel``, rerun, job logs;
  ``emulator.simulated`` builds on it too;
- ``emulator.scheduler``: the capacity's worker threads, ``needs``/matrix scheduling,
  fail-fast, a run's conclusion;
- ``emulator.steps``: the step executor (job setup, contexts, ``if``/``env``/
  ``timeout-minutes``, ``run:``/``uses:``);
- ``emulator.processes``: step processes, process groups, deadlines, kill on cancel;
- ``emulator.commands``: workflow commands a step prints;
- ``emulator.envfiles``: ``GITHUB_OUTPUT``/``ENV``/``PATH``/``STEP_SUMMARY``;
- ``emulator.jobstate``: one job's masks, log, summaries and annotations.
- ``emulator.masking``: the masks themselves, hidden in any text in one pass per level.
"""

from __future__ import annotations

import queue
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

from tako_gha.core.action_contract import ENTRY_MODULE
from tako_gha.emulator import composite
from tako_gha.emulator.scheduler import JobScheduler
from tako_gha.emulator.state import RunnerHost, RunStore, WorldView


class WorkflowRunner(JobScheduler):
    """Runs the workflows of the emulator's world (see module docstring)."""

    def __init__(self, world: WorldView, store: RunStore, host: RunnerHost, *,
                 capacity: int = 4, kill_grace: float = 3.0,
                 action_command: list[str] | None = None,
                 cache_root: Path | None = None) -> None:
        super().__init__(world, store, host, capacity=capacity)
        self.kill_grace = kill_grace
        # how a `uses:` of the tako action runs when the world has no copy of it
        # (see _runs_entry_directly); tests may point it at a fake entry
        self.action_command = action_command or [sys.executable, "-m", ENTRY_MODULE]
        # actions/cache keeps its entries here (beside the world, out of its repos)
        root = getattr(world, "root", None)
        self.cache_root = Path(cache_root) if cache_root is not None else (
            Path(root) / composite.CACHE_DIR if root is not None
            else Path(tempfile.gettempdir()) / "tako-emulator-cache")
        self._queue: queue.Queue[int | None] = queue.Queue()
        self._workers: list[threading.Thread] = []

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
