"""Nodes the root cannot find by title tags, handed from a child's fan-out to the root.

A child run's fan-out may refuse a dispatch (a cycle, ``max_depth``, ``dedupe:
root``) or see it start nothing (``not_started``): such nodes leave no run. A
receiver without ``run-name`` starts a run without the tag, which only the process
that dispatched to it can match (heuristically). Either way the root cannot find
these nodes by title tags. The child prints one ``::notice`` per such
node (title ``tako-node``, JSON message); the emulator and GitHub keep it as a
check-run annotation, and the root, reading the finished child's annotations,
adds the node to its tree. Surfaces print ``notice_lines(report)`` inside Actions.
"""

from __future__ import annotations

import json
from typing import Any

from tako_gha.core.ids import is_id
from tako_gha.core.tree import Node, NodeState, RunRef, TreeReport
from tako_gha.forge.base import Annotation

NOTICE_TITLE = "tako-node"
MAX_NOTICES = 50  # GitHub keeps a limited number of annotations per step
_FIELDS = ("repo", "id", "state", "event_type", "reason", "hint", "duplicate_of")


def runless_children(report: TreeReport) -> list[Node]:
    """Children the root cannot find by tags: no run, or runs matched heuristically."""
    return [n for n in report.origin.children
            if (not n.runs and n.state.is_terminal) or n.correlation == "heuristic"]


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def notice_lines(report: TreeReport) -> list[str]:
    """``::notice title=tako-node::{json}`` for each child without a run."""
    lines = []
    for node in runless_children(report)[:MAX_NOTICES]:
        data = {f: getattr(node, f) for f in _FIELDS}
        data["state"] = node.state.value
        if node.runs:
            data["runs"] = [{"run_id": r.run_id, "url": r.url, "workflow": r.workflow,
                             "status": r.status, "conclusion": r.conclusion}
                            for r in node.runs]
        text = json.dumps({k: v for k, v in data.items() if v not in (None, "")},
                          ensure_ascii=False, separators=(",", ":"))
        lines.append(f"::notice title={NOTICE_TITLE}::{_escape(text)}")
    return lines


def node_from_annotation(note: Annotation) -> Node | None:
    """The node a ``tako-node`` notice describes; None for any other annotation."""
    if note.title != NOTICE_TITLE:
        return None
    try:
        data: Any = json.loads(note.message)
        state = NodeState(data["state"])
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(data, dict) or not is_id(str(data.get("id", ""))):
        return None
    node = Node(repo=str(data.get("repo", "")), id=str(data["id"]), state=state,
                event_type=str(data.get("event_type", "")), reason=data.get("reason"),
                hint=data.get("hint"), duplicate_of=data.get("duplicate_of"))
    for run in data.get("runs") or []:
        try:
            node.runs.append(RunRef(int(run["run_id"]), str(run.get("url") or ""),
                                    str(run.get("workflow") or ""), run.get("status"),
                                    run.get("conclusion"), "heuristic"))
        except (KeyError, TypeError, ValueError):
            continue
    if node.runs:
        node.correlation = "heuristic"
    return node
