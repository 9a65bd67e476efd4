"""The Markdown job summary (``GITHUB_STEP_SUMMARY``, ``--summary PATH``).

Sections, in order: a header with the overall status, the failures (each with the
path from the origin down to it, its reason and run link), notes (skipped
repositories and why), the tree with states and run links, a Mermaid diagram, the
cost ledger. GitHub refuses a step summary over
1 MiB, and Mermaid refuses a diagram over ~50,000 characters, so every section has a
budget: the failures table and the diagram are capped, and the tree gets what is
left; whatever is cut is counted in a visible "not shown" line, never silently.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from tako_gha.core.tree import Node, NodeState, TreeReport
from tako_gha.engine.api import EXPECTED_SKIP
from tako_gha.surfaces.reports.common import (
    STATE_ICON,
    STATUS_ICON,
    cost_rows,
    counts_phrase,
    elapsed_text,
    failure_paths,
    root_cause_paths,
    shown_reason,
)

# GitHub's per-step limit is 1 MiB; stay clearly below it.
MAX_SUMMARY_BYTES = 1_000_000
MAX_FAILURE_ROWS = 200
MAX_DIAGRAM_NODES = 150
MAX_DIAGRAM_CHARS = 40_000  # Mermaid's default maxTextSize is 50,000
MAX_REASON_CHARS = 300
MAX_NOTES = 100

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#])")

MERMAID_CLASSES = {
    "ok": "fill:#d3f9d8,stroke:#2b8a3e",
    "bad": "fill:#ffe3e3,stroke:#c92a2a",
    "active": "fill:#fff3bf,stroke:#e67700",
    "muted": "fill:#f1f3f5,stroke:#868e96",
    # A slow node is not a broken one: its own colour, so the eye goes to real failures.
    "timedout": "fill:#fff4e6,stroke:#d9480f,stroke-dasharray:4 3",
    # Subscribers this fan-out left out (their filter, range or event list; or skipped
    # for a broken tako.yml): shown dimmed, so the diagram shows who was considered.
    "skipped": "fill:#ffffff,stroke:#ced4da,color:#adb5bd,stroke-dasharray:2 2",
}
MAX_SKIPPED_IN_DIAGRAM = 20


def escape(text: str) -> str:
    """Markdown-escape user text (reasons, repo names) so it cannot break the layout."""
    return _MD_SPECIAL.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


def _clip(text: str, limit: int = MAX_REASON_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _run_links(node: Node) -> str:
    return ", ".join(
        f"[{escape(r.label())}]({r.url})" if r.url else escape(r.label()) for r in node.runs
    )


def _header(report: TreeReport) -> str:
    origin = report.origin
    icon = STATUS_ICON.get(report.status.value, "")
    event = f" `{origin.event_type}`" if origin.event_type else ""
    return (
        f"## {icon} tako cascade `{report.root}`: {report.status.value}\n\n"
        f"**{escape(origin.repo)}** fanned out{event} · {counts_phrase(report)}"
        f" · {elapsed_text(report)}\n"
    )


def _failures(report: TreeReport) -> str:
    paths = root_cause_paths(report)
    if not paths:
        return ""
    lines = [f"### Failures ({len(paths)})", "", "| Node | State | Reason | Run |",
             "|---|---|---|---|"]
    for path in paths[:MAX_FAILURE_ROWS]:
        node = path[-1]
        route = " → ".join(escape(n.repo) for n in path[:-1])
        where = f"{route} → **{escape(node.repo)}**" if route else f"**{escape(node.repo)}**"
        reason = escape(_clip(node.reason or ""))
        if node.hint:
            reason += f"<br>hint: {escape(_clip(node.hint))}"
        lines.append(f"| {where} | {STATE_ICON[node.state]} {node.state.value} | {reason} "
                     f"| {_run_links(node) or '—'} |")
    if len(paths) > MAX_FAILURE_ROWS:
        lines.append(f"\n_… {len(paths) - MAX_FAILURE_ROWS} more failures not shown "
                     "(see the `tree` output)._")
    return "\n".join(lines) + "\n"


def _notes(notes: Sequence[str]) -> str:
    """What the fan-out said along the way: skipped repos (with why), warnings."""
    if not notes:
        return ""
    lines = [f"### Notes ({len(notes)})", ""]
    lines += [f"- {escape(_clip(note))}" for note in notes[:MAX_NOTES]]
    if len(notes) > MAX_NOTES:
        lines.append(f"\n_… {len(notes) - MAX_NOTES} more notes not shown._")
    return "\n".join(lines) + "\n"


def _tree_line(node: Node, depth: int, origin: bool) -> str:
    pad = "  " * depth
    if origin:
        return f"{pad}- **{escape(node.repo)}** (origin)"
    line = f"{pad}- {STATE_ICON[node.state]} **{escape(node.repo)}** {node.state.value}"
    links = _run_links(node)
    if links:
        line += f" · {links}"
    if node.correlation in ("heuristic", "exact"):
        line += f" · _correlation: {node.correlation}_"
    if node.duplicate_of:
        line += f" · same as `{node.duplicate_of}`"
    reason = shown_reason(node)
    if reason:
        line += f" · {escape(_clip(reason))}"
    return line


def _tree(report: TreeReport, budget: int) -> str:
    """The nested list, cut when it would pass ``budget`` bytes."""
    head = "### Tree\n\n"
    lines: list[str] = []
    used = _size(head)
    total = sum(1 for _ in report.origin.walk())
    shown = 0
    stack: list[tuple[Node, int]] = [(report.origin, 0)]
    reserve = 200  # room for the "not shown" line
    while stack:
        node, depth = stack.pop()
        line = _tree_line(node, depth, node is report.origin)
        cost = _size(line) + 1
        if used + cost + reserve > budget:
            break
        lines.append(line)
        used += cost
        shown += 1
        stack.extend((c, depth + 1) for c in reversed(node.children))
    if shown < total:
        lines.append(f"\n_… {total - shown} of {total} nodes not shown to stay within "
                     "GitHub's 1 MiB summary limit (see the `tree` output)._")
    return head + "\n".join(lines) + "\n"


def _mermaid_class(state: NodeState) -> str:
    if state is NodeState.SUCCESS:
        return "ok"
    if state is NodeState.TIMED_OUT:
        return "timedout"
    if state.is_failure:
        return "bad"
    if not state.is_terminal:
        return "active"
    return "muted"


def _diagram_nodes(report: TreeReport) -> list[Node]:
    """Which nodes the diagram shows: every failure's path first, then breadth-first."""
    chosen: dict[int, Node] = {}
    for path in failure_paths(report):
        for node in path:
            if len(chosen) < MAX_DIAGRAM_NODES:
                chosen.setdefault(id(node), node)
    queue = deque([report.origin])
    while queue and len(chosen) < MAX_DIAGRAM_NODES:
        node = queue.popleft()
        chosen.setdefault(id(node), node)
        queue.extend(node.children)
    return list(chosen.values())


