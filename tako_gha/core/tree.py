"""The execution tree model and its JSON form (docs/protocol.md, The tree and Tree JSON).

``Node`` is one dispatch (one edge of the cascade) — or the origin, the repo that
fanned out. A dispatch may start 0..N runs; ``runs`` holds them all, and ``run_id``
/ ``run_url`` name the first for the flat JSON shape in docs/protocol.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class NodeState(str, Enum):
    PLANNED = "planned"
    SKIPPED = "skipped"
    DISPATCHED = "dispatched"
    QUEUED = "queued"
    IN_PROGRESS = "in_progress"
    SUCCESS = "success"
    FAILURE = "failure"
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    NOT_STARTED = "not_started"
    ACTION_REQUIRED = "action_required"
    ERROR = "error"
    CYCLE = "cycle"
    DEPTH_EXCEEDED = "depth_exceeded"
    DEDUPLICATED = "deduplicated"

    @property
    def is_terminal(self) -> bool:
        return self not in _ACTIVE

    @property
    def is_failure(self) -> bool:
        return self in _FAILED


_ACTIVE = {NodeState.PLANNED, NodeState.DISPATCHED, NodeState.QUEUED, NodeState.IN_PROGRESS}
_FAILED = {
    NodeState.FAILURE,
    NodeState.CANCELLED,
    NodeState.TIMED_OUT,
    NodeState.NOT_STARTED,
    NodeState.ACTION_REQUIRED,
    NodeState.ERROR,
    NodeState.CYCLE,
    NodeState.DEPTH_EXCEEDED,
}

# GitHub conclusion -> node state. Strict: only success/neutral/skipped succeed.
CONCLUSION_STATE: dict[str, NodeState] = {
    "success": NodeState.SUCCESS,
    "neutral": NodeState.SUCCESS,
    "skipped": NodeState.SUCCESS,
    "failure": NodeState.FAILURE,
    "cancelled": NodeState.CANCELLED,
    "timed_out": NodeState.TIMED_OUT,
    "startup_failure": NodeState.FAILURE,
    "stale": NodeState.FAILURE,
    "action_required": NodeState.ACTION_REQUIRED,
}
STATUS_STATE: dict[str, NodeState] = {
    "requested": NodeState.QUEUED,
    "queued": NodeState.QUEUED,
    "pending": NodeState.QUEUED,
    "waiting": NodeState.QUEUED,
    "in_progress": NodeState.IN_PROGRESS,
}


def state_for_run(status: str | None, conclusion: str | None) -> NodeState:
    """Map a workflow run's (status, conclusion) to a node state."""
    if status == "completed":
        return CONCLUSION_STATE.get(conclusion or "", NodeState.FAILURE)
    return STATUS_STATE.get(status or "", NodeState.QUEUED)


@dataclass
class RunRef:
    """One workflow run a dispatch started."""

    run_id: int
    url: str
    workflow: str  # workflow file path, e.g. ".github/workflows/rebuild.yml"
    status: str | None
    conclusion: str | None
    correlation: str  # "exact" (the dispatch's answer), "strict" (title tag) or "heuristic"
    # When the run was created and last changed (a completed run: when it ended);
    # None when unknown. Not in the tree JSON: they time the cascade (``span``).
    created_at: datetime | None = None
    updated_at: datetime | None = None
    # The sender's deadline (from the run's title tag, or the fan-out's own for runs
    # it matched without one): a run cancelled at or after it timed out. Not in JSON.
    deadline: datetime | None = None
    attempt: int = 1  # GitHub's run_attempt: a re-run keeps the id, counts up
    # Conclusions of earlier attempts this process saw end (oldest first); a tree
    # rebuilt from GitHub later knows only the latest attempt. Not in JSON.
    earlier: list[str] = field(default_factory=list)

    def label(self) -> str:
        """``run 1042``, or ``attempt 2 of run 1042 (attempt 1: failure)`` once re-run."""
        if self.attempt <= 1:
            return f"run {self.run_id}"
        text = f"attempt {self.attempt} of run {self.run_id}"
        if self.earlier:
            first = self.attempt - len(self.earlier)
            text += " (" + ", ".join(f"attempt {first + i}: {c}"
                                     for i, c in enumerate(self.earlier)) + ")"
        return text

    def new_attempt(self, attempt: int) -> None:
        """Follow ``attempt`` of this run, keeping the conclusion of the one it replaces
        when it was seen to end (only the directly preceding attempt is known)."""
        if attempt == self.attempt + 1 and self.status == "completed" and self.conclusion:
            self.earlier.append(self.conclusion)
        elif attempt != self.attempt:
            self.earlier.clear()  # attempts in between were never seen
        self.attempt = attempt

    @property
    def state(self) -> NodeState:
        from tako_gha.core.verdict import run_state

        return run_state(self)


