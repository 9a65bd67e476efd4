"""The simulated runner: runs that last a declared time and end with a declared
conclusion, without executing anything, so a world of 10,000 runs fits on a small
machine (``runner.simulate`` in emulator.yml; docs/emulator.md).

Runs are created exactly as the workflow runner creates them (the workflow files
decide which workflows listen, ``run-name`` gives the title, jobs are listed), so
listings, single reads, ``nodes(ids:)``, cancel and jobs look the same to a client.
One scheduler thread moves them on: queued → in_progress after ``queued`` seconds
→ completed after ``duration`` more. When a run of a repo named in ``fan_out``
starts, it dispatches the same event to the repos listed there with the ``tako``
block and title tako's action would send (same root, this run's dispatch id as
parent, one level deeper), which is how a tree unfolds.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time

from tako_gha.core.ids import TitleTag, dispatch_id, make_title
from tako_gha.emulator.runbase import RunContext, RunnerBase
from tako_gha.emulator.settings import Simulation
from tako_gha.emulator.state import RunnerHost, RunRecord, RunStore, WorldView, utcnow


class SimulatedRunner(RunnerBase):
    """``WorkflowRunner``'s interface; runs are timed, not executed."""

    # nothing runs, so nothing is left to clean up: a cancelled run completes at once
    cancel_completes_at_once = True

    def __init__(self, world: WorldView, store: RunStore, host: RunnerHost, *,
                 simulation: Simulation, capacity: int = 4) -> None:
        super().__init__(world, store, host, capacity=capacity)
        self.simulation = simulation
        self._agenda: list[tuple[float, int, str, int]] = []  # (when, seq, what, run id)
        self._seq = itertools.count()
        self._wake = threading.Condition()
        self._clock = threading.Thread(target=self._tick, name="tako-sim-runner",
                                       daemon=True)
        self._clock.start()
        self._held: dict[int, RunContext] = {}  # started runs a harness finishes
        self._hold = set(simulation.hold)

    # ------------------------------------------------------------ scheduling
    def _schedule(self, ctx: RunContext) -> None:
        if self._stopped:
            with self.store.lock:
                self._finish_unstarted(ctx, "cancelled")
            return
        self._at(time.monotonic() + self.simulation.queued, "start", ctx.run.id)

    def _at(self, when: float, what: str, run_id: int) -> None:
        with self._wake:
            heapq.heappush(self._agenda, (when, next(self._seq), what, run_id))
            self._wake.notify()

    def _tick(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (
                        not self._agenda or self._agenda[0][0] > time.monotonic()):
                    wait = self._agenda[0][0] - time.monotonic() if self._agenda else None
                    self._wake.wait(wait)
                if self._stopped:
                    return
                _, _, what, run_id = heapq.heappop(self._agenda)
            with self._lock:
                ctx = self._contexts.get(run_id)
            if ctx is not None:
                try:
                    self._start(ctx) if what == "start" else self._end(ctx)
                except Exception as exc:  # a bug must not stop every other run
                    self._crash(ctx, exc)

    def _start(self, ctx: RunContext) -> None:
        with self.store.lock:
            run = ctx.run
            if run.status != "queued" or ctx.cancel.is_set():
                return
            now = utcnow()
            run.status, run.run_started_at = "in_progress", now
            for job in run.jobs:
                job.status, job.started_at = "in_progress", now
            run.touch()
            payload = run.client_payload
            attempt = run.run_attempt
        if run.repo.lower() in self._hold:
            with self._lock:
                self._held[run.id] = ctx  # ends when the harness says (finish)
        else:
            self._at(time.monotonic() + self.simulation.duration, f"end:{attempt}", run.id)
        self._fan_out(ctx.run.repo, ctx.run.event_type, payload)

    def held(self) -> list[RunRecord]:
        """Started runs of ``hold`` repos that no harness has finished yet."""
        with self._lock:
            return [ctx.run for ctx in self._held.values()]

    def finish(self, run_id: int, conclusion: str) -> bool:
        """End a held run with ``conclusion``; False when it is not held."""
        with self._lock:
            ctx = self._held.pop(run_id, None)
        if ctx is None:
            return False
        with self.store.lock:
            if ctx.run.status != "completed":
                self._finish_unstarted(ctx, conclusion)
                for job in ctx.run.jobs:
                    for step in job.steps:
                        step.conclusion = conclusion
        return True

    def _end(self, ctx: RunContext) -> None:
        with self.store.lock:
            if ctx.run.status == "completed":
                return
            self._finish_unstarted(ctx, self.simulation.conclusion)
            for job in ctx.run.jobs:
                for step in job.steps:
                    step.conclusion = self.simulation.conclusion

    def _fan_out(self, repo: str, event_type: str, payload: dict | None) -> None:
        """Dispatch to this repo's declared children as tako's action would."""
        children = self.simulation.fan_out.get(repo.lower())
        tako = (payload or {}).get("tako") if isinstance(payload, dict) else None
        if not children or not isinstance(tako, dict) or not tako.get("root"):
            return
        root, parent = str(tako["root"]), str(tako.get("id") or tako["root"])
        depth = int(tako.get("depth") or 0) + 1
        chain = [*list(tako.get("chain") or []), repo]
        event = dict((payload or {}).get("event") or {})
        if event:
            event["source"] = repo
        for child in children:
            ident = dispatch_id(root, parent, child, event_type)
            title = make_title(event_type, repo, TitleTag(root, parent, ident))
            block = {"root": root, "parent": parent, "id": ident, "depth": depth,
                     "chain": [*chain, child], "deadline": tako.get("deadline"),
                     "title": title}
            self.dispatch(child, event_type, {**(payload or {}), "event": event,
                                              "tako": block})

    # ------------------------------------------------------------ control
    def stop(self, timeout: float = 10.0) -> None:
        with self._wake:
            self._stopped = True
            self._wake.notify_all()
        with self._lock:
            contexts = list(self._contexts.values())
        for ctx in contexts:
            with self.store.lock:
                if ctx.run.status != "completed":
                    self._finish_unstarted(ctx, "cancelled")
        self._clock.join(timeout)