def _mermaid_label(node: Node, origin: bool) -> str:
    text = node.repo if origin else f"{node.repo}<br/>{node.state.value}"
    return text.replace('"', "#quot;")


def _skipped_subscribers(notes: Sequence[str]) -> list[tuple[str, str]]:
    """(repo, why) of the subscribers the origin's fan-out left out, from its notes."""
    found: list[tuple[str, str]] = []
    for note in notes:
        for prefix in (EXPECTED_SKIP, "skipped "):
            if note.startswith(prefix):
                repo, _, why = note.removeprefix(prefix).partition(": ")
                found.append((repo, why))
    return found


def _skipped_lines(skipped: list[tuple[str, str]], origin_key: str) -> list[str]:
    lines = []
    for i, (repo, _) in enumerate(skipped[:MAX_SKIPPED_IN_DIAGRAM]):
        label = f"{repo}<br/>skipped".replace('"', "#quot;")
        lines += [f'  s{i}["{label}"]:::skipped', f"  {origin_key} -.-> s{i}"]
    if len(skipped) > MAX_SKIPPED_IN_DIAGRAM:
        more = len(skipped) - MAX_SKIPPED_IN_DIAGRAM
        lines += [f'  smore["{more} more skipped"]:::skipped', f"  {origin_key} -.-> smore"]
    return lines


