"""The execution tree as plain text (logs, pipes, ``--format text``)."""

from __future__ import annotations

from tako_gha.core.tree import Node, TreeReport
from tako_gha.surfaces.reports.common import (
    cost_phrase,
    counts_phrase,
    elapsed_text,
    one_line,
    root_cause_paths,
    shown_reason,
)


def node_line(node: Node, *, origin: bool = False) -> str:
    """One node: ``acme/svc-a  success  run 1001 <url>  (reason)``; a re-run run
    reads ``attempt 2 of run 1001 (attempt 1: failure) <url>``."""
    if origin:
        label = f"{node.repo} (origin"
        label += f", {node.event_type})" if node.event_type else ")"
        return label
    parts = [node.repo, node.state.value]
    if node.event_type:
        parts.append(f"[{node.event_type}]")
    for run in node.runs:
        parts.append(f"{run.label()} {run.url}".rstrip())
    if node.correlation in ("heuristic", "exact"):
        parts.append(f"(correlation: {node.correlation})")
    if node.duplicate_of:
        parts.append(f"(same as {node.duplicate_of})")
    text = "  ".join(parts)
    reason = shown_reason(node)
    if reason:
        text += f" — {one_line(reason)}"
    if node.hint and reason == node.reason:
        text += f" (hint: {one_line(node.hint)})"
    return text


def tree_lines(origin: Node) -> list[str]:
    lines = [node_line(origin, origin=True)]

    def visit(node: Node, prefix: str) -> None:
        for index, child in enumerate(node.children):
            last = index == len(node.children) - 1
            lines.append(prefix + ("└── " if last else "├── ") + node_line(child))
            visit(child, prefix + ("    " if last else "│   "))

    visit(origin, "")
    return lines


def render_text(report: TreeReport) -> str:
    """Header, the tree, failures with their paths, the cost line."""
    lines = [
        f"tako cascade {report.root}: {report.status.value} "
        f"after {elapsed_text(report)} ({counts_phrase(report)})",
        "",
        *tree_lines(report.origin),
    ]
    paths = root_cause_paths(report)
    if paths:
        lines += ["", f"failed ({len(paths)}):"]
        for path in paths:
            node = path[-1]
            route = " → ".join(n.repo for n in path)
            line = f"  {route}: {node.state.value}"
            if node.reason:
                line += f" — {one_line(node.reason)}"
            lines.append(line)
            if node.hint:
                lines.append(f"    hint: {one_line(node.hint)}")
    lines += ["", "cost: " + cost_phrase(report.cost)]
    return "\n".join(lines) + "\n"
