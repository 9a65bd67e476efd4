"""Shared bits of the reports: state symbols, counts, paths, cost lines."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from tako_gha.core import verdict
from tako_gha.core.durations import format_duration
from tako_gha.core.tree import Node, NodeState, TreeReport

STATE_ICON: dict[NodeState, str] = {
    NodeState.PLANNED: "📝",
    NodeState.SKIPPED: "⏭️",
    NodeState.DISPATCHED: "📤",
    NodeState.QUEUED: "⏳",
    NodeState.IN_PROGRESS: "🔄",
    NodeState.SUCCESS: "✅",
    NodeState.FAILURE: "❌",
    NodeState.CANCELLED: "🚫",
    NodeState.TIMED_OUT: "⏱️",
    NodeState.NOT_STARTED: "⚪",
    NodeState.ACTION_REQUIRED: "✋",
    NodeState.ERROR: "⛔",
    NodeState.CYCLE: "🔁",
    NodeState.DEPTH_EXCEEDED: "📏",
    NodeState.DEDUPLICATED: "🔗",
}

STATUS_ICON = {"success": "✅", "failure": "❌", "timed_out": "⏱️", "running": "🔄"}


def one_line(text: str) -> str:
    """User-controlled text (reasons come from other repos' annotations) on one line:
    a newline followed by ``::error::`` in a log would be a workflow command."""
    return " ".join(text.splitlines())


def descendants(report: TreeReport) -> list[Node]:
    """Every node below the origin (the dispatched ones), depth-first."""
    return [n for n in report.origin.walk() if n is not report.origin]


def state_counts(report: TreeReport) -> Counter[NodeState]:
    return Counter(n.state for n in descendants(report))


def counts_phrase(report: TreeReport) -> str:
    """``7 nodes: 5 success, 2 failure`` (states in a stable order)."""
    counts = state_counts(report)
    total = sum(counts.values())
    if not total:
        return "no nodes"
    parts = [f"{counts[s]} {s.value}" for s in NodeState if counts[s]]
    return f"{total} node{'s' if total != 1 else ''}: " + ", ".join(parts)


# Nodes that ended because tako (or a person) stopped them, not because their work
# failed: after a fail_fast, "299 failed" would blame 299 healthy children.
STOPPED = frozenset({NodeState.CANCELLED, NodeState.TIMED_OUT})


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    failed: int  # failed on their own (failure, error, not_started, cycle, ...)
    stopped: int  # cancelled or timed out

    def phrase(self) -> str:
        """``12/40 done, 1 failed, 3 cancelled or timed out`` (zero counts left out)."""
        parts = [f"{self.done}/{self.total} done"]
        if self.failed:
            parts.append(f"{self.failed} failed")
        if self.stopped:
            parts.append(f"{self.stopped} cancelled or timed out")
        return ", ".join(parts)


def progress(report: TreeReport) -> Progress:
    """Finished, total, failed and stopped counts over the dispatched nodes."""
    nodes = descendants(report)
    stopped = sum(1 for n in nodes if n.state in STOPPED)
    failed = sum(1 for n in nodes if n.state.is_failure) - stopped
    return Progress(sum(1 for n in nodes if n.state.is_terminal), len(nodes), failed, stopped)


def failure_paths(report: TreeReport) -> list[list[Node]]:
    """For each failed node, the path from the origin down to it."""
    paths: list[list[Node]] = []

    def visit(node: Node, trail: list[Node]) -> None:
        here = [*trail, node]
        if node is not report.origin and node.state.is_failure:
            paths.append(here)
        for child in node.children:
            visit(child, here)

    visit(report.origin, [])
    return paths


BECAUSE_BELOW = "failed because of what failed below it"


def failed_below(node: Node) -> bool:
    """A failed node with a failure of its own below it (core.verdict's terms): it
    only carries that failure up, so it is not a root cause of its own."""
    return verdict.failed_on_its_own(node) and any(
        verdict.failed_on_its_own(n) for n in node.walk() if n is not node)


def shown_reason(node: Node) -> str | None:
    """The reason a report shows for ``node``: a node that failed because of a
    failure below it says so instead of repeating that failure's text (its own
    reason is usually the failure below, read from its fan-out step)."""
    return BECAUSE_BELOW if failed_below(node) else node.reason


def root_cause_paths(report: TreeReport) -> list[list[Node]]:
    """Each root cause once, with the path from the origin down to it: the failed
    nodes whose failure is their own (``core.verdict.root_causes``, the same facts
    the status comes from) and the nodes that ran out of time with nothing failed
    below them. A node above a root cause failed because of it and shows in its path,
    so one real failure deep in a tree is listed once, not once per level above it."""
    causes = {id(n) for n in verdict.root_causes(report.origin)}
    return [path for path in failure_paths(report) if id(path[-1]) in causes
            or (verdict.out_of_time(path[-1]) and not any(
                verdict.failed_on_its_own(n) for n in path[-1].walk()))]


def elapsed_text(report: TreeReport) -> str:
    return format_duration(report.elapsed_seconds)


def cost_rows(cost: dict[str, Any]) -> list[tuple[str, int, int, int]]:
    """(kind, calls, 304s, retries) per call kind, sorted by kind."""
    calls = cost.get("calls") or {}
    not_modified = cost.get("not_modified") or {}
    retries = cost.get("retries") or {}
    kinds = sorted(set(calls) | set(not_modified) | set(retries))
    return [(k, int(calls.get(k, 0)), int(not_modified.get(k, 0)), int(retries.get(k, 0)))
            for k in kinds]


def cost_phrase(cost: dict[str, Any]) -> str:
    """One line: ``31 API calls (dispatch 3, poll 20, …), 12 answered 304, 0 retries``."""
    rows = cost_rows(cost)
    if not rows:
        return "no API calls recorded"
    total = int(cost.get("total_calls", sum(r[1] for r in rows)))
    kinds = ", ".join(f"{k} {c}" for k, c, _, _ in rows)
    text = f"{total} API calls ({kinds}), {sum(r[2] for r in rows)} answered 304"
    text += f", {sum(r[3] for r in rows)} retries"
    if cost.get("rate_remaining") is not None:
        text += f"; rate budget left {cost['rate_remaining']}/{cost.get('rate_limit')}"
    return text