@dataclass
class Node:
    repo: str
    id: str  # dispatch id; for the origin, the root id
    state: NodeState = NodeState.PLANNED
    event_type: str = ""
    depth: int = 0
    parent_id: str | None = None
    reason: str | None = None  # why skipped/failed/refused, shown to people
    hint: str | None = None
    runs: list[RunRef] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    duplicate_of: str | None = None  # for DEDUPLICATED nodes
    correlation: str | None = None  # "exact" | "strict" | "heuristic" | None

    @property
    def conclusion(self) -> str | None:
        done = [r.conclusion for r in self.runs if r.status == "completed"]
        return done[0] if done and len(done) == len(self.runs) else None

    def walk(self) -> Iterator[Node]:
        yield self
        for child in self.children:
            yield from child.walk()

    def find(self, node_id: str) -> Node | None:
        return next((n for n in self.walk() if n.id == node_id), None)

    def path_to(self, node_id: str) -> list[Node] | None:
        """Nodes from this one down to ``node_id`` (inclusive), or None."""
        if self.id == node_id:
            return [self]
        for child in self.children:
            sub = child.path_to(node_id)
            if sub is not None:
                return [self, *sub]
        return None

    def to_json(self) -> dict[str, Any]:
        first = self.runs[0] if self.runs else None
        data: dict[str, Any] = {
            "repo": self.repo,
            "id": self.id,
            "state": self.state.value,
            "conclusion": self.conclusion,
            "run_id": first.run_id if first else None,
            "run_url": first.url if first else None,
            "correlation": self.correlation,
            "reason": self.reason,
            "event_type": self.event_type,
            "depth": self.depth,
            "children": [c.to_json() for c in self.children],
        }
        if self.hint:
            data["hint"] = self.hint
        if self.duplicate_of:
            data["duplicate_of"] = self.duplicate_of
        if first is not None and first.attempt > 1:
            data["run_attempt"] = first.attempt
        if len(self.runs) > 1:
            data["runs"] = [
                {"run_id": r.run_id, "run_url": r.url, "workflow": r.workflow,
                 "state": r.state.value, "correlation": r.correlation,
                 **({"run_attempt": r.attempt} if r.attempt > 1 else {})}
                for r in self.runs
            ]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Node:
        runs_json = data.get("runs")
        if runs_json is None and data.get("run_id") is not None:
            runs_json = [{"run_id": data["run_id"], "run_url": data.get("run_url"),
                          "workflow": "", "state": data.get("state"),
                          "correlation": data.get("correlation") or "strict",
                          "run_attempt": data.get("run_attempt")}]
        runs = [
            RunRef(int(r["run_id"]), r.get("run_url") or "", r.get("workflow", ""),
                   "completed" if NodeState(r["state"]).is_terminal else r["state"],
                   data.get("conclusion") if NodeState(r["state"]).is_terminal else None,
                   r.get("correlation") or "strict", attempt=int(r.get("run_attempt") or 1))
            for r in runs_json or []
        ]
        return cls(
            repo=data["repo"], id=data["id"], state=NodeState(data["state"]),
            event_type=data.get("event_type", ""), depth=int(data.get("depth", 0)),
            reason=data.get("reason"), hint=data.get("hint"), runs=runs,
            children=[cls.from_json(c) for c in data.get("children", [])],
            duplicate_of=data.get("duplicate_of"), correlation=data.get("correlation"),
        )


class TreeStatus(str, Enum):
    """Overall result; maps to CLI exit codes (docs/cli.md)."""

    RUNNING = "running"
    SUCCESS = "success"
    FAILURE = "failure"
    TIMED_OUT = "timed_out"

    @property
    def exit_code(self) -> int:
        return {"success": 0, "failure": 1, "timed_out": 3, "running": 0}[self.value]


def overall_status(origin: Node, timed_out: bool = False) -> TreeStatus:
    """The cascade's verdict (``core.verdict.tree_status``)."""
    from tako_gha.core.verdict import tree_status

    return tree_status(origin, timed_out=timed_out)


def run_span(origin: Node, now: datetime) -> float | None:
    """Seconds from the first run of the tree to the last one's end (``now`` while a
    run is still going), from the runs' own timestamps: how long the cascade has
    taken, as another process (``status``) can tell it. None without run times."""
    runs = [r for n in origin.walk() for r in n.runs if r.created_at is not None]
    if not runs:
        return None
    start = min(r.created_at for r in runs if r.created_at is not None)
    ends = [r.updated_at for r in runs]
    done = all(r.state.is_terminal for r in runs) and all(e is not None for e in ends)
    end = max(e for e in ends if e is not None) if done else now
    return max(0.0, (end - start).total_seconds())


@dataclass
class TreeReport:
    """What every report renders: the whole tree plus cost."""

    root: str
    status: TreeStatus
    origin: Node
    cost: dict[str, Any] = field(default_factory=dict)  # CostLedger.to_json()
    elapsed_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "status": self.status.value,
            "tree": self.origin.to_json(),
            "cost": self.cost,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
        }

    def failed_nodes(self) -> list[Node]:
        """The failed dispatches (the origin, which carries the cascade's overall
        state, is not one of them)."""
        return [n for n in self.origin.walk() if n is not self.origin and n.state.is_failure]
