"""Shared state of the emulator: runs and jobs. The contract between the HTTP layer
(``emulator.server`` / ``emulator.rest``) and the workflow runner (``emulator.runner``).

INTERFACE (agreed):
- ``RunStore`` holds every run; thread-safe; ids increase monotonically across the
  whole world (like GitHub's), newest first in ``list_runs``.
- The HTTP layer, on a valid ``POST /repos/{o}/{r}/dispatches``, calls
  ``WorkflowRunner.dispatch(repo, event_type, client_payload, sender)`` which creates
  one ``RunRecord`` per matching workflow (status ``queued``) in the store and
  schedules it; it returns those records (possibly none).
- ``WorkflowRunner.cancel(run_id) -> bool`` (False if already completed) and
  ``WorkflowRunner.rerun(run_id) -> bool``; ``WorkflowRunner.stop()`` kills all steps.
- The HTTP layer renders records into GitHub JSON shapes; ``visible_at`` lets fault
  injection delay a run's appearance in listings.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


@dataclass
class StepRecord:
    number: int
    name: str
    status: str = "queued"  # queued | in_progress | completed
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None


@dataclass
class AnnotationRecord:
    level: str  # "failure" | "warning" | "notice" (GitHub's annotation_level)
    message: str
    title: str = ""
    path: str = ".github"
    line: int = 1


@dataclass
class JobRecord:
    id: int  # also the check-run id (GitHub uses the same number)
    run_id: int
    name: str
    status: str = "queued"
    conclusion: str | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    steps: list[StepRecord] = field(default_factory=list)
    annotations: list[AnnotationRecord] = field(default_factory=list)


@dataclass
class RunRecord:
    id: int
    repo: str  # "owner/repo"
    workflow_id: int
    workflow_path: str  # ".github/workflows/x.yml"
    workflow_name: str
    display_title: str
    event: str  # "repository_dispatch"
    head_branch: str
    head_sha: str
    run_number: int
    actor: str = "tako-emulator"
    status: str = "queued"  # queued | in_progress | completed
    conclusion: str | None = None
    created_at: datetime = field(default_factory=utcnow)
    updated_at: datetime = field(default_factory=utcnow)
    run_started_at: datetime | None = None
    run_attempt: int = 1
    visible_at: datetime | None = None  # fault: hidden from listings until then
    client_payload: dict | None = None
    inputs: dict[str, str] | None = None  # a workflow_dispatch run's inputs, as sent
    event_type: str = ""
    jobs: list[JobRecord] = field(default_factory=list)

    def touch(self) -> None:
        self.updated_at = utcnow()


class RunStore:
    """All runs of the world. Every mutation goes through ``lock``."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._runs: dict[int, RunRecord] = {}
        self._by_repo: dict[str, list[RunRecord]] = {}  # index: listings stay O(runs of repo)
        self._next_run_id = 1000
        self._next_job_id = 50000
        self._run_numbers: dict[tuple[str, str], int] = {}

    def new_run_id(self) -> int:
        with self.lock:
            self._next_run_id += 1
            return self._next_run_id

    def new_job_id(self) -> int:
        with self.lock:
            self._next_job_id += 1
            return self._next_job_id

    def next_run_number(self, repo: str, workflow_path: str) -> int:
        with self.lock:
            key = (repo.lower(), workflow_path)
            self._run_numbers[key] = self._run_numbers.get(key, 0) + 1
            return self._run_numbers[key]

    def add(self, run: RunRecord) -> None:
        with self.lock:
            old = self._runs.get(run.id)
            if old is not None:  # a replaced record leaves the index too
                self._by_repo[old.repo.lower()].remove(old)
            self._by_repo.setdefault(run.repo.lower(), []).append(run)
            self._runs[run.id] = run

    def get(self, run_id: int) -> RunRecord | None:
        with self.lock:
            return self._runs.get(run_id)

    def list_runs(self, repo: str) -> list[RunRecord]:
        """Runs of one repo, newest first (by id)."""
        with self.lock:
            runs = list(self._by_repo.get(repo.lower(), ()))
        return sorted(runs, key=lambda r: r.id, reverse=True)

    def all_runs(self) -> list[RunRecord]:
        with self.lock:
            return sorted(self._runs.values(), key=lambda r: r.id)

    def find_job(self, job_id: int) -> JobRecord | None:
        with self.lock:
            for run in self._runs.values():
                for job in run.jobs:
                    if job.id == job_id:
                        return job
        return None


class WorldRepoView(Protocol):
    """What the runner needs of one world repo (implemented by ``emulator.world``)."""

    full_name: str  # "owner/repo"
    default_branch: str

    def head_sha(self) -> str:
        """Commit sha of the default branch tip."""
        ...

    def list_files(self, prefix: str) -> list[str]:
        """Paths on the default branch under ``prefix`` (e.g. ".github/workflows/")."""
        ...

    def read_file(self, path: str) -> bytes | None:
        """File content on the default branch, None if absent."""
        ...

    def checkout_to(self, dest: Path) -> None:
        """Materialise the default branch's tree into the empty directory ``dest``."""
        ...


class WorldView(Protocol):
    def repo(self, full_name: str) -> WorldRepoView | None:
        """Case-insensitive lookup; None if the repo does not exist."""
        ...


class RunnerHost(Protocol):
    """What the runner needs of the server (implemented by the ``Emulator``).

    The runner is built as ``WorkflowRunner(world, store, host, capacity=N)``.
    """

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` — the run's GITHUB_API_URL."""
        ...

    def secrets(self) -> dict[str, str]:
        """``secrets.*`` available to workflows (from emulator.yml)."""
        ...

    def issue_run_token(self, repo: str) -> str:
        """A fresh token that reaches only ``repo`` (the run's GITHUB_TOKEN); it may
        dispatch to that repo only, as on GitHub."""
        ...

    def token_reads(self, token: str, repo: str) -> bool:
        """``token`` may read ``repo``'s contents: a run's token its own repository and
        public ones, another token what its policy sees and public repositories; an
        unknown token nothing."""
        ...
