"""An in-memory forge and clock for engine tests.

Runs are simulated on a fake clock: a dispatch creates one run per listening
workflow (title from ``client_payload.tako.title`` when the workflow sets
run-name), queued → in_progress → completed by time. A workflow may itself fan
out when its run starts (children dispatched with a proper ``tako`` block) and
wait for them (deep sync). Faults: refusals, ambiguous failures before/after the
run exists, delayed appearance, hanging runs, errors per call and repo
(``faults``), and changes at a set time (``at``: a token revoked, a run deleted).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Any

from tako_gha.core.ids import TitleTag, dispatch_id, make_title
from tako_gha.forge.base import (
    MAX_STATE_IDS,
    AmbiguousDispatchError,
    Annotation,
    CallKind,
    CostLedger,
    Discovery,
    ForgeError,
    NotDispatchableError,
    NotFoundError,
    RepoSelection,
    RunInfo,
    RunListing,
    RunState,
    UnexpectedInputsError,
    WorkflowDispatch,
)

EPOCH = datetime(2026, 11, 25, 10, 0, 0, tzinfo=timezone.utc)


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += max(0.0, seconds)
        if len(self.sleeps) > 200_000:
            raise RuntimeError("engine loop does not terminate")


@dataclass
class FakeWorkflow:
    path: str = ".github/workflows/on-dispatch.yml"
    types: Sequence[str] | None = None  # None: every event type
    run_name: bool = True
    queue: float = 1.0
    duration: float = 5.0
    conclusion: str = "success"
    hang: bool = False
    fan_out: Sequence[tuple[str, str]] = ()  # (target repo, event type) when it starts
    wait_children: bool = True
    annotation: str | None = None  # failure annotation on a failed run
    log_tail: Sequence[str] = ()  # last lines of the failing step's log on a failed run
    dedupe_root: bool = False  # the child fan-out skips targets already run for the root
    # listens on workflow_dispatch (exact mode) with these declared inputs
    workflow_dispatch: bool = False
    inputs: Sequence[str] = ("tako",)

    def listens(self, event_type: str) -> bool:
        return self.types is None or event_type in self.types


@dataclass
class FakeRun:
    id: int
    repo: str
    workflow: FakeWorkflow
    event_type: str
    payload: dict[str, Any]
    created: float
    title: str
    visible_from: float
    cancelled_at: float | None = None
    children: list[FakeRun] = field(default_factory=list)
    spawned: bool = False
    attempt: int = 1  # run_attempt: a re-run keeps the id and counts up
    event: str = "repository_dispatch"

    @property
    def start(self) -> float:
        return self.created + self.workflow.queue

    def own_end(self) -> float | None:
        if self.workflow.hang:
            return None
        return self.start + self.workflow.duration

    def end(self) -> float | None:
        ends = [self.own_end()]
        if self.workflow.wait_children:
            ends += [c.end() for c in self.children]
        if any(e is None for e in ends):
            return self.cancelled_at
        end = max(e for e in ends if e is not None)
        if self.cancelled_at is not None and self.cancelled_at < end:
            return self.cancelled_at
        return end

    def status(self, t: float) -> tuple[str, str | None]:
        end = self.end()
        if end is not None and t >= end:
            if self.cancelled_at is not None and self.cancelled_at <= end:
                return "completed", "cancelled"
            failed = self.workflow.conclusion != "success" or (
                self.workflow.wait_children
                and any(c.status(t)[1] not in ("success", None) for c in self.children))
            return "completed", "failure" if failed else self.workflow.conclusion
        if t >= self.start:
            return "in_progress", None
        return "queued", None


class FakeForge:
    def __init__(self, clock: FakeClock, workflows: dict[str, list[FakeWorkflow]]) -> None:
        self.clock = clock
        self.workflows = {k.lower(): v for k, v in workflows.items()}
        self.ledger = CostLedger(clock.monotonic)
        self.runs: list[FakeRun] = []
        self.next_id = 100
        self.dispatches: list[tuple[str, str, dict[str, Any]]] = []
        self.calls: Counter[str] = Counter()
        self.list_calls_by_repo: Counter[str] = Counter()
        self.refuse: dict[str, ForgeError] = {}
        self.ambiguous_after_create: set[str] = set()
        self.ambiguous_before_create: set[str] = set()
        self.appear_delay: dict[str, float] = {}
        self.preflight_error: ForgeError | None = None
        self._etags: dict[tuple, tuple] = {}
        self.annotation_calls = 0
        self.log_tail_calls = 0
        self.deadlines: list[datetime | None] = []  # every set_deadline, in order
        # (call, repo or "*") -> raised by that call: "list_runs", "get_run", "dispatch".
        self.faults: dict[tuple[str, str], ForgeError] = {}
        self.scheduled: list[tuple[float, Callable[[], None]]] = []  # run once, in time
        self.rerun_conclusion: dict[str, str] = {}  # lower-case repo -> a re-run's end
        self.run_details = True  # False: a server without return_run_details (GHES)
        self.workflow_dispatches: list[tuple[str, str, str, dict[str, str]]] = []

    def at(self, when: float, action: Callable[[], None]) -> None:
        """Do ``action`` the first time the forge is asked anything at or after ``when``."""
        self.scheduled.append((when, action))
        self.scheduled.sort(key=lambda item: item[0])

    def delete_run(self, run_id: int) -> None:
        """Gone from listings and answered 404, like a run deleted on GitHub."""
        self.runs = [r for r in self.runs if r.id != run_id]

    def _fault(self, call: str, repo: str) -> None:
        error = self.faults.get((call, repo.lower())) or self.faults.get((call, "*"))
        if error is not None:
            raise error

    # ---------------------------------------------------------------- helpers
    def now(self) -> datetime:
        return EPOCH + timedelta(seconds=self.clock.t)

    def _advance(self) -> None:
        while self.scheduled and self.scheduled[0][0] <= self.clock.t:
            self.scheduled.pop(0)[1]()
        for run in list(self.runs):
            if run.spawned or self.clock.t < run.start or run.cancelled_at is not None:
                continue
            run.spawned = True
            tako = run.payload.get("tako") or {}
            for target, event_type in run.workflow.fan_out:
                if not tako:
                    continue
                if run.workflow.dedupe_root and any(
                        r.repo.lower() == target.lower() and r.event_type == event_type
                        and (r.payload.get("tako") or {}).get("root") == tako["root"]
                        for r in self.runs):
                    continue
                child_id = dispatch_id(tako["root"], tako["id"], target, event_type)
                # The child's fan-out inherits the root's deadline and tags with it.
                until = tako.get("deadline")
                tag = TitleTag(tako["root"], tako["id"], child_id,
                               int(datetime.fromisoformat(until.replace("Z", "+00:00"))
                                   .timestamp()) if until else None)
                child_payload = {
                    "event": {"type": event_type, "source": run.repo, "payload": {}},
                    "inputs": {},
                    "tako": {"root": tako["root"], "parent": tako["id"], "id": child_id,
                             "depth": tako.get("depth", 1) + 1,
                             "chain": [*tako.get("chain", []), target],
                             "title": make_title(event_type, run.repo, tag)},
                }
                run.children += self._create(target, event_type, child_payload, run.start)

    def _create(self, repo: str, event_type: str, payload: dict[str, Any],
                at: float) -> list[FakeRun]:
        created = []
        for wf in self.workflows.get(repo.lower(), []):
            if not wf.listens(event_type):
                continue
            self.next_id += 1
            tako = payload.get("tako") or {}
            title = tako.get("title") if wf.run_name and tako.get("title") else wf.path
            run = FakeRun(self.next_id, repo, wf, event_type, payload, at, title,
                          visible_from=at + self.appear_delay.get(repo.lower(), 0.0))
            self.runs.append(run)
            created.append(run)
        return created

    def _last_change(self, run: FakeRun) -> float:
        """GitHub's updated_at: the end of a completed run, else about now."""
        end = run.end()
        return end if end is not None and end <= self.clock.t else self.clock.t

    def _info(self, run: FakeRun) -> RunInfo:
        status, conclusion = run.status(self.clock.t)
        return RunInfo(id=run.id, repo=run.repo, workflow_path=run.workflow.path,
                       display_title=run.title, name=run.workflow.path,
                       event=run.event, status=status, conclusion=conclusion,
                       created_at=EPOCH + timedelta(seconds=run.created),
                       html_url=f"https://fake/{run.repo}/actions/runs/{run.id}",
                       updated_at=EPOCH + timedelta(seconds=self._last_change(run)),
                       node_id=f"WFR_{run.id}", run_attempt=run.attempt)

    def run_by_id(self, run_id: int) -> FakeRun:
        run = next((r for r in self.runs if r.id == run_id), None)
        if run is None:
            raise NotFoundError(f"run {run_id}: not found", status=404)
        return run

    def intervals(self, repos: Sequence[str]) -> list[tuple[float, float]]:
        wanted = {r.lower() for r in repos}
        out = []
        for run in self.runs:
            if run.repo.lower() in wanted:
                end = run.end()
                out.append((run.created, end if end is not None else float("inf")))
        return out

    # ---------------------------------------------------------------- Forge
    def discover(self, selection: RepoSelection) -> Discovery:
        self.calls["discover"] += 1
        return Discovery(org=selection.org, repos=[])

    def preflight(self, org: str, targets: Sequence[str], *, dispatch: bool) -> None:
        self.calls["preflight"] += 1
        if self.preflight_error is not None:
            raise self.preflight_error

    def dispatch(self, repo: str, event_type: str, client_payload: dict[str, Any]) -> None:
        self.calls["dispatch"] += 1
        self.ledger.record(CallKind.DISPATCH)
        self._advance()
        key = repo.lower()
        if key in self.refuse:
            raise self.refuse[key]
        self._fault("dispatch", repo)
        if key in self.ambiguous_before_create:
            self.ambiguous_before_create.discard(key)
            raise AmbiguousDispatchError("502 Bad Gateway", status=502)
        self.dispatches.append((repo, event_type, client_payload))
        self._create(repo, event_type, client_payload, self.clock.t)
        if key in self.ambiguous_after_create:
            self.ambiguous_after_create.discard(key)
            raise AmbiguousDispatchError("502 Bad Gateway", status=502)

    def dispatch_workflow(self, repo: str, workflow: str, ref: str,
                          inputs: dict[str, str]) -> WorkflowDispatch:
        """A workflow dispatch: the run the workflow file starts, named in the answer
        (unless ``run_details`` is off). Refused like GitHub: no such file (404), a file
        without workflow_dispatch, inputs it does not declare (422)."""
        self.calls["dispatch_workflow"] += 1
        self.ledger.record(CallKind.DISPATCH)
        self._advance()
        key = repo.lower()
        if key in self.refuse:
            raise self.refuse[key]
        self._fault("dispatch", repo)
        wf = next((w for w in self.workflows.get(key, [])
                   if w.path.rsplit("/", 1)[-1] == workflow), None)
        if wf is None:
            raise NotFoundError(f"cannot dispatch {workflow} to {repo}: not found", status=404)
        if not wf.workflow_dispatch:
            raise NotDispatchableError(f"{repo}'s {workflow} does not listen on "
                                       "workflow_dispatch", status=422)
        unexpected = [name for name in inputs if name not in wf.inputs]
        if unexpected:
            raise UnexpectedInputsError(f"Unexpected inputs provided: {unexpected}", unexpected)
        if key in self.ambiguous_before_create:
            self.ambiguous_before_create.discard(key)
            raise AmbiguousDispatchError("502 Bad Gateway", status=502)
        self.workflow_dispatches.append((repo, workflow, ref, dict(inputs)))
        tako = json.loads(inputs["tako"]) if "tako" in inputs else {}
        payload = {"tako": tako, "inputs": dict(inputs)}
        self.next_id += 1
        title = tako.get("title") if wf.run_name and tako.get("title") else wf.path
        run = FakeRun(self.next_id, repo, wf, str((tako.get("event") or {}).get("type", "")),
                      payload, self.clock.t, title,
                      visible_from=self.clock.t + self.appear_delay.get(key, 0.0),
                      event="workflow_dispatch")
        self.runs.append(run)
        if key in self.ambiguous_after_create:
            self.ambiguous_after_create.discard(key)
            raise AmbiguousDispatchError("502 Bad Gateway", status=502)
        if not self.run_details:
            return WorkflowDispatch()
        return WorkflowDispatch(run.id, f"https://fake/repos/{repo}/actions/runs/{run.id}",
                                f"https://fake/{repo}/actions/runs/{run.id}")

    def read_files(self, items: Sequence[tuple[str, str, str]]
                   ) -> dict[tuple[str, str, str], str | None]:
        """Workflow files as text, written from the fake workflows (one GraphQL query)."""
        self.calls["read_files"] += 1
        self.ledger.record(CallKind.DISCOVERY, resource="graphql")
        out: dict[tuple[str, str, str], str | None] = {}
        for repo, ref, path in items:
            wf = next((w for w in self.workflows.get(repo.lower(), []) if w.path == path), None)
            if wf is None:
                out[(repo, ref, path)] = None
            elif wf.workflow_dispatch:
                declared = "".join(f"      {name}: {{}}\n" for name in wf.inputs)
                out[(repo, ref, path)] = ("on:\n  workflow_dispatch:\n    inputs:\n"
                                          + (declared or "      {}\n"))
            else:
                out[(repo, ref, path)] = "on:\n  repository_dispatch:\n"
        return out

    def run_states_by_url(self, urls: Sequence[str]) -> dict[str, RunState]:
        """Like ``run_states``, by the web URL a workflow dispatch's answer carried."""
        self.calls["run_states_by_url"] += 1
        self.ledger.record(CallKind.POLL, resource="graphql")
        self._advance()
        out: dict[str, RunState] = {}
        for url in urls:
            run = next((r for r in self.runs
                        if url == f"https://fake/{r.repo}/actions/runs/{r.id}"), None)
            if run is not None and run.visible_from <= self.clock.t:
                status, conclusion = run.status(self.clock.t)
                out[url] = RunState(f"WFR_{run.id}", run.id, status, conclusion,
                                    EPOCH + timedelta(seconds=self._last_change(run)))
        return out

    def list_runs(self, repo: str, *, event: str | None = "repository_dispatch",
                  created_after: datetime | None = None,
                  workflow: str | None = None) -> RunListing:
        self._advance()
        self.calls["list_runs"] += 1
        self.list_calls_by_repo[repo.lower()] += 1
        self._fault("list_runs", repo)
        runs = [self._info(r) for r in sorted(self.runs, key=lambda r: -r.id)
                if r.repo.lower() == repo.lower() and r.visible_from <= self.clock.t
                and (event is None or r.event == event)
                and (created_after is None
                     or EPOCH + timedelta(seconds=r.created) >= created_after)][:100]
        key = (repo.lower(), event, created_after, workflow)
        snapshot = tuple((r.id, r.status, r.conclusion) for r in runs)
        if self._etags.get(key) == snapshot:
            self.ledger.record(CallKind.POLL, not_modified=True)
            self.calls["list_runs_304"] += 1
            return RunListing(runs, not_modified=True)
        self._etags[key] = snapshot
        self.ledger.record(CallKind.POLL)
        return RunListing(runs)

    def get_run(self, repo: str, run_id: int) -> RunInfo:
        self._advance()
        self.calls["get_run"] += 1
        self.ledger.record(CallKind.POLL)
        self._fault("get_run", repo)
        return self._info(self.run_by_id(run_id))

    def run_states(self, node_ids: Sequence[str]) -> dict[str, RunState]:
        """One batched read (a GraphQL query on GitHub): every id in one call. A fault
        set for reading a repo's runs applies here as it does on GitHub: a revoked
        token or a server error fails the whole query, a repo the token can no longer
        read leaves its runs out (null, NOT_FOUND)."""
        if len(node_ids) > MAX_STATE_IDS:
            raise ValueError(f"at most {MAX_STATE_IDS} run ids per query")
        self._advance()
        self.calls["run_states"] += 1
        self.ledger.record(CallKind.POLL, resource="graphql")
        self._fault("run_states", "*")
        out: dict[str, RunState] = {}
        by_id = {f"WFR_{r.id}": r for r in self.runs}
        for ident in node_ids:
            run = by_id.get(ident)
            if run is None:
                continue
            error = self._read_fault(run.repo)
            if isinstance(error, NotFoundError):
                continue
            if error is not None:
                raise error
            status, conclusion = run.status(self.clock.t)
            out[ident] = RunState(ident, run.id, status, conclusion,
                                  EPOCH + timedelta(seconds=self._last_change(run)))
        return out

    def _read_fault(self, repo: str) -> ForgeError | None:
        for call in ("list_runs", "get_run"):
            error = self.faults.get((call, repo.lower())) or self.faults.get((call, "*"))
            if error is not None:
                return error
        return None

    def worker(self) -> None:
        return None  # one thread: the fake clock and runs are not shared

    def cancel_run(self, repo: str, run_id: int) -> bool:
        self._advance()
        self.calls["cancel_run"] += 1
        self.ledger.record(CallKind.CANCEL)
        run = self.run_by_id(run_id)
        if run.status(self.clock.t)[0] == "completed":
            return False
        run.cancelled_at = self.clock.t + 0.5  # cancellation takes a moment
        for child in run.children:
            if child.status(self.clock.t)[0] != "completed":
                child.cancelled_at = self.clock.t + 0.5
        return True

    def rerun_run(self, repo: str, run_id: int, *, failed_only: bool = True) -> None:
        """The next attempt of a finished run: it runs again from now, concluding
        ``rerun_conclusion[repo]`` when set (else as its workflow does)."""
        self._advance()
        self.calls["rerun_run"] += 1
        run = self.run_by_id(run_id)
        if run.status(self.clock.t)[0] != "completed":
            raise ForgeError("This workflow is already running", status=403)
        wanted = self.rerun_conclusion.get(repo.lower())
        if wanted is not None:
            run.workflow = replace(run.workflow, conclusion=wanted)
        run.created, run.attempt, run.cancelled_at = self.clock.t, run.attempt + 1, None

    def run_annotations(self, repo: str, run_id: int) -> list[Annotation]:
        self.annotation_calls += 1
        run = self.run_by_id(run_id)
        notes = []
        if run.workflow.annotation:
            notes.append(Annotation("failure", run.workflow.annotation))
        return notes

    def job_log_tail(self, repo: str, run_id: int, lines: int = 5) -> list[str]:
        self.log_tail_calls += 1
        run = self.run_by_id(run_id)
        if run.workflow.conclusion not in ("failure", "timed_out"):
            return []
        return list(run.workflow.log_tail)[-lines:]

    def set_deadline(self, when: datetime | None) -> None:
        # This forge never waits by itself; the bound is recorded for the tests.
        self.deadlines.append(when)

    # ---------------------------------------------------------------- queries
    def dispatched_to(self, repo: str) -> int:
        return sum(1 for r, _, _ in self.dispatches if r.lower() == repo.lower())


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
                    key=lambda p: (p[0], p[1]))
    best = cur = 0
    for _, delta in points:
        cur += delta
        best = max(best, cur)
    return best