def _diagram(report: TreeReport, notes: Sequence[str] = ()) -> str:
    nodes = _diagram_nodes(report)
    keys = {id(n): f"n{i}" for i, n in enumerate(nodes)}
    by_dispatch = {n.id: keys[id(n)] for n in nodes}
    lines = ["flowchart TD"]
    for node in nodes:
        origin = node is report.origin
        cls = "" if origin else f":::{_mermaid_class(node.state)}"
        lines.append(f'  {keys[id(node)]}["{_mermaid_label(node, origin)}"]{cls}')
    for node in nodes:
        for child in node.children:
            if id(child) in keys:
                lines.append(f"  {keys[id(node)]} --> {keys[id(child)]}")
        if node.duplicate_of and node.duplicate_of in by_dispatch:
            lines.append(f"  {keys[id(node)]} -.-> {by_dispatch[node.duplicate_of]}")
    lines += _skipped_lines(_skipped_subscribers(notes), keys[id(report.origin)])
    lines += [f"  classDef {name} {style}" for name, style in MERMAID_CLASSES.items()]
    body = "\n".join(lines)
    if len(body) > MAX_DIAGRAM_CHARS:
        return ("### Diagram\n\n_The diagram is too large for Mermaid; see the tree above._\n")
    total = sum(1 for _ in report.origin.walk())
    note = ""
    if len(nodes) < total:
        note = f"\n_Diagram shows {len(nodes)} of {total} nodes (failures first)._\n"
    return f"### Diagram\n\n```mermaid\n{body}\n```\n{note}"


def _cost(report: TreeReport) -> str:
    rows = cost_rows(report.cost)
    if not rows:
        return "### Cost\n\nNo API calls recorded.\n"
    lines = ["### Cost", "", "| API calls | count | 304 (free) | retries |", "|---|---:|---:|---:|"]
    lines += [f"| {kind} | {calls} | {nm} | {retries} |" for kind, calls, nm, retries in rows]
    total = report.cost.get("total_calls", sum(r[1] for r in rows))
    lines.append(f"| **total** | **{total}** | {sum(r[2] for r in rows)} "
                 f"| {sum(r[3] for r in rows)} |")
    if report.cost.get("rate_remaining") is not None:
        lines.append(f"\nRate budget left: {report.cost['rate_remaining']}"
                     f" of {report.cost.get('rate_limit')}.")
    if report.cost.get("waited_seconds"):
        lines.append(f"\nWaited {report.cost['waited_seconds']}s on rate limits.")
    return "\n".join(lines) + "\n"


def render_markdown(report: TreeReport, *, notes: Sequence[str] = (),
                    max_bytes: int = MAX_SUMMARY_BYTES) -> str:
    """The whole summary, never more than ``max_bytes`` bytes of UTF-8. ``notes`` are
    the fan-out's messages (skipped repositories and why, warnings)."""
    header, failures, noted = _header(report), _failures(report), _notes(notes)
    diagram, cost = _diagram(report, notes), _cost(report)
    fixed = sum(_size(p) for p in (header, failures, noted, diagram, cost)) + 10
    if fixed > max_bytes:  # only with an absurdly small max_bytes: drop the extras
        diagram, failures, noted = "", "", ""
        fixed = _size(header) + _size(cost) + 10
    tree = _tree(report, max(0, max_bytes - fixed))
    parts = (header, failures, noted, tree, diagram, cost)
    text = "\n".join(part for part in parts if part)
    if _size(text) > max_bytes:
        cut = text.encode("utf-8")[: max(0, max_bytes - 64)].decode("utf-8", "ignore")
        text = cut + "\n\n_… summary truncated._\n"
    return text
