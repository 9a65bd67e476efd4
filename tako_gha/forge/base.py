"""The ``Forge`` protocol, its value types, errors and the cost ledger.

The engine depends on this module only. Implementations: ``forge.github``
(PyGithub, REST + GraphQL) and ``forge.workspace`` (a local ``DIR/<owner>/<repo>``
tree; discovery only). Implementations are not required to be thread-safe: the
engine calls a forge from one thread, and each of its poll workers has a forge of
its own (``Forge.worker``).
"""

from __future__ import annotations

import fnmatch
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from tako_gha.core.config import DEFAULT_CONFIG_PATH, ConfigResult

# ---------------------------------------------------------------- errors
# The hint for an answer that is not what GitHub's API sends (HTML, wrong shape).
NOT_GITHUB_HINT = "is --api-url a GitHub API endpoint?"


class ForgeError(Exception):
    """A failure talking to the forge, with a one-line ``hint`` naming the fix.

    ``status`` is the HTTP status when there was one. Messages never contain tokens.
    """

    def __init__(self, message: str, *, hint: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.status = status

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class AuthError(ForgeError):
    """No token, a bad token, or a token that cannot do what is needed (401/403)."""


class NotFoundError(ForgeError):
    """404: missing, or not visible to this token (GitHub hides private repos)."""


class ValidationError(ForgeError):
    """422: the request was refused as invalid."""


class RateLimitError(ForgeError):
    """The rate limit would need a wait past the caller's deadline."""

    def __init__(self, message: str, *, reset_at: float | None = None, hint: str = "") -> None:
        super().__init__(message, hint=hint, status=403)
        self.reset_at = reset_at


class NotDispatchableError(ValidationError):
    """422: the workflow does not listen on ``workflow_dispatch`` (nothing was started)."""


class UnexpectedInputsError(ValidationError):
    """422: inputs the workflow does not declare (nothing was started); ``names``."""

    def __init__(self, message: str, names: Sequence[str], *, hint: str = "") -> None:
        super().__init__(message, hint=hint, status=422)
        self.names = tuple(names)


class AmbiguousDispatchError(ForgeError):
    """A dispatch POST failed in a way that may or may not have delivered it
    (timeout, connection reset, 5xx). The engine must look for the run before
    deciding to send again; the forge never retries a dispatch by itself."""


# ---------------------------------------------------------------- values
@dataclass(frozen=True)
class RepoSelection:
    """Which repositories of an org discovery considers."""

    org: str
    repos: Sequence[str] = ()  # explicit "owner/repo" list; empty = whole org
    topics: Sequence[str] = ()  # all must be present
    name_globs: Sequence[str] = ()  # fnmatch on repo name; any may match
    include_archived: bool = False
    include_forks: bool = False
    include_disabled: bool = False
    config_path: str = DEFAULT_CONFIG_PATH


@dataclass
class RepoMeta:
    """What discovery learned about one repo before reading its config."""

    full_name: str
    default_branch: str = "main"
    archived: bool = False
    disabled: bool = False
    fork: bool = False
    topics: list[str] = field(default_factory=list)
    can_push: bool | None = None  # None: unknown


def skip_reason(meta: RepoMeta, sel: RepoSelection) -> str | None:
    """Why ``meta`` is left out of ``sel``, or None when it is in."""
    if meta.archived and not sel.include_archived:
        return "archived"
    if meta.disabled and not sel.include_disabled:
        return "disabled"
    if meta.fork and not sel.include_forks:
        return "fork"
    missing = [t for t in sel.topics if t.lower() not in {x.lower() for x in meta.topics}]
    if missing:
        return "missing topic " + ", ".join(missing)
    if sel.name_globs:
        name = meta.full_name.split("/", 1)[-1]
        if not any(fnmatch.fnmatchcase(name.lower(), g.lower()) for g in sel.name_globs):
            return "name does not match " + " or ".join(sel.name_globs)
    return None


@dataclass
class DiscoveredRepo:
    full_name: str
    default_branch: str = "main"
    archived: bool = False
    fork: bool = False
    disabled: bool = False
    topics: list[str] = field(default_factory=list)
    config: ConfigResult | None = None  # parsed tako.yml (config.missing when absent)
    config_oid: str | None = None  # blob oid, the cache key

    @classmethod
    def of(cls, meta: RepoMeta, config: ConfigResult | None,
           oid: str | None) -> DiscoveredRepo:
        """The repo as discovery reports it: what was learned of it, and its config."""
        return cls(full_name=meta.full_name, default_branch=meta.default_branch,
                   archived=meta.archived, fork=meta.fork, disabled=meta.disabled,
                   topics=list(meta.topics), config=config, config_oid=oid)


@dataclass
class Discovery:
    org: str
    repos: list[DiscoveredRepo]
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (repo, reason)

    def configs(self) -> list[ConfigResult]:
        return [r.config for r in self.repos if r.config is not None]


@dataclass(frozen=True)
class RunInfo:
    """A workflow run as the engine needs it (subset of GitHub's workflow-run)."""

    id: int
    repo: str  # "owner/repo"
    workflow_path: str  # ".github/workflows/x.yml"
    display_title: str
    name: str | None
    event: str
    status: str | None  # queued/in_progress/completed/...
    conclusion: str | None
    created_at: datetime
    html_url: str
    head_branch: str | None = None
    run_attempt: int = 1
    updated_at: datetime | None = None  # last change; a completed run's end
    node_id: str = ""  # GraphQL global id (REST ``node_id``): ``run_states`` takes it


# run_states takes at most this many ids at once (GitHub's nodes(ids:) limit).
MAX_STATE_IDS = 100


@dataclass(frozen=True)
class RunState:
    """A known run's state as ``run_states`` reads it (REST words, lower-case)."""

    node_id: str
    run_id: int
    status: str  # queued/in_progress/completed/waiting/...
    conclusion: str | None
    updated_at: datetime | None = None  # last change; a completed run's end


@dataclass(frozen=True)
class RunListing:
    """One page of runs; ``not_modified`` when the server answered 304 (free)."""

    runs: list[RunInfo]
    not_modified: bool = False


@dataclass(frozen=True)
class Annotation:
    """An annotation of a run's job (``::error::`` lines), how a descendant's reason
    travels up to the root."""

    level: str  # "failure" | "warning" | "notice"
    message: str
    title: str = ""


@dataclass(frozen=True)
class WorkflowDispatch:
    """GitHub's answer to a workflow dispatch. ``run_id`` is the run it started (None:
    the server gave no run details, so the run is found by listing). ``note`` is set
    by the one call that learnt the server lacks run details (say it once)."""

    run_id: int | None = None
    run_url: str = ""
    html_url: str = ""
    note: str | None = None


class DispatchOutcome(str, Enum):
    SENT = "sent"  # 204


class CallKind(str, Enum):
    DISCOVERY = "discovery"
    DISPATCH = "dispatch"
    POLL = "poll"
    CANCEL = "cancel"
    OTHER = "other"


MINUTE = 60.0
RESOURCES = ("rest", "graphql")


def request_points(method: str, resource: str) -> int:
    """What one request costs against GitHub's per-minute (secondary) budgets: a
    GraphQL query 1, a REST read (GET/HEAD/OPTIONS) 1, any other REST method 5."""
    if resource == "graphql":
        return 1
    return 1 if method.upper() in ("GET", "HEAD", "OPTIONS") else 5


class CostLedger:
    """API calls by kind, 304s, retries, the last seen budgets, and the points spent
    in the trailing minute per resource ("rest", "graphql"): every request sent is
    counted there, 304s and refused ones included. Thread-safe."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self.clock = clock  # monotonic seconds; tests inject a fake one
        self.calls: Counter[str] = Counter()
        self.not_modified: Counter[str] = Counter()
        self.retries: Counter[str] = Counter()
        self.rate_remaining: int | None = None
        self.rate_limit: int | None = None
        self.budgets: dict[str, tuple[int, int, int | None]] = {}  # resource -> rem, lim, reset
        self.waited_seconds = 0.0
        # secondary-limit refusals seen (the governor halves this process's share)
        self.secondary_refusals = 0
        self.points: Counter[str] = Counter()  # all points ever spent, by resource
        self.peak_per_minute: Counter[str] = Counter()  # highest trailing-minute sum seen
        self._minute: dict[str, deque[tuple[float, int]]] = {r: deque() for r in RESOURCES}
        self._minute_sum: Counter[str] = Counter()

    def record(self, kind: CallKind | str, *, not_modified: bool = False,
               retry: bool = False, resource: str = "rest", points: int | None = None) -> None:
        key = kind.value if isinstance(kind, CallKind) else kind
        if points is None:  # the forge passes what it sent; fakes rely on the kind
            writes = (CallKind.DISPATCH.value, CallKind.CANCEL.value)
            points = 5 if resource == "rest" and key in writes else 1
        with self._lock:
            self.calls[key] += 1
            if not_modified:
                self.not_modified[key] += 1
            if retry:
                self.retries[key] += 1
            self.points[resource] += points
            now = self.clock()
            self._expire(resource, now)
            self._minute.setdefault(resource, deque()).append((now, points))
            self._minute_sum[resource] += points
            self.peak_per_minute[resource] = max(self.peak_per_minute[resource],
                                                 self._minute_sum[resource])

    def _expire(self, resource: str, now: float) -> None:
        stamps = self._minute.setdefault(resource, deque())
        while stamps and now - stamps[0][0] >= MINUTE:
            self._minute_sum[resource] -= stamps.popleft()[1]

    def points_last_minute(self, resource: str) -> int:
        with self._lock:
            self._expire(resource, self.clock())
            return self._minute_sum[resource]

    def frees_in(self, resource: str, points: int, budget: int) -> float:
        """Seconds until ``points`` more fit in the trailing minute under ``budget``."""
        with self._lock:
            now = self.clock()
            self._expire(resource, now)
            excess = self._minute_sum[resource] + points - budget
            if excess <= 0:
                return 0.0
            for stamp, spent in self._minute[resource]:
                excess -= spent
                if excess <= 0:
                    return max(0.0, stamp + MINUTE - now)
            return MINUTE

    def budget(self, remaining: int | None, limit: int | None,
               resource: str = "core", reset: int | None = None) -> None:
        with self._lock:
            if resource == "core" or self.rate_remaining is None:
                self.rate_remaining, self.rate_limit = remaining, limit
            if remaining is not None and limit is not None:
                self.budgets[resource] = (remaining, limit, reset)

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    def to_json(self) -> dict[str, Any]:
        with self._lock:
            return {
                "calls": dict(self.calls),
                "total_calls": sum(self.calls.values()),
                "not_modified": dict(self.not_modified),
                "retries": dict(self.retries),
                "rate_remaining": self.rate_remaining,
                "rate_limit": self.rate_limit,
                "waited_seconds": round(self.waited_seconds, 3),
                "secondary_refusals": self.secondary_refusals,
                "points": dict(self.points),
                "peak_points_per_minute": dict(self.peak_per_minute),
            }


# ---------------------------------------------------------------- protocol
@runtime_checkable
class Forge(Protocol):
    """What the engine and surfaces may ask of GitHub. Nothing else."""

    ledger: CostLedger

    def discover(self, selection: RepoSelection) -> Discovery:
        """Repos of ``selection.org`` with their parsed ``tako.yml``; a bad file is a
        diagnostic on that repo, never a failed discovery."""
        ...

    def preflight(self, org: str, targets: Sequence[str], *, dispatch: bool) -> None:
        """Raise AuthError/NotFoundError (one sentence naming the fix) before any
        dispatch when the token cannot list ``org``, read a target, or dispatch."""
        ...

    def dispatch(self, repo: str, event_type: str, client_payload: dict[str, Any]) -> None:
        """One ``POST /repos/{repo}/dispatches``. Never retried inside the forge.
        Raises ValidationError (422), NotFoundError, AuthError, RateLimitError or
        AmbiguousDispatchError (may have been delivered)."""
        ...

    def dispatch_workflow(self, repo: str, workflow: str, ref: str,
                          inputs: dict[str, str]) -> WorkflowDispatch:
        """One ``POST /repos/{repo}/actions/workflows/{workflow}/dispatches`` asking for
        the run's details. Never retried blindly; a server that refuses
        ``return_run_details`` (GHES 3.20 and older) is asked again without it, and
        remembered for the process. Raises like ``dispatch``, and NotDispatchableError /
        UnexpectedInputsError for those 422s."""
        ...

    def run_states_by_url(self, urls: Sequence[str]) -> dict[str, RunState]:
        """Like ``run_states``, for runs known by their web URL only (a workflow
        dispatch's answer): one GraphQL query (``resource(url:)``) for up to
        ``MAX_STATE_IDS``; each ``RunState.node_id`` is the id ``run_states`` takes."""
        ...

    def list_runs(self, repo: str, *, event: str | None = "repository_dispatch",
                  created_after: datetime | None = None,
                  workflow: str | None = None) -> RunListing:
        """Newest-first runs of ``repo`` (first page, up to 100), conditional on the
        last ETag seen for the same query: ``not_modified`` with the cached runs."""
        ...

    def get_run(self, repo: str, run_id: int) -> RunInfo:
        ...

    def run_states(self, node_ids: Sequence[str]) -> dict[str, RunState]:
        """The state of up to ``MAX_STATE_IDS`` known runs in one request, by their
        ``RunInfo.node_id`` (GitHub: one GraphQL ``nodes(ids:)`` query, 1 point; it
        cannot be conditional, so every call is paid). An id that resolves to nothing
        (the run was deleted, or the token lost access) is absent from the result.
        Raises ValueError for more ids than allowed; ForgeError (AuthError on 401,
        RateLimitError) when the query fails as a whole, e.g. a server without
        GraphQL — the caller can read those runs through ``list_runs``/``get_run``."""
        ...

    def cancel_run(self, repo: str, run_id: int) -> bool:
        """True if a cancel was accepted (202); False if the run already finished (409)."""
        ...

    def rerun_run(self, repo: str, run_id: int, *, failed_only: bool = True) -> None:
        """Start the next attempt of a finished run (``rerun-failed-jobs``, or every
        job with ``failed_only`` False); raises ForgeError when GitHub refuses."""
        ...

    def run_annotations(self, repo: str, run_id: int) -> list[Annotation]:
        """Annotations of the run's jobs (check-run annotations endpoint)."""
        ...

    def job_log_tail(self, repo: str, run_id: int, lines: int = 5) -> list[str]:
        """The last ``lines`` lines the failing step of the run's first failed job
        printed (timestamps, the runner's group markers and its generic "Process
        completed with exit code N." left out). Empty when no job failed or its log is
        gone. Costs a jobs listing and a log request; the log is downloaded from the
        link GitHub redirects to, without the token."""
        ...

    def now(self) -> datetime:
        """The forge's clock (server ``Date`` when known), UTC. Windows and
        watermarks are computed against it so client clock skew does not lose runs."""
        ...

    def worker(self) -> Forge | None:
        """A forge another thread may use at the same time as this one (the same
        credentials, ledger, caches and deadline; its own HTTP client), so a poll
        round over many repos runs in parallel; None when this forge cannot be shared
        that way (then the engine calls it from one thread only)."""
        ...

    def set_deadline(self, when: datetime | None) -> None:
        """Bound the waits the forge does by itself (rate-limit resets, retry pauses):
        a wait that would end after ``when`` (UTC) raises RateLimitError instead of
        sleeping, so a fan-out never sleeps past its own deadline waiting for a
        budget. ``None`` lifts the bound (the forge may outlive the fan-out). A forge
        that never waits by itself accepts the call and ignores it."""
        ...
